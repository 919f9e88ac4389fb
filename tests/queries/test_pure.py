"""The query checks on synthetic snapshots, no server: random and malformed statement texts never make a check
raise, entries are merged per statement, and QR001's cases that a shared test server cannot plant."""

# ruff: noqa: FBT003  # snapshot rows are built positionally here, as the collectors build them

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgadvisor.checkapi.workload import merge, workload
from pgadvisor.config import Config
from pgadvisor.engine import plan, run
from pgadvisor.registry import load
from pgadvisor.snapshot import (
    ActivityRow,
    ColumnRow,
    IndexRow,
    ServerInfo,
    SettingRow,
    Snapshot,
    StatementRow,
    StatementsInfo,
    TableRow,
    Unavailable,
)

REGISTRY = load(entry_points=False)
QR_CODES = sorted(c for c in REGISTRY.checks if c.startswith("QR"))
NOW = 1_700_000_000.0
DB = "app"


def server() -> ServerInfo:
    """A PostgreSQL 17 server started a week ago."""
    return ServerInfo(170000, "PostgreSQL 17.2", DB, "monitor", False, True, False, NOW - 7 * 86400, NOW, None, 8192,
                      (DB,))


def stmt(query: str, queryid: int = 1, **kw: Any) -> StatementRow:
    """A pg_stat_statements row with defaults that judge nothing."""
    base: dict[str, Any] = dict(
        queryid=queryid, database=DB, user="app", toplevel=True, query=query, calls=1000, total_exec_ms=1000.0,
        mean_exec_ms=1.0, stddev_exec_ms=0.5, min_exec_ms=0.1, max_exec_ms=5.0, plans=0, total_plan_ms=0.0,
        rows=1000, shared_blks_hit=5000, shared_blks_read=100, shared_blks_dirtied=0, shared_blks_written=0,
        temp_blks_read=0, temp_blks_written=0, blk_read_ms=0.0, blk_write_ms=0.0, temp_blk_write_ms=0.0,
        wal_records=0, wal_fpi=0, wal_bytes=0.0, jit_ms=0.0)
    base.update(kw)
    return StatementRow(**base)


def table(name: str, rows: float = 50_000) -> TableRow:
    """A user table in public."""
    return TableRow(DB, "public", name, 1, "r", rows, 500, 4_000_000, 6_000_000, int(rows), 0, 0, 0, 10, 10, 10, 10,
                    0, 0, 0, 0, None, None, None, None, 0, 0, 0, 0, None, (), 0, 0, True, None)


def columns(name: str, *cols: str) -> tuple[ColumnRow, ...]:
    """NOT NULL int columns."""
    return tuple(ColumnRow(DB, "public", name, c, i + 1, "integer", 23, True, False, None, None)
                 for i, c in enumerate(cols))


def pkey(name: str) -> IndexRow:
    """The primary key on id."""
    return IndexRow(DB, "public", name, f"{name}_pkey", 2, "btree", ("id",), (), ("int4_ops",), (None,), (0,), None,
                    None, True, True, False, True, True, False, False, f"{name}_pkey", "p", False, 10, 10, 10, None,
                    8192, 1.0, "CREATE UNIQUE INDEX ...", None)


def snapshot(rows: tuple[StatementRow, ...], **parts: Any) -> Snapshot:
    """A snapshot with a small catalog (orders, customers) and these statements."""
    info = StatementsInfo("public", "1.11", "1.11", 5000, "top", False, 0, NOW - 7 * 86400)
    base: dict[str, Any] = dict(
        target="synthetic", collected_at=NOW, pgadvisor_version="test", server=server(),
        settings=(SettingRow("shared_preload_libraries", "pg_stat_statements", None, "string", "configuration file",
                             "", "pg_stat_statements", False, None),
                  SettingRow("track_io_timing", "on", None, "bool", "configuration file", "off", "on", False, 1.0),
                  SettingRow("work_mem", "4096", "kB", "integer", "default", "4096", "4096", False, 4194304.0)),
        tables=(table("orders"), table("customers")),
        indexes=(pkey("orders"), pkey("customers")),
        columns=columns("orders", "id", "customer_id", "status", "created_at")
        + columns("customers", "id", "email", "name"),
        statements=rows, statements_info=info, activity=(), extensions=(), databases=(),
        qual_stats=Unavailable("pg_qualstats is not installed"))
    base.update(parts)
    return Snapshot(**base)


