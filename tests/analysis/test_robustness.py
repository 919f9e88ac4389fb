"""Property tests: `analyze` never raises, whatever the text, and what it returns is plain frozen data.

Besides generated and random texts, the statements of the repository's own check cases are mutated (characters and
tokens inserted, deleted, replaced, swapped), stretched to megabytes and given odd encodings (NUL, lone surrogates,
invalid UTF-8 decoded with surrogateescape, combining characters, bidi controls): every per-statement entry point
the checks use (`analyze`, the keyset rewrite, expression normalisation, index expression splitting) returns a
value, never an exception, and the query checks run to completion on a snapshot made of such texts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Literal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pglast import ast

from pgadvisor.analysis import (
    Match,
    Schema,
    StatementAnalysis,
    analyze,
    normalize_expression,
    parse_trees,
    rewrite,
    split_expressions,
)
from pgadvisor.checkapi.tree import matches_in
from pgadvisor.sqltree import fingerprint, parse
from tests.analysis import SCHEMA
from tests.checks.casefiles import load_cases
from tests.checks.test_walkers import WALKERS
from tests.queries.test_pure import audit, snapshot, stmt

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
    rewrite.key_columns(text, schema or SCHEMA)
    rewrite.first_page(text, schema or SCHEMA)
    fingerprint(text)
    return result


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements())
def test_generated_statements(text: str) -> None:
    """Realistic generated statements: every one analyses, with and without a catalog."""
    without = check(text)
    with_schema = check(text, SCHEMA)
    assert without.kind == with_schema.kind
    assert without.fingerprint == with_schema.fingerprint


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 6_000), st.sampled_from(["(", "(SELECT ", "ARRAY[", "f(", "-", "NOT "]))
def test_nested_openers(depth: int, opener: str) -> None:
    """Deeply nested constructs, balanced or not."""
    closer = {"(": ")", "(SELECT ": ")", "ARRAY[": "]", "f(": ")", "-": "", "NOT ": ""}[opener]
    check("SELECT " + opener * depth + "1" + closer * depth)
    check("SELECT " + opener * depth + "1")


def test_huge_inputs() -> None:
    """Megabyte-sized texts: long IN lists, long AND chains, long garbage."""
    in_list = "SELECT 1 FROM t WHERE a IN (" + ", ".join(f"${i}" for i in range(1, 20_000)) + ")"
    assert check(in_list).parse_error is None
    ands = "SELECT 1 FROM t WHERE " + " AND ".join(f"c{i} = ${i}" for i in range(1, 3_000))
    assert len(check(ands).scans[0].filters) == 2_999
    assert check("x" * 1_000_000).parse_error
    assert check("SELECT 1; " * 5_000).statement_count == 5_000


def test_real_statements_analyse_cleanly() -> None:
    """The sample statements parse and produce facts."""
    for statement in REAL:
        result = check(statement, SCHEMA)
        assert result.parse_error is None, statement


# ------------------------------------------------------------------------------------- mutated real statements


def _corpus() -> list[str]:
    """Every statement of the check cases (workload statements, expected texts, setup scripts) and REAL."""
    texts: list[str] = list(REAL)
    for case in load_cases():
        texts += case.statements
        texts += [str(e["query"]) for e in case.expect if "query" in e]
        texts += [part.strip() for part in re.split(r";\s*\n", case.setup) if part.strip()]
    return sorted(set(texts))


CORPUS = _corpus()
ODD = ["\x00", "\udc80", "\ud800", "\udfff", "\u0301", "\u0308\u0301", "\u202e", "\u2066", "\ufeff", "\u2028",
       "\x1b]52;c;aGk=\x07", "\u00e9", "\U0001f600", "\uff33\uff25\uff2c", "\r\n", "\t", "\x85", "\\", "\\'"]
TOKENS = [
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "ANY(", "(", ")", ",", ";", "'", '"', "$1", "$0",
    "$99999999999", "$$", "$tag$", "::", "::int[]", "ARRAY[", "]", "[1:2]", "--", "/*", "*/", "E'\\", "U&'",
    "WITH", "UNION ALL", "ORDER BY", "LIMIT", "OFFSET", "LATERAL", "RETURNING *", "ON CONFLICT DO NOTHING", "*",
    "t.*", "NULL", "1e999", "-", "%", "LIKE", 'COLLATE "C"', "OVER ()", "FILTER (WHERE", "GROUPING SETS ((",
    "ROWS FROM (", "CASE WHEN", "END", "=>", ":=", "#>>", "@>", *ODD,
]
NormalForm = Literal["NFC", "NFD", "NFKC", "NFKD"]
FORMS: list[NormalForm] = ["NFC", "NFD", "NFKC"]
EDITS = st.sampled_from(["insert", "delete", "replace", "duplicate_token", "drop_token", "swap_tokens", "truncate"])


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A real statement after a few random character and token edits."""
    text = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 6))):
        edit = draw(EDITS)
        if edit in ("insert", "delete", "replace", "truncate"):
            start = draw(st.integers(0, len(text)))
            end = draw(st.integers(start, min(len(text), start + 30)))
            piece = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=4)))
            text = {"insert": text[:start] + piece + text[start:], "delete": text[:start] + text[end:],
                    "replace": text[:start] + piece + text[end:], "truncate": text[:start]}[edit]
            continue
        tokens = text.split(" ")
        i, j = draw(st.integers(0, len(tokens) - 1)), draw(st.integers(0, len(tokens) - 1))
        if edit == "duplicate_token":
            tokens.insert(i, tokens[j])
        elif edit == "drop_token" and len(tokens) > 1:
            del tokens[i]
        else:
            tokens[i], tokens[j] = tokens[j], tokens[i]
        text = " ".join(tokens)
    return text


