"""The keyset rewrite QR009 proposes, executed on a real server: it returns the OFFSET form's next page."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from pgadvisor.analysis import rewrite
from pgadvisor.checkapi.workload import workload
from pgadvisor.config import Config
from pgadvisor.engine import plan, run
from pgadvisor.phases import collect
from pgadvisor.registry import load

REGISTRY = load(entry_points=False)
PAGE = "SELECT id, title FROM posts ORDER BY created_at DESC LIMIT 10 OFFSET {}"


def _execute(last_at: object, last_id: object) -> sql.Composed:
    """EXECUTE the prepared keyset statement with the last row's keys (EXECUTE takes no bind parameters)."""
    return sql.SQL("EXECUTE keyset(10, NULL, {}, {})").format(sql.Literal(last_at), sql.Literal(last_id))


def _keyset_statement(fix_sql: str) -> str:
    """The rewritten statement of a QR009 fix (its second line; the first is a comment, the last the index)."""
    lines = [ln for ln in fix_sql.splitlines() if ln and not ln.startswith("--")]
    assert lines[0].startswith("SELECT"), fix_sql
    return lines[0].rstrip(";")


def _qr009_fix(fresh_db: Any) -> str:
    snap = collect(fresh_db.monitor_dsn)
    report = run(snap, plan(REGISTRY, Config(source="test"), only=["QR009"]))
    mine = [f for f in report.findings if f.database == fresh_db.name]
    assert len(mine) == 1, [f.message for f in report.findings]
    assert mine[0].fix_sql is not None
    assert "CREATE INDEX CONCURRENTLY ON public.posts (created_at DESC, id DESC);" in mine[0].fix_sql
    return mine[0].fix_sql


def test_keyset_fix_returns_the_next_page(fresh_db: Any) -> None:
    """Unique sort keys: each keyset page equals the OFFSET page after it, page by page, to the end."""
    fresh_db.execute(
        "CREATE TABLE posts (id int PRIMARY KEY, created_at timestamptz NOT NULL, title text NOT NULL);"
        "INSERT INTO posts SELECT g, '2024-01-01'::timestamptz + g * interval '1 minute', 'post ' || g"
        " FROM generate_series(1, 95) g;"
    )
    fresh_db.reset_statements()
    for offset in (0, 10, 20):
        fresh_db.execute(PAGE.format(offset))
    keyset = _keyset_statement(_qr009_fix(fresh_db))
    assert keyset == ("SELECT id, title FROM posts WHERE (posts.created_at, posts.id) < ($3, $4) "
                      "ORDER BY created_at DESC, posts.id DESC LIMIT $1")
    with psycopg.connect(fresh_db.dsn, autocommit=True) as conn:
        conn.execute(f"PREPARE keyset(bigint, bigint, timestamptz, int) AS {keyset}")
        pages = 0
        for offset in range(0, 100, 10):
            page = conn.execute(PAGE.format(offset)).fetchall()
            following = conn.execute(PAGE.format(offset + 10)).fetchall()
            if not page:
                break
            last_id = page[-1][0]
            (last_at,) = conn.execute("SELECT created_at FROM posts WHERE id = %s", (last_id,)).fetchone() or (None,)
            got = conn.execute(_execute(last_at, last_id)).fetchall()
            assert got == following, f"after offset {offset}"
            pages += 1
        assert pages == 10


def test_keyset_with_ties_matches_the_total_order(fresh_db: Any) -> None:
    """Tied sort keys: the OFFSET form's order among ties is arbitrary, so the keyset pages are compared with the
    OFFSET pages of the order the rewrite makes total (primary key as tiebreaker): no row is skipped or repeated."""
    fresh_db.execute(
        "CREATE TABLE posts (id int PRIMARY KEY, created_at timestamptz NOT NULL, title text NOT NULL);"
        "INSERT INTO posts SELECT g, '2024-01-01'::timestamptz + (g % 7) * interval '1 day', 'post ' || g"
        " FROM generate_series(1, 64) g;"
    )
    fresh_db.reset_statements()
    fresh_db.execute(PAGE.format(10))
    keyset = _keyset_statement(_qr009_fix(fresh_db))
    snap = collect(fresh_db.monitor_dsn)
    first = rewrite.first_page(PAGE.format(0), workload(snap).schema(fresh_db.name))
    assert first == "SELECT id, title FROM posts ORDER BY created_at DESC, posts.id DESC LIMIT 10"
    with psycopg.connect(fresh_db.dsn, autocommit=True) as conn:
        conn.execute(f"PREPARE keyset(bigint, bigint, timestamptz, int) AS {keyset}")
        seen = conn.execute(first).fetchall()
        while True:
            last_id = seen[-1][0]
            (last_at,) = conn.execute("SELECT created_at FROM posts WHERE id = %s", (last_id,)).fetchone() or (None,)
            page = conn.execute(_execute(last_at, last_id)).fetchall()
            offset_page = conn.execute(first + " OFFSET %s", (len(seen),)).fetchall()
            assert page == offset_page
            if not page:
                break
            seen += page
        assert sorted(r[0] for r in seen) == list(range(1, 65))