def audit(snap: Snapshot, codes: list[str] | None = None) -> list[Any]:
    """Run QR checks; every one must run (not error)."""
    report = run(snap, plan(REGISTRY, Config(source="test"), only=codes or QR_CODES))
    errored = [(o.code, o.reason) for o in report.outcomes if o.status == "errored"]
    assert not errored, errored
    return list(report.findings)


SQLISH = st.text(alphabet=st.sampled_from(list("SELECT*FROMWHERE orders(),$1=;'%\"-/\n\\0123ORDERBYLIMITOFFSET")),
                 max_size=200)
REAL = [
    "SELECT * FROM orders ORDER BY created_at DESC LIMIT $1 OFFSET $2",
    "SELECT id FROM orders WHERE status = $1 OR status = $2 OR status = $3",
    "UPDATE orders SET status = $1",
    "SELECT o.id FROM orders o, customers c WHERE o.id = $1",
    "SELECT count(*) FROM orders WHERE id NOT IN (SELECT customer_id FROM orders)",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(st.one_of(st.text(max_size=300), SQLISH, st.sampled_from(REAL)), min_size=1, max_size=8),
       numbers=st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), min_size=4, max_size=4),
       cut=st.integers(min_value=0, max_value=60))
def test_random_and_malformed_texts_never_raise(texts: list[str], numbers: list[float], cut: int) -> None:
    """Random, truncated and non-SQL statement texts with random counters: every QR check runs to completion."""
    rows = []
    for i, text in enumerate(texts):
        calls = int(numbers[i % 4]) % 5_000_000
        rows.append(stmt(text[: len(text) - cut] if i % 2 else text, queryid=i, calls=calls,
                         total_exec_ms=numbers[(i + 1) % 4], mean_exec_ms=numbers[(i + 2) % 4] / 1000,
                         stddev_exec_ms=numbers[(i + 3) % 4] / 100, rows=calls * (i % 3),
                         shared_blks_read=int(numbers[i % 4]) % 10_000_000, temp_blks_written=int(numbers[0]) % 99999,
                         toplevel=bool(i % 2)))
    activity = tuple(ActivityRow(i, DB, "app", "", None, "client backend", "idle", None, None, None, None, None, None,
                                 None, None, (), text) for i, text in enumerate(texts))
    audit(snapshot(tuple(rows), activity=activity))


def test_parse_errors_are_counted_and_skipped() -> None:
    """A truncated text is counted, not analysed further, and reported by no parse-tree check."""
    snap = snapshot((stmt("SELECT * FROM orders ORDER BY id LIMIT $1 OFF", 1), stmt("UPDATE orders SET", 2)))
    assert audit(snap, [c for c in QR_CODES if c >= "QR009"]) == []
    assert workload(snap).parse_errors == 2


def test_rows_of_one_statement_are_merged() -> None:
    """Top-level and nested entries (and two roles) of one queryid are one statement; stddev is pooled."""
    merged = merge([
        stmt("SELECT 1", 7, calls=100, total_exec_ms=100.0, mean_exec_ms=1.0, stddev_exec_ms=0.0),
        stmt("SELECT 1", 7, calls=100, total_exec_ms=300.0, mean_exec_ms=3.0, stddev_exec_ms=0.0, toplevel=False),
        stmt("SELECT 1", 7, calls=0, total_exec_ms=0.0, mean_exec_ms=0.0, stddev_exec_ms=0.0, user="other"),
        stmt("SELECT 1", 7, database="other"),
    ])
    assert len(merged) == 2
    one = next(m for m in merged if m.database == DB)
    assert (one.calls, one.total_exec_ms, one.mean_exec_ms, one.top_exec_ms, one.entries) == (200, 400.0, 2.0, 100.0, 3)
    assert one.stddev_exec_ms == pytest.approx(1.0)


