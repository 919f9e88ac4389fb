"""The data a scope is made of: query blocks, the relations each one sees, and column bindings.

`pgadvisor.analysis.scope` builds them from a parse tree (`build_scope`); this module holds the classes and
the lookups over them that need no builder. The names are importable from `pgadvisor.analysis.scope` too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pglast import ast, enums

from pgadvisor.analysis.model import TableDef, TableRef
from pgadvisor.sqltree import deparse_unqualified, names, walk

__all__ = [
    "Binding",
    "Block",
    "BlockRole",
    "Cte",
    "JoinQual",
    "Outputs",
    "RelKind",
    "Relation",
    "Scope",
    "find_relation",
    "sort_target",
    "star_relations",
]

RelKind = Literal["table", "cte", "subquery", "function", "values", "other"]
BlockRole = Literal["select", "setop", "values", "update", "delete", "insert"]
Outputs = tuple[tuple[str, ast.Node | None], ...]


@dataclass(eq=False)
class Relation:
    """One FROM item as a block sees it."""

    name: str
    kind: RelKind
    block: Block
    component: int
    table: TableRef | None = None
    tabledef: TableDef | None = None
    columns: tuple[str, ...] | None = None
    inner: Block | None = None
    nullable: bool = False
    target: bool = False
    cte: Cte | None = None
    source: ast.Node | None = None

    def may_have(self, column: str) -> bool:
        """Could this relation provide `column`? (True when its columns are unknown.)"""
        return self.columns is None or column in self.columns


@dataclass(eq=False)
class JoinQual:
    """A JOIN's ON condition (or USING columns), with the relations on each side."""

    quals: ast.Node | None
    using: tuple[str, ...]
    jointype: enums.JoinType
    left: tuple[Relation, ...]
    right: tuple[Relation, ...]


@dataclass(eq=False)
class Block:
    """One query block."""

    node: ast.Node
    parent: Block | None
    ctes: Mapping[str, Cte]
    index: int
    role: BlockRole
    statement: int
    relations: list[Relation] = field(default_factory=list)
    joins: list[JoinQual] = field(default_factory=list)
    outputs: Outputs | None = ()
    using: dict[str, Relation] = field(default_factory=dict)
    sublinks: list[tuple[ast.SubLink, Block]] = field(default_factory=list)

    def base_relations(self) -> list[Relation]:
        """The relations that are base tables."""
        return [r for r in self.relations if r.kind == "table"]

    def data_relations(self) -> list[Relation]:
        """Relations that hold rows (tables, subqueries, CTEs), as opposed to functions and VALUES."""
        return [r for r in self.relations if r.kind in ("table", "subquery", "cte")]

    def output_names(self) -> tuple[str, ...] | None:
        """Output column names, or None when a `*` over unknown columns hides them."""
        return None if self.outputs is None else tuple(name for name, _ in self.outputs)


@dataclass(eq=False)
class Cte:
    """A common table expression visible by name."""

    name: str
    block: Block | None
    columns: tuple[str, ...] | None
    inlinable: bool = False
    references: int = 0


@dataclass(frozen=True, eq=False)
class Binding:
    """Where a column reference points: one relation, or none (then `candidates` may list several)."""

    column: str
    relation: Relation | None
    candidates: tuple[Relation, ...] = ()


