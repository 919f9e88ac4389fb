"""Statement kinds, fingerprints, tables, multi-statement and utility texts, and parse errors."""

from __future__ import annotations

import dataclasses

import pytest

from pgadvisor.analysis import StatementAnalysis, TableRef, analyze, normalize_expression, parse_trees
from pgadvisor.sqltree import MAX_DEPTH
from tests.analysis import SCHEMA


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("SELECT 1", "select"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "select"),
        ("INSERT INTO orders (id) VALUES ($1)", "insert"),
        ("UPDATE orders SET note = $1 WHERE id = $2", "update"),
        ("DELETE FROM orders WHERE id = $1", "delete"),
        ("VACUUM (ANALYZE) orders", "utility"),
        ("SET statement_timeout = $1", "utility"),
        ("COPY orders FROM STDIN", "utility"),
        ("CREATE INDEX CONCURRENTLY ON orders (user_id)", "utility"),
        ("EXPLAIN SELECT * FROM orders", "utility"),
        ("MERGE INTO orders o USING users u ON o.user_id = u.id WHEN MATCHED THEN DELETE", "other"),
        ("SELECT 1; UPDATE orders SET note = $1", "other"),
        ("SELECT 1; SELECT 2", "select"),
    ],
)
def test_kind(query: str, kind: str) -> None:
    """Each statement is classified by its top-level node."""
    result = analyze(query, SCHEMA)
    assert result.parse_error is None
    assert result.kind == kind


def test_fingerprint_literal_and_param_forms_match() -> None:
    """The literal statement (sampled from pg_stat_activity) and the normalized one fingerprint alike."""
    literal = analyze("SELECT id FROM orders WHERE user_id = 42 AND status IN ('a', 'b') LIMIT 10")
    normalized = analyze("SELECT id FROM orders WHERE user_id = $1 AND status IN ($2, $3) LIMIT $4")
    assert literal.fingerprint is not None
    assert literal.fingerprint == normalized.fingerprint
    assert literal.fingerprint != analyze("SELECT id FROM orders WHERE status = $1").fingerprint


def test_multi_statement_text() -> None:
    """Every statement is analysed; facts carry their statement index."""
    result = analyze("SELECT 1; SELECT * FROM orders WHERE id = $1; DELETE FROM users", SCHEMA)
    assert result.statement_count == 3
    assert result.tables == (TableRef("public", "orders"), TableRef("public", "users"))
    assert {(s.table.name, s.statement) for s in result.scans} == {("orders", 1), ("users", 2)}
    assert result.max_param == 1


@pytest.mark.parametrize(
    ("query", "tables"),
    [
        ("VACUUM orders, audit.events", (TableRef("public", "orders"), TableRef("audit", "events"))),
        ("COPY events TO STDOUT", (TableRef("audit", "events"),)),
        ("COPY (SELECT id FROM orders WHERE id > $1) TO STDOUT", (TableRef("public", "orders"),)),
        ("SET search_path = public", ()),
        ("CREATE TABLE t2 AS SELECT * FROM users u", (TableRef("public", "users", "u"),)),
    ],
)
def test_utility_statements(query: str, tables: tuple[TableRef, ...]) -> None:
    """Utility statements parse; the tables they name are listed, and a wrapped query is analysed."""
    result = analyze(query, SCHEMA)
    assert (result.kind, result.parse_error, result.tables) == ("utility", None, tables)


def test_explain_wraps_a_query_that_is_analysed() -> None:
    """EXPLAIN's query is resolved: its tables are listed and its tree has a scope with the SELECT block."""
    trees = parse_trees("EXPLAIN (ANALYZE) SELECT * FROM orders", SCHEMA)
    assert [block.role for tree in trees for block in tree.scope.blocks] == ["select"]
    assert analyze("EXPLAIN (ANALYZE) SELECT * FROM orders", SCHEMA).tables == (TableRef("public", "orders"),)


def test_table_resolution_through_search_path_and_ctes() -> None:
    """Unqualified names follow the search path; CTE names are not tables; unknown tables keep schema None."""
    result = analyze(
        "WITH orders AS (SELECT * FROM archive.orders) "
        "SELECT * FROM orders o JOIN events e ON e.id = o.id JOIN mystery m ON true",
        SCHEMA,
    )
    assert result.tables == (
        TableRef("archive", "orders"),
        TableRef("audit", "events", "e"),
        TableRef(None, "mystery", "m"),
    )
    assert analyze("SELECT 1 FROM orders").tables == (TableRef(None, "orders"),)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "-- just a comment",
        "SELECT FROM WHERE",
        "SELECT id FROM orders WHERE status = $1 AND (created_at > $2 ORDER BY crea",
        "this is not sql at all",
        "SELECT '\udc80'",
        "SELECT 1\x00; DROP TABLE x",
        "SELECT $1 FROM t WHERE a = 'unterminated",
        "{json: true}",
    ],
)
def test_bad_input_gives_parse_error(text: str) -> None:
    """Garbage, truncated and empty texts give a result with `parse_error` set, never an exception."""
    result = analyze(text)
    assert result.parse_error
    assert (result.kind, result.scans, result.tables) == ("other", (), ())


def test_parse_error_position() -> None:
    """Syntax errors carry their character offset."""
    assert analyze("SELECT FROM WHERE (").error_position == 12
    assert analyze("SELECT * FROM orders WHERE").error_position is None  # "at end of input"


def test_non_string_input() -> None:
    """A caller passing bytes gets an error result, not an exception."""
    assert analyze(b"SELECT 1").parse_error == "expected str, got bytes"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "SELECT " + " + ".join(["1"] * 60_000),  # would overflow the C stack in pglast without the guard
        "SELECT 1" + "::int" * 40_000,
        " UNION ".join(["SELECT 1"] * 30_000),
        "SELECT 1 FROM t0 " + " ".join(f"JOIN t{i} ON true" for i in range(1, 30_000)),
        "SELECT " + "(" * 50_000 + "1" + ")" * 50_000,
        "SELECT " + "f(" * 3_000 + "1" + ")" * 3_000,
        "SELECT " + "(SELECT " * 500 + "1" + ")" * 500,
        "SELECT " + " || ".join(["$1"] * (MAX_DEPTH + 5)),
    ],
    ids=["plus-chain", "casts", "unions", "joins", "parens", "functions", "subqueries", "just-over-cap"],
)
def test_deep_nesting_is_refused_not_crashing(text: str) -> None:
    """Deep trees come back as parse errors (no segfault, no RecursionError)."""
    result = analyze(text)
    assert result.parse_error


def test_depth_just_under_cap_is_analysed() -> None:
    """Real statements with some nesting are analysed normally."""
    text = "SELECT id FROM orders WHERE note = " + " || ".join(["$1"] * 150)
    assert analyze(text, SCHEMA).parse_error is None


def test_result_is_frozen() -> None:
    """Results are immutable."""
    result = analyze("SELECT 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.kind = "insert"  # type: ignore[misc]
    assert isinstance(result, StatementAnalysis)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("lower((email)::text)", "lower(email)", True),
        ("lower(u.email)", "lower(email)", True),
        ("(created_at)::date", "created_at::date", True),
        ("date(created_at)", "created_at::date", False),
        ("upper(email)", "lower(email)", False),
    ],
)
def test_normalize_expression(a: str, b: str, *, same: bool) -> None:
    """Index expressions as pg_get_indexdef prints them compare equal to the query's spelling."""
    assert (normalize_expression(a) == normalize_expression(b)) is same
    assert normalize_expression("not an expression )") is None
