"""The workload's top statements from pg_stat_statements, ranked by one measure, with their share.

Pure: reads a `Snapshot`. Statements are merged per (database, queryid) as the query checks merge them (every
role, top level and nested). Shares of time use top-level time only, since a function's nested statements
are already inside the time of the statement that called it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from tabulate import tabulate

from pgadvisor.analysis import analyze
from pgadvisor.checkapi.workload import Statement, merge, short
from pgadvisor.snapshot import Snapshot, Unavailable
from pgadvisor.textsafe import safe

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


def render_table(top: TopList) -> str:
    """A terminal table, one line per statement (texts and database names escaped by `safe()`)."""
    label = MEASURES[top.by][0]
    rows = [
        [r.rank, r.statement.queryid, safe(r.statement.database or ""), r.statement.calls,
         f"{r.statement.total_exec_ms:,.0f}", f"{r.statement.mean_exec_ms:,.2f}", f"{r.statement.rows_per_call:,.1f}",
         r.statement.shared_blks_read,
         r.statement.temp_blks_written, f"{100 * r.share:.1f}%", safe(short(r.statement.query, 60))]
        for r in top.rows
    ]
    head = ["#", "queryid", "database", "calls", "total ms", "mean ms", "rows/call", "blks read", "temp written",
            "share", "query"]
    lines = [f"Top {len(top.rows)} of {top.statements} statements by {label} (share: of all {label}"
             + (", top-level time only" if top.by in ("total", "mean") else "") + ")", ""]
    lines.append(tabulate(rows, headers=head, tablefmt="simple", disable_numparse=True) if rows else "(none)")
    if top.unparsed:
        lines += ["", f"{top.unparsed} statement text(s) could not be parsed (truncated or not SQL): the parse-tree "
                      "checks skip them."]
    return "\n".join(lines) + "\n"


def render_json(top: TopList) -> str:
    """The ranking as JSON (format_version 1)."""
    return json.dumps({
        "format_version": 1,
        "by": top.by,
        "statements": top.statements,
        "unparsed": top.unparsed,
        "databases": list(top.databases),
        "top": [
            {"rank": r.rank, "share": round(r.share, 6), **r.statement.evidence(),
             "database": r.statement.database, "shared_blks_read": r.statement.shared_blks_read,
             "temp_blks_written": r.statement.temp_blks_written, "total_ms": round(r.statement.total_exec_ms, 3)}
            for r in top.rows
        ],
    }, indent=2) + "\n"
