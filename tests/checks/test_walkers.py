"""Each check's tree walker fires on its bad form and stays silent on the healthy twin.

The walkers live in the check modules (`checks/queries/qrNNN_*.py`); they are tested here on statement texts,
without a server, through the same `matches_in` the checks use on sampled texts.
"""

from __future__ import annotations

import pytest

from checks.queries.qr009_offset_pagination import offset_pagination
from checks.queries.qr010_leading_wildcard import leading_wildcard
from checks.queries.qr011_non_sargable import non_sargable
from checks.queries.qr012_not_in_subquery import not_in_subquery
from checks.queries.qr013_order_by_random import order_by_random
from checks.queries.qr014_select_star_wide import select_star
from checks.queries.qr017_count_all_rows import count_all_rows
from checks.queries.qr019_unbounded_write import unbounded_write
from checks.queries.qr020_cross_join import cross_join
from checks.queries.qr021_or_chain import OrChainThresholds, or_chains
from checks.queries.qr022_distinct_fanout import distinct_over_join
from pgadvisor.checkapi.tree import Match, Schema, Walker, matches_in
from tests.analysis import SCHEMA

WALKERS: dict[str, Walker] = {
    "QR009": offset_pagination,
    "QR010": leading_wildcard,
    "QR011": non_sargable,
    "QR012": not_in_subquery,
    "QR013": order_by_random,
    "QR014": select_star,
    "QR017": count_all_rows,
    "QR019": unbounded_write,
    "QR020": cross_join,
    "QR021": or_chains,
    "QR022": distinct_over_join,
}
"""The tree walker of each check that reads the SQL."""


def matches(code: str, query: str, schema: Schema | None = SCHEMA) -> list[Match]:
    """What the walker of check `code` finds in `query`."""
    return matches_in(query, WALKERS[code], schema)


def fires(code: str, query: str, schema: Schema | None = SCHEMA) -> bool:
    """True when the walker of check `code` finds something in `query`."""
    return bool(matches(code, query, schema))

# (code, bad statement, healthy twin)
TWINS: list[tuple[str, str, str]] = [
    (
        "QR009",
        "SELECT id FROM orders ORDER BY created_at DESC LIMIT $1 OFFSET $2",
        "SELECT id FROM orders WHERE (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT $3",
    ),
    (
        "QR009",
        "SELECT a FROM t UNION SELECT b FROM u ORDER BY 1 LIMIT 10 OFFSET 50",
        "SELECT a FROM t UNION SELECT b FROM u ORDER BY 1 LIMIT 10",
    ),
    ("QR014", "SELECT * FROM users WHERE id = $1", "SELECT id, email FROM users WHERE id = $1"),
    (
        "QR014",
        "SELECT u.*, o.id FROM users u JOIN orders o ON o.user_id = u.id",
        "SELECT u.id, o.id FROM users u WHERE EXISTS (SELECT * FROM orders o WHERE o.user_id = u.id)",
    ),
    (
        "QR010",
        "SELECT id FROM users WHERE email LIKE '%@example.com'",
        "SELECT id FROM users WHERE email LIKE 'bob%'",
    ),
    (
        "QR010",
        "SELECT id FROM users WHERE name ILIKE '%' || $1 || '%'",
        "SELECT id FROM users WHERE name ILIKE 'bob' || $1 || '%'",
    ),
    (
        "QR011",
        "SELECT id FROM users WHERE lower(email) = $1",
        "SELECT lower(email) FROM users WHERE email = $1",
    ),
    (
        "QR011",
        "SELECT id FROM orders WHERE date(created_at) = $1",
        "SELECT id FROM orders WHERE created_at >= $1 AND created_at < $1::date + 1",
    ),
    ("QR011", "SELECT id FROM orders WHERE id + 0 = $1", "SELECT id + 0 FROM orders WHERE id = $1"),
    (
        "QR011",
        "SELECT id FROM orders WHERE created_at::date = $1",
        "SELECT id FROM orders WHERE created_at = $1::date",
    ),
    (
        "QR011",
        "SELECT 1 FROM orders o JOIN users u ON lower(u.email) = o.note",
        "SELECT 1 FROM orders o JOIN users u ON u.id = o.user_id",
    ),
    (
        "QR012",
        "SELECT id FROM users WHERE id NOT IN (SELECT user_id FROM orders)",
        "SELECT id FROM users u WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id)",
    ),
    (
        "QR012",
        "SELECT id FROM users WHERE id <> ALL (SELECT user_id FROM orders)",
        "SELECT id FROM users WHERE id IN (SELECT user_id FROM orders)",
    ),
    (
        "QR013",
        "SELECT id FROM users ORDER BY random() LIMIT 1",
        "SELECT id FROM users TABLESAMPLE SYSTEM (1) LIMIT 1",
    ),
    ("QR019", "UPDATE users SET status = $1", "UPDATE users SET status = $1 WHERE id = $2"),
    ("QR019", "DELETE FROM orders", "DELETE FROM orders WHERE CURRENT OF c"),
    (
        "QR020",
        "SELECT 1 FROM users u, orders o WHERE u.status = $1",
        "SELECT 1 FROM users u CROSS JOIN orders o WHERE u.status = $1",
    ),
    (
        "QR020",
        "SELECT 1 FROM users u, orders o, items i WHERE o.user_id = u.id",
        "SELECT 1 FROM users u, orders o, items i WHERE o.user_id = u.id AND i.order_id = o.id",
    ),
    (
        "QR021",
        "SELECT id FROM orders WHERE status = $1 OR status = $2 OR status = $3",
        "SELECT id FROM orders WHERE status = ANY($1)",
    ),
    (
        "QR021",
        "SELECT id FROM orders WHERE status = 'a' OR orders.status = 'b' OR status = 'c'",
        "SELECT id FROM orders WHERE status = $1 OR user_id = $2 OR note = $3",
    ),
    (
        "QR022",
        "SELECT DISTINCT u.id, u.email FROM users u JOIN orders o ON o.user_id = u.id",
        "SELECT u.id, u.email FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id)",
    ),
    ("QR017", "SELECT count(*) FROM orders", "SELECT count(*) FROM orders WHERE user_id = $1"),
    ("QR017", "SELECT count(1) FROM public.orders", "SELECT status, count(*) FROM orders GROUP BY status"),
]


