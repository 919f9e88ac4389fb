"""`pgadvisor explain`: the plan of one workload statement, and what a DBA looks at first in it.

The statement comes from pg_stat_statements (`--queryid`) or the command line (`--query`). Planning is
execution, so it goes through `collectors.planning.plan()`, the routine the what-if collector uses too:

- text from pg_stat_statements is planned only as the role that ran it (`SET LOCAL ROLE`, that role's own
  search_path); when the connected role may not become it, or the statement reaches a function, operator or
  definition that is neither built in nor owned by a superuser, it is not planned and the reason is printed.
  Text given with `--query` is the user's own and is planned as the connected role, under the same checks;
- always inside a transaction that is rolled back, `READ ONLY`, with the session's statement and lock timeouts;
- without `$n` parameters: `EXPLAIN (VERBOSE, FORMAT JSON) <statement>`; with parameters (as
  pg_stat_statements stores every statement): the generic plan, `EXPLAIN (GENERIC_PLAN)` on PostgreSQL 16+,
  else `PREPARE` + `SET LOCAL plan_cache_mode = force_generic_plan` + `EXPLAIN EXECUTE` with NULL arguments;
- `--analyze` runs the statement (`EXPLAIN (ANALYZE, BUFFERS)`), as the same role, read-only and rolled back:
  only a single SELECT with literal values, without data-modifying parts, SELECT INTO or row locks, reading no
  view, calling only built-in functions that are not volatile (checked on the parse tree and in the catalog).
  Anything else is refused with the reason (exit 2).

A plan saved from `EXPLAIN (ANALYZE, FORMAT JSON)` can be reviewed offline with `--plan-file`; it adds estimated
against actual rows, sorts that went to disk and hashes that needed batches.

`review()` is pure: plan JSON in, notes out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from pgadvisor.analysis import analyze
from pgadvisor.checkapi import fmt_bytes
from pgadvisor.collectors import planning
from pgadvisor.collectors.base import extension_schema
from pgadvisor.connection import SessionOptions, connect, redact
from pgadvisor.redact import redact_sql
from pgadvisor.textsafe import safe, safe_block

LARGE_TABLE_ROWS = 100_000
"""A sequential scan of a table with at least this many estimated rows is pointed out."""

NESTED_LOOP_ROWS = 10_000
"""A nested loop whose outer side yields this many rows (estimated, or actual x loops) is pointed out."""

MISESTIMATE_FACTOR = 10.0
"""Estimated and actual rows differing by this factor (both ways) are pointed out ..."""

MISESTIMATE_MIN_ROWS = 100
"""... when the larger of the two reaches this many rows."""


class ExplainError(Exception):
    """Explaining failed. `exit_code` is 2 for a usage problem (unknown queryid, unparsable text, refused
    --analyze) and 3 for a server problem (cannot connect, permission denied). The message is one line."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


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

    def to_dict(self) -> dict[str, Any]:
        """The JSON output of `pgadvisor explain --format json`."""
        return {
            "queryid": self.queryid,
            "database": self.database,
            "query": self.query,
            "method": self.method,
            "notes": [{"severity": n.severity, "node": n.node, "message": n.message} for n in self.notes],
            "plan": self.plan,
        }


# ---------------------------------------------------------------------------------------------------- review (pure)


def review(plan: Mapping[str, Any], *, table_rows: Mapping[str, float] | None = None,
           work_mem_bytes: float | None = None) -> tuple[Note, ...]:
    """What a DBA looks at first: sequential scans of large tables, sorts and hashes that spill (or would),
    nested loops over large inputs, and estimates far from the actual rows (ANALYZE plans).

    `table_rows` maps `schema.table` (and bare `table`) to `pg_class.reltuples`; without it a scan's size is
    judged from the plan's own rows (plus rows removed by the filter, in ANALYZE plans).
    """
    notes: list[Note] = []
    for node in _nodes(plan):
        notes.extend(_node_notes(node, table_rows or {}, work_mem_bytes))
    order = {"warning": 0, "info": 1}
    return tuple(sorted(notes, key=lambda n: order.get(n.severity, 2)))


