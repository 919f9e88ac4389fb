"""IX006 index.seq_scan_heavy: large tables read mostly by sequential scans."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Check, Finding, Severity, fmt_bytes, threshold
from pgadvisor.snapshot import Snapshot

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class SeqScanThresholds:
    """Keys of [checks.IX006]."""

    min_live_rows: int = threshold(10_000, help="Ignore tables with fewer live rows.")
    min_seq_scans: int = threshold(100, help="Ignore tables sequentially scanned fewer times.")
    max_index_share: float = threshold(0.95, help="Report when idx_scan / (idx_scan + seq_scan) is below this.")
    min_rows_per_scan: int = threshold(10_000, help="Report only when each sequential scan reads this many rows.")
    warning_bytes: int = threshold(1024**3, help="Tables this large or larger are warnings.")
    stale_days: float = threshold(
        30.0, help="On 16+, ignore a table whose last sequential scan is older than this (old history).")


class SeqScanHeavy(Check[SeqScanThresholds]):
    """Large table is read mostly by sequential scans.

    ## Why it matters
    A sequential scan reads every page of the table. On a large table that is repeated for each call, it is
    the most common sign of a missing index, and it pushes useful pages out of the cache.

    ## Evidence
    `pg_stat_user_tables`: `seq_scan`, `seq_tup_read` (rows read per sequential scan, so a scan of 20 rows is
    not reported), `idx_scan`, `n_live_tup`, the table size, and on 16+ `last_seq_scan` to ignore old history.

    ## How to fix
    Run the missing-index advisor (IX011) on this database: it names the filter columns and the index, with
    its predicted gain. Then create it:

    ```sql
    CREATE INDEX CONCURRENTLY ON public.orders (customer_email);
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Reports, exports and analytics that must read the whole table, and small lookup tables that fit in a few
    pages. Suppress the finding for such tables.

    ## References
    https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ALL-TABLES-VIEW
    https://www.postgresql.org/docs/current/indexes.html
    """

    code = "IX006"
    name = "index.seq_scan_heavy"
    default_severity = Severity.INFO
    requires = ("tables",)
    thresholds = SeqScanThresholds
    message = "{seq_scan} sequential scans reading {rows_per_scan} rows each; {index_share_pct}% of scans use an index"
    recommendation = "run the missing-index advisor (IX011) and index the filter columns it names ({size} table)"

    def run(self, snap: Snapshot, t: SeqScanThresholds) -> Iterator[Finding]:
        assert isinstance(snap.tables, tuple)
        for tb in snap.tables:
            if tb.relkind != "r" or tb.n_live_tup < t.min_live_rows or tb.seq_scan < t.min_seq_scans:
                continue
            idx = tb.idx_scan or 0
            share = idx / (idx + tb.seq_scan)
            per_scan = tb.seq_tup_read / tb.seq_scan
            if share >= t.max_index_share or per_scan < t.min_rows_per_scan:
                continue
            if tb.last_seq_scan is not None and snap.collected_at - tb.last_seq_scan > t.stale_days * DAY:
                continue
            yield self.finding(
                obj=f"{tb.schema}.{tb.name}",
                database=tb.database,
                severity=Severity.WARNING if tb.size_bytes >= t.warning_bytes else Severity.INFO,
                evidence={
                    "seq_scan": tb.seq_scan,
                    "seq_tup_read": tb.seq_tup_read,
                    "rows_per_scan": int(per_scan),
                    "idx_scan": idx,
                    "index_share_pct": round(100 * share, 1),
                    "n_live_tup": tb.n_live_tup,
                    "size_bytes": tb.size_bytes,
                    "last_seq_scan": tb.last_seq_scan,
                },
                context={"size": fmt_bytes(tb.size_bytes)},
            )
