"""Query blocks, the relations each one sees, and which relation every column reference belongs to.

A *block* is one SELECT (or the body of an UPDATE/DELETE/INSERT): its FROM items become relations, and every
column reference in its expressions is bound to one of them, or to a relation of an enclosing block for
correlated references. A name that more than one relation could provide stays unbound: the relations that
could provide it are kept as `candidates`, and nothing is guessed.

Columns are known from the `Schema` for base tables and from the select list for subqueries and CTEs;
without a schema a base table's columns are unknown, so an unqualified name binds only when one relation
is in scope.

The classes (`Block`, `Relation`, `Scope` ...) and the lookups that need no builder are in
`pgadvisor.analysis.blocks`.
"""

from __future__ import annotations

from collections.abc import Mapping

from pglast import ast, enums

from pgadvisor.analysis.blocks import (
    Binding,
    Block,
    BlockRole,
    Cte,
    JoinQual,
    Outputs,
    Relation,
    Scope,
    find_relation,
    sort_target,
    star_relations,
)
from pgadvisor.analysis.model import Schema, TableRef
from pgadvisor.sqltree import (
    func_name,
    is_star,
    is_subquery,
    names,
    nodes_in,
    returning,
    walk,
)

__all__ = ["build_scope"]

_OUTER_JOINS = {
    enums.JoinType.JOIN_LEFT: ("right",),
    enums.JoinType.JOIN_RIGHT: ("left",),
    enums.JoinType.JOIN_FULL: ("left", "right"),
}


def build_scope(stmt: ast.Node, schema: Schema | None, statement: int = 0) -> Scope:
    """Build the blocks and bindings of a top-level statement."""
    builder = _Builder(schema, statement)
    builder.statement(stmt)
    return Scope(builder.blocks, builder.bindings)


