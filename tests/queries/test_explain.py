"""`pgadvisor explain` on real servers: generic plans of workload statements (GENERIC_PLAN on 18, PREPARE on 15),
the pg_monitor limit, --analyze refusals and its read-only execution, and offline review of a plan file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgadvisor.cli import run_cli
from pgadvisor.plans import Note, review

SETUP = """
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, note text NOT NULL);
INSERT INTO orders SELECT g, g % 1000, 'n' || g FROM generate_series(1, 120000) g;
CREATE SEQUENCE counter;
ANALYZE orders;
"""


def _queryid(db: Any, text: str) -> int:
    rows = db.execute(f"SELECT queryid FROM pg_stat_statements WHERE dbid = {db.dbid} AND query = '{text}'")
    assert len(rows) == 1, rows
    return int(rows[0][0])


@pytest.fixture
def orders_db(fresh_db: Any) -> Any:
    """A database with 120,000 orders and one parameterised statement in pg_stat_statements."""
    fresh_db.execute(SETUP)
    fresh_db.reset_statements()
    with psycopg.connect(fresh_db.dsn) as conn:  # extended protocol: pss stores "$1"
        conn.execute("SELECT id, note FROM orders WHERE customer_id = %s", (7,)).fetchall()
    return fresh_db


def test_explain_queryid_generic_plan(orders_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A $n statement from pg_stat_statements gets its generic plan, not executed, and the big seq scan is named."""
    qid = _queryid(orders_db, "SELECT id, note FROM orders WHERE customer_id = $1")
    code = run_cli(["explain", orders_db.dsn, "--queryid", str(qid), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    expected = "generic_plan" if orders_db.server.major >= 16 else "prepare_generic"
    assert out["method"] == expected and out["queryid"] == qid
    assert out["plan"]["Node Type"] in ("Seq Scan", "Gather")
    assert [n["node"] for n in out["notes"] if n["severity"] == "warning"] == ["Seq Scan on public.orders"]
    # nothing was executed: the statement's call count did not move
    rows = orders_db.execute(f"SELECT calls FROM pg_stat_statements WHERE queryid = {qid} AND dbid = {orders_db.dbid}")
    assert rows == [(1,)]


def test_explain_text_after_index(orders_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """With an index on the filter the same statement has nothing to point at."""
    orders_db.execute("CREATE INDEX ON orders (customer_id); ANALYZE orders")
    code = run_cli(["explain", orders_db.dsn, "--query", "SELECT id, note FROM orders WHERE customer_id = $1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Index Scan" in out or "Bitmap" in out
    assert "Nothing stands out" in out


def test_explain_as_pg_monitor_is_refused_with_one_line(orders_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """pg_monitor may read pg_stat_statements but may not act as the role that ran the statement (a superuser
    here), so it is not planned; its own --query text is planned as itself and it may not SELECT the table.
    Both: exit 3 and one line that says why."""
    qid = _queryid(orders_db, "SELECT id, note FROM orders WHERE customer_id = $1")
    code = run_cli(["explain", orders_db.monitor_dsn, "--queryid", str(qid)])
    err = capsys.readouterr().err.strip()
    assert code == 3
    assert len(err.splitlines()) == 1
    assert "not planned" in err and "as the role that ran it" in err and "superuser" in err
    code = run_cli(["explain", orders_db.monitor_dsn, "--query", "SELECT id, note FROM orders WHERE customer_id = $1"])
    err = capsys.readouterr().err.strip()
    assert code == 3
    assert len(err.splitlines()) == 1
    assert "permission denied" in err and "pg_monitor" in err


def test_explain_unknown_queryid(orders_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown queryid is a usage problem (exit 2), one line."""
    code = run_cli(["explain", orders_db.dsn, "--queryid", "12345"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "no statement with queryid 12345" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("UPDATE orders SET note = 'x' WHERE id = 1", "refused for UPDATE"),
        ("WITH d AS (DELETE FROM orders WHERE id = 1 RETURNING id) SELECT * FROM d", "data-modifying"),
        ("SELECT * FROM orders WHERE id = 1 FOR UPDATE", "locks rows"),
        ("SELECT * FROM orders WHERE id = $1", "parameter values"),
    ],
    ids=["update", "cte-delete", "for-update", "params"],
)
def test_analyze_refuses_what_could_write(orders_db: Any, capsys: pytest.CaptureFixture[str], query: str,
                                          reason: str) -> None:
    """--analyze executes: anything but a plain SELECT with values is refused before reaching the server."""
    code = run_cli(["explain", orders_db.dsn, "--query", query, "--analyze"])
    err = capsys.readouterr().err
    assert code == 2 and reason in err
    assert orders_db.execute("SELECT count(*), min(note) FROM orders WHERE id = 1") == [(1, "n1")]


def test_analyze_runs_read_only_and_rolled_back(orders_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A SELECT runs with actual rows; a SELECT calling a volatile function (that would write) is refused."""
    code = run_cli(["explain", orders_db.dsn, "--analyze", "--format", "json",
                    "--query", "SELECT count(*) FROM orders WHERE customer_id = 7"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["method"] == "analyze"
    assert "Actual Rows" in out["plan"]
    code = run_cli(["explain", orders_db.dsn, "--analyze", "--query", "SELECT nextval('counter')"])
    err = capsys.readouterr().err
    assert code == 2 and "volatile" in err  # refused before it runs (it used to fail in the read-only transaction)
    assert orders_db.execute("SELECT last_value, is_called FROM counter") == [(1, False)]


def test_plan_file_review(orders_db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An ANALYZE plan saved as JSON: spilled sort and misestimated rows are named, offline."""
    with psycopg.connect(orders_db.dsn) as conn:
        conn.execute("SET work_mem = '64kB'")
        conn.execute("SET max_parallel_workers_per_gather = 0")
        (plan,) = conn.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM orders WHERE id % 2 = 0 ORDER BY note").fetchone() or ()
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    code = run_cli(["explain", "--plan-file", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "sort spilled to disk" in out
    assert "estimated" in out and "rows, got" in out  # id % 2 = 0: a default 0.5 % estimate for 50 % of the rows
    assert run_cli(["explain", "--plan-file", str(path), "--analyze"]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert run_cli(["explain", "--plan-file", str(bad)]) == 2


def test_review_is_pure() -> None:
    """review() judges sizes from the catalog map and never raises on odd plans."""
    plan = {"Node Type": "Nested Loop", "Plan Rows": 5, "Plans": [
        {"Node Type": "Seq Scan", "Relation Name": "events", "Schema": "public", "Plan Rows": 50_000},
        {"Node Type": "Index Scan", "Relation Name": "users", "Schema": "public", "Plan Rows": 1}]}
    notes = review(plan, table_rows={"public.events": 2_000_000})
    assert Note("warning", "Seq Scan on public.events",
                "sequential scan of a large table (about 2,000,000 rows)") in notes
    assert any(n.node == "Nested Loop" for n in notes)
    assert review({}) == ()
    assert review({"Node Type": "Sort", "Plans": ["junk", None]}, work_mem_bytes=1) == ()
