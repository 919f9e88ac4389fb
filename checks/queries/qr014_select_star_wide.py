"""QR014 query.select_star_wide: `SELECT *` on wide tables, read often."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.analysis.workload import Workload, seq, workload
from pgadvisor.checkapi import Check, Finding, Severity, fmt_bytes, threshold
from pgadvisor.snapshot import Snapshot, TableRow


@dataclass(frozen=True, slots=True)
class SelectStarThresholds:
    """Keys of [checks.QR014]."""

    min_calls: int = threshold(1000, help="Only statements called at least this often.")
    min_row_bytes: float = threshold(1024, help="A table whose average row (heap + TOAST) is this wide ...")
    min_columns: int = threshold(30, help="... or that has this many columns, is wide.")


class SelectStarWide(Check[SelectStarThresholds]):
    """Statement selects every column of a wide table, often.

    ## Why it matters
    `SELECT *` reads, de-TOASTs and sends every column, even those the application ignores; on a wide table
    that is most of the cost, and no index-only scan can serve it. It also breaks when columns are added.

    ## Evidence
    The parse tree: `*` or `t.*` in a select list (EXISTS sub-queries excepted) expanding a user table. The
    catalog: the table's column count (`pg_attribute`) and its average row size, (heap + TOAST bytes) /
    `reltuples`, since `pg_stats.avg_width` is hidden from a pg_monitor role. The statistics: `calls`.

    ## How to fix
    List the columns the code uses; a covering index can then answer it alone:

    ```sql
    SELECT id, status, total FROM orders WHERE customer_id = $1;
    CREATE INDEX CONCURRENTLY ON orders (customer_id) INCLUDE (status, total);
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Exports and ORMs that really need every column.

    ## References
    https://www.postgresql.org/docs/current/storage-toast.html
    https://www.postgresql.org/docs/current/indexes-index-only-scans.html
    """

    code = "QR014"
    name = "query.select_star_wide"
    default_severity = Severity.INFO
    requires = ("statements", "tables", "indexes", "columns")
    thresholds = SelectStarThresholds
    message = "SELECT * over {table} ({columns} columns, about {row_size} per row), {calls} calls: {query}"
    recommendation = "select only the columns the code uses"

    def run(self, snap: Snapshot, t: SelectStarThresholds) -> Iterator[Finding]:
        wl = workload(snap)
        for found in wl.found("QR014"):
            s = found.statement
            if s.calls < t.min_calls:
                continue
            labels = [lab for p in found.patterns for lab in seq(p.extra.get("tables"))]
            for table in wl.user_tables(s.database, labels):
                columns = wl.column_count(table)
                width = _row_bytes(wl, table)
                if columns < t.min_columns and (width is None or width < t.min_row_bytes):
                    continue
                yield self.finding(
                    obj=s.object,
                    database=s.database,
                    evidence={**s.evidence(), "table": f"{table.schema}.{table.name}", "columns": columns,
                              "avg_row_bytes": None if width is None else round(width)},
                    context={"row_size": fmt_bytes(width)},
                )
                break


def _row_bytes(wl: Workload, table: TableRow) -> float | None:
    """(heap + TOAST) bytes per row: total size minus the indexes, over the estimated rows."""
    rows = table.reltuples or 0
    if rows <= 0:
        return None
    data = table.total_bytes - sum(ix.size_bytes for ix in wl.indexes(table))
    return max(0, data) / rows

