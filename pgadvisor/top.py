"""The workload's top statements from pg_stat_statements, ranked by one measure, with their share.

Pure: reads a `Snapshot` (live or saved); the top views in `pgadvisor.reporters` render the `TopList`.
Statements are merged per (database, queryid) as the query checks merge them (every role, top level and nested).
Shares of time use top-level time only, since a function's nested statements are already inside the time of the
statement that called it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pgadvisor.analysis import analyze
from pgadvisor.checkapi.workload import Statement, merge
from pgadvisor.snapshot import Snapshot, Unavailable

# --by NAME -> (label, the measure ranked, the measure its share is of)
MEASURES: dict[str, tuple[str, Callable[[Statement], float], Callable[[Statement], float]]] = {
    "total": ("total time", lambda s: s.total_exec_ms, lambda s: s.top_exec_ms),
    "mean": ("mean time", lambda s: s.mean_exec_ms, lambda s: s.top_exec_ms),
    "calls": ("calls", lambda s: float(s.calls), lambda s: float(s.calls)),
    "rows": ("rows", lambda s: float(s.rows), lambda s: float(s.rows)),
    "reads": ("shared blocks read", lambda s: float(s.shared_blks_read), lambda s: float(s.shared_blks_read)),
    "temp": ("temp blocks written", lambda s: float(s.temp_blks_written), lambda s: float(s.temp_blks_written)),
}


class TopUnavailable(Exception):
    """pg_stat_statements could not be read; the message says why and how to enable it."""


@dataclass(frozen=True, slots=True)
class TopRow:
    """One ranked statement with its share of the workload for the chosen measure."""

    rank: int
    statement: Statement
    share: float  # 0..1 of the whole workload (time shares: of top-level time)


@dataclass(frozen=True, slots=True)
class TopList:
    """The ranking and what it covers."""

    by: str
    rows: tuple[TopRow, ...]
    statements: int
    unparsed: int  # statement texts the parse-tree checks cannot read (truncated, not SQL)
    databases: tuple[str, ...]


def top_statements(snap: Snapshot, *, by: str = "total", limit: int = 20, database: str | None = None) -> TopList:
    """Rank the snapshot's statements; TopUnavailable when pg_stat_statements was not read."""
    if isinstance(snap.statements, Unavailable):
        raise TopUnavailable(
            f"pg_stat_statements is not available: {snap.statements.reason} (add it to shared_preload_libraries, "
            "restart, then CREATE EXTENSION pg_stat_statements)"
        )
    if by not in MEASURES:
        raise ValueError(f"unknown measure {by!r} (one of {', '.join(MEASURES)})")
    _, measure, share_of = MEASURES[by]
    statements = [s for s in merge(snap.statements) if s.database is not None
                  and (database is None or s.database == database)]
    whole = sum(share_of(s) for s in statements) or 1.0
    ranked = sorted(statements, key=lambda s: (-measure(s), s.queryid))[:limit]
    return TopList(
        by=by,
        rows=tuple(TopRow(i, s, share_of(s) / whole) for i, s in enumerate(ranked, start=1)),
        statements=len(statements),
        unparsed=sum(1 for s in statements if analyze(s.query).parse_error is not None),
        databases=tuple(sorted({s.database for s in statements if s.database})),
    )
