"""Proof on real servers: the advisor's recommendation is exactly the missing index, the index it names makes
the query's plan use it and the query faster (measured here, as superuser, with EXPLAIN ANALYZE: the tool itself
never runs ANALYZE), and a workload its indexes already serve gets no recommendation. Both the HypoPG path
(PostgreSQL 15) and the estimate path (pg_monitor, no HypoPG) run. Also: parts that need more than pg_monitor
are skipped with the grant that fixes them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pgadvisor.config import Config
from pgadvisor.engine import Report, plan, run
from pgadvisor.phases import collect
from pgadvisor.registry import load
from pgadvisor.snapshot import Snapshot, Unavailable, WhatIf

REGISTRY = load(entry_points=False)
THRESHOLDS = {"min_mean_ms": 0, "warning_saved_s_per_day": 0.001, "min_saved_s_per_day": 0.001}
SETUP = """
CREATE TABLE orders (id int PRIMARY KEY, customer_email text NOT NULL, total numeric NOT NULL);
INSERT INTO orders SELECT g, 'c' || (g % 5000) || '@example.com', g % 100 FROM generate_series(1, 100000) g;
ANALYZE orders;
"""
WORKLOAD = """
DO $$ BEGIN FOR i IN 1..100 LOOP
  EXECUTE format('SELECT id, total FROM orders WHERE customer_email = %L', 'c' || i || '@example.com');
