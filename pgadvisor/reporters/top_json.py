"""The top view as JSON (format_version 1): the ranking and what it covers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pgadvisor.top import TopList

if TYPE_CHECKING:
    from pgadvisor.reporters import RenderOptions


def render(top: TopList, opts: RenderOptions) -> str:
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
