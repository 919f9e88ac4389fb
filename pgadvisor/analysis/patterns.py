"""Anti-pattern detectors over the parse tree: one function per pattern code.

Each detector takes a `Context` (the statement, its scope and the options) and yields `Pattern`s. They read
the tree produced by PostgreSQL's own parser; none looks at the SQL text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from pglast import ast, enums

from pgadvisor.analysis.model import Pattern, PlainValue, Schema, TableDef
from pgadvisor.analysis.parse import (
    const_value,
    func_name,
    is_star,
    is_subquery,
    names,
    normalize_expression,
    operator,
    walk,
)
from pgadvisor.analysis.predicates import (
    COMPARISONS,
    bare_column,
    block_columns,
    block_quals,
    conjuncts,
    has_limit,
    label,
    pattern_start,
    reads,
    sort_direction,
    sort_nulls,
)
from pgadvisor.analysis.scope import Block, Relation, Scope, sort_target, star_relations

_LIKE_KINDS = {enums.A_Expr_Kind.AEXPR_LIKE: "LIKE", enums.A_Expr_Kind.AEXPR_ILIKE: "ILIKE"}
_POSITIVE_LIKE = frozenset({"~~", "~~*"})
_COMPARE_KINDS = frozenset(
    {
        enums.A_Expr_Kind.AEXPR_OP,
        enums.A_Expr_Kind.AEXPR_OP_ANY,
        enums.A_Expr_Kind.AEXPR_OP_ALL,
        enums.A_Expr_Kind.AEXPR_IN,
        enums.A_Expr_Kind.AEXPR_LIKE,
        enums.A_Expr_Kind.AEXPR_ILIKE,
        enums.A_Expr_Kind.AEXPR_BETWEEN,
        enums.A_Expr_Kind.AEXPR_NOT_BETWEEN,
        enums.A_Expr_Kind.AEXPR_BETWEEN_SYM,
        enums.A_Expr_Kind.AEXPR_NOT_BETWEEN_SYM,
    }
)


@dataclass(frozen=True, slots=True)
class Options:
    """Tunable thresholds of the detectors."""

    or_chain_min_terms: int = 3

    def __post_init__(self) -> None:
        """Reject thresholds that make no sense."""
        if self.or_chain_min_terms < 2:
            raise ValueError("or_chain_min_terms must be at least 2")


@dataclass(frozen=True)
class Context:
    """What a detector reads: one top-level statement and its resolved scope."""

    stmt: ast.Node
    scope: Scope
    schema: Schema | None = None
    statement: int = 0
    options: Options = field(default_factory=Options)
    nodes: tuple[ast.Node, ...] = ()

    def pattern(self, code: str, detail: str, extra: Mapping[str, PlainValue], at: object = None) -> Pattern:
        """A pattern of this statement, located at a node's offset when the parser recorded one."""
        location = getattr(at, "location", None)
        offset = location if isinstance(location, int) and location >= 0 else None
        return Pattern(code, detail, extra, self.statement, offset)

    def all_nodes(self) -> tuple[ast.Node, ...]:
        """Every node of the statement in pre-order (precomputed by the parser when available)."""
        return self.nodes or tuple(walk(self.stmt))


Detector = Callable[[Context], Iterator[Pattern]]


# --- QR009 ---------------------------------------------------------------------------------------------


def offset_pagination(ctx: Context) -> Iterator[Pattern]:
    """QR009: a SELECT with ORDER BY and OFFSET (each page reads and throws away all earlier rows)."""
    for block in ctx.scope.blocks:
        stmt = block.node
        if not isinstance(stmt, ast.SelectStmt) or stmt.limitOffset is None or not stmt.sortClause:
            continue
        order = tuple(_order_item(ctx.scope, stmt, s) for s in stmt.sortClause if isinstance(s, ast.SortBy))
        offset = stmt.limitOffset
        extra: dict[str, PlainValue] = {
            "order_by": order,
            "has_limit": has_limit(stmt),
            "offset_param": offset.number if isinstance(offset, ast.ParamRef) else None,
            "offset_value": _int_const(offset),
            "tables": _tables(block),
        }
        keys = ", ".join(str(item.get("column") or item.get("expression")) for item in order)
        yield ctx.pattern("QR009", f"OFFSET pagination ordered by {keys}", extra, offset)


