"""QR007 query.plan_heavy: planning costs as much as executing."""

from __future__ import annotations

from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, threshold


@dataclass(frozen=True, slots=True)
class PlanHeavyThresholds:
    """Keys of [checks.QR007]."""

    min_plan_ms: float = threshold(10.0, help="Planning time per call (ms) from which a statement is reported.")
    min_ratio: float = threshold(
        1.0, help="Report when planning time per call reaches this multiple of the mean execution time."
    )
    min_calls: int = threshold(1, help="Ignore statements called fewer times.")
    min_plans_per_call: float = threshold(
        0.5, help="Report only when at least this share of the calls were planned: when most calls reuse a "
        "cached plan, the fix (a prepared statement) is already in place.")

    def __post_init__(self) -> None:
        if self.min_plan_ms < 0 or self.min_ratio < 0:
            raise ValueError("expected min_plan_ms >= 0 and min_ratio >= 0")
        if not 0 <= self.min_plans_per_call <= 1:
            raise ValueError("expected 0 <= min_plans_per_call <= 1")


class PlanHeavy(StatementCheck[PlanHeavyThresholds]):
    """Statement spends as much time being planned as being executed.

    ## Why it matters
    Every call of a statement sent as plain text (or through an unnamed prepared statement) is planned
    again. Joins of many tables, queries over hundreds of partitions, and very long IN lists can take tens of
    milliseconds to plan and a fraction of that to run: the planner, not the data, is then the latency and
    the CPU bill, and no index makes it faster.

    ## Evidence
    pg_stat_statements `total_plan_time` and `plans` (pss 1.8+, PostgreSQL 13+), which are only counted
    when `pg_stat_statements.track_planning = on` (off by default: without it this check finds nothing,
    and QR001 says so), against `mean_exec_time` and `calls`. Rows of one queryid are added up.

    Adapted from the catalog, which compares pss's `mean_plan_time` (time per plan) with the mean execution
    time: a prepared statement planned once and executed a thousand times has a large time per plan that it
    pays once. This check compares the planning time *per call* (`total_plan_time / calls`), so a statement
    whose plan is already cached is not reported; the time per plan is in the evidence. A statement most of
    whose calls reused a cached plan (`plans / calls` below `min_plans_per_call`) is not reported either: its
    one slow planning was paid once, and the fix is already in place (on a loaded server a single planning
    can take long enough to cross the per-call bar on its own).

    ## How to fix
    Plan once, run many times: use a named prepared statement (most drivers do after a few executions:
    `prepareThreshold` in pgJDBC, `prepare_threshold` in psycopg 3), and keep `plan_cache_mode = auto` so a
    generic plan is cached. Query fewer partitions per statement (constant partition keys let the planner
    prune early), and join fewer tables per statement.

    ```sql
    PREPARE report(int) AS SELECT ...;   -- planned on first use
    EXECUTE report(42);                  -- the cached plan is reused
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Statements run rarely whose planning is a few tens of milliseconds: harmless, raise `min_calls`. Planning
    time includes waits for locks taken while planning (the partitions' locks), which is not planner CPU.

    ## References
    https://www.postgresql.org/docs/current/pgstatstatements.html
    https://www.postgresql.org/docs/current/sql-prepare.html
    https://www.postgresql.org/docs/current/runtime-config-query.html#GUC-PLAN-CACHE-MODE
    """

    code = "QR007"
    name = "query.plan_heavy"
    default_severity = Severity.INFO
    requires = ("statements",)
    thresholds = PlanHeavyThresholds
    message = "planning takes {plan_per_call_ms} ms per call, execution {mean_ms} ms: {query}"
    recommendation = (
        "plan it once: a named prepared statement (or the driver's prepare threshold), fewer "
        "partitions or joined tables per statement"
    )

    judge_utility = True  # as before: planning time is judged for every statement that counted plans

    def judge(self, wl: Workload, s: Statement, t: PlanHeavyThresholds) -> Verdict | None:
        per_plan = s.mean_plan_ms  # None unless track_planning counted plans
        if per_plan is None or s.total_plan_ms is None:
            return None
        if s.plans is not None and s.plans < t.min_plans_per_call * s.calls:
            return None  # mostly a cached plan: already prepared
        per_call = s.total_plan_ms / s.calls
        if per_call < t.min_plan_ms or per_call < t.min_ratio * s.mean_exec_ms:
            return None
        return Verdict(evidence={"plans": s.plans, "plan_per_call_ms": round(per_call, 3),
                                 "mean_plan_ms": round(per_plan, 3), "total_plan_ms": round(s.total_plan_ms, 1)})
