"""`pgadvisor top`: the workload's top statements from pg_stat_statements, live and from a snapshot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pgadvisor.cli import run_cli
from pgadvisor.snapshot import Snapshot, StatementRow, Unavailable
from pgadvisor.top import TopUnavailable, top_statements


def workload(db: Any) -> None:
    """Three statements with clearly different calls, rows and time."""
    db.execute("CREATE TABLE items (id int PRIMARY KEY, v int); "
               "INSERT INTO items SELECT g, g % 10 FROM generate_series(1, 20000) g; ANALYZE items;")
    db.reset_statements()
    for _ in range(30):
        db.execute("SELECT v FROM items WHERE id = 7")
    for _ in range(3):
        db.execute("SELECT count(*) FROM items a JOIN items b ON a.v = b.v WHERE a.id < 3000")
    db.execute("SELECT * FROM items WHERE v = 1")


def test_top_by_calls_and_time(fresh_db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Ranked by calls, the point lookup leads; by total time the join does; shares add up to at most 1."""
    workload(fresh_db)
    assert run_cli(["top", fresh_db.monitor_dsn, "--by", "calls", "--format", "json",
                    "--database", fresh_db.name]) == 0
    top = json.loads(capsys.readouterr().out)
    assert top["top"][0]["query"].startswith("SELECT v FROM items WHERE id = $1")
    assert top["top"][0]["calls"] == 30
    assert 0 < sum(r["share"] for r in top["top"]) <= 1.000001
    snap = tmp_path / "s.json"
    assert run_cli(["collect", fresh_db.monitor_dsn, "-o", str(snap)]) == 0
    capsys.readouterr()
    assert run_cli(["top", "--snapshot", str(snap), "--by", "total", "--database", fresh_db.name, "-n", "1"]) == 0
    out = capsys.readouterr().out
    assert "Top 1 of" in out and "JOIN items b" in out


def test_top_without_pg_stat_statements_is_exit_3(fresh_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A database without the extension: one line saying how to enable it, exit 3."""
    fresh_db.execute("DROP EXTENSION pg_stat_statements")
    assert run_cli(["top", fresh_db.monitor_dsn]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CREATE EXTENSION pg_stat_statements" in err


def row(queryid: int, query: str, calls: int, total: float, *, toplevel: bool = True) -> StatementRow:
    """A synthetic pg_stat_statements row."""
    return StatementRow(queryid=queryid, database="app", user="u", toplevel=toplevel, query=query, calls=calls,
                        total_exec_ms=total, mean_exec_ms=total / calls, stddev_exec_ms=0.0, min_exec_ms=0.0,
                        max_exec_ms=0.0, plans=None, total_plan_ms=None, rows=calls, shared_blks_hit=0,
                        shared_blks_read=0, shared_blks_dirtied=0, shared_blks_written=0, temp_blks_read=0,
                        temp_blks_written=0, blk_read_ms=0.0, blk_write_ms=0.0, temp_blk_write_ms=None,
                        wal_records=None, wal_fpi=None, wal_bytes=None, jit_ms=None)


def test_time_shares_count_top_level_time_only() -> None:
    """A function's nested statement is not counted twice in the shares; unparseable texts are counted."""
    snap = Snapshot(target="t", collected_at=0.0, pgadvisor_version="x", server=Unavailable("-"), statements=(
        row(1, "SELECT f()", 10, 900.0),
        row(2, "UPDATE t SET x = $1", 10, 800.0, toplevel=False),  # ran inside f()
        row(3, "SELECT 1", 100, 100.0),
        row(4, "SELEC broken text", 1, 1.0),
    ))
    top = top_statements(snap, by="total")
    shares = {r.statement.queryid: round(r.share, 3) for r in top.rows}
    assert shares == {1: 0.899, 2: 0.0, 3: 0.1, 4: 0.001}
    assert top.unparsed == 1
    with pytest.raises(TopUnavailable):
        top_statements(Snapshot(target="t", collected_at=0.0, pgadvisor_version="x", server=Unavailable("-")))
