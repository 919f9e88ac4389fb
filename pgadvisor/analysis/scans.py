"""Per-table scans: what each query block asks of each base table, for the missing-index advisor.

Only the AND terms of a block's WHERE (and of inner JOIN conditions) can drive an index; predicates found
under OR or NOT are still recorded, with `usable=False`. A JOIN's ON condition filters only the joined
(nullable) side of an outer join, so it is not a filter of the preserved side.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from pglast import ast, enums

from pgadvisor.analysis.blocks import Block, Relation, Scope, sort_target, star_relations
from pgadvisor.analysis.model import (
    Filter,
    FilterKind,
    JoinKey,
    Operand,
    OrderItem,
    ScanRole,
    TableScan,
)
from pgadvisor.analysis.predicates import (
    COMPARISONS,
    RANGE_OPS,
    Qual,
    bare_column,
    block_columns,
    block_quals,
    has_columns,
    has_limit,
    pattern_start,
    reads,
    sort_direction,
    sort_nulls,
)
from pgadvisor.sqltree import is_null_const, is_star, names, operator, returning

_K = enums.A_Expr_Kind
_ROW_SOURCES = ("table", "subquery", "cte")


@dataclass
class _Facts:
    """Mutable accumulator for one relation's scan."""

    filters: list[Filter] = field(default_factory=list)
    join_keys: list[JoinKey] = field(default_factory=list)


def build_scans(scope: Scope) -> Iterator[TableScan]:
    """One `TableScan` per base-table relation of every block.

    All blocks are read before any scan is built, because a condition on a flattened sub-query's or CTE's
    column lands on the scan of the base table inside it.
    """
    referenced: dict[int, list[str]] = {}
    for bound in scope.bindings.values():
        if bound.relation is not None:
            referenced.setdefault(id(bound.relation), []).append(bound.column)
    facts = {id(rel): _Facts() for block in scope.blocks for rel in block.base_relations()}
    for block in scope.blocks:
        for qual in block_quals(block):
            _collect(scope, qual, facts, _classified(scope, block, qual))
        _using_keys(block, facts)
    for block in scope.blocks:
        if block.role == "insert":
            continue  # the INSERT target is written, not read; its source query is a block of its own
        order = _order_by(scope, block)
        for rel in block.base_relations():
            yield _scan(scope, block, rel, facts[id(rel)], order, referenced.get(id(rel), []))


def _scan(
    scope: Scope,
    block: Block,
    rel: Relation,
    facts: _Facts,
    order: tuple[Relation | None, tuple[OrderItem, ...]],
    referenced: list[str],
) -> TableScan:
    """Assemble one relation's scan."""
    assert rel.table is not None
    stmt = block.node
    projected, star = _projected(scope, block, rel)
    role: ScanRole = "read"
    if rel.target and block.role in ("update", "delete"):
        role = "update" if block.role == "update" else "delete"
    return TableScan(
        table=rel.table,
        filters=tuple(facts.filters),
        join_keys=tuple(dict.fromkeys(facts.join_keys)),
        order_by=order[1] if order[0] is rel else (),
        has_limit=isinstance(stmt, ast.SelectStmt) and has_limit(stmt),
        projected=projected,
        star=star,
        referenced=tuple(dict.fromkeys(referenced)),
        role=role,
        block=block.index,
        statement=block.statement,
    )


# --- predicates --------------------------------------------------------------------------------------


def _classified(scope: Scope, block: Block, qual: Qual) -> Iterator[tuple[Relation, Filter | JoinKey, bool]]:
    """(relation of this block, filter or join key, usable) for each predicate of one AND term."""
    for leaf, usable in _leaves(qual.expr, usable=True):
        for rel, item in _classify(scope, block, leaf):
            yield rel, item, usable