@dataclass(eq=False)
class Scope:
    """The blocks of one statement and the binding of each of its column references."""

    blocks: list[Block]
    bindings: dict[int, Binding]
    texts: dict[int, str | None] = field(default_factory=dict)

    def text(self, node: ast.Node) -> str | None:
        """The unqualified SQL text of an expression of this statement (deparsed once, then remembered)."""
        key = id(node)
        if key not in self.texts:
            self.texts[key] = deparse_unqualified(node)
        return self.texts[key]

    def binding(self, ref: ast.ColumnRef) -> Binding | None:
        """The binding of a column reference of this statement."""
        return self.bindings.get(id(ref))

    def base_column(self, ref: ast.ColumnRef) -> tuple[Relation, str] | None:
        """The base-table relation and column a reference reads, following subqueries and CTEs."""
        bound = self.bindings.get(id(ref))
        if bound is None or bound.relation is None:
            return None
        return self.origin(bound.relation, bound.column)

    def origin(
        self, relation: Relation, column: str, depth: int = 0, *, pushdown: bool = False
    ) -> tuple[Relation, str] | None:
        """Follow a relation's column down to the base table column it copies, if any.

        With `pushdown`, only through sub-queries and CTEs that PostgreSQL flattens into the outer query, so
        that a condition on the outer column is really a condition on the base table's scan.
        """
        if relation.kind == "table":
            return relation, column
        inner = relation.inner
        if inner is None or inner.outputs is None or depth > 32:
            return None
        if pushdown and not _flattened(relation):
            return None
        if relation.columns is not None and column in relation.columns:
            position = relation.columns.index(column)
            if position < len(inner.outputs):
                expr = inner.outputs[position][1]
                if isinstance(expr, ast.ColumnRef):
                    bound = self.bindings.get(id(expr))
                    if bound is not None and bound.relation is not None:
                        return self.origin(bound.relation, bound.column, depth + 1, pushdown=pushdown)
        return None

    def relations_in(self, expr: ast.Node | None, block: Block) -> set[Relation]:
        """Relations of `block` an expression reads (through nested subqueries too; ambiguous names count
        for each relation that could provide them)."""
        found: set[Relation] = set()
        for node in walk(expr):
            if isinstance(node, ast.ColumnRef):
                bound = self.bindings.get(id(node))
                if bound is None:
                    continue
                rels = (bound.relation,) if bound.relation is not None else bound.candidates
                found.update(r for r in rels if r.block is block)
        return found


def star_relations(block: Block, ref: ast.ColumnRef) -> list[Relation]:
    """The relations a `*` (all of the block's) or `t.*` (one) expands."""
    qualifier = names(ref.fields)
    if not qualifier:
        return list(block.relations)
    rel = find_relation(block, qualifier)
    return [rel] if rel is not None else []


def sort_target(stmt: ast.SelectStmt, node: ast.Node | None) -> ast.Node | None:
    """The expression an ORDER BY item sorts on: select-list aliases and ordinals are replaced by the
    select-list expression, as PostgreSQL does."""
    targets = [t for t in stmt.targetList or () if isinstance(t, ast.ResTarget)]
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.Integer):
        position = int(node.val.ival or 0)
        return targets[position - 1].val if 0 < position <= len(targets) else None
    if isinstance(node, ast.ColumnRef) and len(node.fields or ()) == 1:
        parts = names(node.fields)
        for target in targets:
            if parts and target.name == parts[0]:
                return target.val
    return node


def _flattened(relation: Relation) -> bool:
    """True when the planner pulls a sub-query / CTE up into the outer query, so outer conditions on its
    columns become conditions on its tables: a plain SELECT without grouping, DISTINCT, LIMIT or windows,
    and for a CTE one reference, neither RECURSIVE nor MATERIALIZED."""
    inner = relation.inner
    stmt = inner.node if inner is not None else None
    if inner is None or inner.role != "select" or not isinstance(stmt, ast.SelectStmt):
        return False
    if relation.cte is not None and (not relation.cte.inlinable or relation.cte.references != 1):
        return False
    blockers = (stmt.groupClause, stmt.havingClause, stmt.distinctClause, stmt.limitCount, stmt.limitOffset)
    return not any(blockers) and not stmt.windowClause and not stmt.lockingClause


def find_relation(block: Block, qualifier: tuple[str, ...]) -> Relation | None:
    """The relation a qualifier (`t`, `s.t`, `db.s.t`) names in a block."""
    name = qualifier[-1]
    schema = qualifier[-2] if len(qualifier) >= 2 else None
    for rel in block.relations:
        if schema is None and rel.name == name:
            return rel
        if (
            schema is not None
            and rel.table is not None
            and rel.table.alias is None
            and rel.table.name == name
            and rel.table.schema == schema
        ):
            return rel
    return None
