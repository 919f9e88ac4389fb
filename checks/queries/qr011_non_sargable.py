"""QR011 query.non_sargable: a function, cast or operator around a filtered column hides it from plain indexes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, ident, threshold
from pgadvisor.checkapi.tree import (
    COMPARISONS,
    Block,
    Match,
    PlainValue,
    Relation,
    TableDef,
    Tree,
    ast,
    block_columns,
    block_quals,
    enums,
    func_name,
    is_subquery,
    label,
    names,
    normalize_expression,
    operator,
    reads,
    walk,
)


@dataclass(frozen=True, slots=True)
class NonSargableThresholds:
    """Keys of [checks.QR011]."""

    min_calls: int = threshold(1, help="Ignore statements called fewer times.")
    warning_rows: int = threshold(10_000, help="Tables this large (estimated rows) ...")
    warning_scan_fraction: float = threshold(
        0.5, help="... that the statement reads at least this fraction of per call (a full scan) make a warning.")


class NonSargable(StatementCheck[NonSargableThresholds]):
    """Statement filters on an expression of a column that no index matches.

    ## Why it matters
    `WHERE lower(email) = $1`, `WHERE created_at::date = $1` or `WHERE id + 0 = $1` compare an expression, not
    the column: an index on `email` cannot serve it and the table is read in full on every call.

    ## Evidence
    The parse tree: a column wrapped in a function, cast or operator on one side of a comparison in WHERE or
    JOIN ... ON. The catalog: no index whose leading key is that expression (an index on the bare column is
    named when there is one). The statistics: shared blocks touched per call against the table's pages. A
    table of `warning_rows` rows read nearly in full per call is a warning; the pattern alone is info.

    ## How to fix
    Index the expression, or move the work to the other side of the comparison:

    ```sql
    CREATE INDEX CONCURRENTLY ON public.customers ((lower(email)));
    -- date(ts) = $1  ->  ts >= $1 AND ts < $1 + interval '1 day'
    -- id + 0 = $1    ->  id = $1 - 0
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Small tables, and filters that another, selective condition of the same statement already narrows down.

    ## References
    https://www.postgresql.org/docs/current/indexes-expressional.html
    https://use-the-index-luke.com/sql/where-clause/functions
    """

    code = "QR011"
    name = "query.non_sargable"
    default_severity = Severity.INFO
    requires = ("statements", "tables", "indexes", "columns")
    thresholds = NonSargableThresholds
    message = "{expression} hides {table}.{column} from its indexes ({blocks_per_call} blocks per call): {query}"
    recommendation = "{advice}"

    def judge(self, wl: Workload, s: Statement, t: NonSargableThresholds) -> Verdict | None:
        for match in wl.matches(s, non_sargable):
            extra = match.extra
            table = wl.table(s.database, extra.get("table"))
            expression = extra.get("expression")
            if table is None or extra.get("expression_index") or not isinstance(expression, str):
                continue
            full_scan = table.relpages > 0 and s.blocks_per_call >= t.warning_scan_fraction * table.relpages
            big = (table.reltuples or 0) >= t.warning_rows
            if extra.get("wrapper") == "operator":
                advice = f"rewrite the comparison so {extra.get('column')} stands alone on one side"
                fix = None
            else:
                advice = (f"index the expression {expression} (or rewrite the comparison so the column stands "
                          "alone, e.g. a range for a date cast)")
                fix = f"CREATE INDEX CONCURRENTLY ON {ident(table.schema, table.name)} (({expression}));"
            return Verdict(
                severity=Severity.WARNING if big and full_scan else Severity.INFO,
                evidence={"table": f"{table.schema}.{table.name}", "column": str(extra.get("column")),
                          "expression": expression, "wrapper": str(extra.get("wrapper")),
                          "column_index": _opt(extra.get("column_index")), "rows": int(table.reltuples or 0),
                          "relpages": table.relpages, "blocks_per_call": round(s.blocks_per_call, 1)},
                context={"advice": advice},
                fix_sql=fix,
            )
        return None


_COMPARE_KINDS = frozenset(
    {
        enums.A_Expr_Kind.AEXPR_OP,
        enums.A_Expr_Kind.AEXPR_OP_ANY,
        enums.A_Expr_Kind.AEXPR_OP_ALL,
        enums.A_Expr_Kind.AEXPR_IN,
        enums.A_Expr_Kind.AEXPR_LIKE,
        enums.A_Expr_Kind.AEXPR_ILIKE,
        enums.A_Expr_Kind.AEXPR_BETWEEN,
        enums.A_Expr_Kind.AEXPR_NOT_BETWEEN,
        enums.A_Expr_Kind.AEXPR_BETWEEN_SYM,
        enums.A_Expr_Kind.AEXPR_NOT_BETWEEN_SYM,
    }
)


def non_sargable(tree: Tree) -> Iterator[Match]:
    """A column wrapped in a function, cast or operator, compared in WHERE or JOIN ... ON."""
    for block in tree.scope.blocks:
        for qual in block_quals(block):
            for node in walk(qual.expr, is_subquery):
                if isinstance(node, ast.A_Expr) and node.kind in _COMPARE_KINDS and _is_comparison(node):
                    yield from _wrapped_sides(tree, block, node, qual.source)


def _is_comparison(node: ast.A_Expr) -> bool:
    """Comparison-like operators (plain `=`, `<`, ..., IN, ANY, BETWEEN, LIKE), not arithmetic."""
    if node.kind == enums.A_Expr_Kind.AEXPR_OP:
        return operator(node) in COMPARISONS
    return True


def _wrapped_sides(tree: Tree, block: Block, node: ast.A_Expr, source: str) -> Iterator[Match]:
    """Report each side of a comparison that wraps columns of exactly one table of this block."""
    sides = [node.lexpr, node.rexpr]
    for i, side in enumerate(sides):
        wrapper = _wrapper(side)
        if wrapper is None or not isinstance(side, ast.Node):
            continue
        columns = block_columns(tree.scope, side, block)
        tables = {id(rel): rel for rel, _ in columns if rel.kind == "table"}
        if len(tables) != 1 or len({id(rel) for rel, _ in columns}) != 1:
            continue
        rel = next(iter(tables.values()))
        if reads(tree.scope, sides[1 - i], rel):
            continue
        yield _wrapped_match(tree, rel, side, wrapper, [c for _, c in columns], operator(node), source)


def _wrapper(side: object) -> tuple[str, str] | None:
    """What hides the column: (`function`, name), (`cast`, type) or (`operator`, op); None if nothing."""
    if isinstance(side, ast.FuncCall):
        return "function", func_name(side)
    if isinstance(side, ast.TypeCast):
        type_names = names(side.typeName.names) if side.typeName is not None else ()
        return "cast", type_names[-1] if type_names else "?"
    if isinstance(side, ast.A_Expr) and side.kind == enums.A_Expr_Kind.AEXPR_OP:
        return "operator", operator(side)
    if isinstance(side, ast.CoalesceExpr):
        return "function", "coalesce"
    return None


def _wrapped_match(
    tree: Tree,
    rel: Relation,
    side: ast.Node,
    wrapper: tuple[str, str],
    columns: list[str],
    op: str,
    source: str,
) -> Match:
    """The match, with the indexes that could serve it when the schema is known."""
    expression = tree.scope.text(side)
    extra: dict[str, PlainValue] = {
        "table": label(rel),
        "column": columns[0],
        "columns": tuple(dict.fromkeys(columns)),
        "expression": expression,
        "wrapper": wrapper[0],
        "name": wrapper[1],
        "operator": op,
        "clause": source,
        "expression_index": _expression_index(rel.tabledef, expression),
        "column_index": _column_index(rel.tabledef, columns[0]),
    }
    return tree.match(f"{expression} hides column {columns[0]} of {label(rel)} from plain indexes", extra, side)


def _expression_index(table: TableDef | None, expression: str | None) -> str | None:
    """The first index whose leading key is this expression."""
    if table is None or expression is None:
        return None
    wanted = normalize_expression(expression)
    for index in table.indexes:
        leading_expression = bool(index.columns) and index.columns[0] is None and bool(index.expressions)
        if leading_expression and normalize_expression(index.expressions[0]) == wanted:
            return index.name
    return None


def _column_index(table: TableDef | None, column: str) -> str | None:
    """The first index whose leading key is the bare column."""
    if table is None:
        return None
    return next((ix.name for ix in table.indexes if ix.columns and ix.columns[0] == column), None)


def _opt(value: object) -> str | None:
    return value if isinstance(value, str) else None