def _collect(
    scope: Scope, qual: Qual, facts: dict[int, _Facts], items: Iterator[tuple[Relation, Filter | JoinKey, bool]]
) -> None:
    """File each classified predicate under the base table it restricts.

    An outer join's ON condition does not filter its preserved side. A condition on a flattened
    sub-query's column is filed under the base table that column comes from.
    """
    preserved: set[int] = set()
    if qual.join is not None and qual.join.jointype != enums.JoinType.JOIN_INNER:
        preserved = {id(r) for r in (*qual.join.left, *qual.join.right) if not r.nullable}
    for rel, item, usable in items:
        if isinstance(item, Filter) and id(rel) in preserved:
            continue
        if rel.kind == "table":
            target: tuple[Relation, str | None] | None = (rel, item.column)
        else:
            target = scope.origin(rel, item.column or "", pushdown=True)
        bucket = facts.get(id(target[0])) if target is not None else None
        if target is None or bucket is None:
            continue
        moved = _moved(item, target[1], usable=usable)
        if isinstance(moved, JoinKey):
            bucket.join_keys.append(moved)
        else:
            bucket.filters.append(moved)


def _moved(item: Filter | JoinKey, column: str | None, *, usable: bool) -> Filter | JoinKey:
    """The predicate re-attached to `column`: the same column, or the base column a sub-query renamed
    (then the constant text, written with the outer name, no longer applies)."""
    if isinstance(item, JoinKey):
        return replace(item, column=column or item.column, usable=item.usable and usable)
    if column == item.column:
        return replace(item, usable=usable)
    columns = (column,) if column else item.columns
    return replace(item, column=column, columns=columns, constant=None, usable=usable)


def _leaves(expr: ast.Node, *, usable: bool) -> Iterator[tuple[ast.Node, bool]]:
    """Predicates of a condition; those under OR (or a NOT of a compound) are not usable."""
    if isinstance(expr, ast.BoolExpr):
        if expr.boolop == enums.BoolExprType.NOT_EXPR and expr.args and isinstance(expr.args[0], ast.ColumnRef):
            yield expr, usable
            return
        inner_usable = usable and expr.boolop == enums.BoolExprType.AND_EXPR
        for arg in expr.args or ():
            yield from _leaves(arg, usable=inner_usable)
        return
    yield expr, usable


def _classify(scope: Scope, block: Block, leaf: ast.Node) -> list[tuple[Relation, Filter | JoinKey]]:
    """Turn one predicate into filters / join keys of the relations it involves."""
    if isinstance(leaf, ast.A_Expr):
        return _classify_a_expr(scope, block, leaf)
    if isinstance(leaf, ast.NullTest):
        is_null = leaf.nulltesttype == enums.NullTestType.IS_NULL
        return _simple(scope, block, leaf.arg, leaf, "IS NULL" if is_null else "IS NOT NULL",
                       "equality" if is_null else "other", "null", constant=True)
    if isinstance(leaf, ast.BooleanTest):
        return _simple(scope, block, leaf.arg, leaf, "IS", "equality", "const", constant=True)
    if isinstance(leaf, ast.ColumnRef):
        return _simple(scope, block, leaf, leaf, "=", "equality", "const", constant=True)
    if isinstance(leaf, ast.BoolExpr) and leaf.args:
        return _simple(scope, block, leaf.args[0], leaf, "=", "equality", "const", constant=True)
    if isinstance(leaf, ast.SubLink) and leaf.subLinkType == enums.SubLinkType.ANY_SUBLINK:
        kind: FilterKind = "equality" if names(leaf.operName) in ((), ("=",)) else "other"
        return _simple(scope, block, leaf.testexpr, None, "IN", kind, "subquery")
    return []


