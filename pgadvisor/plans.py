"""What a DBA looks at first in an `EXPLAIN (FORMAT JSON)` plan. Pure: plan JSON in, notes out.

The plan comes from a server (`pgadvisor.explain`, which plans through `collectors.planning`) or from a file saved
from `EXPLAIN (ANALYZE, FORMAT JSON)` (`explain_file`, no server needed); the explain views in
`pgadvisor.reporters` render an `Explained`. Nothing here talks to PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgadvisor.checkapi import fmt_bytes

LARGE_TABLE_ROWS = 100_000
"""A sequential scan of a table with at least this many estimated rows is pointed out."""

NESTED_LOOP_ROWS = 10_000
"""A nested loop whose outer side yields this many rows (estimated, or actual x loops) is pointed out."""

MISESTIMATE_FACTOR = 10.0
"""Estimated and actual rows differing by this factor (both ways) are pointed out ..."""

MISESTIMATE_MIN_ROWS = 100
"""... when the larger of the two reaches this many rows."""


class ExplainError(Exception):
    """The statement or plan file is refused (exit code 2): an unknown queryid, text that does not parse, a
    refused --analyze, a file that is not a plan. The message is one line. Server problems (cannot connect, lost
    connection, permission denied, timeouts) are `ConnectError` / `CollectError` (exit code 3), as for audit."""


@dataclass(frozen=True, slots=True)
class Note:
    """One thing worth a look in a plan."""

    severity: str  # warning | info
    node: str  # "Seq Scan on public.orders"
    message: str


@dataclass(frozen=True)
class Explained:
    """A plan and what `review()` found in it."""

    query: str
    method: str  # plain | generic_plan | prepare_generic | analyze | plan_file
    plan: Mapping[str, Any]
    notes: tuple[Note, ...]
    queryid: int | None = None
    database: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------- review (pure)


def review(plan: Mapping[str, Any], *, table_rows: Mapping[str, float] | None = None,
           work_mem_bytes: float | None = None) -> tuple[Note, ...]:
    """What a DBA looks at first: sequential scans of large tables, sorts and hashes that spill (or would),
    nested loops over large inputs, and estimates far from the actual rows (ANALYZE plans).

    `table_rows` maps `schema.table` (and bare `table`) to `pg_class.reltuples`; without it a scan's size is
    judged from the plan's own rows (plus rows removed by the filter, in ANALYZE plans).
    """
    notes: list[Note] = []
    for node in nodes(plan):
        notes.extend(_node_notes(node, table_rows or {}, work_mem_bytes))
    order = {"warning": 0, "info": 1}
    return tuple(sorted(notes, key=lambda n: order.get(n.severity, 2)))


def nodes(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The plan node and all nodes below it, depth first."""
    yield node
    for child in node.get("Plans") or ():
        if isinstance(child, Mapping):
            yield from nodes(child)


def num(node: Mapping[str, Any], key: str) -> float | None:
    """A numeric field of a plan node (None when absent or not a number)."""
    value = node.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def node_label(node: Mapping[str, Any]) -> str:
    kind = str(node.get("Node Type", "?"))
    rel = node.get("Relation Name")
    if rel:
        schema = node.get("Schema")
        return f"{kind} on {schema + '.' if schema else ''}{rel}"
    return kind


def _actual_total(node: Mapping[str, Any]) -> float | None:
    rows = num(node, "Actual Rows")
    loops = num(node, "Actual Loops")
    return None if rows is None else rows * (loops or 1.0)