@pytest.mark.parametrize(("code", "bad", "good"), TWINS, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(TWINS)])
def test_fires_on_bad_and_not_on_good(code: str, bad: str, good: str) -> None:
    """The bad form reports the pattern; its healthy twin does not."""
    assert fires(code, bad), bad
    assert not fires(code, good), good


def test_every_walker_has_twins() -> None:
    """Every walker is covered by at least one twin pair."""
    assert set(WALKERS) == {code for code, _, _ in TWINS}


def one(query: str, code: str) -> Match:
    """The single match of check `code`'s walker in `query`."""
    found = matches(code, query)
    assert len(found) == 1, found
    return found[0]


def test_offset_pagination_extra() -> None:
    """QR009 carries the ORDER BY items, LIMIT presence and the OFFSET parameter."""
    p = one("SELECT id FROM orders o ORDER BY o.created_at DESC NULLS LAST, 2 LIMIT $1 OFFSET $2", "QR009")
    assert p.extra["order_by"] == (
        {
            "column": "created_at",
            "table": "public.orders",
            "expression": None,
            "direction": "desc",
            "nulls": "last",
        },
        {"column": None, "table": None, "expression": None, "direction": "asc", "nulls": None},
    )
    assert p.extra["has_limit"] is True
    assert p.extra["offset_param"] == 2
    p = one("SELECT id FROM orders ORDER BY lower(note) OFFSET 1000", "QR009")
    assert p.extra["has_limit"] is False
    assert p.extra["offset_value"] == 1000
    assert p.extra["order_by"] == (
        {"column": None, "table": None, "expression": "lower(note)", "direction": "asc", "nulls": None},
    )


def test_offset_without_order_is_not_pagination() -> None:
    """OFFSET without ORDER BY is a different problem (non-deterministic pages), not QR009."""
    assert not fires("QR009", "SELECT id FROM orders LIMIT 5 OFFSET 5", None)


