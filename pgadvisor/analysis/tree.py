"""One parsed statement with its resolved scope: what a tree walker reads.

`parse_trees(text, schema)` parses a text once and resolves each of its statements against the catalog. A walker
gets a `StatementTree` and yields `Match`es (`tree.match(detail, extra, at=node)`); it reads PostgreSQL's own
parse tree, never the SQL text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pglast import ast

from pgadvisor.analysis.blocks import Scope
from pgadvisor.analysis.model import Match, PlainValue, Schema
from pgadvisor.analysis.scope import build_scope
from pgadvisor.sqltree import Parsed, parse, walk


@dataclass(frozen=True)
class StatementTree:
    """One top-level statement of a text: its parse tree, its resolved scope and every node in pre-order."""

    stmt: ast.Node
    scope: Scope
    schema: Schema | None = None
    statement: int = 0
    nodes: tuple[ast.Node, ...] = ()

    def match(self, detail: str, extra: Mapping[str, PlainValue], at: object = None) -> Match:
        """A match in this statement, located at a node's offset when the parser recorded one."""
        location = getattr(at, "location", None)
        offset = location if isinstance(location, int) and location >= 0 else None
        return Match(detail, extra, self.statement, offset)

    def all_nodes(self) -> tuple[ast.Node, ...]:
        """Every node of the statement in pre-order (precomputed by the parser when available)."""
        return self.nodes or tuple(walk(self.stmt))


def trees_of(parsed: Parsed, schema: Schema | None = None) -> tuple[StatementTree, ...]:
    """The statements of a parsed text, each resolved against `schema`."""
    out = []
    for index, (raw, nodes) in enumerate(zip(parsed.statements, parsed.nodes, strict=True)):
        if raw.stmt is not None:
            out.append(StatementTree(raw.stmt, build_scope(raw.stmt, schema, index), schema, index, nodes))
    return tuple(out)


def parse_trees(text: str, schema: Schema | None = None) -> tuple[StatementTree, ...]:
    """The statement trees of a text; empty when it does not parse (never raises on bad input)."""
    if not isinstance(text, str):
        return ()
    parsed = parse(text)
    if parsed.error is not None:
        return ()
    try:
        return trees_of(parsed, schema)
    except RecursionError:
        return ()