def _node_notes(node: Mapping[str, Any], table_rows: Mapping[str, float],
                work_mem_bytes: float | None) -> Iterator[Note]:
    kind = node.get("Node Type")
    label = node_label(node)
    if kind == "Seq Scan" and node.get("Relation Name"):
        rel = str(node["Relation Name"])
        schema = node.get("Schema")
        size = table_rows.get(f"{schema}.{rel}") if schema else None
        if size is None:
            size = table_rows.get(rel)
        if size is None:
            actual, removed = _actual_total(node), num(node, "Rows Removed by Filter")
            size = (actual or 0) + (removed or 0) if actual is not None else num(node, "Plan Rows")
        if size is not None and size >= LARGE_TABLE_ROWS:
            yield Note("warning", label, f"sequential scan of a large table (about {size:,.0f} rows)"
                       + (f", filter {node['Filter']}: an index on the filtered columns may serve it"
                          if node.get("Filter") else ""))
    if kind in ("Sort", "Incremental Sort"):
        if node.get("Sort Space Type") == "Disk":
            used = num(node, "Sort Space Used")
            yield Note("warning", label, "sort spilled to disk" + (f" ({fmt_bytes(used * 1024)})" if used else "")
                       + ": raise work_mem for this statement or add an index matching the ORDER BY")
        elif work_mem_bytes and node.get("Sort Space Type") is None:
            rows, width = num(node, "Plan Rows"), num(node, "Plan Width")
            if rows and width and rows * (width + 24) > work_mem_bytes:
                yield Note("info", label, f"sort of about {fmt_bytes(rows * (width + 24))} may not fit work_mem "
                           f"({fmt_bytes(work_mem_bytes)}) and spill to disk")
    if kind == "Hash" and (num(node, "Hash Batches") or 1) > 1:
        yield Note("warning", label, f"hash built in {int(num(node, 'Hash Batches') or 0)} batches (spilled): "
                   "raise work_mem or hash_mem_multiplier for this statement")
    if kind == "Nested Loop":
        children = [c for c in node.get("Plans") or () if isinstance(c, Mapping)]
        if children:
            outer = children[0]
            rows = _actual_total(outer)
            rows = rows if rows is not None else num(outer, "Plan Rows")
            if rows is not None and rows >= NESTED_LOOP_ROWS:
                inner = node_label(children[1]) if len(children) > 1 else "its inner side"
                yield Note("warning", label, f"nested loop over {rows:,.0f} outer rows runs {inner} that many times: "
                           "an index on the join key or a hash join (fresh statistics) may be cheaper")
    estimated, actual = num(node, "Plan Rows"), num(node, "Actual Rows")
    if estimated is not None and actual is not None and num(node, "Actual Loops") != 0:
        big, small = max(estimated, actual), max(1.0, min(estimated, actual))
        if big >= MISESTIMATE_MIN_ROWS and big / small >= MISESTIMATE_FACTOR:
            yield Note("warning", label, f"estimated {estimated:,.0f} rows, got {actual:,.0f} per loop: stale or "
                       "missing statistics (ANALYZE, extended statistics) make the planner choose badly")


# ---------------------------------------------------------------------------------------------------- plan files


def load_plan_file(path: Path) -> Mapping[str, Any]:
    """The top plan node of an `EXPLAIN (FORMAT JSON)` output file (with or without ANALYZE)."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ExplainError(f"cannot read plan file {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExplainError(f"{path}: not a JSON plan ({exc})") from None
    return top_plan(data, str(path))


def top_plan(data: Any, where: str) -> Mapping[str, Any]:
    """The top plan node of decoded EXPLAIN (FORMAT JSON) output; ExplainError when it is not one."""
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, Mapping) and isinstance(data.get("QUERY PLAN"), list):  # psql's column header kept
        return top_plan(data["QUERY PLAN"], where)
    if isinstance(data, Mapping) and isinstance(data.get("Plan"), Mapping):
        plan: Mapping[str, Any] = data["Plan"]
        return plan
    raise ExplainError(f"{where}: not an EXPLAIN (FORMAT JSON) plan (no \"Plan\" object)")


def explain_file(path: Path) -> Explained:
    """Review a saved plan without a server."""
    plan = load_plan_file(path)
    return Explained(query=f"(plan file {path})", method="plan_file", plan=plan, notes=review(plan))