def test_select_star_expansion() -> None:
    """QR014 names the tables a star expands, through a CTE that reads one table."""
    inner, outer_star = matches(
        "QR014", "WITH recent AS (SELECT * FROM orders) SELECT r.*, u.email FROM recent r JOIN users u ON true"
    )
    assert (inner.extra["tables"], inner.extra["qualified"]) == (("public.orders",), False)
    assert (outer_star.extra["tables"], outer_star.extra["qualified"]) == (("public.orders",), True)
    outer = matches("QR014", "WITH recent AS (SELECT id FROM orders) SELECT r.* FROM recent r")
    assert outer[0].extra["qualified"] is True
    assert outer[0].extra["tables"] == ("public.orders",)


def test_count_star_is_not_select_star() -> None:
    """`count(*)` has no A_Star in the target list."""
    assert not fires("QR014", "SELECT count(*) FROM orders WHERE id = $1", None)


@pytest.mark.parametrize(
    ("query", "confirmed", "pattern"),
    [
        ("SELECT 1 FROM users WHERE email LIKE '%x'", True, "%x"),
        ("SELECT 1 FROM users WHERE email LIKE '%' || $1", True, None),
        ("SELECT 1 FROM users WHERE email LIKE concat('%', $1, '%')", True, None),
        ("SELECT 1 FROM users WHERE email ILIKE ('%' || $1)::text", True, None),
        ("SELECT 1 FROM users WHERE email LIKE $1", False, None),
        ("SELECT 1 FROM users WHERE email LIKE $1 || '%'", False, None),
    ],
)
def test_leading_wildcard_confirmation(query: str, *, confirmed: bool, pattern: str | None) -> None:
    """QR010 is confirmed only when the tree proves the leading `%`."""
    p = one(query, "QR010")
    assert p.extra["confirmed"] is confirmed
    assert p.extra["pattern"] == pattern
    assert p.extra["table"] == "public.users"
    assert p.extra["column"] == "email"


def test_not_like_is_not_leading_wildcard() -> None:
    """NOT LIKE is never served by an index either way: not QR010's business."""
    assert not fires("QR010", "SELECT 1 FROM users WHERE email NOT LIKE '%x'", None)


def test_non_sargable_extra_and_expression_index() -> None:
    """QR011 names table, column, deparsed expression, and the matching expression index if any."""
    p = one("SELECT id FROM users u WHERE lower(u.email) = $1", "QR011")
    assert p.extra["table"] == "public.users"
    assert p.extra["column"] == "email"
    assert p.extra["expression"] == "lower(email)"
    assert p.extra["wrapper"] == "function"
    assert p.extra["expression_index"] == "users_lower_email_idx"
    assert p.extra["column_index"] == "users_email_key"
    p = one("SELECT id FROM orders WHERE created_at::date = $1", "QR011")
    assert p.extra["expression"] == "CAST(created_at AS date)"
    assert p.extra["wrapper"] == "cast"
    assert p.extra["expression_index"] is None
    p = one("SELECT id FROM orders WHERE $1 < total * 2", "QR011")
    assert (p.extra["wrapper"], p.extra["name"], p.extra["column"]) == ("operator", "*", "total")


def test_non_sargable_not_reported_for_expressions_without_columns() -> None:
    """A cast or function over parameters only is fine."""
    q = "SELECT id FROM orders WHERE created_at > now() - $1::interval AND status = lower($2)"
    assert not fires("QR011", q)


def test_not_in_nullability() -> None:
    """QR012 reports the sub-query column's table and whether it can hold NULL."""
    p = one("SELECT id FROM users WHERE id NOT IN (SELECT user_id FROM orders)", "QR012")
    assert (p.extra["table"], p.extra["column"], p.extra["nullable"]) == ("public.orders", "user_id", True)
    p = one("SELECT id FROM orders WHERE user_id NOT IN (SELECT u.id FROM users u)", "QR012")
    assert p.extra["nullable"] is False
    p = one("SELECT 1 FROM orders WHERE user_id NOT IN (SELECT x.id FROM (SELECT id FROM users) x)", "QR012")
    assert (p.extra["table"], p.extra["nullable"]) == ("public.users", False)
    p = one(
        "SELECT 1 FROM orders WHERE user_id NOT IN (SELECT u.id FROM orders o LEFT JOIN users u ON true)",
        "QR012",
    )
    assert p.extra["nullable"] is True
    p = one("SELECT 1 FROM orders WHERE user_id NOT IN (SELECT id + 1 FROM users)", "QR012")
    assert p.extra["nullable"] is None