def check_everything(text: str) -> None:
    """Every per-statement entry point returns, with and without a catalog."""
    check(text)
    check(text, SCHEMA)
    normalize_expression(text)
    split_expressions(text)


def test_corpus_is_real() -> None:
    """The corpus holds the case files' statements, and most of them parse (so mutations start from real SQL)."""
    assert len(CORPUS) > 150
    parsed = sum(1 for text in CORPUS if analyze(text).parse_error is None)
    assert parsed > 0.9 * len(CORPUS), parsed


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_real_statements(text: str) -> None:
    """Real statements with random character and token edits: analysed or given a parse_error, never raising."""
    check_everything(text)


@FAST
@given(st.sampled_from(CORPUS), st.binary(min_size=1, max_size=8), st.integers(0, 10_000))
def test_invalid_utf8_inside_real_statements(text: str, junk: bytes, at: int) -> None:
    """Bytes spliced into a real statement's UTF-8, decoded with surrogateescape (lone surrogates) or latin-1."""
    raw = text.encode()
    at = at % (len(raw) + 1)
    spliced = raw[:at] + junk + raw[at:]
    check_everything(spliced.decode("utf-8", errors="surrogateescape"))
    check_everything(spliced.decode("latin-1"))


@FAST
@given(st.sampled_from(CORPUS), st.sampled_from(ODD), st.integers(0, 10_000), st.sampled_from(FORMS))
def test_odd_characters_inside_real_statements(text: str, odd: str, at: int, form: NormalForm) -> None:
    """NUL, lone surrogates, combining marks, bidi controls, BOM, separators at any point; any normal form."""
    at = at % (len(text) + 1)
    check_everything(text[:at] + odd + text[at:])
    check_everything(unicodedata.normalize(form, text.replace("e", "e\u0301")) + odd)


def test_megabyte_statements() -> None:
    """Megabyte texts built from real statements: literals, comments, dollar quotes, whitespace, odd characters."""
    base = "SELECT u.id FROM users u WHERE u.email = $1 ORDER BY u.id LIMIT $2 OFFSET $3"
    mb = 2_000_000
    parsing = [
        "SELECT * FROM users WHERE email = '" + "a" * mb + "' ORDER BY id LIMIT 10 OFFSET 20",
        base + " /* " + "x" * mb + " */",
        "-- " + "y" * mb + "\n" + base,
        "SELECT $$" + "z" * mb + "$$",
        base.replace(" ", " " * 100_000),
        "SELECT '" + "e\u0301\u202e" * 100_000 + "' FROM users",
    ]
    for text in parsing:
        result = check(text, SCHEMA)
        assert result.parse_error is None, (text[:80], result.parse_error)
    failing = [
        "SELECT '" + "a" * mb,  # unterminated literal
        base + "\x00" * mb,
        base + " /* " + "\udc80" * (mb // 4) + " */",
        (base + " ") * 20_000 + "(",  # half a megabyte of statements, then a syntax error
        "(" * mb,
    ]
    for text in failing:
        assert check(text).parse_error, text[:80]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(mutated(), st.text(max_size=100)), min_size=1, max_size=6))
def test_query_checks_run_on_mutated_workloads(texts: list[str]) -> None:
    """A snapshot whose pg_stat_statements holds mutated texts: every query check runs, none errors."""
    audit(snapshot(tuple(stmt(text, queryid=i) for i, text in enumerate(texts))))


KEYSET = "SELECT id FROM orders ORDER BY created_at DESC LIMIT 10 OFFSET 10"
VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.decimals(), st.text(max_size=20),
                   st.dates(), st.datetimes(), st.times(), st.uuids(), st.binary(max_size=4))


def column_names(text: str) -> set[str]:
    """The column names a statement text refers to."""
    parsed = parse(text)
    assert parsed.error is None, (text, parsed.error)
    return {str(node.fields[-1].sval) for nodes in parsed.nodes for node in nodes
            if isinstance(node, ast.ColumnRef) and node.fields and isinstance(node.fields[-1], ast.String)}


@FAST
@given(VALUES, VALUES)
def test_keyset_values_become_literals_or_a_value_error(created_at: object, key: object) -> None:
    """Any last-row value is written as a literal (NaN and infinities quoted, as PostgreSQL spells them: bare they
    would read as column names) or refused with ValueError; the rewritten text parses and names no new column."""
    try:
        text = rewrite.keyset_with_values(KEYSET, SCHEMA, {"created_at": created_at, "id": key})
    except ValueError:
        return
    assert column_names(text) <= column_names(KEYSET) | {"created_at", "id"}
    assert analyze(text, SCHEMA).parse_error is None


def test_non_finite_key_values_are_quoted() -> None:
    """float and Decimal NaN / infinities become 'NaN', 'Infinity', '-Infinity' (found by the property above)."""
    import decimal

    for value, spelled in [(float("nan"), "'NaN'"), (float("inf"), "'Infinity'"), (float("-inf"), "'-Infinity'"),
                           (decimal.Decimal("sNaN"), "'NaN'"), (decimal.Decimal("-Infinity"), "'-Infinity'")]:
        text = rewrite.keyset_with_values(KEYSET, SCHEMA, {"created_at": value, "id": 1})
        assert f"< ({spelled}, 1)" in text, text
