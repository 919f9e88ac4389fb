"""Per-table scans for the missing-index advisor, and column resolution behind them."""

from __future__ import annotations

from pgadvisor.analysis import Filter, JoinKey, OrderItem, TableRef, TableScan, analyze
from tests.analysis import SCHEMA

ORDERS = TableRef("public", "orders")
USERS = TableRef("public", "users")


def scan(query: str, table: str, *, schema: bool = True, index: int = 0) -> TableScan:
    """The `index`-th scan of `table` in `query`."""
    return analyze(query, SCHEMA if schema else None).scans_of(table)[index]


def test_equality_and_range_kinds() -> None:
    """`=`, IN, `= ANY`, IS NULL are equalities; `<`, BETWEEN, prefix LIKE are ranges."""
    s = scan(
        "SELECT id FROM orders WHERE user_id = $1 AND status IN ($2, $3) AND id = ANY($4) AND note IS NULL "
        "AND created_at >= $5 AND total BETWEEN $6 AND $7 AND note LIKE 'abc%' AND $8 > id",
        "orders",
    )
    assert s.equality_columns == ("user_id", "status", "id", "note")
    assert s.range_columns == ("created_at", "total", "note", "id")
    ops = [(f.column, f.op, f.operand) for f in s.filters]
    assert ops == [
        ("user_id", "=", "param"),
        ("status", "IN", "list"),
        ("id", "= ANY", "param"),
        ("note", "IS NULL", "null"),
        ("created_at", ">=", "param"),
        ("total", "BETWEEN", "param"),
        ("note", "LIKE prefix", "const"),
        ("id", ">", "param"),
    ]


def test_non_index_predicates_are_other() -> None:
    """`<>`, NOT IN, leading-wildcard LIKE and ILIKE are recorded but are neither equality nor range."""
    s = scan(
        "SELECT 1 FROM users WHERE status <> $1 AND id NOT IN ($2) AND email LIKE '%x' AND name ILIKE $3",
        "users",
    )
    assert {f.kind for f in s.filters} == {"other"}
    assert s.equality_columns == s.range_columns == ()


def test_expression_filter() -> None:
    """`lower(email) = $1` is an expression filter on users with the deparsed expression."""
    s = scan("SELECT u.id FROM users u WHERE lower(u.email) = $1", "users")
    assert s.expression_filters == (
        Filter("=", "equality", "param", ("email",), None, "lower(email)", None, usable=True),
    )
    assert s.equality_columns == ()


def test_constant_predicates_for_partial_indexes() -> None:
    """Predicates against literals are offered as partial-index predicates; parameters are not."""
    s = scan(
        "SELECT id FROM users WHERE deleted_at IS NULL AND status = 'active' AND email = $1 AND manager_id IS NOT NULL",
        "users",
    )
    assert s.constant_predicates == ("deleted_at IS NULL", "status = 'active'", "manager_id IS NOT NULL")


def test_join_keys_on_both_sides() -> None:
    """An equality between two tables' columns is a join key of each side."""
    q = "SELECT o.id, u.email FROM orders o JOIN users u ON u.id = o.user_id WHERE u.status = $1"
    orders, users = scan(q, "orders"), scan(q, "users")
    assert orders.join_keys == (JoinKey("user_id", TableRef("public", "users", "u"), "id"),)
    assert users.join_keys == (JoinKey("id", TableRef("public", "orders", "o"), "user_id"),)
    assert users.equality_columns == ("status",)
    assert orders.projected == ("id",)
    assert users.projected == ("email",)


def test_using_join_keys_and_merged_column() -> None:
    """JOIN ... USING makes join keys; the merged column resolves to the left side."""
    q = "SELECT order_id FROM items JOIN items_meta USING (order_id) WHERE order_id = $1"
    items = scan(q, "items")
    assert items.join_keys[0].column == "order_id"
    assert items.join_keys[0].other == TableRef(None, "items_meta")
    assert items.equality_columns == ("order_id",)


def test_unqualified_columns_resolved_by_catalog() -> None:
    """With a schema, unqualified columns land on the one table that has them."""
    q = "SELECT email, total FROM users JOIN orders ON user_id = users.id WHERE email = $1 AND total > $2"
    assert scan(q, "users").equality_columns == ("email",)
    assert scan(q, "orders").range_columns == ("total",)
    assert scan(q, "orders").join_keys[0].column == "user_id"