def _order_item(scope: Scope, stmt: ast.SelectStmt, sort: ast.SortBy) -> Mapping[str, PlainValue]:
    """One ORDER BY key as plain values: column and table when it is a plain column, else its text."""
    node = sort_target(stmt, sort.node)
    column = bare_column(scope, node)
    base = scope.origin(*column) if column is not None else None
    return {
        "column": column[1] if column else None,
        "table": label(base[0]) if base else None,
        "expression": None if column or node is None else scope.text(node),
        "direction": sort_direction(sort),
        "nulls": sort_nulls(sort),
    }


# --- QR014 ---------------------------------------------------------------------------------------------


def select_star(ctx: Context) -> Iterator[Pattern]:
    """QR014: `SELECT *` or `t.*` in a select list (EXISTS sub-queries, whose list is ignored, excepted)."""
    exists_blocks = _exists_blocks(ctx.scope)
    for block in ctx.scope.blocks:
        stmt = block.node
        if block.role != "select" or id(block) in exists_blocks or not isinstance(stmt, ast.SelectStmt):
            continue
        for target in stmt.targetList or ():
            ref = target.val if isinstance(target, ast.ResTarget) else None
            if not isinstance(ref, ast.ColumnRef) or not is_star(ref):
                continue
            rels = star_relations(block, ref)
            tables = tuple(dict.fromkeys(_base_label(r) for r in rels))
            extra: dict[str, PlainValue] = {
                "tables": tuple(t for t in tables if t is not None),
                "relations": tuple({"name": r.name, "kind": r.kind, "table": _base_label(r)} for r in rels),
                "qualified": len(ref.fields or ()) > 1,
            }
            shown = ", ".join(r.name for r in rels) or "?"
            yield ctx.pattern("QR014", f"SELECT * expands every column of {shown}", extra, ref)


def _exists_blocks(scope: Scope) -> set[int]:
    """ids of blocks that are the body of an EXISTS sub-query."""
    return {
        id(child)
        for block in scope.blocks
        for link, child in block.sublinks
        if link.subLinkType == enums.SubLinkType.EXISTS_SUBLINK
    }


def _base_label(rel: Relation) -> str | None:
    """The base table behind a relation: itself, or the single table a sub-query or CTE reads."""
    for _ in range(32):
        if rel.table is not None:
            return rel.table.qualified
        if rel.inner is None or len(rel.inner.relations) != 1:
            return None
        rel = rel.inner.relations[0]
    return None


# --- QR010 ---------------------------------------------------------------------------------------------


def leading_wildcard(ctx: Context) -> Iterator[Pattern]:
    """QR010: LIKE / ILIKE whose pattern starts with `%` (proven), or is a bare parameter (unconfirmed)."""
    for node in ctx.all_nodes():
        if not isinstance(node, ast.A_Expr) or node.kind not in _LIKE_KINDS or operator(node) not in _POSITIVE_LIKE:
            continue
        if not isinstance(node.rexpr, ast.Node):
            continue
        start = pattern_start(node.rexpr)
        if start == "prefix":
            continue
        column = bare_column(ctx.scope, node.lexpr)
        base = ctx.scope.origin(*column) if column else None
        literal = const_value(node.rexpr)
        extra: dict[str, PlainValue] = {
            "operator": _LIKE_KINDS[node.kind],
            "confirmed": start == "wildcard",
            "pattern": literal if isinstance(literal, str) else None,
            "column": base[1] if base else (column[1] if column else None),
            "table": label(base[0]) if base else None,
            "expression": None if column or node.lexpr is None else ctx.scope.text(node.lexpr),
        }
        what = "a leading %" if start == "wildcard" else "a pattern that may start with %"
        yield ctx.pattern("QR010", f"{_LIKE_KINDS[node.kind]} with {what}", extra, node)


