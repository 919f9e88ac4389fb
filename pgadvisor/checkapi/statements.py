"""`StatementCheck`: the base of checks that judge the workload one statement at a time.

The base walks the workload (`Workload.judged`: statements of a known database, called at least once, not
pgadvisor's own, not utility statements unless `judge_utility` is set, and called at least the thresholds'
`min_calls` when they have one), asks `judge` about each, and builds
the finding of each `Verdict`: object `queryid:<n>`, the statement's database, and the statement's own
evidence (queryid, text, calls, mean and total time, rows per call) followed by the verdict's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from pgadvisor.checkapi.check import Check, Confidence, Finding, Scalar, Severity
from pgadvisor.checkapi.workload import Statement, Workload, workload
from pgadvisor.snapshot import Snapshot

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a statement check concluded about one statement.

    `evidence` is added to the statement's own; `context` holds values for the message and recommendation
    templates only (human-readable sizes), not stored as evidence. `severity` None is the check's default.
    """

    evidence: Mapping[str, Scalar] = field(default_factory=dict)
    severity: Severity | None = None
    fix_sql: str | None = None
    confidence: Confidence = Confidence.HIGH
    context: Mapping[str, Scalar] | None = None


class StatementCheck(Check[T]):
    """Base of a check that judges each statement of the workload: implement `judge`, which returns a `Verdict`
    for a statement to report, or None.

    When the thresholds have a `min_calls`, statements called fewer times are not judged."""

    judge_utility: ClassVar[bool] = False
    """Also judge utility statements (VACUUM, CREATE INDEX, SET ...): for checks about time, not SQL."""

    def run(self, snap: Snapshot, t: T) -> Iterator[Finding]:
        """One finding per statement `judge` reports."""
        wl = workload(snap)
        min_calls = getattr(t, "min_calls", 0)
        for stmt in wl.judged(utility=self.judge_utility):
            if stmt.calls < min_calls:
                continue
            verdict = self.judge(wl, stmt, t)
            if verdict is not None:
                yield self.statement_finding(stmt, verdict)

    def judge(self, wl: Workload, stmt: Statement, t: T) -> Verdict | None:
        """The verdict on one statement, or None when it is fine. Must not do I/O."""
        raise NotImplementedError

    def statement_finding(self, stmt: Statement, verdict: Verdict) -> Finding:
        """The finding of a verdict on a statement."""
        return self.finding(
            obj=stmt.object,
            database=stmt.database,
            evidence={**stmt.evidence(), **verdict.evidence},
            severity=verdict.severity,
            fix_sql=verdict.fix_sql,
            confidence=verdict.confidence,
            context=verdict.context,
        )
