"""Helpers over WHERE / JOIN conditions shared by the pattern detectors and the scan builder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pglast import ast, enums

from pgadvisor.analysis.blocks import Block, JoinQual, Relation, Scope
from pgadvisor.analysis.model import Direction, Nulls
from pgadvisor.sqltree import const_value, func_name, is_star, is_subquery, operator, walk

COMPARISONS = frozenset({"=", "<", "<=", ">", ">=", "<>", "!="})
RANGE_OPS = frozenset({"<", "<=", ">", ">="})
QualSource = Literal["where", "join"]


@dataclass(frozen=True, eq=False)
class Qual:
    """One top-level AND term of a block's WHERE or of one of its JOIN conditions."""

    expr: ast.Node
    source: QualSource
    join: JoinQual | None = None


def conjuncts(expr: ast.Node | None) -> list[ast.Node]:
    """The AND terms of a condition (nested ANDs flattened)."""
    if expr is None:
        return []
    if isinstance(expr, ast.BoolExpr) and expr.boolop == enums.BoolExprType.AND_EXPR:
        return [term for arg in expr.args or () for term in conjuncts(arg)]
    return [expr]


def block_quals(block: Block) -> list[Qual]:
    """Every AND term of the block's WHERE and JOIN ... ON conditions."""
    quals = [Qual(term, "join", join) for join in block.joins for term in conjuncts(join.quals)]
    where = getattr(block.node, "whereClause", None)
    quals.extend(Qual(term, "where") for term in conjuncts(where))
    return quals


def bare_column(scope: Scope, node: ast.Node | None) -> tuple[Relation, str] | None:
    """The relation and column of a plain (bound, non-star) column reference."""
    if not isinstance(node, ast.ColumnRef) or is_star(node):
        return None
    bound = scope.binding(node)
    if bound is None or bound.relation is None:
        return None
    return bound.relation, bound.column


def block_columns(scope: Scope, expr: ast.Node | None, block: Block) -> list[tuple[Relation, str]]:
    """Columns of `block`'s relations read by an expression, not looking into sub-queries."""
    found: list[tuple[Relation, str]] = []
    for node in walk(expr, is_subquery):
        column = bare_column(scope, node)
        if column is not None and column[0].block is block:
            found.append(column)
    return found


def reads(scope: Scope, values: object, rel: Relation) -> bool:
    """True when an expression (or tuple of them) reads a column of `rel`: comparing a column of `rel`
    with it is not a lookup any index on `rel` can serve."""
    for value in values if isinstance(values, tuple) else (values,):
        for node in walk(value if isinstance(value, ast.Node) else None):
            column = bare_column(scope, node)
            if column is not None and column[0] is rel:
                return True
    return False


def has_columns(expr: ast.Node | None) -> bool:
    """True when an expression reads any column (a param / constant / `now()` expression does not)."""
    return any(isinstance(node, ast.ColumnRef) for node in walk(expr))


def label(rel: Relation) -> str:
    """A display name: the qualified table name for base tables, else the relation's visible name."""
    return rel.table.qualified if rel.table is not None else rel.name


def block_tables(block: Block) -> tuple[str, ...]:
    """Qualified names (`label`) of a block's base tables, in FROM order, without repeats."""
    return tuple(dict.fromkeys(label(r) for r in block.base_relations()))


def sort_direction(sort: ast.SortBy) -> Direction:
    """`asc` or `desc`."""
    return "desc" if sort.sortby_dir == enums.SortByDir.SORTBY_DESC else "asc"


def sort_nulls(sort: ast.SortBy) -> Nulls | None:
    """`first`, `last`, or None for the default."""
    if sort.sortby_nulls == enums.SortByNulls.SORTBY_NULLS_FIRST:
        return "first"
    if sort.sortby_nulls == enums.SortByNulls.SORTBY_NULLS_LAST:
        return "last"
    return None


def has_limit(stmt: ast.SelectStmt) -> bool:
    """True for a LIMIT / FETCH FIRST other than LIMIT ALL (NULL)."""
    count = stmt.limitCount
    return count is not None and not (isinstance(count, ast.A_Const) and count.isnull)


def pattern_start(node: ast.Node | None) -> str:
    """How a LIKE pattern starts: `wildcard` (proven `%`), `prefix` (a literal that does not), `unknown`."""
    for _ in range(64):
        if isinstance(node, ast.A_Const):
            value = const_value(node)
            return "wildcard" if isinstance(value, str) and value.startswith("%") else "prefix"
        if isinstance(node, ast.TypeCast | ast.CollateClause):
            node = node.arg
        elif isinstance(node, ast.A_Expr) and operator(node) == "||":
            node = node.lexpr
        elif isinstance(node, ast.FuncCall) and func_name(node) == "concat" and node.args:
            node = node.args[0]
        else:
            return "unknown"
    return "unknown"
