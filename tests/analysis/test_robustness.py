"""Property tests: `analyze` never raises, whatever the text, and what it returns is plain frozen data."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgadvisor.analysis import Match, Schema, StatementAnalysis, analyze, parse_trees, rewrite
from pgadvisor.checkapi.tree import matches_in
from tests.analysis import SCHEMA
from tests.checks.test_walkers import WALKERS

REAL = [
    "SELECT u.id, u.email, o.total FROM users u JOIN orders o ON o.user_id = u.id "
    "WHERE u.status = $1 AND o.created_at > $2 ORDER BY o.created_at DESC LIMIT $3 OFFSET $4",
    "WITH recent AS (SELECT user_id, count(*) AS n FROM orders WHERE created_at > now() - $1::interval "
    "GROUP BY user_id) SELECT u.*, r.n FROM users u JOIN recent r ON r.user_id = u.id "
    "WHERE lower(u.email) LIKE $2",
    "UPDATE orders SET status = $1, note = coalesce(note, $2) WHERE id = ANY($3) AND status <> $4 RETURNING id",
    "DELETE FROM items i USING orders o WHERE o.id = i.order_id AND o.status IN ($1, $2, $3)",
    "INSERT INTO orders (id, user_id, status) SELECT $1, id, $2 FROM users WHERE email = $3 "
    "ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status "
    "WHERE orders.status IS DISTINCT FROM EXCLUDED.status",
    "SELECT DISTINCT u.id FROM users u, orders o "
    "WHERE u.id NOT IN (SELECT user_id FROM orders WHERE total > $1) "
    "AND (o.status = $2 OR o.status = $3 OR o.status = $4) ORDER BY random() LIMIT $5",
    "SELECT count(*) FROM users",
    "COPY (SELECT * FROM audit.events WHERE kind = $1) TO STDOUT WITH (FORMAT csv)",
    "SELECT $1::jsonb #>> $2, x.* FROM LATERAL jsonb_to_record($3) AS x(a int, b text)",
]

ATOMS = st.sampled_from(
    [
        "a = $1",
        "t.a = u.b",
        "lower(b) = $2",
        "c::date = $3",
        "a + 0 > $4",
        "b LIKE '%x'",
        "b LIKE 'x%'",
        "b ILIKE $5",
        "a IN ($1, $2)",
        "a = ANY($6)",
        "d IS NULL",
        "d IS NOT NULL",
        "flag",
        "a BETWEEN $1 AND $2",
        "(a, b) < ($1, $2)",
        "EXISTS (SELECT 1 FROM u WHERE u.b = t.a)",
        "a NOT IN (SELECT b FROM u)",
        "a <> ALL (SELECT b FROM u)",
        "x = y",
        "status = 'active'",
        "t.a = $1 OR t.a = $2 OR t.a = $3",
        "coalesce(a, 0) = $7",
        "CURRENT_DATE > c",
        "a = (SELECT max(b) FROM u)",
    ]
)
CONDITIONS = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" AND ", " OR "]), inner).map(lambda p: f"({p[0]}{p[1]}{p[2]})"),
        inner.map(lambda c: f"NOT ({c})"),
    ),
    max_leaves=8,
)
FROMS = st.sampled_from(
    [
        "t",
        "t AS x",
        "t, u",
        "t JOIN u ON t.id = u.t_id",
        "t LEFT JOIN u USING (id)",
        "t NATURAL JOIN u",
        "(SELECT * FROM t) s",
        "t, LATERAL (SELECT * FROM u WHERE u.b = t.a) l",
        "t CROSS JOIN u",
        "generate_series(1, $1) g",
        "users",
        "orders o, users",
        "cte",
        "t TABLESAMPLE SYSTEM (1)",
    ]
)
TARGETS = st.sampled_from(["*", "t.*", "a", "t.a, u.b", "count(*)", "lower(b) AS lb", "DISTINCT a", "1"])
TAILS = st.sampled_from(
    [
        "",
        " ORDER BY a",
        " ORDER BY 1 DESC LIMIT $9",
        " ORDER BY a LIMIT $8 OFFSET $9",
        " ORDER BY random()",
        " GROUP BY a HAVING count(*) > $1",
        " OFFSET 5",
        " ORDER BY lb NULLS FIRST LIMIT ALL",
    ]
)


@st.composite
def statements(draw: st.DrawFn) -> str:
    """Random but mostly parseable statements built from realistic fragments."""
    where = draw(st.one_of(st.just(""), CONDITIONS.map(lambda c: f" WHERE {c}")))
    shape = draw(st.sampled_from(["select", "with", "update", "delete", "insert", "union"]))
    select = f"SELECT {draw(TARGETS)} FROM {draw(FROMS)}{where}{draw(TAILS)}"
    if shape == "with":
        return f"WITH cte AS ({select}) SELECT * FROM cte{draw(TAILS)}"
    if shape == "update":
        return f"UPDATE t SET a = $1 FROM u{where}"
    if shape == "delete":
        return f"DELETE FROM t{where}"
    if shape == "insert":
        return f"INSERT INTO t (a) {select}"
    if shape == "union":
        return f"{select} UNION ALL SELECT 1 FROM u"
    return select


def assert_plain(value: object) -> None:
    """Match extras hold only JSON-like plain values."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            assert isinstance(key, str)
            assert_plain(item)
    elif isinstance(value, tuple):
        for item in value:
            assert_plain(item)
    else:
        assert value is None or isinstance(value, str | int | float | bool), repr(value)


