"""IX002 index.low_use_high_write: indexes that cost more in writes than they save in reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Check, Confidence, Finding, Severity, fmt_bytes, ident, threshold
from pgadvisor.snapshot import Snapshot, TableRow

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class LowUseThresholds:
    """Keys of [checks.IX002]."""

    max_scans_per_write: float = threshold(0.01, help="Report when index scans per table write are below this.")
    min_writes: int = threshold(10_000, help="Ignore tables with fewer index-maintaining writes than this.")
    min_bytes: int = threshold(100 * 1024 * 1024, help="Ignore indexes smaller than this.")
    min_stats_age_days: float = threshold(7.0, help="Younger statistics give low confidence.")


class LowUseHighWrite(Check[LowUseThresholds]):
    """Index is rarely scanned but maintained on every write to its table.

    ## Why it matters
    Each insert, delete and non-HOT update writes every index of the table. An index scanned once per
    hundred writes costs far more than it returns, and makes writes, VACUUM and replication slower.

    ## Evidence
    `pg_stat_user_indexes.idx_scan` against the table's index-maintaining writes, `n_tup_ins + n_tup_upd -
    n_tup_hot_upd + n_tup_del` (HOT updates do not touch indexes), and the index size. Never-scanned indexes
    are IX001's; indexes backing a primary key, unique or exclusion constraint or the replica identity are
    never reported. Counters are per server and since the last reset: scans on standbys are not counted here.

    ## How to fix
    Check which plans use it (IX001's advice applies), then drop it without blocking writes:

    ```sql
    DROP INDEX CONCURRENTLY public.events_kind_idx;
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    An index used by a rare but critical query (a monthly report, an on-call lookup), or used only on a read
    replica. Suppress it with a reason.

    ## References
    https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ALL-INDEXES-VIEW
    https://www.postgresql.org/docs/current/storage-hot.html
    """

    code = "IX002"
    name = "index.low_use_high_write"
    default_severity = Severity.INFO
    requires = ("indexes", "tables", "server")
    thresholds = LowUseThresholds
    message = "{idx_scan} scans for {table_writes} writes to {table} ({size})"
    recommendation = "drop it unless a rare or standby-only query needs it"

    def run(self, snap: Snapshot, t: LowUseThresholds) -> Iterator[Finding]:
        assert isinstance(snap.indexes, tuple) and isinstance(snap.tables, tuple)
        tables: dict[tuple[str, str, str], TableRow] = {(r.database, r.schema, r.name): r for r in snap.tables}
        for ix in snap.indexes:
            if ix.backs_constraint or not ix.is_valid or ix.is_partitioned or ix.idx_scan == 0:
                continue
            table = tables.get((ix.database, ix.schema, ix.table))
            if table is None or ix.size_bytes < t.min_bytes:
                continue
            writes = table.n_tup_ins + table.n_tup_upd - table.n_tup_hot_upd + table.n_tup_del
            if writes < t.min_writes or ix.idx_scan / writes >= t.max_scans_per_write:
                continue
            age = snap.stats_age_seconds(ix.database) or 0.0
            yield self.finding(
                obj=f"{ix.schema}.{ix.name}",
                database=ix.database,
                confidence=Confidence.LOW if age < t.min_stats_age_days * DAY else Confidence.MEDIUM,
                evidence={
                    "table": f"{ix.schema}.{ix.table}",
                    "idx_scan": ix.idx_scan,
                    "table_writes": writes,
                    "scans_per_write": round(ix.idx_scan / writes, 6),
                    "size_bytes": ix.size_bytes,
                    "stats_age_days": round(age / DAY, 2),
                },
                context={"size": fmt_bytes(ix.size_bytes)},
                fix_sql=f"DROP INDEX CONCURRENTLY {ident(ix.schema, ix.name)};",
            )