def _nodes(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield node
    for child in node.get("Plans") or ():
        if isinstance(child, Mapping):
            yield from _nodes(child)


def _num(node: Mapping[str, Any], key: str) -> float | None:
    value = node.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _label(node: Mapping[str, Any]) -> str:
    kind = str(node.get("Node Type", "?"))
    rel = node.get("Relation Name")
    if rel:
        schema = node.get("Schema")
        return f"{kind} on {schema + '.' if schema else ''}{rel}"
    return kind


def _actual_total(node: Mapping[str, Any]) -> float | None:
    rows = _num(node, "Actual Rows")
    loops = _num(node, "Actual Loops")
    return None if rows is None else rows * (loops or 1.0)


def _node_notes(node: Mapping[str, Any], table_rows: Mapping[str, float],
                work_mem_bytes: float | None) -> Iterator[Note]:
    kind = node.get("Node Type")
    label = _label(node)
    if kind == "Seq Scan" and node.get("Relation Name"):
        rel = str(node["Relation Name"])
        schema = node.get("Schema")
        size = table_rows.get(f"{schema}.{rel}") if schema else None
        if size is None:
            size = table_rows.get(rel)
        if size is None:
            actual, removed = _actual_total(node), _num(node, "Rows Removed by Filter")
            size = (actual or 0) + (removed or 0) if actual is not None else _num(node, "Plan Rows")
        if size is not None and size >= LARGE_TABLE_ROWS:
            yield Note("warning", label, f"sequential scan of a large table (about {size:,.0f} rows)"
                       + (f", filter {node['Filter']}: an index on the filtered columns may serve it"
                          if node.get("Filter") else ""))
    if kind in ("Sort", "Incremental Sort"):
        if node.get("Sort Space Type") == "Disk":
            used = _num(node, "Sort Space Used")
            yield Note("warning", label, "sort spilled to disk" + (f" ({fmt_bytes(used * 1024)})" if used else "")
                       + ": raise work_mem for this statement or add an index matching the ORDER BY")
        elif work_mem_bytes and node.get("Sort Space Type") is None:
            rows, width = _num(node, "Plan Rows"), _num(node, "Plan Width")
            if rows and width and rows * (width + 24) > work_mem_bytes:
                yield Note("info", label, f"sort of about {fmt_bytes(rows * (width + 24))} may not fit work_mem "
                           f"({fmt_bytes(work_mem_bytes)}) and spill to disk")
    if kind == "Hash" and (_num(node, "Hash Batches") or 1) > 1:
        yield Note("warning", label, f"hash built in {int(_num(node, 'Hash Batches') or 0)} batches (spilled): "
                   "raise work_mem or hash_mem_multiplier for this statement")
    if kind == "Nested Loop":
        children = [c for c in node.get("Plans") or () if isinstance(c, Mapping)]
        if children:
            outer = children[0]
            rows = _actual_total(outer)
            rows = rows if rows is not None else _num(outer, "Plan Rows")
            if rows is not None and rows >= NESTED_LOOP_ROWS:
                inner = _label(children[1]) if len(children) > 1 else "its inner side"
                yield Note("warning", label, f"nested loop over {rows:,.0f} outer rows runs {inner} that many times: "
                           "an index on the join key or a hash join (fresh statistics) may be cheaper")
    estimated, actual = _num(node, "Plan Rows"), _num(node, "Actual Rows")
    if estimated is not None and actual is not None and _num(node, "Actual Loops") != 0:
        big, small = max(estimated, actual), max(1.0, min(estimated, actual))
        if big >= MISESTIMATE_MIN_ROWS and big / small >= MISESTIMATE_FACTOR:
            yield Note("warning", label, f"estimated {estimated:,.0f} rows, got {actual:,.0f} per loop: stale or "
                       "missing statistics (ANALYZE, extended statistics) make the planner choose badly")


# ---------------------------------------------------------------------------------------------------- text output


def render_text(result: Explained) -> str:
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
    parts = [_label(node)]
    est = _num(node, "Plan Rows")
    cost = _num(node, "Total Cost")
    if est is not None:
        parts.append(f"rows={est:,.0f}")
    if cost is not None:
        parts.append(f"cost={cost:,.2f}")
    actual = _num(node, "Actual Rows")
    if actual is not None:
        parts.append(f"actual rows={actual:,.0f} loops={int(_num(node, 'Actual Loops') or 0)}")
        ms = _num(node, "Actual Total Time")
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


# ---------------------------------------------------------------------------------------------------- plan files


def load_plan_file(path: Path) -> Mapping[str, Any]:
    """The top plan node of an `EXPLAIN (FORMAT JSON)` output file (with or without ANALYZE)."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ExplainError(f"cannot read plan file {path}: {exc.strerror or exc}", 2) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExplainError(f"{path}: not a JSON plan ({exc})", 2) from None
    return _top_plan(data, str(path))


def _top_plan(data: Any, where: str) -> Mapping[str, Any]:
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, Mapping) and isinstance(data.get("QUERY PLAN"), list):  # psql's column header kept
        return _top_plan(data["QUERY PLAN"], where)
    if isinstance(data, Mapping) and isinstance(data.get("Plan"), Mapping):
        plan: Mapping[str, Any] = data["Plan"]
        return plan
    raise ExplainError(f"{where}: not an EXPLAIN (FORMAT JSON) plan (no \"Plan\" object)", 2)


def explain_file(path: Path) -> Explained:
    """Review a saved plan without a server."""
    plan = load_plan_file(path)
    return Explained(query=f"(plan file {path})", method="plan_file", plan=plan, notes=review(plan))


# ---------------------------------------------------------------------------------------------------- live


def explain(dsn: str | None, opts: SessionOptions | None = None, *, queryid: int | None = None,
            query: str | None = None, run_analyze: bool = False) -> Explained:
    """Plan a statement of the workload (by queryid) or a given text on the server behind `dsn`."""
    if (queryid is None) == (query is None):
        raise ExplainError("give exactly one of --queryid and --query", 2)
    try:
        conn = connect(dsn, opts)
    except Exception as exc:  # ConnectError carries a safe message
        raise ExplainError(str(exc), 3) from None
    try:
        return _explain(conn, dsn, opts or SessionOptions(), queryid=queryid, query=query, run_analyze=run_analyze)
    except psycopg.OperationalError as exc:
        raise ExplainError(f"lost the connection: {_first(exc, dsn)}", 3) from None
    finally:
        conn.close()


def _explain(conn: psycopg.Connection[Any], dsn: str | None, opts: SessionOptions, *, queryid: int | None,
             query: str | None, run_analyze: bool) -> Explained:
    version = conn.info.server_version
    database = conn.info.dbname
    userid: int | None = None
    if queryid is not None:
        query, userid = _statement_text(conn, queryid, database, dsn)
    assert query is not None
    query = redact_sql(query)  # planned, shown and reported without its secrets ('***' plans like the literal)
    facts = analyze(query)
    if facts.parse_error is not None:
        raise ExplainError(f"cannot parse the statement: {facts.parse_error}", 2)
    if facts.statement_count != 1 or facts.kind not in ("select", "insert", "update", "delete"):
        raise ExplainError("only a single SELECT, INSERT, UPDATE or DELETE can be explained", 2)
    if run_analyze:
        if facts.kind != "select":
            raise ExplainError(f"--analyze executes the statement: refused for {facts.kind.upper()} (only SELECT)", 2)
        refused = planning.refuse_to_execute(query)
        if refused is not None:
            raise ExplainError(f"--analyze executes the statement: refused, {refused}", 2)
    # Text from pg_stat_statements is planned only as the role that ran it; text from the command line is the
    # user's own and is planned as the connected role.
    role = planning.statement_role(conn, userid=userid) if queryid is not None else \
        planning.statement_role(conn, own=True)
    try:
        result = planning.plan(conn, query, role, version=version, max_param=facts.max_param, verbose=True,
                               analyze=run_analyze, statement_timeout_ms=opts.statement_timeout_ms,
                               lock_timeout_ms=opts.lock_timeout_ms)
    except pg_errors.InsufficientPrivilege as exc:
        raise ExplainError(
            f"permission denied: {_first(exc, dsn)}. EXPLAIN needs SELECT on every table the statement reads, which "
            "pg_monitor does not grant: connect as the application's role, or GRANT pg_read_all_data (14+)", 3,
        ) from None
    except pg_errors.IndeterminateDatatype as exc:
        raise ExplainError(f"cannot plan it generically on PostgreSQL {version // 10000}: {_first(exc, dsn)}; pass "
                           "the statement with literal values (--query)", 2) from None
    except pg_errors.QueryCanceled:
        raise ExplainError("the statement was cancelled by statement_timeout (--statement-timeout)", 3) from None
    except psycopg.Error as exc:
        if conn.broken:
            raise
        raise ExplainError(f"EXPLAIN failed: {_first(exc, dsn)}", 3) from None
    if isinstance(result, planning.NotPlanned):
        if run_analyze and result.kind == "code":
            raise ExplainError(f"--analyze executes the statement: refused, {result.reason}", 2)
        raise ExplainError(result.reason, 3 if result.kind == "role" else 2)
    plan = _top_plan(result.doc, "EXPLAIN output")
    tables = _table_rows(conn, plan)
    return Explained(query=query, method=result.method, plan=plan, queryid=queryid, database=database,
                     notes=review(plan, table_rows=tables, work_mem_bytes=_bytes(result.settings.get("work_mem"))))


def _statement_text(conn: psycopg.Connection[Any], queryid: int, database: str,
                    dsn: str | None) -> tuple[str, int | None]:
    """The statement's text and the oid of the role that ran it (the most-called entry)."""
    schema = extension_schema(conn, "pg_stat_statements")
    if schema is None:
        raise ExplainError(f"pg_stat_statements is not installed in database {database}: pass the statement "
                           "with --query", 3)
    with conn.cursor() as cur:
        try:
            cur.execute(
                sql.SQL("SELECT s.query, s.userid::int8 FROM {}.pg_stat_statements s"
                        " WHERE s.queryid = %s AND s.dbid = (SELECT oid FROM pg_database"
                        " WHERE datname = current_database()) ORDER BY s.calls DESC LIMIT 1")
                .format(sql.Identifier(schema)), (queryid,))
        except psycopg.Error as exc:
            raise ExplainError(f"cannot read pg_stat_statements: {_first(exc, dsn)}", 3) from None
        row = cur.fetchone()
    if row is None or not row[0]:
        raise ExplainError(f"no statement with queryid {queryid} in pg_stat_statements of database {database}", 2)
    if row[0] == "<insufficient privilege>":
        raise ExplainError("pg_stat_statements hides this statement's text: grant pg_read_all_stats", 3)
    return str(row[0]), (int(row[1]) if row[1] is not None else None)


def _table_rows(conn: psycopg.Connection[Any], plan: Mapping[str, Any]) -> dict[str, float]:
    """reltuples of the relations the plan scans (catalog only: readable by pg_monitor)."""
    names = sorted({(str(n.get("Schema") or ""), str(n["Relation Name"])) for n in _nodes(plan)
                    if n.get("Relation Name")})
    out: dict[str, float] = {}
    with conn.cursor() as cur:
        for schema, rel in names:
            cur.execute("SELECT n.nspname::text, greatest(c.reltuples, 0)::float8 FROM pg_class c"
                        " JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE c.relname = %s AND (%s = '' OR n.nspname = %s)", (rel, schema, schema))
            for nsp, tuples in cur.fetchall():
                out[f"{nsp}.{rel}"] = float(tuples)
                out.setdefault(rel, float(tuples))
    return out


def _bytes(text: str | None) -> float | None:
    """'4MB' -> 4194304.0 (SHOW's units)."""
    if not text:
        return None
    units = {"kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4, "B": 1}
    for unit, factor in units.items():
        if text.endswith(unit) and text[: -len(unit)].strip().isdigit():
            return float(text[: -len(unit)]) * factor
    return None


def _first(exc: BaseException, dsn: str | None) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return redact(lines[0] if lines else type(exc).__name__, dsn)


def parse_args_queryid(value: str) -> int:
    """A queryid from the command line (pg_stat_statements prints signed 64-bit integers)."""
    try:
        number = int(value)
    except ValueError:
        raise ExplainError(f"--queryid expects an integer, got {value!r}", 2) from None
    if not -(2**63) <= number < 2**63:
        raise ExplainError("--queryid is out of the 64-bit range", 2)
    return number

