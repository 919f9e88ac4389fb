"""QR017 query.count_all_rows: `count(*)` of a whole big table, called often."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, ident, threshold
from pgadvisor.checkapi.tree import Match, Tree, ast, func_name, is_subquery, label, walk


@dataclass(frozen=True, slots=True)
class CountThresholds:
    """Keys of [checks.QR017]."""

    min_rows: int = threshold(1_000_000, help="Only tables with at least this many estimated rows.")
    min_calls_per_day: float = threshold(
        100, help="Only statements called this often per day (over at least one day of statistics).")


class CountAllRows(StatementCheck[CountThresholds]):
    """Statement counts every row of a big table.

    ## Why it matters
    PostgreSQL keeps no row count: `SELECT count(*) FROM t` reads the whole table (or a whole index) every time.
    On millions of rows, shown on every page view, that is seconds of work for a number nobody needs exactly.

    ## Evidence
    The parse tree: `count(*)` (or `count(1)`) over a single table with no WHERE, no GROUP BY and no join. The
    catalog: the table's `reltuples`. The statistics: calls per day, over at least one day.

    ## How to fix
    Show an estimate, or keep a counter maintained by a trigger:

    ```sql
    SELECT reltuples::bigint FROM pg_class WHERE oid = 'public.events'::regclass;
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Exact counts that are a business requirement and are not on a hot path.

    ## References
    https://wiki.postgresql.org/wiki/Count_estimate
    https://wiki.postgresql.org/wiki/Slow_Counting
    """

    code = "QR017"
    name = "query.count_all_rows"
    default_severity = Severity.INFO
    requires = ("statements", "tables")
    thresholds = CountThresholds
    message = "count(*) of all {rows} rows of {table}, {calls_per_day} calls per day: {query}"
    recommendation = "use the planner's estimate (pg_class.reltuples) or a counter table"

    def judge(self, wl: Workload, s: Statement, t: CountThresholds) -> Verdict | None:
        per_day = wl.per_day(s.calls, s.database)
        if per_day < t.min_calls_per_day:
            return None
        tables = wl.user_tables(s.database, [m.extra.get("table") for m in wl.matches(s, count_all_rows)])
        big = [tb for tb in tables if (tb.reltuples or 0) >= t.min_rows]
        if not big:
            return None
        table = big[0]
        return Verdict(
            evidence={"table": f"{table.schema}.{table.name}", "rows": int(table.reltuples or 0),
                      "calls_per_day": round(per_day)},
            fix_sql=f"SELECT reltuples::bigint AS estimate FROM pg_class WHERE oid = "
                    f"'{ident(table.schema, table.name)}'::regclass;",
        )


def count_all_rows(tree: Tree) -> Iterator[Match]:
    """`count(*)` of a whole single table: no WHERE, no GROUP BY, no join."""
    for block in tree.scope.blocks:
        stmt = block.node
        if block.role != "select" or not isinstance(stmt, ast.SelectStmt):
            continue
        if stmt.whereClause is not None or stmt.groupClause or len(block.relations) != 1:
            continue
        rel = block.relations[0]
        targets = stmt.targetList or ()
        if rel.kind != "table" or not any(_is_count_all(n) for t in targets for n in walk(t, is_subquery)):
            continue
        yield tree.match(f"count(*) reads every row of {label(rel)}", {"table": label(rel)})


def _is_count_all(node: ast.Node) -> bool:
    """`count(*)`, or `count(<constant>)` which counts the same rows."""
    if not isinstance(node, ast.FuncCall) or func_name(node) != "count":
        return False
    if node.agg_filter is not None or node.over is not None:
        return False
    args = node.args or ()
    return bool(node.agg_star) or (len(args) == 1 and isinstance(args[0], ast.A_Const))