def test_ambiguous_columns_are_left_unresolved() -> None:
    """`status` exists in both tables: it is attributed to neither (no guessing)."""
    q = "SELECT 1 FROM users JOIN orders ON orders.user_id = users.id WHERE status = $1"
    assert scan(q, "users").filters == ()
    assert scan(q, "orders").filters == ()


def test_without_schema_single_table_binds_but_joins_do_not() -> None:
    """Without a catalog a lone table owns every unqualified name; in a join they stay unresolved."""
    assert scan("SELECT a FROM t WHERE b = $1", "t", schema=False).equality_columns == ("b",)
    q = "SELECT 1 FROM t JOIN u ON t.id = u.t_id WHERE b = $1 AND u.c = $2"
    assert scan(q, "t", schema=False).filters == ()
    assert scan(q, "u", schema=False).equality_columns == ("c",)


def test_or_branches_are_not_usable() -> None:
    """Predicates under OR (or a NOT of a compound) are recorded with usable=False."""
    s = scan(
        "SELECT 1 FROM orders WHERE user_id = $1 AND (status = $2 OR note = $3) AND NOT (id > $4 AND id < $5)",
        "orders",
    )
    assert s.equality_columns == ("user_id",)
    assert [(f.column, f.usable) for f in s.filters] == [
        ("user_id", True),
        ("status", False),
        ("note", False),
        ("id", False),
        ("id", False),
    ]


def test_boolean_column_predicates() -> None:
    """A bare boolean column and its negation are equality filters against constants."""
    s = scan("SELECT 1 FROM flags WHERE active AND NOT archived", "flags", schema=False)
    assert s.constant_predicates == ("active", "NOT archived")
    assert s.equality_columns == ("active", "archived")


def test_order_by_only_when_one_table_is_ordered() -> None:
    """ORDER BY keys go to the one table they all belong to; LIMIT is noted for every table."""
    q = "SELECT o.id FROM orders o JOIN users u ON u.id = o.user_id ORDER BY o.created_at DESC, o.id LIMIT $1"
    assert scan(q, "orders").order_by == (OrderItem("created_at", "desc"), OrderItem("id", "asc"))
    assert scan(q, "users").order_by == ()
    assert scan(q, "users").has_limit
    mixed = "SELECT 1 FROM orders o JOIN users u ON u.id = o.user_id ORDER BY o.created_at, u.name"
    assert scan(mixed, "orders").order_by == ()


def test_order_by_alias_ordinal_and_nulls() -> None:
    """Select-list aliases and ordinals resolve to their column; NULLS placement is kept."""
    s = scan("SELECT created_at AS c, id FROM orders ORDER BY c DESC NULLS LAST, 2", "orders")
    assert s.order_by == (OrderItem("created_at", "desc", "last"), OrderItem("id", "asc"))


def test_star_projection_expands_with_schema() -> None:
    """`SELECT *` projects every catalog column of the table."""
    s = scan("SELECT * FROM items WHERE order_id = $1", "items")
    assert s.star
    assert s.projected == ("order_id", "line", "sku", "qty")


def test_subqueries_and_ctes_get_their_own_scans() -> None:
    """Tables inside sub-queries and CTEs are scanned in their own blocks; correlation is a join key."""
    q = (
        "WITH big AS (SELECT user_id FROM orders WHERE total > $1) "
        "SELECT u.id FROM users u WHERE u.id IN (SELECT user_id FROM big) "
        "AND EXISTS (SELECT 1 FROM items i WHERE i.order_id = u.id AND i.qty > $2)"
    )
    result = analyze(q, SCHEMA)
    assert [s.table.name for s in result.scans] == ["orders", "users", "items"]
    assert result.scans_of("orders")[0].range_columns == ("total",)
    items = result.scans_of("items")[0]
    assert items.join_keys == (JoinKey("order_id", TableRef("public", "users", "u"), "id"),)
    assert items.range_columns == ("qty",)
    users = result.scans_of("users")[0]
    assert [(f.column, f.operand) for f in users.filters] == [("id", "subquery")]


def test_left_join_on_conditions() -> None:
    """An ON condition filters the nullable side of a LEFT JOIN, never the preserved side."""
    q = "SELECT 1 FROM users u LEFT JOIN orders o ON o.user_id = u.id AND o.status = $1 AND u.status = $2"
    assert scan(q, "orders").equality_columns == ("status",)
    assert scan(q, "users").filters == ()
    assert scan(q, "users").join_keys[0].column == "id"