# --- QR011 ---------------------------------------------------------------------------------------------


def non_sargable(ctx: Context) -> Iterator[Pattern]:
    """QR011: a column wrapped in a function, cast or operator, compared in WHERE or JOIN ... ON."""
    for block in ctx.scope.blocks:
        for qual in block_quals(block):
            for node in walk(qual.expr, is_subquery):
                if isinstance(node, ast.A_Expr) and node.kind in _COMPARE_KINDS and _is_comparison(node):
                    yield from _wrapped_sides(ctx, block, node, qual.source)


def _is_comparison(node: ast.A_Expr) -> bool:
    """Comparison-like operators (plain `=`, `<`, ..., IN, ANY, BETWEEN, LIKE), not arithmetic."""
    if node.kind == enums.A_Expr_Kind.AEXPR_OP:
        return operator(node) in COMPARISONS
    return True


def _wrapped_sides(ctx: Context, block: Block, node: ast.A_Expr, source: str) -> Iterator[Pattern]:
    """Report each side of a comparison that wraps columns of exactly one table of this block."""
    sides = [node.lexpr, node.rexpr]
    for i, side in enumerate(sides):
        wrapper = _wrapper(side)
        if wrapper is None or not isinstance(side, ast.Node):
            continue
        columns = block_columns(ctx.scope, side, block)
        tables = {id(rel): rel for rel, _ in columns if rel.kind == "table"}
        if len(tables) != 1 or len({id(rel) for rel, _ in columns}) != 1:
            continue
        rel = next(iter(tables.values()))
        if reads(ctx.scope, sides[1 - i], rel):
            continue
        yield _non_sargable_pattern(ctx, rel, side, wrapper, [c for _, c in columns], operator(node), source)


def _wrapper(side: object) -> tuple[str, str] | None:
    """What hides the column: (`function`, name), (`cast`, type) or (`operator`, op); None if nothing."""
    if isinstance(side, ast.FuncCall):
        return "function", func_name(side)
    if isinstance(side, ast.TypeCast):
        type_names = names(side.typeName.names) if side.typeName is not None else ()
        return "cast", type_names[-1] if type_names else "?"
    if isinstance(side, ast.A_Expr) and side.kind == enums.A_Expr_Kind.AEXPR_OP:
        return "operator", operator(side)
    if isinstance(side, ast.CoalesceExpr):
        return "function", "coalesce"
    return None


def _non_sargable_pattern(
    ctx: Context,
    rel: Relation,
    side: ast.Node,
    wrapper: tuple[str, str],
    columns: list[str],
    op: str,
    source: str,
) -> Pattern:
    """Build the QR011 finding, with the indexes that could match when the schema is known."""
    expression = ctx.scope.text(side)
    extra: dict[str, PlainValue] = {
        "table": label(rel),
        "column": columns[0],
        "columns": tuple(dict.fromkeys(columns)),
        "expression": expression,
        "wrapper": wrapper[0],
        "name": wrapper[1],
        "operator": op,
        "clause": source,
        "expression_index": _expression_index(rel.tabledef, expression),
        "column_index": _column_index(rel.tabledef, columns[0]),
    }
    return ctx.pattern(
        "QR011",
        f"{expression} hides column {columns[0]} of {label(rel)} from plain indexes",
        extra,
        side,
    )


def _expression_index(table: TableDef | None, expression: str | None) -> str | None:
    """The first index whose leading key is this expression."""
    if table is None or expression is None:
        return None
    wanted = normalize_expression(expression)
    for index in table.indexes:
        leading_expression = bool(index.columns) and index.columns[0] is None and bool(index.expressions)
        if leading_expression and normalize_expression(index.expressions[0]) == wanted:
            return index.name
    return None


