"""The explain view as JSON: the statement, how it was planned, the notes and the plan itself."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pgadvisor.plans import Explained

if TYPE_CHECKING:
    from pgadvisor.reporters import RenderOptions


def as_dict(result: Explained) -> dict[str, Any]:
    """The document of `pgadvisor explain --format json`."""
    return {
        "queryid": result.queryid,
        "database": result.database,
        "query": result.query,
        "method": result.method,
        "notes": [{"severity": n.severity, "node": n.node, "message": n.message} for n in result.notes],
        "plan": result.plan,
    }


def render(result: Explained, opts: RenderOptions) -> str:
    """The explained statement as one JSON document (escapes every control character, so terminal-safe)."""
    return json.dumps(as_dict(result), indent=1) + "\n"
