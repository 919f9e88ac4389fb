"""The top view for a terminal: one line per ranked statement, with its share of the workload."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tabulate import tabulate

from pgadvisor.checkapi.workload import short
from pgadvisor.textsafe import safe
from pgadvisor.top import MEASURES, TopList

if TYPE_CHECKING:
    from pgadvisor.reporters import RenderOptions


def render(top: TopList, opts: RenderOptions) -> str:
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
