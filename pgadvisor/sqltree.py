"""Safe parsing with PostgreSQL's own parser (pglast), and small helpers over its syntax tree.

The bottom of the house, beside the snapshot: the analysis library builds on it, and so do the parts below the
analysis that must read SQL text for safety (redacting secrets, deciding whether a statement may be planned).

`pglast.parse_sql` turns the C parse tree into Python objects recursively: a deep enough tree (a long
`a + b + c + ...` chain, thousands of UNIONs) overflows the C stack and kills the process. Short texts cannot
nest that deep; longer ones are first run through the protobuf serializer, which checks its stack depth and
fails cleanly. Trees deeper than `MAX_DEPTH` node levels are refused too, so every walker here can recurse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pglast import ast, parser
from pglast.stream import RawStream

StatementKind = Literal["select", "insert", "update", "delete", "utility", "other"]
"""What a statement is, as far as the checks care."""


MAX_DEPTH = 200
"""Node levels accepted: real statements stay far below; deeper texts get a `parse_error`."""

SAFE_DIRECT_CHARS = 4000
"""Texts this short cannot nest deep enough to overflow `parse_sql` (one level needs at least one token)."""

_KINDS: dict[type[ast.Node], StatementKind] = {
    ast.SelectStmt: "select",
    ast.InsertStmt: "insert",
    ast.UpdateStmt: "update",
    ast.DeleteStmt: "delete",
    ast.MergeStmt: "other",
}


@dataclass(frozen=True, slots=True)
class Parsed:
    """The statements of a text, or why there are none."""

    statements: tuple[ast.RawStmt, ...] = ()
    error: str | None = None
    position: int | None = None
    max_param: int = 0
    nodes: tuple[tuple[ast.Node, ...], ...] = ()
    """Every node of each statement, in pre-order (so detectors need not walk the tree again)."""


def parse(text: str) -> Parsed:
    """Parse `text` without ever raising: errors come back in `Parsed.error`."""
    try:
        if "\x00" in text:
            return Parsed(error="text contains a NUL character")
        if len(text) > SAFE_DIRECT_CHARS:
            parser.parse_sql_protobuf(text)  # raises on excessive depth before parse_sql could crash
        statements = tuple(parser.parse_sql(text))
    except parser.ParseError as exc:
        position = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
        return Parsed(error=str(exc.args[0]), position=position)
    except (UnicodeError, ValueError, MemoryError) as exc:
        return Parsed(error=f"{type(exc).__name__}: {exc}")
    nodes = []
    max_param = 0
    for statement in statements:
        flat, highest = _flatten(statement)
        if flat is None:
            return Parsed(error=f"statement nests deeper than {MAX_DEPTH} levels")
        nodes.append(flat)
        max_param = max(max_param, highest)
    return Parsed(statements=statements, max_param=max_param, nodes=tuple(nodes))


def fingerprint(text: str) -> str | None:
    """pglast's fingerprint of a text that parsed: literal and `$n` forms give the same value."""
    try:
        return str(parser.fingerprint(text))
    except (parser.ParseError, UnicodeError, ValueError):
        return None


def statement_kind(stmt: ast.Node) -> StatementKind:
    """Classify a top-level statement node."""
    return _KINDS.get(type(stmt), "utility")