def test_update_and_delete_roles() -> None:
    """The target of UPDATE / DELETE is scanned with its role; the FROM / USING tables are reads."""
    result = analyze("UPDATE orders o SET status = $1 FROM users u WHERE u.id = o.user_id AND u.email = $2", SCHEMA)
    assert [(s.table.name, s.role) for s in result.scans] == [("orders", "update"), ("users", "read")]
    assert result.scans_of("users")[0].equality_columns == ("email",)
    delete = analyze("DELETE FROM orders WHERE created_at < $1 RETURNING id", SCHEMA).scans[0]
    assert (delete.role, delete.range_columns, delete.projected) == ("delete", ("created_at",), ("id",))


def test_referenced_columns_cover_the_whole_statement() -> None:
    """`referenced` lists every column of the table the statement reads (for index-only scans)."""
    s = scan("SELECT o.id FROM orders o WHERE o.status = $1 ORDER BY o.created_at", "orders")
    assert set(s.referenced) == {"id", "status", "created_at"}


def test_row_comparison_keyset_predicate() -> None:
    """`(a, b) < ($1, $2)` makes both columns ranges."""
    s = scan("SELECT id FROM orders WHERE (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC", "orders")
    assert s.range_columns == ("created_at", "id")


def test_search_path_resolution() -> None:
    """`events` resolves to audit.events through the schema's search path."""
    assert scan("SELECT 1 FROM events WHERE kind = $1", "events").table == TableRef("audit", "events")


def test_conditions_on_flattened_subqueries_reach_the_base_table() -> None:
    """A filter on a plain sub-query's or single-use CTE's column is a filter of the table inside it."""
    q = "SELECT * FROM (SELECT id, status AS st FROM orders WHERE total > $1) s WHERE s.st = 'new' AND s.id = $2"
    s = scan(q, "orders")
    assert [(f.column, f.op, f.constant) for f in s.filters] == [
        ("status", "=", None),  # renamed: the literal text would name the wrong column
        ("id", "=", None),
        ("total", ">", None),
    ]
    cte = "WITH o AS (SELECT * FROM orders) SELECT 1 FROM o JOIN users u ON u.id = o.user_id WHERE o.status = $1"
    orders = scan(cte, "orders")
    assert orders.equality_columns == ("status",)
    assert orders.join_keys == (JoinKey("user_id", TableRef("public", "users", "u"), "id"),)
    assert scan(cte, "users").join_keys == (JoinKey("id", ORDERS, "user_id"),)


def test_conditions_stay_outside_subqueries_that_are_not_flattened() -> None:
    """DISTINCT / GROUP BY / LIMIT sub-queries and materialized or multiply used CTEs keep their filters."""
    kept = [
        "SELECT * FROM (SELECT DISTINCT status FROM orders) s WHERE s.status = $1",
        "SELECT * FROM (SELECT user_id FROM orders GROUP BY user_id) s WHERE s.user_id = $1",
        "SELECT * FROM (SELECT id FROM orders LIMIT 10) s WHERE s.id = $1",
        "WITH o AS MATERIALIZED (SELECT * FROM orders) SELECT 1 FROM o WHERE o.status = $1",
        "WITH o AS (SELECT * FROM orders) SELECT 1 FROM o JOIN o o2 ON o2.id = o.id WHERE o.status = $1",
    ]
    for q in kept:
        assert scan(q, "orders").filters == (), q


def test_insert_target_is_not_scanned() -> None:
    """INSERT writes its target: only the source query's tables are scanned."""
    result = analyze("INSERT INTO orders (id, user_id) SELECT $1, id FROM users WHERE email = $2", SCHEMA)
    assert [(s.table.name, s.equality_columns) for s in result.scans] == [("users", ("email",))]
    assert analyze("INSERT INTO orders DEFAULT VALUES", SCHEMA).scans == ()


def test_multi_column_set_subquery_is_one_block() -> None:
    """`SET (a, b) = (SELECT ...)` repeats one sub-query per column in the tree; it is scanned once."""
    q = "UPDATE orders SET (status, note) = (SELECT status, name FROM users WHERE users.id = orders.user_id)"
    result = analyze(q, SCHEMA)
    assert [s.table.name for s in result.scans] == ["orders", "users"]
    assert result.scans_of("users")[0].join_keys == (JoinKey("id", ORDERS, "user_id"),)