def _column_index(table: TableDef | None, column: str) -> str | None:
    """The first index whose leading key is the bare column."""
    if table is None:
        return None
    return next((ix.name for ix in table.indexes if ix.columns and ix.columns[0] == column), None)


# --- QR012 ---------------------------------------------------------------------------------------------


def not_in_subquery(ctx: Context) -> Iterator[Pattern]:
    """QR012: `x NOT IN (SELECT ...)` (or `x <> ALL (SELECT ...)`): no rows at all once the sub-query
    yields a NULL."""
    children = {id(link): child for block in ctx.scope.blocks for link, child in block.sublinks}
    for node in ctx.all_nodes():
        link, form = _negated_sublink(node)
        if link is None:
            continue
        child = children.get(id(link))
        yield _not_in_pattern(ctx, link, child, form)


def _negated_sublink(node: ast.Node) -> tuple[ast.SubLink | None, str]:
    """The sub-query of a `NOT (x IN (SELECT ...))` or `x <> ALL (SELECT ...)` node."""
    if isinstance(node, ast.BoolExpr) and node.boolop == enums.BoolExprType.NOT_EXPR and node.args:
        arg = node.args[0]
        if (
            isinstance(arg, ast.SubLink)
            and arg.subLinkType == enums.SubLinkType.ANY_SUBLINK
            and names(arg.operName) in ((), ("=",))
        ):
            return arg, "NOT IN"
    if (
        isinstance(node, ast.SubLink)
        and node.subLinkType == enums.SubLinkType.ALL_SUBLINK
        and names(node.operName) in (("<>",), ("!=",))
    ):
        return node, "<> ALL"
    return None, ""


def _not_in_pattern(ctx: Context, link: ast.SubLink, child: Block | None, form: str) -> Pattern:
    """Describe the sub-query's output column: its table and whether it can be NULL."""
    column: tuple[Relation, str] | None = None
    stmt = child.node if child is not None else None
    if isinstance(stmt, ast.SelectStmt) and stmt.targetList:
        first = stmt.targetList[0]
        if isinstance(first, ast.ResTarget) and isinstance(first.val, ast.ColumnRef):
            column = ctx.scope.base_column(first.val)
    extra: dict[str, PlainValue] = {
        "form": form,
        "column": column[1] if column else None,
        "table": label(column[0]) if column else None,
        "nullable": _nullable(column),
        "outer": ctx.scope.text(link.testexpr) if link.testexpr is not None else None,
    }
    what = f"{extra['table']}.{extra['column']}" if column else "the sub-query's output"
    return ctx.pattern("QR012", f"{form} (SELECT ...) over {what}", extra, link)


def _nullable(column: tuple[Relation, str] | None) -> bool | None:
    """True/False from the catalog, None when unknown."""
    if column is None:
        return None
    rel, name = column
    if rel.nullable:
        return True
    if rel.tabledef is None or rel.tabledef.column(name) is None:
        return None
    return not rel.tabledef.is_not_null(name)


# --- QR013 ---------------------------------------------------------------------------------------------


def order_by_random(ctx: Context) -> Iterator[Pattern]:
    """QR013: `ORDER BY random()`, which reads and sorts every row to return a few."""
    for block in ctx.scope.blocks:
        stmt = block.node
        if not isinstance(stmt, ast.SelectStmt):
            continue
        for sort in stmt.sortClause or ():
            node = sort_target(stmt, sort.node) if isinstance(sort, ast.SortBy) else None
            if isinstance(node, ast.FuncCall) and func_name(node) == "random" and not node.args:
                extra: dict[str, PlainValue] = {"has_limit": has_limit(stmt), "tables": _tables(block)}
                yield ctx.pattern("QR013", "ORDER BY random() sorts every row", extra, node)


# --- QR019 ---------------------------------------------------------------------------------------------