def test_dropped_database_entries_are_ignored() -> None:
    """Entries whose database is gone (NULL name) are not reported."""
    snap = snapshot((stmt("SELECT pg_sleep($1)", 1, database=None, mean_exec_ms=5000.0, total_exec_ms=5e6),))
    assert audit(snap, ["QR002"]) == []


def test_slow_thresholds() -> None:
    """Mean 100 ms is a warning, 1 s critical, fewer than 100 calls nothing; planning time counts when tracked."""
    snap = snapshot((
        stmt("SELECT 1", 1, mean_exec_ms=150.0, total_exec_ms=150_000.0),
        stmt("SELECT 2", 2, mean_exec_ms=900.0, total_exec_ms=900_000.0, plans=1000, total_plan_ms=200_000.0),
        stmt("SELECT 3", 3, mean_exec_ms=5000.0, calls=99),
        stmt("SELECT 4", 4, mean_exec_ms=99.0),
    ))
    assert sorted((f.object, f.severity.label) for f in audit(snap, ["QR002"])) == [
        ("queryid:1", "warning"), ("queryid:2", "critical")]


def test_qr001_not_preloaded() -> None:
    """Installed but not in shared_preload_libraries: one warning that says how to enable it, nothing else."""
    settings_ = (SettingRow("shared_preload_libraries", "auto_explain", None, "string", "configuration file", "",
                            "auto_explain", False, None),)
    reason = "pg_stat_statements must be loaded via \"shared_preload_libraries\""
    snap = snapshot((), settings=settings_, statements=Unavailable(reason), statements_info=Unavailable(reason))
    (found,) = audit(snap, ["QR001"])
    assert (found.object, found.severity.label) == ("pg_stat_statements", "warning")
    assert found.fix_sql is not None
    assert "shared_preload_libraries = 'auto_explain, pg_stat_statements'" in found.fix_sql
    skipped = run(snap, plan(REGISTRY, Config(source="test"), only=["QR002"])).outcomes[0]
    assert skipped.status == "skipped" and reason in (skipped.reason or "")


def test_qr001_evicted_entries_and_young_statistics() -> None:
    """dealloc > 0 says to raise pg_stat_statements.max; a reset ten minutes ago is too young to judge."""
    info = StatementsInfo("public", "1.11", "1.11", 5000, "top", False, 42, NOW - 600)
    found = audit(snapshot((), statements_info=info), ["QR001"])
    assert sorted((f.object, f.severity.label) for f in found) == [
        ("pg_stat_statements.max", "info"), ("pg_stat_statements.stats_reset", "info")]
    fix = next(f.fix_sql for f in found if f.object == "pg_stat_statements.max")
    assert fix is not None and "pg_stat_statements.max = 10000" in fix
    born = dataclasses.replace(info, dealloc=0, stats_reset=NOW - 600.002)  # born with the server
    assert audit(snapshot((), statements_info=born, server=dataclasses.replace(server(), start_time=NOW - 600)),
                 ["QR001"]) == []
    old = dataclasses.replace(info, dealloc=0, stats_reset=None)  # pss 1.8: the database's stats_reset stands in
    assert audit(snapshot((), statements_info=old), ["QR001"]) == []


def test_chatty_lookup_by_primary_key() -> None:
    """QR015: a PK lookup making most calls at 2M calls/day is reported; the same by a non-key column is not."""
    rows = (stmt("SELECT email FROM customers WHERE id = $1", 1, calls=14_000_000, mean_exec_ms=0.05,
                 total_exec_ms=700_000.0, rows=14_000_000),
            stmt("SELECT email FROM customers WHERE name = $1", 2, calls=14_000_000, mean_exec_ms=0.05,
                 total_exec_ms=700_000.0, rows=14_000_000),
            stmt("SELECT 1", 3, calls=1000))
    assert [f.object for f in audit(snapshot(rows), ["QR015"])] == ["queryid:1"]