def _flatten(root: ast.Node) -> tuple[tuple[ast.Node, ...] | None, int]:
    """All nodes of a tree in pre-order and its highest `$n`, without recursion; None past `MAX_DEPTH`."""
    found: list[ast.Node] = []
    max_param = 0
    stack: list[tuple[ast.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return None, max_param
        found.append(node)
        if isinstance(node, ast.ParamRef) and isinstance(node.number, int):
            max_param = max(max_param, node.number)
        stack.extend((child, depth + 1) for child in reversed(list(children(node))))
    return tuple(found), max_param


def children(node: ast.Node) -> Iterator[ast.Node]:
    """The direct child nodes of `node`, looking inside tuples (lists in the C tree)."""
    for attr in _node_slots(type(node)):
        value = getattr(node, attr)
        if isinstance(value, ast.Node):
            yield value
        elif isinstance(value, tuple):
            yield from nodes_in(value)


_NODE_SLOTS: dict[type[ast.Node], tuple[str, ...]] = {}


def _node_slots(cls: type[ast.Node]) -> tuple[str, ...]:
    """The attributes of a node class that can hold nodes or lists (pointer types other than strings)."""
    slots = _NODE_SLOTS.get(cls)
    if slots is None:
        declared = getattr(cls, "__slots__", {})
        slots = tuple(
            name
            for name, info in (declared.items() if isinstance(declared, dict) else ())
            if str(getattr(info, "c_type", "*")).endswith("*") and getattr(info, "c_type", "") != "char*"
        )
        _NODE_SLOTS[cls] = slots
    return slots


def nodes_in(items: tuple[object, ...]) -> Iterator[ast.Node]:
    """Nodes inside a (possibly nested) tuple."""
    for item in items:
        if isinstance(item, ast.Node):
            yield item
        elif isinstance(item, tuple):
            yield from nodes_in(item)


def walk(node: ast.Node | None, prune: Callable[[ast.Node], bool] | None = None) -> Iterator[ast.Node]:
    """Pre-order nodes of a subtree; `prune(n)` true yields `n` but not its descendants."""
    if node is None:
        return
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if prune is None or not prune(current):
            stack.extend(reversed(list(children(current))))


def is_subquery(node: ast.Node) -> bool:
    """A node that starts another query block (pruned by walkers that stay in one block)."""
    return isinstance(node, ast.SubLink | ast.SelectStmt | ast.RangeSubselect | ast.CommonTableExpr)


def names(items: tuple[ast.Node, ...] | None) -> tuple[str, ...]:
    """The string parts of a name list (`funcname`, `ColumnRef.fields`, operator `name`)."""
    return tuple(item.sval for item in items or () if isinstance(item, ast.String) and item.sval is not None)


def func_name(node: ast.FuncCall) -> str:
    """A function's unqualified name (`pg_catalog.lower` -> `lower`)."""
    parts = names(node.funcname)
    return parts[-1] if parts else ""


def operator(node: ast.A_Expr) -> str:
    """An operator expression's operator name (`=`, `<`, `~~`)."""
    parts = names(node.name)
    return parts[-1] if parts else ""


def returning(stmt: ast.Node) -> tuple[ast.Node, ...]:
    """The RETURNING list of an INSERT / UPDATE / DELETE / MERGE (empty when absent).

    pglast 8 (PostgreSQL 18 grammar) wraps it in a `ReturningClause`; older pglast had `returningList`.
    """
    clause = getattr(stmt, "returningClause", None)
    exprs = getattr(clause, "exprs", None) if clause is not None else getattr(stmt, "returningList", None)
    return tuple(n for n in exprs or () if isinstance(n, ast.Node))


def is_star(ref: ast.ColumnRef) -> bool:
    """True for `*` and `t.*`."""
    fields = ref.fields or ()
    return bool(fields) and isinstance(fields[-1], ast.A_Star)


def const_value(node: ast.Node | None) -> str | int | float | bool | None:
    """The Python value of a non-NULL literal, else None."""
    if not isinstance(node, ast.A_Const) or node.isnull:
        return None
    val = node.val
    if isinstance(val, ast.String):
        return str(val.sval)
    if isinstance(val, ast.Integer) and val.ival is not None:
        return int(val.ival)
    if isinstance(val, ast.Float) and val.fval is not None:
        return float(val.fval)
    if isinstance(val, ast.Boolean):
        return bool(val.boolval)
    return None


def int_const(node: ast.Node | None) -> int | None:
    """An integer literal's value; None for anything else."""
    value = const_value(node)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def is_null_const(node: ast.Node | None) -> bool:
    """True for the literal NULL."""
    return isinstance(node, ast.A_Const) and bool(node.isnull)


def deparse(node: ast.Node) -> str | None:
    """SQL text of an expression or statement, or None when pglast cannot print it."""
    try:
        return str(RawStream()(node))
    except Exception:  # printers raise assorted errors on odd trees; a missing text is not fatal
        return None


def deparse_unqualified(node: ast.Node) -> str | None:
    """Like `deparse`, with every column reference printed without its table qualifier."""
    with _unqualified(node):
        return deparse(node)


@contextmanager
def _unqualified(node: ast.Node) -> Iterator[None]:
    """Temporarily strip table qualifiers from the column references of a subtree we own."""
    saved: list[tuple[ast.ColumnRef, tuple[ast.Node, ...]]] = []
    for sub in walk(node, is_subquery):
        if isinstance(sub, ast.ColumnRef) and sub.fields and len(sub.fields) > 1:
            saved.append((sub, sub.fields))
            sub.fields = sub.fields[-1:]
    try:
        yield
    finally:
        for ref, fields in saved:
            ref.fields = fields


@lru_cache(maxsize=4096)
def normalize_expression(text: str) -> str | None:
    """A canonical form of an expression text, to compare a query's expression with an index's.

    Qualifiers are dropped, and casts of a bare column nested inside a larger expression are removed, since
    `pg_get_indexdef` shows implicit ones (`lower((email)::text)` for a varchar column).
    """
    parsed = parse(f"SELECT {text}")
    if parsed.error or len(parsed.statements) != 1:
        return None
    stmt = parsed.statements[0].stmt
    if not isinstance(stmt, ast.SelectStmt) or not stmt.targetList or len(stmt.targetList) != 1:
        return None
    target = stmt.targetList[0] if stmt.targetList else None
    if not isinstance(target, ast.ResTarget) or target.val is None:
        return None
    expr: ast.Node = target.val
    _drop_column_casts(expr)
    return deparse_unqualified(expr)


def _drop_column_casts(expr: ast.Node) -> None:
    """Replace `col::type` by `col` below the top of `expr` (in a throwaway tree)."""
    for node in walk(expr):
        for attr in node:
            value = getattr(node, attr)
            if _is_column_cast(value):
                setattr(node, attr, value.arg)
            elif isinstance(value, tuple) and any(_is_column_cast(v) for v in value):
                setattr(node, attr, tuple(v.arg if _is_column_cast(v) else v for v in value))


def _is_column_cast(value: object) -> bool:
    """A cast applied directly to a column reference."""
    return isinstance(value, ast.TypeCast) and isinstance(value.arg, ast.ColumnRef)
