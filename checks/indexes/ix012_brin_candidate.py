"""IX012 index.brin_candidate: a big B-tree on a column whose values follow the table's physical order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Check, Finding, Severity, fmt_bytes, ident, threshold
from pgadvisor.snapshot import ColumnStatsRow, Snapshot, TableRow


@dataclass(frozen=True, slots=True)
class BrinThresholds:
    """Keys of [checks.IX012]."""

    min_correlation: float = threshold(0.95, help="abs(pg_stats.correlation) of the leading column from this.")
    min_table_bytes: int = threshold(1024**3, help="Only tables at least this large.")
    min_index_bytes: int = threshold(100 * 1024 * 1024, help="Only B-trees at least this large.")
    max_change_ratio: float = threshold(
        0.01, help="Append-only: updates + deletes at most this fraction of inserts.")


class BrinCandidate(Check[BrinThresholds]):
    """Large B-tree could be a tiny BRIN index: the table is append-only in the column's order.

    ## Why it matters
    On an append-only table whose rows arrive in the order of a column (a creation timestamp, a serial id),
    a BRIN index stores one summary per block range: kilobytes instead of gigabytes, nearly free to
    maintain, and still fast for range scans on that column.

    ## Evidence
    `pg_stats.correlation` of the B-tree's leading column (physical order vs value order), the table's
    inserts against updates and deletes (`pg_stat_user_tables`), and both sizes. `pg_stats` is empty for a
    `pg_monitor`-only role: the check is then skipped with the grant that fixes it.

    ## How to fix
    Add the BRIN index, check that range queries use it, then drop the B-tree if range scans were its only
    use (never when it backs a constraint, which is why those are not reported):

    ```sql
    CREATE INDEX CONCURRENTLY ON public.events USING brin (created_at);
    DROP INDEX CONCURRENTLY public.events_created_at_idx;
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Point lookups and ORDER BY ... LIMIT on that column need the B-tree: BRIN serves only range filters. A
    table that will start receiving updates or out-of-order inserts loses the correlation.

    ## References
    https://www.postgresql.org/docs/current/brin-intro.html
    https://www.postgresql.org/docs/current/view-pg-stats.html
    """

    code = "IX012"
    name = "index.brin_candidate"
    default_severity = Severity.INFO
    requires = ("tables", "indexes", "column_stats")
    thresholds = BrinThresholds
    message = "B-tree of {size} on {column} (correlation {correlation}) of an append-only {table_size} table"
    recommendation = "a BRIN index on {column} would take a few kB; keep the B-tree if point lookups need it"

    def run(self, snap: Snapshot, t: BrinThresholds) -> Iterator[Finding]:
        assert isinstance(snap.tables, tuple) and isinstance(snap.indexes, tuple)
        assert isinstance(snap.column_stats, tuple)
        tables: dict[tuple[str, str, str], TableRow] = {(r.database, r.schema, r.name): r for r in snap.tables}
        stats: dict[tuple[str, str, str, str], ColumnStatsRow] = {
            (s.database, s.schema, s.table, s.column): s for s in snap.column_stats
        }
        for ix in snap.indexes:
            if ix.method != "btree" or ix.backs_constraint or not ix.is_valid or ix.is_partial:
                continue
            column = ix.columns[0] if ix.columns else None
            table = tables.get((ix.database, ix.schema, ix.table))
            if column is None or table is None or ix.size_bytes < t.min_index_bytes:
                continue
            st = stats.get((ix.database, ix.schema, ix.table, column))
            if st is None or st.correlation is None or abs(st.correlation) < t.min_correlation:
                continue
            changes = table.n_tup_upd + table.n_tup_del
            if table.size_bytes < t.min_table_bytes or table.n_tup_ins == 0 \
                    or changes > t.max_change_ratio * table.n_tup_ins:
                continue
            yield self.finding(
                obj=f"{ix.schema}.{ix.name}",
                database=ix.database,
                evidence={
                    "table": f"{ix.schema}.{ix.table}",
                    "column": column,
                    "correlation": round(st.correlation, 4),
                    "index_bytes": ix.size_bytes,
                    "table_bytes": table.size_bytes,
                    "inserts": table.n_tup_ins,
                    "updates_deletes": changes,
                },
                context={"size": fmt_bytes(ix.size_bytes), "table_size": fmt_bytes(table.size_bytes)},
                fix_sql=f"CREATE INDEX CONCURRENTLY ON {ident(ix.schema, ix.table)} USING brin ({ident(column)});",
            )
