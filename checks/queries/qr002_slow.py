"""QR002 query.slow: statements with a high mean time."""

from __future__ import annotations

from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, threshold


@dataclass(frozen=True, slots=True)
class SlowThresholds:
    """Keys of [checks.QR002]."""

    min_calls: int = threshold(100, help="Ignore statements called fewer times (one-off reports and DDL).")
    warning_mean_ms: float = threshold(100.0, help="Mean time (execution + planning, ms) that is a warning.")
    critical_mean_ms: float = threshold(1000.0, help="Mean time (ms) that is critical.")

    def __post_init__(self) -> None:
        if not 0 <= self.warning_mean_ms <= self.critical_mean_ms:
            raise ValueError("expected 0 <= warning_mean_ms <= critical_mean_ms")


class Slow(StatementCheck[SlowThresholds]):
    """Statement is slow on average.

    ## Why it matters
    A statement that takes more than 100 ms on average, called often, is what users wait for and what holds
    connections, locks and snapshots open. It is the first place to look for a missing index or a rewrite.

    ## Evidence
    pg_stat_statements: `mean_exec_time` (pss 1.8+; `mean_time` before), plus `total_plan_time / plans` when
    `pg_stat_statements.track_planning` is on, and `calls`. Rows of the same queryid (other roles, and on pss 1.9+
    the nested and top-level entries the `toplevel` column separates) are added up, so a statement is reported
    once per database. The finding's object is `queryid:<n>`; the evidence holds the text.

    ## How to fix
    Look at its plan without running it, then index (IX011 names the index) or rewrite:

    ```bash
    pgadvisor explain "dbname=app" --queryid 1234567890
    ```

    ## Thresholds
    Generated from the thresholds class. PgHero uses 20 ms, which floods mixed workloads; pg_gather 10 s / 60 s,
    which is far too late for anything user-facing.

    ## False positives
    Batch jobs and reports that are slow by nature: suppress their queryid in the baseline.

    ## References
    https://www.postgresql.org/docs/current/pgstatstatements.html
    https://www.postgresql.org/docs/current/using-explain.html
    """

    code = "QR002"
    name = "query.slow"
    default_severity = Severity.WARNING
    requires = ("statements",)
    thresholds = SlowThresholds
    message = "mean {mean_total_ms} ms over {calls} calls: {query}"
    recommendation = "inspect its plan with `pgadvisor explain --queryid {queryid}`, then index or rewrite it"

    judge_utility = True  # a slow VACUUM or CREATE INDEX is slow too

    def judge(self, wl: Workload, s: Statement, t: SlowThresholds) -> Verdict | None:
        plan = s.mean_plan_ms or 0.0
        mean = s.mean_exec_ms + plan
        if mean < t.warning_mean_ms:
            return None
        return Verdict(
            severity=Severity.CRITICAL if mean >= t.critical_mean_ms else Severity.WARNING,
            evidence={"mean_total_ms": round(mean, 1),
                      "mean_plan_ms": None if s.mean_plan_ms is None else round(plan, 3),
                      "max_ms": round(s.max_exec_ms, 1)},
        )
