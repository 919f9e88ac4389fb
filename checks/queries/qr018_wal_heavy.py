"""QR018 query.wal_heavy: statements that write most of the WAL, or many full-page images."""

from __future__ import annotations

from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, fmt_bytes, threshold


@dataclass(frozen=True, slots=True)
class WalHeavyThresholds:
    """Keys of [checks.QR018]."""

    min_share: float = threshold(
        0.3, help="Share of the database's WAL bytes one statement writes that is reported (0.3 = 30 %)."
    )
    min_fpi_ratio: float = threshold(0.5, help="Full-page images per WAL record of a statement that are reported.")
    min_wal_bytes_per_day: float = threshold(
        1024**3, help="Ignore statements that write less WAL per day (1 GiB): an idle database has a top writer too."
    )

    def __post_init__(self) -> None:
        if not (0 <= self.min_share <= 1 and self.min_fpi_ratio >= 0 and self.min_wal_bytes_per_day >= 0):
            raise ValueError("expected 0 <= min_share <= 1, min_fpi_ratio >= 0, min_wal_bytes_per_day >= 0")


class WalHeavy(StatementCheck[WalHeavyThresholds]):
    """Statement writes most of the WAL, or mostly full-page images.

    ## Why it matters
    Every change is written to the WAL first: it is what replicas replay, what archives and backups store,
    and what fills `max_wal_size` until a checkpoint. One statement writing most of it (a bulk UPDATE of every
    row, an UPDATE of an indexed column that prevents HOT updates) drives replication lag, archive volume and
    checkpoint frequency. A statement whose WAL records are mostly full-page images (FPI) touches each page
    for the first time since the last checkpoint: the whole 8 kB page is logged instead of the change, which
    points at checkpoints that come too often (IO001) or at writes scattered over many pages.

    ## Evidence
    pg_stat_statements `wal_bytes`, `wal_records` and `wal_fpi` (pss 1.8+, PostgreSQL 13+). The share is the
    statement's WAL bytes over the WAL bytes of the database's top-level statements (nested statements are
    inside their caller's figures, so they are not counted twice). Utility statements (DDL, VACUUM, CREATE
    INDEX, DO and CALL blocks) are not judged: index builds and table rewrites log whole pages by design,
    and with `pg_stat_statements.track = all` the statements inside a DO or CALL are judged themselves.
    Statements writing less than `min_wal_bytes_per_day` (over at least one day of counting) are skipped:
    this floor is not in the catalog, and keeps a quiet database's top writer from being reported.

    ## How to fix
    Batch big updates by key range; update only the columns that change, and keep them out of indexes, so
    updates stay HOT (`fillfactor` below 100 leaves room on the page); skip no-op updates
    (`WHERE col IS DISTINCT FROM $1`). For full-page images, space checkpoints out and compress the images:

    ```sql
    ALTER SYSTEM SET max_wal_size = '8GB';          -- fewer checkpoints, fewer first touches
    ALTER SYSTEM SET checkpoint_timeout = '15min';
    ALTER SYSTEM SET wal_compression = 'on';        -- lz4 or zstd on 15+
    SELECT pg_reload_conf();
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    A nightly batch that is the database's main writer by design. Full-page images also come from base
    backups (they force full-page writes while they run) and, with data checksums, from hint bits set by
    reads after a checkpoint.

    ## References
    https://www.postgresql.org/docs/current/pgstatstatements.html
    https://www.postgresql.org/docs/current/wal-configuration.html
    https://www.postgresql.org/docs/current/runtime-config-wal.html#GUC-WAL-COMPRESSION
    https://www.postgresql.org/docs/current/storage-hot.html
    """

    code = "QR018"
    name = "query.wal_heavy"
    default_severity = Severity.INFO
    requires = ("statements",)
    thresholds = WalHeavyThresholds
    message = (
        "writes {wal} of WAL, {wal_share_pct} % of the database's, {fpi_pct} % of its records full-page images: {query}"
    )
    recommendation = (
        "batch it and keep its updates HOT; if full-page images dominate, space checkpoints out "
        "(max_wal_size, checkpoint_timeout) and turn on wal_compression"
    )

    def judge(self, wl: Workload, s: Statement, t: WalHeavyThresholds) -> Verdict | None:
        total = wl.top_wal_bytes(s.database)
        if not s.wal_bytes or s.wal_bytes <= 0 or total <= 0:
            return None
        if wl.per_day(s.wal_bytes, s.database) < t.min_wal_bytes_per_day:
            return None
        share = min(1.0, s.wal_bytes / total)
        fpi_ratio = (s.wal_fpi or 0) / s.wal_records if s.wal_records else 0.0
        big, fpi = share >= t.min_share, fpi_ratio >= t.min_fpi_ratio
        if not (big or fpi):
            return None
        compression = wl.snap.setting("wal_compression")
        return Verdict(
            evidence={"wal_bytes": int(s.wal_bytes), "wal_records": s.wal_records, "wal_fpi": s.wal_fpi,
                      "wal_share_pct": round(100 * share, 1), "fpi_pct": round(100 * fpi_ratio, 1),
                      "dominant": big, "full_page_images": fpi, "database_wal_bytes": int(total),
                      "wal_compression": compression.setting if compression is not None else None},
            context={"wal": fmt_bytes(s.wal_bytes)},
            fix_sql="ALTER SYSTEM SET wal_compression = 'on';  -- then SELECT pg_reload_conf();"
            if fpi and compression is not None and compression.setting == "off" else None,
        )