def unbounded_write(ctx: Context) -> Iterator[Pattern]:
    """QR019: UPDATE or DELETE with no WHERE at all (`WHERE CURRENT OF` counts as a WHERE)."""
    for block in ctx.scope.blocks:
        stmt = block.node
        if not isinstance(stmt, ast.UpdateStmt | ast.DeleteStmt) or stmt.whereClause is not None:
            continue
        target = next((r for r in block.relations if r.target), None)
        extra: dict[str, PlainValue] = {
            "kind": block.role,
            "table": label(target) if target else None,
            "has_from": len(block.relations) > 1,
        }
        yield ctx.pattern(
            "QR019",
            f"{block.role.upper()} without WHERE touches every row of {extra['table']}",
            extra,
            stmt.relation,
        )


# --- QR020 ---------------------------------------------------------------------------------------------


def cross_join(ctx: Context) -> Iterator[Pattern]:
    """QR020: relations listed in FROM with commas and no WHERE condition linking them."""
    for block in ctx.scope.blocks:
        if block.role not in ("select", "update", "delete"):
            continue
        groups = _linked_groups(ctx.scope, block)
        if len(groups) < 2:
            continue
        extra: dict[str, PlainValue] = {
            "groups": tuple(tuple(r.name for r in g) for g in groups),
            "tables": _tables(block),
        }
        shown = " x ".join("(" + ", ".join(r.name for r in g) + ")" for g in groups)
        yield ctx.pattern("QR020", f"implicit cross join: nothing links {shown}", extra)


def _linked_groups(scope: Scope, block: Block) -> list[list[Relation]]:
    """Union-find over FROM components: a WHERE term or LATERAL reference naming two of them links them.
    Only tables, sub-queries and CTEs count as row sources; a function in FROM multiplies rows on purpose."""
    components = {r.component for r in block.data_relations()}
    if len(components) < 2:
        return []
    parent = {c: c for c in {r.component for r in block.relations}}

    def find(c: int) -> int:
        while parent[c] != c:
            c = parent[c]
        return c

    def link(rels: set[Relation]) -> None:
        roots = sorted({find(r.component) for r in rels})
        for other in roots[1:]:
            parent[other] = roots[0]

    for term in conjuncts(getattr(block.node, "whereClause", None)):
        link(scope.relations_in(term, block))
    for rel in block.relations:
        if rel.source is not None:  # a function in FROM, linked to what its arguments read
            link({rel, *scope.relations_in(rel.source, block)})
        elif rel.kind == "subquery" and rel.inner is not None and rel.inner.parent is block:
            link({rel, *scope.relations_in(rel.inner.node, block)})
    grouped: dict[int, list[Relation]] = {}
    for rel in block.data_relations():
        grouped.setdefault(find(rel.component), []).append(rel)
    return list(grouped.values()) if len(grouped) > 1 else []


# --- QR021 ---------------------------------------------------------------------------------------------


def or_chain(ctx: Context) -> Iterator[Pattern]:
    """QR021: `col = $1 OR col = $2 OR col = $3 ...` on one column (`col = ANY($1)` does it in one probe)."""
    minimum = ctx.options.or_chain_min_terms
    for node in ctx.all_nodes():
        if not isinstance(node, ast.BoolExpr) or node.boolop != enums.BoolExprType.OR_EXPR:
            continue
        counts: dict[tuple[object, ...], list[ast.ColumnRef]] = {}
        for arg in node.args or ():
            ref = _equality_column(arg)
            if ref is not None:
                counts.setdefault(_column_key(ctx.scope, ref), []).append(ref)
        for refs in counts.values():
            if len(refs) >= minimum:
                column = bare_column(ctx.scope, refs[0])
                base = ctx.scope.origin(*column) if column else None
                name = names(refs[0].fields)[-1]
                extra: dict[str, PlainValue] = {
                    "column": name,
                    "terms": len(refs),
                    "table": label(base[0]) if base else None,
                }
                yield ctx.pattern("QR021", f"{len(refs)} OR-ed equalities on {name}", extra, node)


