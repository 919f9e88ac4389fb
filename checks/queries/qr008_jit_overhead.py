"""QR008 query.jit_overhead: JIT compilation costs more than it saves on short statements."""

from __future__ import annotations

from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, ident, threshold


@dataclass(frozen=True, slots=True)
class JitOverheadThresholds:
    """Keys of [checks.QR008]."""

    min_share: float = threshold(
        0.2, help="Share of the execution time spent compiling JIT code that is reported (0.2 = 20 %)."
    )
    min_calls: int = threshold(100, help="Ignore statements called fewer times.")

    def __post_init__(self) -> None:
        if not 0 <= self.min_share <= 1:
            raise ValueError("expected 0 <= min_share <= 1")


class JitOverhead(StatementCheck[JitOverheadThresholds]):
    """Statement spends a large part of its time compiling JIT code.

    ## Why it matters
    JIT compiles a statement's expressions to machine code with LLVM when its estimated cost passes
    `jit_above_cost` (and inlines and optimises past `jit_inline_above_cost` and `jit_optimize_above_cost`).
    The code is not kept: every execution compiles again. The cost estimate is not the run time, so a
    statement that the planner overestimates (a big join that finds few rows) pays tens or hundreds of
    milliseconds of compilation to save a few microseconds, on every call.

    ## Evidence
    pg_stat_statements `jit_generation_time + jit_inlining_time + jit_optimization_time + jit_emission_time`
    (pss 1.10+, PostgreSQL 15+; older versions have no JIT columns and this check finds nothing) against
    `total_exec_time`, and `calls`. Rows of one queryid are added up. The execution time includes the
    compilation; the share is capped at 100 % (pss times compilation and execution separately, so the sum of
    JIT times may slightly exceed the execution time). `jit_functions` is not collected, so it is not in the
    evidence (adapted from the catalog). The current `jit`, `jit_above_cost` settings are.

    ## How to fix
    For the role or database that runs these statements, raise the cost from which JIT is used, or turn it
    off (OLTP workloads rarely gain from it):

    ```sql
    ALTER ROLE app SET jit_above_cost = 1000000;   -- or
    ALTER ROLE app SET jit = off;
    ```
    Fixing the cost overestimate (ANALYZE, extended statistics) also keeps JIT away from short statements.

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Analytic statements whose compilation is a large share of a short run but which run rarely: raise
    `min_calls`.

    ## References
    https://www.postgresql.org/docs/current/jit-decision.html
    https://www.postgresql.org/docs/current/runtime-config-query.html#GUC-JIT-ABOVE-COST
    https://www.postgresql.org/docs/current/pgstatstatements.html
    """

    code = "QR008"
    name = "query.jit_overhead"
    default_severity = Severity.INFO
    requires = ("statements",)
    thresholds = JitOverheadThresholds
    message = "JIT compilation is {jit_share_pct} % of its execution time ({jit_ms_per_call} ms per call): {query}"
    recommendation = "raise jit_above_cost (now {jit_above_cost}) or SET jit = off for the role that runs it"

    judge_utility = True  # as before: JIT time is judged wherever it was spent

    def judge(self, wl: Workload, s: Statement, t: JitOverheadThresholds) -> Verdict | None:
        if s.jit_ms is None or s.jit_ms <= 0:
            return None
        share = min(1.0, s.jit_ms / s.total_exec_ms) if s.total_exec_ms > 0 else 1.0
        if share < t.min_share:
            return None
        jit, above = wl.snap.setting("jit"), wl.snap.setting("jit_above_cost")
        return Verdict(
            evidence={"jit_ms": round(s.jit_ms, 1), "jit_ms_per_call": round(s.jit_ms / s.calls, 3),
                      "jit_share_pct": round(100 * share, 1), "jit": jit.setting if jit is not None else None,
                      "jit_above_cost": above.setting if above is not None else None},
            fix_sql=f"ALTER DATABASE {ident(s.database or '')} SET jit_above_cost = 1000000;  -- or ALTER ROLE "
                    "<role> SET jit = off",
        )