def _classify_a_expr(scope: Scope, block: Block, node: ast.A_Expr) -> list[tuple[Relation, Filter | JoinKey]]:
    """Comparisons, IN, ANY, BETWEEN and LIKE."""
    op = operator(node)
    kind = node.kind
    if kind == _K.AEXPR_OP and op in COMPARISONS:
        return _comparison(scope, block, node, op)
    if kind == _K.AEXPR_IN:
        is_in = op == "="
        return _simple(scope, block, node.lexpr, node, "IN" if is_in else "NOT IN", "equality" if is_in else "other",
                       "list", constant=True, values=node.rexpr)
    if kind == _K.AEXPR_OP_ANY:
        return _simple(
            scope,
            block,
            node.lexpr,
            node,
            f"{op} ANY",
            "equality" if op == "=" else "other",
            _operand(node.rexpr),
            values=node.rexpr,
        )
    if kind in (_K.AEXPR_BETWEEN, _K.AEXPR_BETWEEN_SYM):
        return _simple(scope, block, node.lexpr, node, "BETWEEN", "range", "param", constant=True, values=node.rexpr)
    if kind in (_K.AEXPR_NOT_BETWEEN, _K.AEXPR_NOT_BETWEEN_SYM):
        return _simple(scope, block, node.lexpr, node, "NOT BETWEEN", "other", "param", values=node.rexpr)
    if kind == _K.AEXPR_LIKE and op == "~~" and isinstance(node.rexpr, ast.Node):
        if pattern_start(node.rexpr) == "prefix":
            return _simple(
                scope,
                block,
                node.lexpr,
                node,
                "LIKE prefix",
                "range",
                "const",
                constant=True,
                values=node.rexpr,
            )
        return _simple(scope, block, node.lexpr, node, "LIKE", "other", _operand(node.rexpr), values=node.rexpr)
    if kind in (_K.AEXPR_LIKE, _K.AEXPR_ILIKE) and isinstance(node.rexpr, ast.Node):
        return _simple(
            scope,
            block,
            node.lexpr,
            node,
            "ILIKE" if kind == _K.AEXPR_ILIKE else op,
            "other",
            _operand(node.rexpr),
            values=node.rexpr,
        )
    return []


def _comparison(scope: Scope, block: Block, node: ast.A_Expr, op: str) -> list[tuple[Relation, Filter | JoinKey]]:
    """`a op b` in either orientation: join key, filter against a value, or row comparison."""
    left = node.lexpr if isinstance(node.lexpr, ast.Node) else None
    right = node.rexpr if isinstance(node.rexpr, ast.Node) else None
    if isinstance(left, ast.RowExpr) and isinstance(right, ast.RowExpr):
        return _row_comparison(scope, block, left, right, op)
    found: list[tuple[Relation, Filter | JoinKey]] = []
    lcol, rcol = bare_column(scope, left), bare_column(scope, right)
    if lcol and rcol and op == "=" and lcol[0] is not rcol[0]:
        for (rel, col), (other, other_col) in ((lcol, rcol), (rcol, lcol)):
            if rel.block is block and rel.kind in _ROW_SOURCES:
                source = scope.origin(other, other_col) or (other, other_col)
                found.append((rel, JoinKey(col, source[0].table, source[1])))
        return found
    kind: FilterKind = "equality" if op == "=" else "range" if op in RANGE_OPS else "other"
    for subject, value in ((left, right), (right, left)):
        if isinstance(value, ast.Node) and is_null_const(value):
            kind = "other"
        found.extend(_simple(scope, block, subject, node, op, kind, _operand(value), constant=True, values=value))
    return found


def _row_comparison(
    scope: Scope, block: Block, left: ast.RowExpr, right: ast.RowExpr, op: str
) -> list[tuple[Relation, Filter | JoinKey]]:
    """`(a, b) < ($1, $2)`: every column of the row becomes a range (or equality) filter."""
    kind: FilterKind = "equality" if op == "=" else "range" if op in RANGE_OPS else "other"
    found: list[tuple[Relation, Filter | JoinKey]] = []
    for subject, value in zip(left.args or (), right.args or (), strict=False):
        found.extend(_simple(scope, block, subject, None, f"row {op}", kind, _operand(value), values=value))
    return found