END LOOP; END $$;
SELECT pg_stat_force_next_flush();
"""
QUERY = "SELECT id, total FROM orders WHERE customer_email = 'c42@example.com'"


def _audit(snap: Snapshot, code: str, thresholds: dict[str, Any] | None = None) -> Report:
    return run(snap, plan(REGISTRY, Config(source="test", thresholds={code: thresholds or {}}), only=[code]))


def _advice(db: Any, dsn: str) -> tuple[Snapshot, list[Any]]:
    snap = collect(dsn)
    report = _audit(snap, "IX011", THRESHOLDS)
    assert report.outcomes[0].status == "ran", report.outcomes[0].reason
    return snap, [f for f in report.findings if f.database == db.name]


def _explain(db: Any, *, analyze: bool) -> dict[str, Any]:
    option = "ANALYZE, " if analyze else ""
    (row,) = db.execute(f"EXPLAIN ({option}FORMAT JSON) {QUERY}")
    doc = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    return dict(doc[0])


def _fastest_ms(db: Any) -> float:
    return min(float(_explain(db, analyze=True)["Execution Time"]) for _ in range(5))


def _prove(db: Any, dsn: str, tier: str) -> None:
    db.execute(SETUP)
    db.reset_statements()
    db.execute(WORKLOAD)
    _, findings = _advice(db, dsn)
    # The key is the filter column; whether the id and total columns ride along (INCLUDE, for index-only scans)
    # depends on the write rate per day, and so on how long the test server has been up: both are right.
    assert [(f.object, f.evidence["tier"]) for f in findings] == [("public.orders (customer_email)", tier)]
    finding = findings[0]
    assert finding.fix_sql is not None
    assert finding.fix_sql.startswith("CREATE INDEX CONCURRENTLY ON public.orders (customer_email)")
    assert finding.evidence["saved_s_per_day"] > 0 and finding.evidence["size_bytes"] > 0
    assert finding.evidence["cost_after"] < 0.1 * finding.evidence["cost_before"]
    before_ms = _fastest_ms(db)
    db.execute(finding.fix_sql)  # CREATE INDEX CONCURRENTLY: run on its own, outside a transaction
    db.execute("ANALYZE orders")
    plan_doc = _explain(db, analyze=False)["Plan"]
    names = json.dumps(plan_doc)
    assert "orders_customer_email_" in names, plan_doc  # orders_customer_email_idx, or with its INCLUDE columns
    after_ms = _fastest_ms(db)
    assert after_ms < before_ms / 3, (before_ms, after_ms)
    # the same workload, now served: no recommendation
    db.reset_statements()
    db.execute(WORKLOAD)
    _, findings = _advice(db, dsn)
    assert findings == []


def test_hypopg_path_recommends_the_missing_index_and_it_helps(fresh_db: Any) -> None:
    """Tier A (HypoPG, a role allowed to EXPLAIN): exactly the index, used after creation, faster, then quiet."""
    if fresh_db.server.major != 15 or not fresh_db.server.install.has_extension("hypopg"):
        pytest.skip("HypoPG is installed for PostgreSQL 15 only here")
    fresh_db.execute("CREATE EXTENSION hypopg")
    _prove(fresh_db, fresh_db.dsn, "hypopg")


def test_estimate_path_as_pg_monitor_recommends_the_missing_index(fresh_db: Any) -> None:
    """Tier B (pg_monitor: no EXPLAIN, no pg_stats): the same recommendation, labelled unverified."""
    _prove(fresh_db, fresh_db.monitor_dsn, "estimate")


def test_whatif_as_pg_monitor_names_the_grant(fresh_db: Any) -> None:
    """With HypoPG installed, a pg_monitor auditor may not plan the workload as the role that ran it (a
    superuser here): the what-if part says so and what would allow it."""
    if not fresh_db.server.install.has_extension("hypopg"):
        pytest.skip("HypoPG is not installed for this version")
    fresh_db.execute("CREATE EXTENSION hypopg")
    fresh_db.execute(SETUP)
    fresh_db.reset_statements()
    fresh_db.execute(WORKLOAD)
    snap = collect(fresh_db.monitor_dsn)
    assert isinstance(snap.whatif, Unavailable) and "as the role that ran them" in snap.whatif.reason
    assert "only a superuser may act as a superuser" in snap.whatif.reason
    superuser = collect(fresh_db.dsn)
    assert isinstance(superuser.whatif, WhatIf)
    assert superuser.whatif.plan_method == ("generic_plan" if fresh_db.server.major >= 16 else "prepare")


def test_generic_plans_in_the_read_only_session(fresh_db: Any) -> None:
    """The planner path of this version (GENERIC_PLAN on 16+, PREPARE/EXECUTE NULLs before) costs a `$n`
    statement in the safe read-only session as the role that ran it, leaves no prepared statement behind, reports
    bad texts, and does not plan a statement whose role is unknown."""
    from pgadvisor.advisor import WorkloadStatement
    from pgadvisor.collectors.base import Ctx
    from pgadvisor.collectors.whatif import _Planner
    from pgadvisor.connection import SessionOptions, connect

    fresh_db.execute(SETUP)
    conn = connect(fresh_db.dsn)
    try:
        ctx = Ctx(conn=conn, version=conn.info.server_version, database=fresh_db.name, opts=SessionOptions())
        planner = _Planner(ctx, "public")
        row = _row("SELECT id FROM orders WHERE customer_email = $1 AND total > $2", conn.info.user)
        good = planner.plan(WorkloadStatement(row, "select", (), 2), ())
        assert good is not None and good.error is None and good.cost is not None and good.cost > 0
        bad_row = _row("SELECT nope FROM orders WHERE id = $1", conn.info.user)
        bad = planner.plan(WorkloadStatement(bad_row, "select", (), 1), ())
        assert bad is not None and bad.cost is None and bad.error is not None and "nope" in bad.error
        unknown = _row("SELECT id FROM orders WHERE id = $1", None)
        assert planner.plan(WorkloadStatement(unknown, "select", (), 1), ()) is None
        assert "role that ran it is unknown" in planner.not_planned[unknown.queryid]
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_prepared_statements")
            assert cur.fetchone() == (0,)
            cur.execute("SHOW transaction_read_only")
            assert cur.fetchone() == ("on",)
    finally:
        conn.close()


def _row(query: str, user: str | None) -> Any:
    from pgadvisor.snapshot import StatementRow

    return StatementRow(
        queryid=1, database=None, user=user, toplevel=True, query=query, calls=1, total_exec_ms=1.0,
        mean_exec_ms=1.0, stddev_exec_ms=0.0, min_exec_ms=1.0, max_exec_ms=1.0, plans=None, total_plan_ms=None,
        rows=1, shared_blks_hit=0, shared_blks_read=0, shared_blks_dirtied=0, shared_blks_written=0,
        temp_blks_read=0, temp_blks_written=0, blk_read_ms=0.0, blk_write_ms=0.0, temp_blk_write_ms=None,
        wal_records=None, wal_fpi=None, wal_bytes=None, jit_ms=None,
    )


def test_parts_beyond_pg_monitor_skip_with_the_grant(fresh_db: Any) -> None:
    """IX007 without pgstattuple and IX012 (pg_stats) are skipped for pg_monitor, naming the fix."""
    fresh_db.execute(SETUP)
    snap = collect(fresh_db.monitor_dsn)
    bloat = _audit(snap, "IX007").outcomes[0]
    assert bloat.status == "skipped" and bloat.reason is not None
    assert "pgstattuple" in bloat.reason and "pg_read_all_data" in bloat.reason
    brin = _audit(snap, "IX012").outcomes[0]
    assert brin.status == "skipped" and brin.reason is not None and "pg_read_all_data" in brin.reason
