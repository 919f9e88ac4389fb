"""QR005 query.temp_spill: sorts and hashes spilling to disk."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, fmt_bytes, threshold

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class TempSpillThresholds:
    """Keys of [checks.QR005]."""

    min_temp_blocks: float = threshold(1024, help="Temp blocks written per call that are reported (8 MiB).")
    min_calls: int = threshold(100, help="Ignore statements called fewer times.")
    warning_bytes_per_day: float = threshold(
        50 * 1024**3, help="Temp bytes one statement writes per day that make it a warning (50 GiB).")


class TempSpill(StatementCheck[TempSpillThresholds]):
    """Statement spills sorts or hashes to temporary files.

    ## Why it matters
    A sort, hash or materialisation that does not fit `work_mem` writes temporary files and reads them back:
    each call then costs disk writes and runs many times slower than in memory.

    ## Evidence
    `temp_blks_written` per call, `temp_blk_write_time` (pss 1.10+, with `track_io_timing`), `calls`, the
    current `work_mem`, and the temp bytes the statement writes per day (over at least one day, so a young
    counting window is not extrapolated). The work_mem that would fit is twice the temp bytes per call rounded
    up to a power of two MiB: in memory, tuples take more room than in a temp file.

    ## How to fix
    For this statement only, not the whole server (every sort node of every connection may use `work_mem`):

    ```sql
    BEGIN; SET LOCAL work_mem = '64MB'; <the statement>; COMMIT;
    ALTER ROLE reporting SET work_mem = '64MB';   -- or for the role that runs it
    ```
    An index matching `ORDER BY`, or a `LIMIT`, can remove the sort altogether.

    ## Thresholds
    Generated from the thresholds class (pg_gather warns at 50 GB/day of temp for the database).

    ## False positives
    Large reports that cannot fit in memory whatever work_mem is; maintenance commands (CREATE INDEX uses
    `maintenance_work_mem`) are not judged.

    ## References
    https://www.postgresql.org/docs/current/runtime-config-resource.html#GUC-WORK-MEM
    https://www.postgresql.org/docs/current/pgstatstatements.html
    """

    code = "QR005"
    name = "query.temp_spill"
    default_severity = Severity.INFO
    requires = ("statements",)
    thresholds = TempSpillThresholds
    message = "writes {temp} of temporary files per call (work_mem = {work_mem}): {query}"
    recommendation = "give this statement work_mem = '{fit_mb}MB' (SET LOCAL or per role), or avoid the sort"

    def judge(self, wl: Workload, s: Statement, t: TempSpillThresholds) -> Verdict | None:
        per_call = s.temp_blks_written / s.calls
        if per_call < t.min_temp_blocks:
            return None
        block = wl.snap.block_size
        work_mem = wl.snap.setting("work_mem")
        work_mem_bytes = work_mem.value if work_mem is not None else None
        per_call_bytes = per_call * block
        fit_mb = 2 ** math.ceil(math.log2(max(1.0, 2 * per_call_bytes / MiB)))
        per_day = wl.per_day(s.temp_blks_written * block, s.database)
        return Verdict(
            severity=Severity.WARNING if per_day >= t.warning_bytes_per_day else Severity.INFO,
            evidence={"temp_blks_written_per_call": round(per_call, 1), "temp_bytes_per_call": int(per_call_bytes),
                      "temp_bytes_per_day": int(per_day),
                      "work_mem_bytes": int(work_mem_bytes) if work_mem_bytes else None, "fit_mb": fit_mb},
            context={"temp": fmt_bytes(per_call_bytes), "work_mem": fmt_bytes(work_mem_bytes)},
            fix_sql=f"SET LOCAL work_mem = '{fit_mb}MB';  -- inside the transaction that runs queryid {s.queryid}",
        )
