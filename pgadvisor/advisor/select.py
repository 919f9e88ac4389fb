"""Workload-level selection: a greedy pass in the style of the Extend algorithm.

Each statement has a cost today and, for each candidate its plan uses, a cost with that candidate. The benefit
of a set of indexes is, per statement, the time saved by the best index of the set for it (statement time is
converted from cost units with the statement's own measured ms per cost unit). A candidate counts for a
statement only when it cuts the cost by `min_cost_drop` and saves `min_saved_s_per_day`. Each round adds the
candidate with the best net benefit (time saved minus write overhead) per MiB, and stops when the next one
gains less than `min_gain_fraction` of the workload, at `max_indexes`, or at the size budget. A longer
candidate that serves the statements of its prefix wins over the prefix (prefix sharing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MIB = 1024.0 * 1024.0


@dataclass(frozen=True, slots=True)
class SelectOptions:
    """Selection limits (the missing-index check passes its thresholds)."""

    min_cost_drop: float = 0.30
    min_saved_s_per_day: float = 1.0
    max_indexes: int = 5
    budget_bytes: float | None = None
    min_gain_fraction: float = 0.003
    write_ms_per_entry: float = 0.002


@dataclass(frozen=True)
class StatementCosts:
    """One statement: its time per day and its plan cost today and with each candidate it uses."""

    queryid: int
    ms_per_day: float
    base_cost: float
    after: Mapping[int, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Option:
    """A candidate's price: its size and the writes per day that will have to maintain it."""

    idx: int
    size_bytes: float
    writes_per_day: float


@dataclass(frozen=True)
class Selection:
    """The chosen candidates in order, and which chosen candidate serves which statement."""

    chosen: tuple[int, ...]
    serves: Mapping[int, int]  # queryid -> candidate idx
    saved_ms_per_day: Mapping[int, float]  # candidate idx -> ms/day it saves
    write_ms_per_day: Mapping[int, float]


def saving(stmt: StatementCosts, idx: int, opts: SelectOptions) -> float:
    """ms/day this candidate alone saves this statement, 0 below the guardrails."""
    after = stmt.after.get(idx)
    if after is None or stmt.base_cost <= 0 or after >= stmt.base_cost:
        return 0.0
    drop = (stmt.base_cost - after) / stmt.base_cost
    saved = stmt.ms_per_day * drop
    if drop < opts.min_cost_drop or saved < opts.min_saved_s_per_day * 1000.0:
        return 0.0
    return saved


def select(
    statements: Sequence[StatementCosts],
    options: Sequence[Option],
    opts: SelectOptions,
    prefix_of: Mapping[int, frozenset[int]] | None = None,
) -> Selection:
    """Greedy workload-level choice of indexes (see the module docstring).

    `prefix_of[i]` names the candidates that serve every lookup candidate `i` serves (its extensions): a chosen
    candidate whose extension is chosen too is merged into it, and its statements move to the extension.
    """
    total = sum(s.ms_per_day for s in statements) or 1.0
    by_idx = {o.idx: o for o in options}
    gains = {o.idx: {s.queryid: saving(s, o.idx, opts) for s in statements} for o in options}
    current: dict[int, float] = {s.queryid: 0.0 for s in statements}
    serves: dict[int, int] = {}
    chosen: list[int] = []
    used_bytes = 0.0
    while len(chosen) < opts.max_indexes:
        best: tuple[float, int] | None = None
        for o in options:
            if o.idx in chosen:
                continue
            if opts.budget_bytes is not None and used_bytes + o.size_bytes > opts.budget_bytes:
                continue
            gain = sum(max(0.0, g - current[q]) for q, g in gains[o.idx].items())
            net = gain - o.writes_per_day * opts.write_ms_per_entry
            if gain <= 0 or net <= 0 or gain < opts.min_gain_fraction * total:
                continue
            score = net / (1.0 + o.size_bytes / MIB)
            if best is None or score > best[0] or (score == best[0] and o.idx < best[1]):
                best = (score, o.idx)
        if best is None:
            break
        pick = best[1]
        chosen.append(pick)
        used_bytes += by_idx[pick].size_bytes
        for q, g in gains[pick].items():
            if g > current[q]:
                current[q] = g
                serves[q] = pick
    for i in list(chosen):
        wider = [j for j in chosen if j != i and j in (prefix_of or {}).get(i, frozenset())]
        if wider:
            chosen.remove(i)
            for q, served_by in list(serves.items()):
                if served_by == i:
                    serves[q] = wider[0]
                    current[q] = max(current[q], gains[wider[0]].get(q, 0.0))
    saved: dict[int, float] = {i: 0.0 for i in chosen}
    for q, i in serves.items():
        saved[i] += current[q]
    # an index chosen early may have lost all its statements to a better one chosen later
    kept = tuple(i for i in chosen if saved[i] > 0)
    return Selection(
        chosen=kept,
        serves=serves,
        saved_ms_per_day={i: saved[i] for i in kept},
        write_ms_per_day={i: by_idx[i].writes_per_day * opts.write_ms_per_entry for i in kept},
    )
