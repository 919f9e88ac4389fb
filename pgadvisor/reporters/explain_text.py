"""The explain view for a terminal: the plan as an indented tree, then what to look at first."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pgadvisor.plans import Explained, node_label, num
from pgadvisor.textsafe import safe, safe_block

if TYPE_CHECKING:
    from pgadvisor.reporters import RenderOptions


def render(result: Explained, opts: RenderOptions) -> str:
    """The plan as an indented tree, then the notes; server and file texts escaped by `safe()`/`safe_block()`."""
    head = []
    if result.queryid is not None:
        head.append(f"queryid {result.queryid}" + (f" in {safe(result.database)}" if result.database else ""))
    head.append(f"method: {safe(_METHODS.get(result.method, result.method))}")
    lines = [" · ".join(head), "", safe_block(result.query.strip()), ""]
    lines.extend(_tree(result.plan))
    lines.append("")
    if result.notes:
        lines.append("What to look at:")
        lines.extend(f"  {safe(n.severity):<8} {safe(n.node)}: {safe(n.message)}" for n in result.notes)
    else:
        lines.append("Nothing stands out: no large sequential scan, spill, large nested loop or misestimate.")
    return "\n".join(lines) + "\n"


_METHODS = {
    "plain": "EXPLAIN (not executed)",
    "generic_plan": "EXPLAIN (GENERIC_PLAN), not executed",
    "prepare_generic": "generic plan of a prepared statement (force_generic_plan), not executed",
    "analyze": "EXPLAIN ANALYZE: the statement WAS executed, in a read-only transaction rolled back afterwards",
    "plan_file": "plan file",
}


def _tree(node: Mapping[str, Any], depth: int = 0) -> Iterator[str]:
    parts = [node_label(node)]
    est = num(node, "Plan Rows")
    cost = num(node, "Total Cost")
    if est is not None:
        parts.append(f"rows={est:,.0f}")
    if cost is not None:
        parts.append(f"cost={cost:,.2f}")
    actual = num(node, "Actual Rows")
    if actual is not None:
        parts.append(f"actual rows={actual:,.0f} loops={int(num(node, 'Actual Loops') or 0)}")
        ms = num(node, "Actual Total Time")
        if ms is not None:
            parts.append(f"time={ms:,.3f} ms")
    for key in ("Index Name", "Filter", "Index Cond", "Hash Cond", "Join Filter", "Sort Key"):
        value = node.get(key)
        if value:
            parts.append(f"{key.lower()}: {', '.join(value) if isinstance(value, list) else value}")
    yield "  " * depth + ("-> " if depth else "") + safe("  ".join(parts))
    for child in node.get("Plans") or ():
        if isinstance(child, Mapping):
            yield from _tree(child, depth + 1)