def _simple(
    scope: Scope,
    block: Block,
    subject: ast.Node | None,
    predicate: ast.Node | None,
    op: str,
    kind: FilterKind,
    operand: Operand,
    *,
    constant: bool = False,
    values: object = None,
) -> list[tuple[Relation, Filter | JoinKey]]:
    """A filter on `subject` (a column, or an expression over one table's columns) against `values`."""
    if subject is None:
        return []
    columns = block_columns(scope, subject, block)
    rels = {id(rel): rel for rel, _ in columns}
    if len(rels) != 1:
        return []
    rel = next(iter(rels.values()))
    plain = bare_column(scope, subject)
    if rel.kind not in _ROW_SOURCES or (rel.kind != "table" and plain is None) or reads(scope, values, rel):
        return []
    read = tuple(dict.fromkeys(col for _, col in columns))
    expression = None if plain is not None else scope.text(subject)
    if plain is None and expression is None:
        return []
    text = scope.text(predicate) if constant and predicate is not None and _is_literal(values) else None
    item = Filter(op, kind, operand, read, plain[1] if plain else None, expression, text)
    return [(rel, item)]


def _is_literal(values: object) -> bool:
    """True for constants a partial index could repeat: literals, NULL, or a list/pair of literals."""
    if values is None:
        return True
    if isinstance(values, tuple):
        return bool(values) and all(_is_literal(v) for v in values)
    if isinstance(values, ast.TypeCast):
        return isinstance(values.arg, ast.A_Const)
    return isinstance(values, ast.A_Const)


def _operand(value: object) -> Operand:
    """What a filter compares with."""
    if isinstance(value, ast.TypeCast):
        value = value.arg
    if isinstance(value, ast.ParamRef):
        return "param"
    if isinstance(value, ast.A_Const):
        return "null" if value.isnull else "const"
    if isinstance(value, tuple):
        return "list"
    if isinstance(value, ast.A_ArrayExpr):
        return "array"
    if isinstance(value, ast.SubLink):
        return "subquery"
    if isinstance(value, ast.ColumnRef):
        return "column"
    return "expr" if isinstance(value, ast.Node) and not has_columns(value) else "column"


def _using_keys(block: Block, facts: dict[int, _Facts]) -> None:
    """`JOIN ... USING (c)` / NATURAL: an equality on `c` between the one provider on each side."""
    for join in block.joins:
        for column in join.using:
            left = [r for r in join.left if r.may_have(column)]
            right = [r for r in join.right if r.may_have(column)]
            if len(left) != 1 or len(right) != 1:
                continue
            for rel, other in ((left[0], right[0]), (right[0], left[0])):
                if id(rel) in facts:
                    facts[id(rel)].join_keys.append(JoinKey(column, other.table, column))


# --- ORDER BY and projection ----------------------------------------------------------------------------


def _order_by(scope: Scope, block: Block) -> tuple[Relation | None, tuple[OrderItem, ...]]:
    """The one base relation the ORDER BY sorts on, with its leading plain-column keys."""
    stmt = block.node
    if block.role != "select" or not isinstance(stmt, ast.SelectStmt) or not stmt.sortClause:
        return None, ()
    owners: set[int] = set()
    owner: Relation | None = None
    items: list[OrderItem] = []
    plain = True
    for sort in stmt.sortClause:
        if not isinstance(sort, ast.SortBy):
            return None, ()
        node = sort_target(stmt, sort.node)
        for rel, _ in block_columns(scope, node, block):
            owners.add(id(rel))
            owner = rel
        column = bare_column(scope, node)
        plain = plain and column is not None
        if plain and column is not None:
            items.append(OrderItem(column[1], sort_direction(sort), sort_nulls(sort)))
    if len(owners) != 1 or owner is None or owner.kind != "table":
        return None, ()
    return owner, tuple(items)


def _projected(scope: Scope, block: Block, rel: Relation) -> tuple[tuple[str, ...], bool]:
    """Columns of `rel` in the select list (or RETURNING), and whether a `*` covers it."""
    stmt = block.node
    targets = getattr(stmt, "targetList", None) if block.role == "select" else returning(stmt)
    columns: list[str] = []
    star = False
    for target in targets or ():
        val = target.val if isinstance(target, ast.ResTarget) else None
        if isinstance(val, ast.ColumnRef) and is_star(val):
            if any(r is rel for r in star_relations(block, val)):
                star = True
                columns.extend(rel.columns or ())
            continue
        columns.extend(col for r, col in block_columns(scope, val, block) if r is rel)
    return tuple(dict.fromkeys(columns)), star
