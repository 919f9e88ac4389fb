"""Keyset rewrite of OFFSET pagination (the fix offered for OFFSET paging).

`SELECT ... ORDER BY k1 DESC LIMIT $1 OFFSET $2` becomes
`SELECT ... WHERE (t.k1, t.id) < ($3, $4) ORDER BY k1 DESC, t.id DESC LIMIT $1`: the client passes the sort
keys of the last row it received instead of a row count to skip. The primary key is appended as a tiebreaker
unless the ORDER BY is already unique. The rewrite is refused (None) whenever it could change the result: no
primary key known, ORDER BY on an expression or a nullable column, joins, grouping, DISTINCT, window
functions, set operations, CTEs or `FETCH ... WITH TIES`.
"""

from __future__ import annotations

import datetime
import decimal
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pglast import ast, enums

from pgadvisor.analysis.blocks import sort_target
from pgadvisor.analysis.model import Schema, TableDef
from pgadvisor.analysis.predicates import bare_column, has_limit
from pgadvisor.analysis.scope import build_scope
from pgadvisor.sqltree import deparse, parse, walk

_INT4 = 2**31


@dataclass(frozen=True, slots=True)
class _Key:
    """One sort key of the keyset: a NOT NULL column of the table."""

    column: str
    descending: bool


@dataclass(frozen=True)
class _Plan:
    """A statement that can be rewritten, and how."""

    stmt: ast.SelectStmt
    qualifier: str
    keys: tuple[_Key, ...]
    tiebreakers: tuple[_Key, ...]
    first_param: int


def keyset(query: str, schema: Schema) -> str | None:
    """The keyset form of an OFFSET-paginated single-table SELECT, with new `$n` parameters for the last
    row's sort keys (numbered after the statement's highest), or None when it cannot be done safely."""
    plan = _plan(query, schema)
    if plan is None:
        return None
    count = len(plan.keys) + len(plan.tiebreakers)
    values: list[ast.Node] = [ast.ParamRef(number=plan.first_param + i) for i in range(count)]
    return _render(plan, values)


def keyset_with_values(query: str, schema: Schema, last_row: Mapping[str, object]) -> str:
    """Like `keyset`, with the sort keys of `last_row` (a mapping of column name to value) written in as
    literals. Raises ValueError when the statement cannot be rewritten or a key is missing or NULL."""
    plan = _plan(query, schema)
    if plan is None:
        raise ValueError("statement cannot be rewritten to keyset pagination")
    values = [_literal(_value(last_row, key.column)) for key in (*plan.keys, *plan.tiebreakers)]
    text = _render(plan, values)
    if text is None:
        raise ValueError("rewritten statement could not be printed")
    return text


def first_page(query: str, schema: Schema) -> str | None:
    """The first page of the keyset scheme: no OFFSET and the tiebreaker in ORDER BY, but no key condition
    yet (the original first page may order ties differently, which would skip or repeat rows later)."""
    plan = _plan(query, schema)
    return None if plan is None else _render(plan, None)


def key_columns(query: str, schema: Schema) -> tuple[str, ...] | None:
    """The columns the keyset compares, in order (the ORDER BY keys, then the tiebreakers)."""
    plan = _plan(query, schema)
    return None if plan is None else tuple(k.column for k in (*plan.keys, *plan.tiebreakers))


# --- planning -------------------------------------------------------------------------------------------


def _plan(query: str, schema: Schema) -> _Plan | None:
    """Check every precondition and work out the keys; None when any fails."""
    parsed = parse(query)
    if parsed.error is not None or len(parsed.statements) != 1:
        return None
    stmt = parsed.statements[0].stmt
    if not isinstance(stmt, ast.SelectStmt) or not _simple_paginated(stmt):
        return None
    rv = stmt.fromClause[0] if stmt.fromClause and len(stmt.fromClause) == 1 else None
    if not isinstance(rv, ast.RangeVar) or rv.relname is None:
        return None
    table = schema.lookup(rv.relname, rv.schemaname)
    if table is None or not table.primary_key:
        return None
    keys = _sort_keys(stmt, schema)
    if keys is None or any(not table.is_not_null(k.column) for k in keys):
        return None
    qualifier = rv.alias.aliasname if rv.alias is not None and rv.alias.aliasname else rv.relname
    return _Plan(stmt, qualifier, keys, _tiebreakers(table, keys), parsed.max_param + 1)


