"""QR006 query.unstable: very variable latency."""

from __future__ import annotations

from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, threshold


@dataclass(frozen=True, slots=True)
class UnstableThresholds:
    """Keys of [checks.QR006]."""

    min_ratio: float = threshold(2.0, help="Report when stddev / mean of the execution time reaches this.")
    min_calls: int = threshold(100, help="Ignore statements called fewer times.")
    min_mean_ms: float = threshold(10.0, help="Ignore statements faster than this on average (ms).")


class Unstable(StatementCheck[UnstableThresholds]):
    """Statement's latency varies wildly from call to call.

    ## Why it matters
    A statement usually fast and sometimes very slow points at a plan that flips with its parameters, skewed
    data (one customer with a million orders), deep OFFSET pages or lock waits. Its mean hides the slow calls
    users notice.

    ## Evidence
    `stddev_exec_time / mean_exec_time`, `min_exec_time` and `max_exec_time` (since `minmax_stats_since` on
    pss 1.11+), `calls`. Entries of the same queryid (roles, nested and top level) are pooled.

    ## How to fix
    Compare the plan for a common and a rare parameter value (`pgadvisor explain --query '...'`). Skewed data:
    extended statistics (`CREATE STATISTICS`), `plan_cache_mode = force_custom_plan` for the role, or a
    partial index for the heavy value. Deep OFFSET pages: keyset pagination (QR009).

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Statements whose work depends on the parameter by design (a search over one or over all categories), and
    statements that sometimes wait on locks held by batch jobs.

    ## References
    https://www.postgresql.org/docs/current/pgstatstatements.html
    https://www.postgresql.org/docs/current/sql-createstatistics.html
    """

    code = "QR006"
    name = "query.unstable"
    default_severity = Severity.INFO
    requires = ("statements",)
    thresholds = UnstableThresholds
    message = "stddev {stddev_ms} ms is {ratio}x its mean {mean_ms} ms (max {max_ms} ms): {query}"
    recommendation = "compare its plans for common and rare parameters; consider extended statistics or a custom plan"

    def judge(self, wl: Workload, s: Statement, t: UnstableThresholds) -> Verdict | None:
        if s.mean_exec_ms < t.min_mean_ms or s.mean_exec_ms <= 0:
            return None
        ratio = s.stddev_exec_ms / s.mean_exec_ms
        if ratio < t.min_ratio:
            return None
        return Verdict(evidence={"stddev_ms": round(s.stddev_exec_ms, 3), "ratio": round(ratio, 1),
                                 "min_ms": round(s.min_exec_ms, 3), "max_ms": round(s.max_exec_ms, 3)})
