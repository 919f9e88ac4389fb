"""QR004 query.io_heavy: statements that read many blocks per call or are I/O bound."""

from __future__ import annotations

from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, fmt_bytes, threshold


@dataclass(frozen=True, slots=True)
class IoHeavyThresholds:
    """Keys of [checks.QR004]."""

    info_read_blocks: float = threshold(4096, help="Shared blocks read (not hit) per call that is info (32 MiB).")
    warning_read_blocks: float = threshold(12_800, help="Shared blocks read per call that is a warning (100 MiB).")
    min_hit_ratio: float = threshold(0.5, help="Report a buffer cache hit ratio below this ...")
    hit_ratio_min_blocks: float = threshold(1000, help="... for statements touching this many blocks per call.")
    max_read_time_share: float = threshold(
        0.5, help="Report statements spending this share of their time reading blocks (needs track_io_timing) ...")
    read_time_min_calls: int = threshold(100, help="... when called at least this often.")
    info_touched_blocks: float = threshold(
        12_800, help="Shared blocks touched (hit + read) per call that is info even when cached (100 MiB) ...")
    touched_min_calls: int = threshold(100, help="... when called at least this often.")

    def __post_init__(self) -> None:
        if not 0 <= self.info_read_blocks <= self.warning_read_blocks:
            raise ValueError("expected 0 <= info_read_blocks <= warning_read_blocks")


class IoHeavy(StatementCheck[IoHeavyThresholds]):
    """Statement reads many blocks per call, misses the cache, or waits on I/O.

    ## Why it matters
    Blocks that are not in shared buffers come from the OS cache or the disk. A statement reading tens of
    megabytes per call evicts everyone else's pages and its latency follows the disk. Blocks found in shared
    buffers are not free either: a statement that touches a hundred megabytes of cached pages per call burns a
    CPU for it, typically walking a whole index or table to return a handful of rows (a missing index, or a
    plan that walks the primary key hoping to stop early under `ORDER BY ... LIMIT`).

    ## Evidence
    Per call: `shared_blks_read` (from outside shared buffers), `shared_blks_hit`, their hit ratio, and the
    read time (`blk_read_time` on pss 1.8 to 1.10, `shared_blk_read_time` on 1.11+, only with
    `track_io_timing = on`) as a share of `total_exec_time`; blocks touched per call (hit + read) and per
    returned row, for statements that stay in cache. Maintenance commands (VACUUM, ANALYZE, CREATE
    INDEX: utility statements) are not judged. One finding per statement, at the worst criterion's severity.

    ## How to fix
    Read fewer blocks: an index for the filter (IX011), a narrower projection (an index-only scan), or
    partitioning so the statement reads one partition. `pgadvisor explain --queryid N` shows which scan reads.

    ## Thresholds
    Generated from the thresholds class (pg_gather: 12,800 blocks warn, 4,096 notice, hit ratio 50 %).

    ## False positives
    Reports and exports that must read a lot. A freshly restarted server misses its cache at first.

    ## References
    https://www.postgresql.org/docs/current/pgstatstatements.html
    https://www.postgresql.org/docs/current/runtime-config-statistics.html#GUC-TRACK-IO-TIMING
    """

    code = "QR004"
    name = "query.io_heavy"
    default_severity = Severity.INFO
    requires = ("statements",)
    thresholds = IoHeavyThresholds
    message = "{why}: {query}"
    recommendation = "read fewer blocks: index the filter (IX011), narrow the projection, or partition"

    def judge(self, wl: Workload, s: Statement, t: IoHeavyThresholds) -> Verdict | None:
        block = wl.snap.block_size
        read = s.shared_blks_read / s.calls
        touched = s.blocks_per_call
        hit_ratio = s.shared_blks_hit / (s.shared_blks_hit + s.shared_blks_read) if touched else 1.0
        read_share = s.blk_read_ms / s.total_exec_ms if s.total_exec_ms > 0 else 0.0
        reasons: list[tuple[Severity, str]] = []
        if read >= t.warning_read_blocks:
            reasons.append((Severity.WARNING, f"reads {fmt_bytes(read * block)} per call from outside shared buffers"))
        elif read >= t.info_read_blocks:
            reasons.append((Severity.INFO, f"reads {fmt_bytes(read * block)} per call from outside shared buffers"))
        if touched >= t.hit_ratio_min_blocks and hit_ratio < t.min_hit_ratio:
            reasons.append((Severity.INFO, f"cache hit ratio {100 * hit_ratio:.0f}% over "
                                           f"{fmt_bytes(touched * block)} per call"))
        if s.calls >= t.touched_min_calls and touched >= t.info_touched_blocks and read < t.info_read_blocks:
            reasons.append((Severity.INFO, f"touches {fmt_bytes(touched * block)} of buffers per call, mostly "
                                           f"cached (CPU, not I/O), to return {s.rows_per_call:,.1f} rows"))
        if s.calls >= t.read_time_min_calls and read_share >= t.max_read_time_share:
            reasons.append((Severity.INFO, f"{100 * read_share:.0f}% of its time is spent reading blocks"))
        if not reasons:
            return None
        return Verdict(
            severity=max(r[0] for r in reasons),
            evidence={"read_blocks_per_call": round(read, 1), "blocks_per_call": round(touched, 1),
                      "blocks_per_returned_row": round(touched / max(s.rows_per_call, 1.0), 1),
                      "hit_ratio": round(hit_ratio, 3), "read_time_share": round(read_share, 3)},
            context={"why": "; ".join(r[1] for r in reasons)},
        )
