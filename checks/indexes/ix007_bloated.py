"""IX007 index.bloated: B-trees with much more space than their live entries need."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Check, Confidence, Finding, Severity, fmt_bytes, ident, threshold
from pgadvisor.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class BloatThresholds:
    """Keys of [checks.IX007]."""

    warning_fraction: float = threshold(0.40, help="Wasted share of the index for a warning.")
    warning_bytes: int = threshold(100 * 1024 * 1024, help="... and at least this many wasted bytes.")
    critical_fraction: float = threshold(0.90, help="Wasted share of the index for critical.")
    critical_bytes: int = threshold(1024**3, help="... and at least this many wasted bytes.")

    def __post_init__(self) -> None:
        if not 0 < self.warning_fraction <= self.critical_fraction < 1:
            raise ValueError("expected 0 < warning_fraction <= critical_fraction < 1")


class BloatedIndex(Check[BloatThresholds]):
    """B-tree index holds much more space than its live entries need.

    ## Why it matters
    After mass deletes or updates, B-tree pages stay half empty until the index is rebuilt. A bloated index
    costs cache, I/O on every scan, backup size and replication bandwidth.

    ## Evidence
    Exact, from `pgstattuple.pgstatindex()` when the extension is installed (a `pg_monitor` role may run it
    through `pg_stat_scan_tables`): leaf density and fragmentation, empty and deleted pages, measured on
    indexes within a page budget. Otherwise an estimate from `pg_stats` widths and null fractions,
    `reltuples`, `relpages` and the fillfactor; it is low on repetitive keys (deduplication, 13+). Each finding
    says `exact` or `estimate`. When neither is possible (pgstattuple missing and pg_stats unreadable) the check
    is skipped with the grant that fixes it.

    ## How to fix
    Rebuild it without blocking writes:

    ```sql
    REINDEX INDEX CONCURRENTLY public.orders_status_idx;
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    An index about to refill (a queue table's index between batches) bloats again soon after a rebuild;
    estimates on expression indexes are not made, and estimates may be off on very wide or repetitive keys.

    ## References
    https://www.postgresql.org/docs/current/pgstattuple.html
    https://www.postgresql.org/docs/current/sql-reindex.html
    https://www.postgresql.org/docs/current/btree-implementation.html#BTREE-DEDUPLICATION
    """

    code = "IX007"
    name = "index.bloated"
    default_severity = Severity.WARNING
    requires = ("index_bloat",)
    thresholds = BloatThresholds
    message = "{wasted} of {size} is free space ({wasted_pct}%, {source})"
    recommendation = "rebuild it with REINDEX INDEX CONCURRENTLY"

    def run(self, snap: Snapshot, t: BloatThresholds) -> Iterator[Finding]:
        assert isinstance(snap.index_bloat, tuple)
        for row in snap.index_bloat:
            if row.size_bytes <= 0:
                continue
            frac = row.wasted_bytes / row.size_bytes
            if frac >= t.critical_fraction and row.wasted_bytes >= t.critical_bytes:
                severity = Severity.CRITICAL
            elif frac >= t.warning_fraction and row.wasted_bytes >= t.warning_bytes:
                severity = Severity.WARNING
            else:
                continue
            yield self.finding(
                obj=f"{row.schema}.{row.name}",
                database=row.database,
                severity=severity,
                confidence=Confidence.HIGH if row.source == "exact" else Confidence.MEDIUM,
                evidence={
                    "source": row.source,
                    "table": f"{row.schema}.{row.table}",
                    "size_bytes": row.size_bytes,
                    "wasted_bytes": row.wasted_bytes,
                    "wasted_pct": round(100 * frac, 1),
                    "avg_leaf_density": row.avg_leaf_density,
                    "leaf_fragmentation": row.leaf_fragmentation,
                },
                context={"wasted": fmt_bytes(row.wasted_bytes), "size": fmt_bytes(row.size_bytes)},
                fix_sql=f"REINDEX INDEX CONCURRENTLY {ident(row.schema, row.name)};",
            )