def test_unbounded_write_extra() -> None:
    """QR019 names the table, even with a FROM list."""
    p = one("UPDATE orders o SET status = u.status FROM users u", "QR019")
    assert p.extra == {"kind": "update", "table": "public.orders", "has_from": True}
    assert fires("QR019", "WITH d AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM d", None)


def test_cross_join_linked_through_subquery_and_lateral() -> None:
    """A WHERE term that names both sides (even inside a sub-query), or a LATERAL reference, links them."""
    linked = [
        "SELECT 1 FROM users u, orders o WHERE o.user_id = u.id",
        "SELECT 1 FROM users u, orders o WHERE o.total > u.id * 2",
        "SELECT 1 FROM users u, orders o WHERE EXISTS (SELECT 1 FROM items i WHERE i.order_id = o.id AND i.qty = u.id)",
        "SELECT 1 FROM users u, LATERAL (SELECT * FROM orders o WHERE o.user_id = u.id) x",
        "SELECT 1 FROM users u, unnest($1::int[]) AS x(n)",
        "SELECT 1 FROM users u JOIN orders o ON o.user_id = u.id",
    ]
    for q in linked:
        assert not fires("QR020", q), q
    p = one("SELECT 1 FROM users u, orders o, generate_series(1, $1) g WHERE u.status = $2", "QR020")
    assert p.extra["groups"] == (("u",), ("o",))
    p = one("SELECT 1 FROM users u, orders o, items i WHERE o.user_id = u.id", "QR020")
    assert p.extra["groups"] == (("u", "o"), ("i",))


def test_cross_join_ambiguous_names_are_not_proof() -> None:
    """Without a catalog, `x = y` might link the two tables: no report (never guess)."""
    assert not fires("QR020", "SELECT 1 FROM a, b WHERE x = y", None)
    assert fires("QR020", "SELECT 1 FROM a, b WHERE a.x = $1", None)


def test_or_chain_counts_terms_for_the_threshold() -> None:
    """QR021's walker reports chains from two terms with their count; `min_terms` (3 by default, at least 2)
    is the check's to apply, so a configured 2 reaches the detection (a YAML case runs it on a server)."""
    p = one("SELECT 1 FROM orders WHERE status = $1 OR status = $2", "QR021")
    assert p.extra == {"column": "status", "terms": 2, "table": "public.orders"}
    assert not fires("QR021", "SELECT 1 FROM orders WHERE status = $1 OR user_id = $2")
    assert OrChainThresholds().min_terms == 3
    with pytest.raises(ValueError, match="at least 2"):
        OrChainThresholds(min_terms=1)


def test_distinct_over_join_extra() -> None:
    """QR022 lists the joined relations and flags DISTINCT ON."""
    p = one("SELECT DISTINCT ON (u.id) u.id FROM users u, orders o WHERE o.user_id = u.id", "QR022")
    assert p.extra["relations"] == ("u", "o")
    assert p.extra["distinct_on"] is True
    assert not fires("QR022", "SELECT DISTINCT status FROM orders", None)


def test_count_star_in_subquery_block() -> None:
    """QR017 looks at every block, and not at filtered counts."""
    assert fires("QR017", "SELECT (SELECT count(*) FROM orders) AS n FROM users WHERE id = $1", None)
    assert not fires("QR017", "SELECT count(*) FILTER (WHERE status = $1) FROM orders WHERE id > 0", None)
    assert not fires("QR017", "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id", None)
    assert not fires("QR017", "SELECT count(*) OVER (), id FROM orders ORDER BY id LIMIT 10", None)


def test_matches_carry_statement_index_and_location() -> None:
    """In a multi-statement text each match says which statement it came from."""
    text = "SELECT 1; SELECT * FROM users; DELETE FROM orders"
    found = [(code, m.statement) for code in WALKERS for m in matches(code, text, None)]
    assert found == [("QR014", 1), ("QR019", 2)]
    assert matches("QR014", text, None)[0].location is not None


def test_explain_wraps_a_query_that_is_walked() -> None:
    """Walkers see the query inside EXPLAIN too (the statement checks skip utility statements themselves)."""
    assert fires("QR014", "EXPLAIN (ANALYZE) SELECT * FROM orders")
