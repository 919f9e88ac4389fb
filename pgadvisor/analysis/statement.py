"""`analyze`: one statement text in, one frozen `StatementAnalysis` out; never raises on bad input."""

from __future__ import annotations

from pglast import ast

from pgadvisor.analysis.model import Pattern, Schema, StatementAnalysis, StatementKind, TableRef, TableScan
from pgadvisor.analysis.parse import Parsed, fingerprint, parse, statement_kind
from pgadvisor.analysis.patterns import DETECTORS, Context, Options
from pgadvisor.analysis.scans import build_scans
from pgadvisor.analysis.scope import Scope, build_scope


def analyze(query: str, schema: Schema | None = None, *, options: Options | None = None) -> StatementAnalysis:
    """Parse a statement text (as pg_stat_statements stores it) and return what it does and how.

    Bad input never raises: a text that is not SQL, is truncated, or nests too deeply comes back with
    `parse_error` set. `schema` lets unqualified names resolve to real tables and columns.
    """
    if not isinstance(query, str):
        return StatementAnalysis(kind="other", parse_error=f"expected str, got {type(query).__name__}")
    parsed = parse(query)
    if parsed.error is not None:
        return StatementAnalysis(kind="other", parse_error=parsed.error, error_position=parsed.position)
    if not parsed.statements:
        return StatementAnalysis(kind="other", parse_error="no statement in text")
    try:
        return _analyze(query, parsed, schema, options or Options())
    except RecursionError:
        return StatementAnalysis(kind="other", parse_error="statement too complex to analyse")


def _analyze(query: str, parsed: Parsed, schema: Schema | None, options: Options) -> StatementAnalysis:
    """Analyse every statement of a parsed text and merge the results."""
    tables: list[TableRef] = []
    patterns: list[Pattern] = []
    scans: list[TableScan] = []
    kinds: set[StatementKind] = set()
    for index, (raw, nodes) in enumerate(zip(parsed.statements, parsed.nodes, strict=True)):
        stmt = raw.stmt
        if stmt is None:
            continue
        kinds.add(statement_kind(stmt))
        scope = build_scope(stmt, schema, index)
        tables.extend(_tables(nodes, scope, schema))
        ctx = Context(stmt, scope, schema, index, options, nodes)
        patterns.extend(_patterns(ctx))
        scans.extend(build_scans(scope))
    return StatementAnalysis(
        kind=kinds.pop() if len(kinds) == 1 else "other",
        fingerprint=fingerprint(query),
        statement_count=len(parsed.statements),
        tables=tuple(dict.fromkeys(tables)),
        patterns=tuple(patterns),
        scans=tuple(scans),
        max_param=parsed.max_param,
    )


def _patterns(ctx: Context) -> list[Pattern]:
    """Run every detector."""
    return [pattern for detector in DETECTORS.values() for pattern in detector(ctx)]


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
