"""QR003 query.dominant: one statement takes a large share of all execution time."""

from __future__ import annotations

from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, fmt_duration, threshold


@dataclass(frozen=True, slots=True)
class DominantThresholds:
    """Keys of [checks.QR003]."""

    min_share: float = threshold(0.30, help="Report a statement taking at least this share of the database's time.")
    min_workload_s: float = threshold(
        300.0, help="Only judge databases whose top-level statements ran this many seconds in total.")

    def __post_init__(self) -> None:
        if not 0 < self.min_share <= 1:
            raise ValueError("expected 0 < min_share <= 1")


class Dominant(StatementCheck[DominantThresholds]):
    """One statement takes a large share of the database's execution time.

    ## Why it matters
    When a third of all the time a database spends executing goes to one statement, tuning that statement is
    the biggest single win available, and the server's capacity depends on it.

    ## Evidence
    `total_exec_time` of the statement (every role; top-level and nested entries added up) over the sum of
    `total_exec_time` of the database's top-level entries (pss 1.9+ `toplevel`; nested time is already inside
    its caller's), since pg_stat_statements was last reset. An idle server is not judged: the database's
    workload must reach `min_workload_s`.

    ## How to fix
    Tune that statement first: `pgadvisor explain --queryid N` for its plan, IX011 for an index, or cache its
    result when it is called far more often than its data changes.

    ## Thresholds
    Generated from the thresholds class. postgres-checkup K003 flags 30 %, pg-extras "outliers" 33 %.
    `min_workload_s` was 1 h: a floor no planted case could reach (an hour of execution keeps 90 sessions busy
    for 40 s), which left the check untested at its defaults. Five minutes of execution keeps an idle database
    quiet (the planted idle case has 0.06 s) and is enough for a 30 % share to mean 90 s of one statement.

    ## False positives
    A database that runs one job by design (an ETL step, a queue poller): the share is expected. Suppress it.

    ## References
    https://www.postgresql.org/docs/current/pgstatstatements.html
    https://gitlab.com/postgres-ai/postgres-checkup
    """

    code = "QR003"
    name = "query.dominant"
    default_severity = Severity.WARNING
    requires = ("statements",)
    thresholds = DominantThresholds
    message = "{share_pct}% of the database's execution time ({total}): {query}"
    recommendation = "tune this statement first: `pgadvisor explain --queryid {queryid}`"

    judge_utility = True  # time is time, whatever the statement

    def judge(self, wl: Workload, s: Statement, t: DominantThresholds) -> Verdict | None:
        total = wl.top_total_ms(s.database)
        if total <= 0 or total < t.min_workload_s * 1000:
            return None
        share = min(1.0, s.total_exec_ms / total)
        if share < t.min_share:
            return None
        return Verdict(
            evidence={"share_pct": round(100 * share, 1), "database_total_ms": round(total, 1)},
            context={"total": fmt_duration(s.total_exec_ms / 1000)},
        )