class _Builder:
    """Walks a statement once, creating blocks and binding column references."""

    def __init__(self, schema: Schema | None, statement: int) -> None:
        self.schema = schema
        self.statement_index = statement
        self.blocks: list[Block] = []
        self.bindings: dict[int, Binding] = {}

    # --- statements --------------------------------------------------------------------------------

    def statement(self, stmt: ast.Node) -> None:
        """Dispatch on the top-level statement type; utility statements wrap at most one query."""
        if isinstance(stmt, ast.SelectStmt | ast.InsertStmt | ast.UpdateStmt | ast.DeleteStmt):
            self.query(stmt, None, {})
        elif isinstance(stmt, ast.ExplainStmt | ast.CreateTableAsStmt | ast.DeclareCursorStmt):
            if stmt.query is not None:
                self.statement(stmt.query)
        elif isinstance(stmt, ast.CopyStmt | ast.ViewStmt) and stmt.query is not None:
            self.statement(stmt.query)

    def query(self, node: ast.Node, parent: Block | None, ctes: Mapping[str, Cte]) -> Block | None:
        """Build the block(s) of a SELECT or data-modifying statement."""
        if isinstance(node, ast.SelectStmt):
            return self.select(node, parent, ctes)
        if isinstance(node, ast.UpdateStmt | ast.DeleteStmt):
            return self.modify(node, parent, ctes)
        if isinstance(node, ast.InsertStmt):
            return self.insert(node, parent, ctes)
        return None

    def new_block(self, node: ast.Node, parent: Block | None, ctes: Mapping[str, Cte], role: BlockRole) -> Block:
        """Register a new block."""
        block = Block(node, parent, ctes, len(self.blocks), role, self.statement_index)
        self.blocks.append(block)
        return block

    def select(self, stmt: ast.SelectStmt, parent: Block | None, ctes: Mapping[str, Cte]) -> Block:
        """A SELECT: set operation, VALUES, or a plain block."""
        ctes = self.with_clause(stmt.withClause, parent, ctes)
        if stmt.op != enums.SetOperation.SETOP_NONE:
            return self.set_operation(stmt, parent, ctes)
        if stmt.valuesLists:
            block = self.new_block(stmt, parent, ctes, "values")
            self.expressions(block, stmt.valuesLists)
            width = len(stmt.valuesLists[0]) if isinstance(stmt.valuesLists[0], tuple) else 0
            block.outputs = tuple((f"column{i + 1}", None) for i in range(width))
            return block
        block = self.new_block(stmt, parent, ctes, "select")
        for i, item in enumerate(stmt.fromClause or ()):
            self.from_item(block, item, i)
        self.join_quals(block)
        aliases = _sort_aliases(stmt)
        for part in (
            stmt.targetList,
            stmt.whereClause,
            stmt.groupClause,
            stmt.havingClause,
            stmt.windowClause,
            stmt.distinctClause,
            stmt.limitOffset,
            stmt.limitCount,
        ):
            self.expressions(block, part)
        for sort in stmt.sortClause or ():
            if isinstance(sort, ast.SortBy) and id(sort.node) not in aliases:
                self.expressions(block, sort.node)
        block.outputs = self.outputs(block, stmt.targetList)
        return block

    def set_operation(self, stmt: ast.SelectStmt, parent: Block | None, ctes: Mapping[str, Cte]) -> Block:
        """UNION / INTERSECT / EXCEPT: its ORDER BY names output columns, so they are not bound."""
        block = self.new_block(stmt, parent, ctes, "setop")
        left = self.select(stmt.larg, parent, ctes) if stmt.larg is not None else None
        if stmt.rarg is not None:
            self.select(stmt.rarg, parent, ctes)
        for part in (stmt.limitOffset, stmt.limitCount):
            self.expressions(block, part)
        block.outputs = left.outputs if left is not None else None
        return block

    def modify(self, stmt: ast.UpdateStmt | ast.DeleteStmt, parent: Block | None, ctes: Mapping[str, Cte]) -> Block:
        """UPDATE ... FROM / DELETE ... USING: the target table is the block's first relation."""
        ctes = self.with_clause(stmt.withClause, parent, ctes)
        role: BlockRole = "update" if isinstance(stmt, ast.UpdateStmt) else "delete"
        block = self.new_block(stmt, parent, ctes, role)
        if stmt.relation is not None:
            self.range_var(block, stmt.relation, 0, target=True)
        extra = stmt.fromClause if isinstance(stmt, ast.UpdateStmt) else stmt.usingClause
        for i, item in enumerate(extra or ()):
            self.from_item(block, item, i + 1)
        self.join_quals(block)
        if isinstance(stmt, ast.UpdateStmt):
            self.expressions(block, _target_values(stmt.targetList))
        self.expressions(block, stmt.whereClause)
        self.expressions(block, returning(stmt))
        block.outputs = self.outputs(block, returning(stmt))
        return block

    def insert(self, stmt: ast.InsertStmt, parent: Block | None, ctes: Mapping[str, Cte]) -> Block:
        """INSERT: its source query is a block of its own; ON CONFLICT and RETURNING see the target."""
        ctes = self.with_clause(stmt.withClause, parent, ctes)
        if stmt.selectStmt is not None:
            self.query(stmt.selectStmt, parent, ctes)
        block = self.new_block(stmt, parent, ctes, "insert")
        if stmt.relation is not None:
            self.range_var(block, stmt.relation, 0, target=True)
        conflict = stmt.onConflictClause
        if conflict is not None:
            block.relations.append(Relation("excluded", "other", block, 1))
            self.expressions(block, conflict.whereClause)
            self.expressions(block, _target_values(conflict.targetList))
        self.expressions(block, returning(stmt))
        block.outputs = self.outputs(block, returning(stmt))
        return block

    def with_clause(
        self, clause: ast.WithClause | None, parent: Block | None, ctes: Mapping[str, Cte]
    ) -> Mapping[str, Cte]:
        """Register the CTEs of a WITH clause, each visible to the ones after it (and itself if RECURSIVE)."""
        if clause is None:
            return ctes
        visible = dict(ctes)
        for cte in clause.ctes or ():
            if not isinstance(cte, ast.CommonTableExpr) or cte.ctename is None:
                continue
            declared = names(cte.aliascolnames) or None
            if clause.recursive:
                visible[cte.ctename] = Cte(cte.ctename, None, declared)
            inner = self.query(cte.ctequery, parent, dict(visible)) if cte.ctequery is not None else None
            columns = declared or (inner.output_names() if inner is not None else None)
            inlinable = not clause.recursive and cte.ctematerialized != enums.CTEMaterialize.CTEMaterializeAlways
            visible[cte.ctename] = Cte(cte.ctename, inner, columns, inlinable)
        return visible

    # --- FROM items --------------------------------------------------------------------------------------

    def from_item(self, block: Block, item: ast.Node, component: int) -> list[Relation]:
        """Add the relations of one FROM item; returns them."""
        if isinstance(item, ast.RangeVar):
            return [self.range_var(block, item, component)]
        if isinstance(item, ast.JoinExpr):
            return self.join(block, item, component)
        if isinstance(item, ast.RangeSubselect):
            return [self.subselect(block, item, component)]
        if isinstance(item, ast.RangeFunction):
            return [self.function(block, item, component)]
        if isinstance(item, ast.RangeTableSample) and isinstance(item.relation, ast.RangeVar):
            self.expressions(block, item.args)
            self.expressions(block, item.repeatable)
            return [self.range_var(block, item.relation, component)]
        self.expressions(block, item)
        return [self.add(block, Relation(_alias(item) or "?", "other", block, component, source=item))]

    def add(self, block: Block, relation: Relation) -> Relation:
        """Append a relation to a block."""
        block.relations.append(relation)
        return relation

    def range_var(self, block: Block, rv: ast.RangeVar, component: int, *, target: bool = False) -> Relation:
        """A table name: a visible CTE when unqualified and so named, else a base table."""
        alias = rv.alias.aliasname if rv.alias is not None else None
        relname = rv.relname or "?"
        name = alias or relname
        cte = block.ctes.get(relname) if rv.schemaname is None else None
        if cte is not None:
            cte.references += 1
            rel = Relation(name, "cte", block, component, columns=cte.columns, inner=cte.block, cte=cte)
            return self.add(block, rel)
        tabledef = self.schema.lookup(relname, rv.schemaname) if self.schema is not None else None
        schema = rv.schemaname or (tabledef.schema if tabledef is not None else None)
        columns = tabledef.column_names() if tabledef is not None else None
        if rv.alias is not None and rv.alias.colnames:
            columns = None  # renamed columns: do not bind by catalog names
        ref = TableRef(schema, relname, alias)
        rel = Relation(name, "table", block, component, ref, tabledef, columns, target=target)
        return self.add(block, rel)

    def join(self, block: Block, join: ast.JoinExpr, component: int) -> list[Relation]:
        """Both sides of a JOIN; the condition is bound once every relation of the block is known."""
        left = self.from_item(block, join.larg, component) if join.larg is not None else []
        right = self.from_item(block, join.rarg, component) if join.rarg is not None else []
        jointype = join.jointype if join.jointype is not None else enums.JoinType.JOIN_INNER
        for side in _OUTER_JOINS.get(jointype, ()):
            for rel in left if side == "left" else right:
                rel.nullable = True
        using = names(join.usingClause)
        if join.isNatural:
            using = _common_columns(left, right)
        block.joins.append(JoinQual(join.quals, using, jointype, tuple(left), tuple(right)))
        for column in using:
            source = right if jointype == enums.JoinType.JOIN_RIGHT else left
            provider = next((r for r in source if r.may_have(column)), None)
            if provider is not None:
                block.using[column] = provider
        return left + right

    def join_quals(self, block: Block) -> None:
        """Bind the ON conditions of a block's joins."""
        for join in block.joins:
            self.expressions(block, join.quals)

    def subselect(self, block: Block, item: ast.RangeSubselect, component: int) -> Relation:
        """A derived table; LATERAL ones see the block's earlier relations."""
        parent = block if item.lateral else block.parent
        subquery = item.subquery
        inner = self.select(subquery, parent, block.ctes) if isinstance(subquery, ast.SelectStmt) else None
        declared = names(item.alias.colnames) if item.alias is not None else ()
        columns = _rename(inner.output_names() if inner is not None else None, declared)
        return self.add(
            block,
            Relation(_alias(item) or "?subquery", "subquery", block, component, columns=columns, inner=inner),
        )

    def function(self, block: Block, item: ast.RangeFunction, component: int) -> Relation:
        """A set-returning function in FROM; its columns are known only when declared."""
        self.expressions(block, item.functions)
        fname = ""
        for entry in item.functions or ():
            if isinstance(entry, tuple) and entry and isinstance(entry[0], ast.FuncCall):
                fname = func_name(entry[0])
                break
        declared = names(item.alias.colnames) if item.alias is not None else ()
        columns_from_def = tuple(c.colname for c in item.coldeflist or () if isinstance(c, ast.ColumnDef) and c.colname)
        name = _alias(item) or fname or "?function"
        columns = declared or columns_from_def or None
        return self.add(block, Relation(name, "function", block, component, columns=columns, source=item))

    # --- expressions -------------------------------------------------------------------------------------

    def expressions(self, block: Block, expr: ast.Node | tuple[object, ...] | None) -> None:
        """Bind the column references of an expression (or tuple of them); build blocks for sub-queries."""
        if expr is None:
            return
        roots = [expr] if isinstance(expr, ast.Node) else list(nodes_in(expr))
        for root in roots:
            for node in walk(root, is_subquery):
                if isinstance(node, ast.ColumnRef):
                    self.bind(block, node)
                elif isinstance(node, ast.SubLink):
                    self.expressions(block, node.testexpr)
                    if isinstance(node.subselect, ast.SelectStmt):
                        child = self.select(node.subselect, block, block.ctes)
                        block.sublinks.append((node, child))

    def bind(self, block: Block, ref: ast.ColumnRef) -> None:
        """Record which relation a column reference reads."""
        if is_star(ref):
            return
        parts = names(ref.fields)
        if not parts:
            return
        column = parts[-1]
        scope: Block | None = block
        while scope is not None:
            found = self.lookup(scope, parts[:-1], column)
            if found is not None:
                self.bindings[id(ref)] = found
                return
            scope = scope.parent
        self.bindings[id(ref)] = Binding(column, None)

    def lookup(self, block: Block, qualifier: tuple[str, ...], column: str) -> Binding | None:
        """Find `column` (qualified or not) among one block's relations; None to look further out."""
        if block.role == "setop":
            return None
        if qualifier:
            rel = find_relation(block, qualifier)
            return Binding(column, rel) if rel is not None else None
        candidates = tuple(r for r in block.relations if r.may_have(column))
        if len(candidates) == 1:
            return Binding(column, candidates[0])
        if len(candidates) > 1:
            merged = block.using.get(column)
            return Binding(column, merged) if merged is not None else Binding(column, None, candidates)
        return None

    def outputs(self, block: Block, targets: tuple[ast.Node, ...] | None) -> Outputs | None:
        """Output columns of a select list (or RETURNING), expanding `*` when the columns are known."""
        result: list[tuple[str, ast.Node | None]] = []
        for target in targets or ():
            if not isinstance(target, ast.ResTarget):
                continue
            val = target.val
            if isinstance(val, ast.ColumnRef) and is_star(val):
                expanded = self.expand_star(block, val)
                if expanded is None:
                    return None
                result.extend(expanded)
            else:
                result.append((target.name or _output_name(val), val))
        return tuple(result)

    def expand_star(self, block: Block, ref: ast.ColumnRef) -> list[tuple[str, ast.Node | None]] | None:
        """The columns a `*` or `t.*` produces, as synthetic column references bound to their relation."""
        result: list[tuple[str, ast.Node | None]] = []
        for rel in star_relations(block, ref):
            if rel.columns is None:
                return None
            for column in rel.columns:
                synthetic = ast.ColumnRef(fields=(ast.String(sval=rel.name), ast.String(sval=column)))
                self.bindings[id(synthetic)] = Binding(column, rel)
                result.append((column, synthetic))
        return result