def check(text: str, schema: Schema | None = None) -> StatementAnalysis:
    """Analyse `text`; the result must be well-formed either way."""
    result = analyze(text, schema)
    assert isinstance(result, StatementAnalysis)
    if result.parse_error is None:
        assert result.kind in {"select", "insert", "update", "delete", "utility", "other"}
        assert result.statement_count >= 1
    else:
        assert not (result.scans or result.tables)
        assert parse_trees(text, schema) == ()
    for walker in WALKERS.values():  # the checks' walkers never raise, and find plain values only
        for match in matches_in(text, walker, schema):
            assert isinstance(match, Match)
            assert_plain(match.extra)
    rewrite.keyset(text, schema or SCHEMA)
    return result


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.text())
def test_random_text(text: str) -> None:
    """Arbitrary Unicode text (including lone surrogates and NUL)."""
    check(text)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_decoded(raw: bytes) -> None:
    """Byte soup decoded the ways a collector might (latin-1, or UTF-8 with escapes)."""
    check(raw.decode("latin-1"))
    check(raw.decode("utf-8", errors="surrogateescape"), SCHEMA)


@FAST
@given(st.sampled_from(REAL), st.integers(0, 400))
def test_truncated_real_statements(statement: str, cut: int) -> None:
    """Statements cut at any point, as track_activity_query_size does."""
    check(statement[:cut])
    check(statement[:cut], SCHEMA)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements())
def test_generated_statements(text: str) -> None:
    """Realistic generated statements: every one analyses, with and without a catalog."""
    without = check(text)
    with_schema = check(text, SCHEMA)
    assert without.kind == with_schema.kind
    assert without.fingerprint == with_schema.fingerprint


@FAST
@given(st.integers(0, 12_000), st.sampled_from(["(", "(SELECT ", "ARRAY[", "f(", "-", "NOT "]))
def test_nested_openers(depth: int, opener: str) -> None:
    """Deeply nested constructs, balanced or not."""
    closer = {"(": ")", "(SELECT ": ")", "ARRAY[": "]", "f(": ")", "-": "", "NOT ": ""}[opener]
    check("SELECT " + opener * depth + "1" + closer * depth)
    check("SELECT " + opener * depth + "1")


def test_huge_inputs() -> None:
    """Megabyte-sized texts: long IN lists, long AND chains, long garbage."""
    in_list = "SELECT 1 FROM t WHERE a IN (" + ", ".join(f"${i}" for i in range(1, 60_000)) + ")"
    assert check(in_list).parse_error is None
    ands = "SELECT 1 FROM t WHERE " + " AND ".join(f"c{i} = ${i}" for i in range(1, 3_000))
    assert len(check(ands).scans[0].filters) == 2_999
    assert check("x" * 1_000_000).parse_error
    assert check("SELECT 1; " * 20_000).statement_count == 20_000


def test_real_statements_analyse_cleanly() -> None:
    """The sample statements parse and produce facts."""
    for statement in REAL:
        result = check(statement, SCHEMA)
        assert result.parse_error is None, statement