def _simple_paginated(stmt: ast.SelectStmt) -> bool:
    """A plain SELECT with ORDER BY, LIMIT and OFFSET, and nothing that makes keys non-unique per row."""
    if stmt.op != enums.SetOperation.SETOP_NONE or stmt.withClause is not None or stmt.valuesLists:
        return False
    if stmt.distinctClause or stmt.groupClause or stmt.havingClause or stmt.windowClause or stmt.intoClause:
        return False
    if stmt.limitOption == enums.LimitOption.LIMIT_OPTION_WITH_TIES:
        return False
    if stmt.limitOffset is None or not has_limit(stmt) or not stmt.sortClause:
        return False
    targets = stmt.targetList or ()
    return not any(isinstance(n, ast.FuncCall) and n.over is not None for t in targets for n in walk(t))


def _sort_keys(stmt: ast.SelectStmt, schema: Schema) -> tuple[_Key, ...] | None:
    """The ORDER BY items as plain columns of the one table, or None."""
    scope = build_scope(stmt, schema)
    keys: list[_Key] = []
    for sort in stmt.sortClause or ():
        if not isinstance(sort, ast.SortBy) or sort.sortby_dir == enums.SortByDir.SORTBY_USING:
            return None
        column = bare_column(scope, sort_target(stmt, sort.node))
        if column is None or column[0].kind != "table":
            return None
        keys.append(_Key(column[1], sort.sortby_dir == enums.SortByDir.SORTBY_DESC))
    seen: dict[str, _Key] = {}
    for key in keys:
        seen.setdefault(key.column, key)  # a repeated key adds nothing to the order
    return tuple(seen.values())


def _tiebreakers(table: TableDef, keys: tuple[_Key, ...]) -> tuple[_Key, ...]:
    """Primary key columns to append so the order is total (none when the keys are already unique)."""
    present = {k.column for k in keys}
    unique_sets = [set(table.primary_key)] + [
        {c for c in ix.columns if c is not None}
        for ix in table.indexes
        if ix.unique
        and ix.predicate is None
        and ix.columns
        and None not in ix.columns
        and all(table.is_not_null(c) for c in ix.columns if c is not None)
    ]
    if any(s and s <= present for s in unique_sets):
        return ()
    last = keys[-1].descending
    return tuple(_Key(c, last) for c in table.primary_key if c not in present)


# --- rendering ------------------------------------------------------------------------------------------


def _render(plan: _Plan, values: Sequence[ast.Node] | None) -> str | None:
    """Apply the plan to the statement tree and print it; None if PostgreSQL would not accept the result.
    Without `values`, no key condition is added (the first page)."""
    stmt = plan.stmt
    if values is not None:
        _add_condition(stmt, _condition(plan.qualifier, (*plan.keys, *plan.tiebreakers), values))
    stmt.limitOffset = None
    stmt.sortClause = (*(stmt.sortClause or ()), *(_sort_by(plan.qualifier, k) for k in plan.tiebreakers))
    text = deparse(stmt)
    if text is None or parse(text).error is not None:
        return None
    return text


def _add_condition(stmt: ast.SelectStmt, condition: ast.Node) -> None:
    """AND a condition into the WHERE clause."""
    if stmt.whereClause is None:
        stmt.whereClause = condition
    else:
        stmt.whereClause = ast.BoolExpr(boolop=enums.BoolExprType.AND_EXPR, args=(stmt.whereClause, condition))


