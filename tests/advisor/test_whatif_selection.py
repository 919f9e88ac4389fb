"""IX011 selects from what the what-if collector measured, with the user's thresholds, offline: the plans with
every beneficial candidate together tell which chosen index the planner prefers (no server needed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pgadvisor.checkapi import Finding
from pgadvisor.config import Config
from pgadvisor.engine import plan, run
from pgadvisor.registry import load
from pgadvisor.snapshot import Snapshot, WhatIf, WhatIfPlan

REGISTRY = load(entry_points=False)
V1 = Path(__file__).parent.parent / "data" / "snapshot_v1.json"
Q1, Q2 = 11, 22


def _snapshot(joint_q1_uses: tuple[int, ...]) -> Snapshot:
    """Two statements on orders; candidate 2 (status) helps both, 1 (customer_id) helps Q1 a little more."""
    base = Snapshot.from_file(V1)
    assert isinstance(base.statements, tuple) and isinstance(base.whatif, WhatIf)
    row = base.statements[0]
    stmts = tuple(dataclasses.replace(row, queryid=q, query=text, calls=1000, total_exec_ms=1e6, mean_exec_ms=1e3)
                  for q, text in ((Q1, "SELECT * FROM orders WHERE customer_id = $1 AND status = $2"),
                                  (Q2, "SELECT * FROM orders WHERE status = $1")))
    proto = base.whatif.candidates[0]
    cands = (proto, dataclasses.replace(proto, id=2, keys=("status",),
                                        ddl="CREATE INDEX CONCURRENTLY ON public.orders (status);"))

    def p(q: int, present: tuple[int, ...], cost: float, used: tuple[int, ...]) -> WhatIfPlan:
        return WhatIfPlan(q, "shop", present, cost, used, None)

    plans = (p(Q1, (), 1000.0, ()), p(Q2, (), 1000.0, ()), p(Q1, (1,), 10.0, (1,)), p(Q1, (2,), 20.0, (2,)),
             p(Q2, (2,), 10.0, (2,)), p(Q1, (1, 2), 10.0, joint_q1_uses), p(Q2, (1, 2), 10.0, (2,)))
    whatif = WhatIf("1.4.1", "prepare", cands, plans, (1, 2), ())
    return dataclasses.replace(base, statements=stmts, whatif=whatif)


def _findings(snap: Snapshot, **thresholds: Any) -> list[Finding]:
    report = run(snap, plan(REGISTRY, Config(source="test", thresholds={"IX011": thresholds}), only=["IX011"]))
    assert report.outcomes[0].status == "ran", report.outcomes[0].reason
    return list(report.findings)


def test_the_index_the_planner_prefers_with_the_alternatives_is_kept_and_verified() -> None:
    """Both are chosen; with both present Q1 uses candidate 1: both recommended, both verified."""
    found = {f.object: f.evidence["verified"] for f in _findings(_snapshot((1,)))}
    assert found == {"public.orders (customer_id)": True, "public.orders (status)": True}


def test_an_index_passed_over_for_another_chosen_one_is_dropped() -> None:
    """With both present Q1 uses candidate 2 (also chosen): candidate 1 would not be used, so it is not named."""
    found = {f.object: f.evidence["verified"] for f in _findings(_snapshot((2,)))}
    assert found == {"public.orders (status)": True}


def test_the_selection_follows_the_user_thresholds_not_the_collector() -> None:
    """The same measurements, max_indexes 1: only the better index; the collector's `chosen` does not decide."""
    found = [f.object for f in _findings(_snapshot((1,)), max_indexes=1)]
    assert found == ["public.orders (status)"]
