"""IX001 index.unused: indexes never scanned since statistics were reset."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Check, Confidence, Finding, Severity, fmt_bytes, fmt_duration, ident, threshold
from pgadvisor.snapshot import IndexRow, Snapshot, TableRow

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class UnusedThresholds:
    """Keys of [checks.IX001]."""

    min_stats_age_days: float = threshold(
        7.0, help="Statistics younger than this give only an info finding with low confidence.")
    high_confidence_stats_age_days: float = threshold(
        35.0, help="Statistics at least this old (a monthly job has run) give high confidence.")
    warning_min_bytes: int = threshold(10 * 1024 * 1024, help="Unused indexes this large or larger are warnings.")
    stale_scan_days: float = threshold(
        35.0, help="On 16+, an index whose last scan (last_idx_scan) is older than this is 'no longer used'.")

    def __post_init__(self) -> None:
        if not 0 <= self.min_stats_age_days <= self.high_confidence_stats_age_days:
            raise ValueError("expected 0 <= min_stats_age_days <= high_confidence_stats_age_days")


class UnusedIndex(Check[UnusedThresholds]):
    """Index never scanned since the statistics were reset.

    ## Why it matters
    Every INSERT, every non-HOT UPDATE and every DELETE on the table also writes each of its indexes, and
    every index takes space in shared buffers, in backups and on replicas. An index no query reads is all
    cost: it slows writes, makes VACUUM longer and pushes useful pages out of the cache.

    ## Evidence
    `pg_stat_user_indexes.idx_scan = 0` (and on 16+, `last_idx_scan` older than `stale_scan_days` for an index
    that was used once but is no longer), the index size, the writes to its table that paid for it, and how
    long the counters have been accumulating (`pg_stat_database.stats_reset`, or the server start when never
    reset). Indexes that back a primary key, unique or exclusion constraint or the replica identity are never
    reported: dropping them changes behaviour. Nor is the index that serves a foreign key's referencing
    columns (the smallest one, when several do): it waits for the parent's deletes, and dropping it would make
    IX004 report the key. Counters are per server: scans on standbys are not seen on the
    primary, so confidence is lowered when the server has standbys.

    ## How to fix
    Confirm no rare job needs it (month-end reports), then drop it without blocking writes:

    ```sql
    DROP INDEX CONCURRENTLY public.orders_status_idx;
    ```
    The finding's recommendation carries the `CREATE INDEX CONCURRENTLY` statement that undoes it.

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Indexes used only on standbys (read replicas), only by rare jobs, or only after a recent statistics reset
    (`pg_stat_reset()`, a `pg_restore`, a major upgrade before 18). The statistics age and the confidence say
    how much to trust the finding; accept a deliberate one with a `[[suppress]]` entry.

    ## References
    https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ALL-INDEXES-VIEW
    https://www.postgresql.org/docs/current/sql-dropindex.html
    """

    code = "IX001"
    name = "index.unused"
    default_severity = Severity.WARNING
    requires = ("indexes", "tables", "server")
    thresholds = UnusedThresholds
    message = "{size} index {verdict} (statistics cover the last {stats_age})"
    recommendation = "drop it if no job on a standby or a rare schedule uses it; undo with: {undo}"

    def run(self, snap: Snapshot, t: UnusedThresholds) -> Iterator[Finding]:
        assert isinstance(snap.indexes, tuple) and isinstance(snap.tables, tuple)
        tables: dict[tuple[str, str, str], TableRow] = {(r.database, r.schema, r.name): r for r in snap.tables}
        fk_guards = _sole_fk_indexes(snap)
        standbys = len(snap.replicas) if isinstance(snap.replicas, tuple) else 0
        in_recovery = bool(getattr(snap.server, "in_recovery", False))
        for ix in snap.indexes:
            if ix.backs_constraint or not ix.is_valid or ix.is_partitioned or ix.build_in_progress:
                continue
            if (ix.database, ix.schema, ix.name) in fk_guards:
                continue  # it serves a foreign key: without it, IX004 reports the key
            verdict = _verdict(ix, snap.collected_at, t)
            if verdict is None:
                continue
            age = snap.stats_age_seconds(ix.database) or 0.0
            young = age < t.min_stats_age_days * DAY
            if young:
                severity, confidence = Severity.INFO, Confidence.LOW
            else:
                severity = Severity.WARNING if ix.size_bytes >= t.warning_min_bytes else Severity.INFO
                old = age >= t.high_confidence_stats_age_days * DAY
                confidence = Confidence.HIGH if old and not standbys and not in_recovery else Confidence.MEDIUM
            table = tables.get((ix.database, ix.schema, ix.table))
            writes = (table.n_tup_ins + table.n_tup_upd - table.n_tup_hot_upd + table.n_tup_del) if table else None
            yield self.finding(
                obj=f"{ix.schema}.{ix.name}",
                database=ix.database,
                severity=severity,
                confidence=confidence,
                evidence={
                    "table": f"{ix.schema}.{ix.table}",
                    "idx_scan": ix.idx_scan,
                    "last_idx_scan": ix.last_idx_scan,
                    "size_bytes": ix.size_bytes,
                    "stats_age_days": round(age / DAY, 2),
                    "table_writes": writes,
                    "standbys_not_counted": standbys,
                },
                context={"verdict": verdict, "size": fmt_bytes(ix.size_bytes), "stats_age": fmt_duration(age),
                         "undo": _undo(ix.definition)},
                fix_sql=f"DROP INDEX CONCURRENTLY {ident(ix.schema, ix.name)};",
            )


def _sole_fk_indexes(snap: Snapshot) -> set[tuple[str, str, str]]:
    """Per foreign key, the index that should stay to serve it: the smallest, narrowest, oldest usable one."""
    if not isinstance(snap.foreign_keys, tuple) or not isinstance(snap.indexes, tuple):
        return set()
    by_table: dict[tuple[str, str, str], list[IndexRow]] = defaultdict(list)
    for ix in snap.indexes:
        if ix.is_valid and not ix.is_partial:
            by_table[(ix.database, ix.schema, ix.table)].append(ix)
    out: set[tuple[str, str, str]] = set()
    for fk in snap.foreign_keys:
        want = set(fk.columns)
        usable = [ix for ix in by_table[(fk.database, fk.schema, fk.table)] if set(ix.columns[: len(want)]) == want]
        if usable:
            guard = min(usable, key=lambda ix: (ix.size_bytes, len(ix.columns), ix.oid))
            out.add((guard.database, guard.schema, guard.name))
    return out


def _verdict(ix: IndexRow, now: float, t: UnusedThresholds) -> str | None:
    if ix.idx_scan == 0:
        return "never scanned"
    if ix.last_idx_scan is not None and now - ix.last_idx_scan >= t.stale_scan_days * DAY:
        return f"last scanned {fmt_duration(now - ix.last_idx_scan)} ago (no longer used)"
    return None


def _undo(definition: str | None) -> str:
    """pg_get_indexdef's CREATE [UNIQUE] INDEX ..., made concurrent."""
    if definition is None:
        return "(definition not read: the table was locked during collection; save pg_get_indexdef() first)"
    for prefix in ("CREATE UNIQUE INDEX ", "CREATE INDEX "):
        if definition.startswith(prefix):
            return prefix + "CONCURRENTLY " + definition[len(prefix):] + ";"
    return definition + ";"
