"""`analyze`: one statement text in, one frozen `StatementAnalysis` out; never raises on bad input."""

from __future__ import annotations

from pglast import ast

from pgadvisor.analysis.blocks import Scope
from pgadvisor.analysis.model import Schema, StatementAnalysis, TableRef, TableScan
from pgadvisor.analysis.scans import build_scans
from pgadvisor.analysis.tree import StatementTree, trees_of
from pgadvisor.sqltree import Parsed, StatementKind, fingerprint, parse, statement_kind


def analyze(query: str, schema: Schema | None = None) -> StatementAnalysis:
    """Parse a statement text (as pg_stat_statements stores it) and return what it does and how.

    Bad input never raises: a text that is not SQL, is truncated, or nests too deeply comes back with
    `parse_error` set. `schema` lets unqualified names resolve to real tables and columns.
    """
    return analyze_trees(query, schema)[0]


def analyze_trees(
    query: str, schema: Schema | None = None
) -> tuple[StatementAnalysis, tuple[StatementTree, ...]]:
    """`analyze`, and the statement trees it read (empty when the text was not analysed), from one parse."""
    if not isinstance(query, str):
        return StatementAnalysis(kind="other", parse_error=f"expected str, got {type(query).__name__}"), ()
    parsed = parse(query)
    if parsed.error is not None:
        return StatementAnalysis(kind="other", parse_error=parsed.error, error_position=parsed.position), ()
    if not parsed.statements:
        return StatementAnalysis(kind="other", parse_error="no statement in text"), ()
    try:
        trees = trees_of(parsed, schema)
        return _analyze(query, parsed, trees, schema), trees
    except RecursionError:
        return StatementAnalysis(kind="other", parse_error="statement too complex to analyse"), ()


def _analyze(
    query: str, parsed: Parsed, trees: tuple[StatementTree, ...], schema: Schema | None
) -> StatementAnalysis:
    """Analyse every statement of a parsed text and merge the results."""
    tables: list[TableRef] = []
    scans: list[TableScan] = []
    kinds: set[StatementKind] = set()
    for tree in trees:
        kinds.add(statement_kind(tree.stmt))
        tables.extend(_tables(tree.nodes, tree.scope, schema))
        scans.extend(build_scans(tree.scope))
    return StatementAnalysis(
        kind=kinds.pop() if len(kinds) == 1 else "other",
        fingerprint=fingerprint(query),
        statement_count=len(parsed.statements),
        tables=tuple(dict.fromkeys(tables)),
        scans=tuple(scans),
        max_param=parsed.max_param,
    )


def _tables(nodes: tuple[ast.Node, ...], scope: Scope, schema: Schema | None) -> list[TableRef]:
    """Base tables referenced: from the resolved blocks, or for utility statements every table name."""
    if scope.blocks:
        return [rel.table for block in scope.blocks for rel in block.relations if rel.table is not None]
    found: list[TableRef] = []
    for node in nodes:
        if isinstance(node, ast.RangeVar) and node.relname:
            table = schema.lookup(node.relname, node.schemaname) if schema is not None else None
            resolved = node.schemaname or (table.schema if table is not None else None)
            alias = node.alias.aliasname if node.alias is not None else None
            found.append(TableRef(resolved, node.relname, alias))
    return found