def _condition(qualifier: str, keys: Sequence[_Key], values: Sequence[ast.Node]) -> ast.Node:
    """`(k1, k2) < ($a, $b)` when all keys sort one way, else the expanded OR of prefixes."""
    refs = [_ref(qualifier, k.column) for k in keys]
    if len({k.descending for k in keys}) == 1:
        op = "<" if keys[0].descending else ">"
        if len(keys) == 1:
            return _op(op, refs[0], values[0])
        return _op(op, _row(refs), _row(list(values)))
    branches: list[ast.Node] = []
    for i, key in enumerate(keys):
        terms = [_op("=", _ref(qualifier, keys[j].column), values[j]) for j in range(i)]
        terms.append(_op("<" if key.descending else ">", refs[i], values[i]))
        branches.append(
            terms[0] if len(terms) == 1 else ast.BoolExpr(boolop=enums.BoolExprType.AND_EXPR, args=tuple(terms))
        )
    return ast.BoolExpr(boolop=enums.BoolExprType.OR_EXPR, args=tuple(branches))


def _ref(qualifier: str, column: str) -> ast.ColumnRef:
    """`qualifier.column`."""
    return ast.ColumnRef(fields=(ast.String(sval=qualifier), ast.String(sval=column)))


def _op(op: str, left: ast.Node, right: ast.Node) -> ast.A_Expr:
    """A binary operator expression."""
    return ast.A_Expr(kind=enums.A_Expr_Kind.AEXPR_OP, name=(ast.String(sval=op),), lexpr=left, rexpr=right)


def _row(items: Sequence[ast.Node]) -> ast.RowExpr:
    """A row constructor `(a, b, c)`."""
    return ast.RowExpr(args=tuple(items), row_format=enums.CoercionForm.COERCE_IMPLICIT_CAST)


def _sort_by(qualifier: str, key: _Key) -> ast.SortBy:
    """An ORDER BY item for a tiebreaker column."""
    direction = enums.SortByDir.SORTBY_DESC if key.descending else enums.SortByDir.SORTBY_ASC
    return ast.SortBy(
        node=_ref(qualifier, key.column),
        sortby_dir=direction,
        sortby_nulls=enums.SortByNulls.SORTBY_NULLS_DEFAULT,
    )


def _value(row: Mapping[str, object], column: str) -> object:
    """A key's value from the last row; keys are NOT NULL, so a missing or NULL value is an error."""
    if column not in row or row[column] is None:
        raise ValueError(f"last_row has no value for key column {column!r}")
    return row[column]


def _literal(value: object) -> ast.A_Const:
    """A SQL literal for a Python value (strings and temporal values as untyped literals, which
    PostgreSQL coerces to the compared column's type)."""
    if isinstance(value, bool):
        return ast.A_Const(isnull=False, val=ast.Boolean(boolval=value))
    if isinstance(value, int) and -_INT4 <= value < _INT4:
        return ast.A_Const(isnull=False, val=ast.Integer(ival=value))
    special = _special_number(value) if isinstance(value, float | decimal.Decimal) else None
    if special is not None:  # printed bare, `nan` or `inf` would be read as a column name
        return ast.A_Const(isnull=False, val=ast.String(sval=special))
    if isinstance(value, int | float | decimal.Decimal):
        return ast.A_Const(isnull=False, val=ast.Float(fval=str(value)))
    if isinstance(value, str | datetime.date | datetime.time | uuid.UUID):
        text = value.isoformat() if isinstance(value, datetime.date | datetime.time) else str(value)
        return ast.A_Const(isnull=False, val=ast.String(sval=text))
    raise ValueError(f"cannot write a {type(value).__name__} as a SQL literal")


def _special_number(value: float | decimal.Decimal) -> str | None:
    """PostgreSQL's spelling of a number that is not finite ('NaN', 'Infinity', '-Infinity'), else None."""
    if isinstance(value, decimal.Decimal):
        if value.is_finite():
            return None
        return "NaN" if value.is_nan() else "-Infinity" if value.is_signed() else "Infinity"
    if math.isfinite(value):
        return None
    return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
