"""QR017 query.count_all_rows: `count(*)` of a whole big table, called often."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.analysis.workload import workload
from pgadvisor.checkapi import Check, Finding, Severity, ident, threshold
from pgadvisor.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class CountThresholds:
    """Keys of [checks.QR017]."""

    min_rows: int = threshold(1_000_000, help="Only tables with at least this many estimated rows.")
    min_calls_per_day: float = threshold(
        100, help="Only statements called this often per day (over at least one day of statistics).")


class CountAllRows(Check[CountThresholds]):
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

    def run(self, snap: Snapshot, t: CountThresholds) -> Iterator[Finding]:
        wl = workload(snap)
        for found in wl.found("QR017"):
            s = found.statement
            per_day = wl.per_day(s.calls, s.database)
            if per_day < t.min_calls_per_day:
                continue
            tables = wl.user_tables(s.database, [p.extra.get("table") for p in found.patterns])
            big = [tb for tb in tables if (tb.reltuples or 0) >= t.min_rows]
            if not big:
                continue
            table = big[0]
            yield self.finding(
                obj=s.object,
                database=s.database,
                evidence={**s.evidence(), "table": f"{table.schema}.{table.name}",
                          "rows": int(table.reltuples or 0), "calls_per_day": round(per_day)},
                fix_sql=f"SELECT reltuples::bigint AS estimate FROM pg_class WHERE oid = "
                        f"'{ident(table.schema, table.name)}'::regclass;",
            )
