"""QR012 query.not_in_subquery: `NOT IN (SELECT ...)`, wrong when the sub-query yields NULL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, threshold
from pgadvisor.checkapi.tree import Block, Match, PlainValue, Relation, Tree, ast, enums, label, names


@dataclass(frozen=True, slots=True)
class NotInThresholds:
    """Keys of [checks.QR012]."""

    min_calls: int = threshold(1, help="Ignore statements called fewer times.")


class NotInSubquery(StatementCheck[NotInThresholds]):
    """Statement uses NOT IN (SELECT ...).

    ## Why it matters
    `x NOT IN (SELECT col ...)` returns no row at all as soon as the sub-query yields one NULL: a silent wrong
    answer. It also cannot become an anti-join: when the sub-query's result does not fit `work_mem` as a hash,
    PostgreSQL re-scans it for every outer row.

    ## Evidence
    The parse tree: `NOT (x IN (SELECT ...))` or `x <> ALL (SELECT ...)` over a user table. The catalog:
    whether the sub-query's column can be NULL (`pg_attribute.attnotnull`, primary key, and the outer side of
    an outer join). A nullable column is a warning (correctness); otherwise info (performance only).

    ## How to fix
    ```sql
    SELECT ... FROM orders o
    WHERE NOT EXISTS (SELECT 1 FROM refunds r WHERE r.order_id = o.id);
    ```
    `NOT EXISTS` ignores NULLs and plans as an anti-join.

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    A nullable column that never holds NULL in practice: add `NOT NULL` to the column, which also documents it.

    ## References
    https://www.postgresql.org/docs/current/functions-subquery.html#FUNCTIONS-SUBQUERY-NOTIN
    https://wiki.postgresql.org/wiki/Don%27t_Do_This#Don.27t_use_NOT_IN
    """

    code = "QR012"
    name = "query.not_in_subquery"
    default_severity = Severity.WARNING
    requires = ("statements", "tables", "columns")
    thresholds = NotInThresholds
    message = "{form} (SELECT {column} FROM {table}): {nulls}: {query}"
    recommendation = "rewrite as NOT EXISTS (SELECT 1 FROM {table} WHERE {column} = <outer value>)"

    def judge(self, wl: Workload, s: Statement, t: NotInThresholds) -> Verdict | None:
        hits = [(m, wl.table(s.database, m.extra.get("table"))) for m in wl.matches(s, not_in_subquery)]
        known = [(m, tb) for m, tb in hits if tb is not None]
        if not known:
            return None
        match, table = max(known, key=lambda h: h[0].extra.get("nullable") is True)
        assert table is not None
        nullable = match.extra.get("nullable")
        nulls = ("the column can be NULL: one NULL makes it return no rows" if nullable is True
                 else "the column is NOT NULL: correct, but no anti-join" if nullable is False
                 else "the column's nullability is unknown")
        return Verdict(
            severity=Severity.WARNING if nullable is True else Severity.INFO,
            evidence={"form": str(match.extra.get("form")), "table": f"{table.schema}.{table.name}",
                      "column": str(match.extra.get("column")),
                      "nullable": nullable if isinstance(nullable, bool) else None},
            context={"nulls": nulls},
        )


def not_in_subquery(tree: Tree) -> Iterator[Match]:
    """`x NOT IN (SELECT ...)` (or `x <> ALL (SELECT ...)`): no rows at all once the sub-query yields a NULL."""
    children = {id(link): child for block in tree.scope.blocks for link, child in block.sublinks}
    for node in tree.all_nodes():
        link, form = _negated_sublink(node)
        if link is not None:
            yield _not_in_match(tree, link, children.get(id(link)), form)


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


def _not_in_match(tree: Tree, link: ast.SubLink, child: Block | None, form: str) -> Match:
    """Describe the sub-query's output column: its table and whether it can be NULL."""
    column: tuple[Relation, str] | None = None
    stmt = child.node if child is not None else None
    if isinstance(stmt, ast.SelectStmt) and stmt.targetList:
        first = stmt.targetList[0]
        if isinstance(first, ast.ResTarget) and isinstance(first.val, ast.ColumnRef):
            column = tree.scope.base_column(first.val)
    extra: dict[str, PlainValue] = {
        "form": form,
        "column": column[1] if column else None,
        "table": label(column[0]) if column else None,
        "nullable": _nullable(column),
        "outer": tree.scope.text(link.testexpr) if link.testexpr is not None else None,
    }
    what = f"{extra['table']}.{extra['column']}" if column else "the sub-query's output"
    return tree.match(f"{form} (SELECT ...) over {what}", extra, link)


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
