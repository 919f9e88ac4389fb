"""QR021 query.or_chain: `col = $1 OR col = $2 OR ...` on one column."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, ident, threshold
from pgadvisor.checkapi.tree import (
    Match,
    PlainValue,
    Scope,
    Tree,
    ast,
    bare_column,
    enums,
    is_star,
    label,
    names,
    operator,
    walk,
)


@dataclass(frozen=True, slots=True)
class OrChainThresholds:
    """Keys of [checks.QR021]."""

    min_terms: int = threshold(3, help="OR-ed equalities on one column from which a statement is reported (2 or more).")
    min_calls: int = threshold(1, help="Ignore statements called fewer times.")

    def __post_init__(self) -> None:
        if self.min_terms < 2:
            raise ValueError("min_terms must be at least 2")


class OrChain(StatementCheck[OrChainThresholds]):
    """Statement ORs equalities on one column.

    ## Why it matters
    `status = $1 OR status = $2 OR status = $3` is planned as a BitmapOr of one index probe per term, or a
    sequential scan; each list length is also its own pg_stat_statements entry. `status = ANY($1)` is one
    probe with one plan for every length.

    ## Evidence
    The parse tree: an OR whose arguments include at least `min_terms` equalities between the same column (of
    a user table) and values that read no column. The statistics in the evidence.

    ## How to fix
    ```sql
    SELECT ... FROM orders WHERE status = ANY($1::text[]);
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Generated SQL where the list is always two or three fixed values: harmless but still clearer as `IN`.

    ## References
    https://www.postgresql.org/docs/current/functions-comparisons.html#FUNCTIONS-COMPARISONS-ANY-SOME
    """

    code = "QR021"
    name = "query.or_chain"
    default_severity = Severity.INFO
    requires = ("statements", "tables")
    thresholds = OrChainThresholds
    message = "{terms} OR-ed equalities on {table}.{column}: {query}"
    recommendation = "write {column_sql} = ANY($1) (one array parameter) or IN (...)"

    def judge(self, wl: Workload, s: Statement, t: OrChainThresholds) -> Verdict | None:
        for match in wl.matches(s, or_chains):
            terms = match.extra.get("terms")
            table = wl.table(s.database, match.extra.get("table"))
            if table is None or not isinstance(terms, int) or terms < t.min_terms:
                continue
            column = str(match.extra.get("column"))
            return Verdict(evidence={"table": f"{table.schema}.{table.name}", "column": column, "terms": terms},
                           context={"column_sql": ident(column)})
        return None


def or_chains(tree: Tree) -> Iterator[Match]:
    """`col = $1 OR col = $2 ...`: each column OR-ed in equalities at least twice in one OR, with the count
    (`terms`); the check keeps those of `min_terms` or more."""
    for node in tree.all_nodes():
        if not isinstance(node, ast.BoolExpr) or node.boolop != enums.BoolExprType.OR_EXPR:
            continue
        counts: dict[tuple[object, ...], list[ast.ColumnRef]] = {}
        for arg in node.args or ():
            ref = _equality_column(arg)
            if ref is not None:
                counts.setdefault(_column_key(tree.scope, ref), []).append(ref)
        for refs in counts.values():
            if len(refs) < 2:
                continue
            column = bare_column(tree.scope, refs[0])
            base = tree.scope.origin(*column) if column else None
            name = names(refs[0].fields)[-1]
            extra: dict[str, PlainValue] = {
                "column": name,
                "terms": len(refs),
                "table": label(base[0]) if base else None,
            }
            yield tree.match(f"{len(refs)} OR-ed equalities on {name}", extra, node)


def _equality_column(arg: ast.Node) -> ast.ColumnRef | None:
    """The column of a `col = <value>` term whose value reads no column."""
    if not isinstance(arg, ast.A_Expr) or arg.kind != enums.A_Expr_Kind.AEXPR_OP or operator(arg) != "=":
        return None
    for col, value in ((arg.lexpr, arg.rexpr), (arg.rexpr, arg.lexpr)):
        if (
            isinstance(col, ast.ColumnRef)
            and not is_star(col)
            and isinstance(value, ast.Node)
            and not any(isinstance(n, ast.ColumnRef) for n in walk(value))
        ):
            return col
    return None


def _column_key(scope: Scope, ref: ast.ColumnRef) -> tuple[object, ...]:
    """Identity of a column: its bound relation and name, else its spelling."""
    bound = scope.binding(ref)
    if bound is not None and bound.relation is not None:
        return (id(bound.relation), bound.column)
    return ("text", *names(ref.fields))