def _equality_column(arg: ast.Node) -> ast.ColumnRef | None:
    """The column of a `col = <value>` term whose value reads no column."""
    if not isinstance(arg, ast.A_Expr) or arg.kind != enums.A_Expr_Kind.AEXPR_OP or operator(arg) != "=":
        return None
    for col, value in ((arg.lexpr, arg.rexpr), (arg.rexpr, arg.lexpr)):
        if (
            isinstance(col, ast.ColumnRef)
            and not is_star(col)
            and isinstance(value, ast.Node)
            and not any(isinstance(n, ast.ColumnRef) for n in walk(value))
        ):
            return col
    return None


def _column_key(scope: Scope, ref: ast.ColumnRef) -> tuple[object, ...]:
    """Identity of a column: its bound relation and name, else its spelling."""
    bound = scope.binding(ref)
    if bound is not None and bound.relation is not None:
        return (id(bound.relation), bound.column)
    return ("text", *names(ref.fields))


# --- QR022 ---------------------------------------------------------------------------------------------


def distinct_over_join(ctx: Context) -> Iterator[Pattern]:
    """QR022: SELECT DISTINCT over two or more joined relations (often hiding join fan-out)."""
    for block in ctx.scope.blocks:
        stmt = block.node
        if block.role != "select" or not isinstance(stmt, ast.SelectStmt) or not stmt.distinctClause:
            continue
        rels = block.data_relations()
        if len(rels) < 2:
            continue
        distinct_on = any(item is not None for item in stmt.distinctClause)
        extra: dict[str, PlainValue] = {
            "relations": tuple(r.name for r in rels),
            "tables": _tables(block),
            "distinct_on": distinct_on,
        }
        yield ctx.pattern("QR022", f"DISTINCT over a join of {', '.join(r.name for r in rels)}", extra)


# --- QR017 ---------------------------------------------------------------------------------------------


def count_all_rows(ctx: Context) -> Iterator[Pattern]:
    """QR017: `count(*)` of a whole single table: no WHERE, no GROUP BY, no join."""
    for block in ctx.scope.blocks:
        stmt = block.node
        if block.role != "select" or not isinstance(stmt, ast.SelectStmt):
            continue
        if stmt.whereClause is not None or stmt.groupClause or len(block.relations) != 1:
            continue
        rel = block.relations[0]
        targets = stmt.targetList or ()
        if rel.kind != "table" or not any(_is_count_all(n) for t in targets for n in walk(t, is_subquery)):
            continue
        yield ctx.pattern("QR017", f"count(*) reads every row of {label(rel)}", {"table": label(rel)})


def _is_count_all(node: ast.Node) -> bool:
    """`count(*)`, or `count(<constant>)` which counts the same rows."""
    if not isinstance(node, ast.FuncCall) or func_name(node) != "count":
        return False
    if node.agg_filter is not None or node.over is not None:
        return False
    args = node.args or ()
    return bool(node.agg_star) or (len(args) == 1 and isinstance(args[0], ast.A_Const))


# --- registry ------------------------------------------------------------------------------------------

DETECTORS: dict[str, Detector] = {
    "QR009": offset_pagination,
    "QR010": leading_wildcard,
    "QR011": non_sargable,
    "QR012": not_in_subquery,
    "QR013": order_by_random,
    "QR014": select_star,
    "QR017": count_all_rows,
    "QR019": unbounded_write,
    "QR020": cross_join,
    "QR021": or_chain,
    "QR022": distinct_over_join,
}
"""Every detector by pattern code, in code order."""


def _tables(block: Block) -> tuple[PlainValue, ...]:
    """Qualified names of a block's base tables."""
    return tuple(dict.fromkeys(label(r) for r in block.base_relations()))


def _int_const(node: ast.Node | None) -> int | None:
    """An integer literal's value."""
    value = const_value(node)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
