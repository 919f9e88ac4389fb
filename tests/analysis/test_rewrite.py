"""Keyset rewrite: exact output, refusals, and page-by-page equivalence executed on SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing

import pglast
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgadvisor.analysis import ColumnDef, IndexDef, Schema, TableDef, rewrite
from tests.analysis import SCHEMA


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "SELECT id, status FROM orders WHERE status = $1 ORDER BY created_at DESC LIMIT $2 OFFSET $3",
            "SELECT id, status FROM orders WHERE status = $1 AND (orders.created_at, orders.id) < ($4, $5) "
            "ORDER BY created_at DESC, orders.id DESC LIMIT $2",
        ),
        (
            "SELECT * FROM orders o ORDER BY o.created_at LIMIT 10 OFFSET 20",
            "SELECT * FROM orders AS o WHERE (o.created_at, o.id) > ($1, $2) ORDER BY o.created_at, o.id ASC LIMIT 10",
        ),
        (
            "SELECT id FROM orders ORDER BY id DESC LIMIT $1 OFFSET $2",
            "SELECT id FROM orders WHERE orders.id < $3 ORDER BY id DESC LIMIT $1",
        ),
        (
            "SELECT * FROM orders WHERE status = $1 OR id > $2 ORDER BY created_at DESC, status LIMIT $3 OFFSET $4",
            "SELECT * FROM orders WHERE (status = $1 OR id > $2) AND (orders.created_at < $5"
            " OR (orders.created_at = $5 AND orders.status > $6)"
            " OR (orders.created_at = $5 AND orders.status = $6 AND orders.id > $7))"
            " ORDER BY created_at DESC, status, orders.id ASC LIMIT $3",
        ),
        (
            "SELECT sku FROM items ORDER BY order_id, line LIMIT 5 OFFSET 5",
            "SELECT sku FROM items WHERE (items.order_id, items.line) > ($1, $2) ORDER BY order_id, line LIMIT 5",
        ),
        (
            "SELECT email AS e FROM users ORDER BY e FETCH FIRST 10 ROWS ONLY OFFSET 10",
            "SELECT email AS e FROM users WHERE users.email > $1 ORDER BY e LIMIT 10",
        ),
    ],
    ids=["desc-tiebreak", "alias-asc", "pk-only", "mixed-or-where", "composite-pk", "unique-alias"],
)
def test_keyset_output(query: str, expected: str) -> None:
    """The keyset form keeps WHERE, drops OFFSET, adds the tiebreaker and numbers new params after $max."""
    out = rewrite.keyset(query, SCHEMA)
    assert out == expected
    pglast.parse_sql(out)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM mystery ORDER BY a LIMIT 1 OFFSET 1",  # table unknown
        "SELECT * FROM orders ORDER BY note LIMIT 1 OFFSET 1",  # nullable sort key
        "SELECT * FROM orders ORDER BY lower(status) LIMIT 1 OFFSET 1",  # expression
        "SELECT * FROM orders o JOIN users u ON u.id = o.user_id ORDER BY o.id LIMIT 1 OFFSET 1",  # join
        "SELECT status, count(*) FROM orders GROUP BY status ORDER BY status LIMIT 1 OFFSET 1",
        "SELECT DISTINCT status FROM orders ORDER BY status LIMIT 1 OFFSET 1",
        "SELECT id FROM orders ORDER BY id LIMIT 10",  # no offset
        "SELECT id FROM orders ORDER BY id OFFSET 10",  # no limit
        "SELECT id FROM orders LIMIT 1 OFFSET 1",  # no order
        "SELECT id FROM orders UNION SELECT id FROM users ORDER BY id LIMIT 1 OFFSET 1",
        "WITH x AS (SELECT 1) SELECT id FROM orders ORDER BY id LIMIT 1 OFFSET 1",
        "SELECT id FROM orders ORDER BY id FETCH FIRST 1 ROWS WITH TIES OFFSET 1",
        "SELECT id, row_number() OVER () FROM orders ORDER BY id LIMIT 1 OFFSET 1",
        "SELECT id FROM orders ORDER BY id USING < LIMIT 1 OFFSET 1",
        "SELECT 1; SELECT 2",
        "not sql",
    ],
)
def test_keyset_refuses_unsafe_statements(query: str) -> None:
    """Whenever the rewrite could change the result, it returns None."""
    assert rewrite.keyset(query, SCHEMA) is None
    with pytest.raises(ValueError, match="cannot be rewritten"):
        rewrite.keyset_with_values(query, SCHEMA, {})


def test_keyset_requires_a_primary_key() -> None:
    """No primary key, no unique tiebreaker: refused."""
    schema = Schema((TableDef("t", (ColumnDef("a", "int", not_null=True),)),))
    assert rewrite.keyset("SELECT a FROM t ORDER BY a LIMIT 1 OFFSET 1", schema) is None


def test_unique_index_makes_tiebreaker_unnecessary() -> None:
    """A unique, NOT NULL, non-partial index inside the ORDER BY keys makes the order total already."""
    schema = Schema(
        (
            TableDef(
                "t",
                (ColumnDef("id", "int", not_null=True), ColumnDef("code", "text", not_null=True)),
                primary_key=("id",),
                indexes=(IndexDef("t_code_key", ("code",), unique=True),),
            ),
        )
    )
    assert rewrite.key_columns("SELECT * FROM t ORDER BY code LIMIT 1 OFFSET 1", schema) == ("code",)


def test_first_page_orders_by_the_tiebreaker() -> None:
    """The first page already uses the total order, without a key condition."""
    assert rewrite.first_page("SELECT id FROM orders ORDER BY created_at DESC LIMIT $1 OFFSET $2", SCHEMA) == (
        "SELECT id FROM orders ORDER BY created_at DESC, orders.id DESC LIMIT $1"
    )


def test_keyset_with_values_literals() -> None:
    """Values of the last row are written as literals of the right kind; missing keys are an error."""
    out = rewrite.keyset_with_values(
        "SELECT id FROM orders ORDER BY created_at DESC LIMIT 10 OFFSET 10",
        SCHEMA,
        {"created_at": "2024-05-01 10:00:00+00", "id": 3_000_000_000},
    )
    assert out == (
        "SELECT id FROM orders WHERE (orders.created_at, orders.id) < ('2024-05-01 10:00:00+00', 3000000000) "
        "ORDER BY created_at DESC, orders.id DESC LIMIT 10"
    )
    with pytest.raises(ValueError, match="no value for key column 'id'"):
        rewrite.keyset_with_values("SELECT id FROM orders ORDER BY id LIMIT 1 OFFSET 1", SCHEMA, {"id": None})


# --- executed equivalence -------------------------------------------------------------------------------

PAGE_TABLE = Schema(
    (
        TableDef(
            "t",
            (
                ColumnDef("id", "int", not_null=True),
                ColumnDef("a", "int", not_null=True),
                ColumnDef("b", "text", not_null=True),
                ColumnDef("c", "int", not_null=True),
            ),
            primary_key=("id",),
        ),
    )
)
SORT_COLUMNS = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "id"]), st.sampled_from(["ASC", "DESC", ""])),
    min_size=1,
    max_size=3,
    unique_by=lambda item: item[0],
)
ROWS = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(["x", "y", "z"]), st.integers(-2, 2)),
    min_size=0,
    max_size=25,
)


def _sqlite(sql: str) -> str:
    """Translate PostgreSQL SQL for SQLite."""
    return sqlglot.transpile(sql, read="postgres", write="sqlite")[0]


def _pages(conn: sqlite3.Connection, query: str, keys: tuple[str, ...]) -> Iterator[list[tuple[object, ...]]]:
    """Walk all pages with the keyset form, feeding each page's last row back in."""
    first = rewrite.first_page(query, PAGE_TABLE)
    assert first is not None
    page = conn.execute(_sqlite(first)).fetchall()
    while page:
        yield page
        last = dict(zip(("id", "a", "b", "c"), page[-1], strict=True))
        text = rewrite.keyset_with_values(query, PAGE_TABLE, {k: last[k] for k in keys})
        page = conn.execute(_sqlite(text)).fetchall()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS, order=SORT_COLUMNS, size=st.integers(1, 4), where=st.booleans())
def test_keyset_pages_cover_the_total_order(
    rows: list[tuple[int, str, int]], order: list[tuple[str, str]], size: int, *, where: bool
) -> None:
    """Keyset pages, concatenated, are the rows in the (now total) order: nothing skipped or repeated."""
    order_sql = ", ".join(f"{col} {direction}".strip() for col, direction in order)
    filter_sql = " WHERE c >= -1" if where else ""
    query = f"SELECT id, a, b, c FROM t{filter_sql} ORDER BY {order_sql} LIMIT {size} OFFSET 0"
    keys = rewrite.key_columns(query, PAGE_TABLE)
    assert keys is not None
    full_order = ", ".join(f"{k} {'DESC' if dict(order).get(k, order[-1][1]) == 'DESC' else 'ASC'}" for k in keys)
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INT NOT NULL, b TEXT NOT NULL, c INT NOT NULL)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", [(i, *r) for i, r in enumerate(rows)])
        expected = conn.execute(f"SELECT id, a, b, c FROM t{filter_sql} ORDER BY {full_order}").fetchall()
        got = [row for page in _pages(conn, query, keys) for row in page]
    assert got == expected