def _sort_aliases(stmt: ast.SelectStmt) -> set[int]:
    """ids of ORDER BY nodes that name a select-list alias or position (not bound as columns)."""
    return {
        id(s.node)
        for s in stmt.sortClause or ()
        if isinstance(s, ast.SortBy) and sort_target(stmt, s.node) is not s.node
    }


def _alias(item: ast.Node) -> str | None:
    """The alias name of a FROM item, if it has one."""
    alias = getattr(item, "alias", None)
    return alias.aliasname if isinstance(alias, ast.Alias) else None


def _rename(columns: tuple[str, ...] | None, declared: tuple[str, ...]) -> tuple[str, ...] | None:
    """Apply a column alias list (`AS s(a, b)`) over the first output columns."""
    if not declared:
        return columns
    if columns is None:
        return None
    return declared + columns[len(declared) :]


def _common_columns(left: list[Relation], right: list[Relation]) -> tuple[str, ...]:
    """Columns a NATURAL join matches, when both sides' columns are known."""
    lcols = [c for r in left for c in r.columns or ()]
    rcols = {c for r in right for c in r.columns or ()}
    return tuple(c for c in dict.fromkeys(lcols) if c in rcols)


def _output_name(val: ast.Node | None) -> str:
    """The name PostgreSQL gives an unnamed output column."""
    if isinstance(val, ast.ColumnRef):
        parts = names(val.fields)
        return parts[-1] if parts else "?column?"
    if isinstance(val, ast.FuncCall):
        return func_name(val)
    if isinstance(val, ast.TypeCast):
        return _output_name(val.arg) if not isinstance(val.arg, ast.A_Const) else "?column?"
    return "?column?"


def _target_values(targets: tuple[ast.Node, ...] | None) -> tuple[ast.Node, ...]:
    """The value expressions of SET / ON CONFLICT DO UPDATE targets. `SET (a, b) = (SELECT ...)` repeats
    the source in each column's target: it is taken from the first one only."""
    return tuple(
        t.val
        for t in targets or ()
        if isinstance(t, ast.ResTarget)
        and t.val is not None
        and not (isinstance(t.val, ast.MultiAssignRef) and t.val.colno != 1)
    )
