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

The session is the audit's: `connection.connect()` with the `SessionOptions` the command line builds from its
options and the config file (statement, lock and connect timeouts). A refused statement is `ExplainError` (exit
code 2); a server that cannot be reached, is lost, or refuses the plan is `ConnectError` / `CollectError` (exit
code 3), mapped by the command line as for audit. Reviewing the plan is pure (`pgadvisor.plans`), and so is
rendering it (the explain views in `pgadvisor.reporters`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from pgadvisor.analysis import analyze
from pgadvisor.collectors import CollectError, planning
from pgadvisor.collectors.base import extension_schema
from pgadvisor.connection import SessionOptions, connect, redact
from pgadvisor.plans import Explained, ExplainError, nodes, review, top_plan
from pgadvisor.redact import redact_sql

__all__ = ["ExplainError", "Explained", "explain", "parse_args_queryid"]


def explain(dsn: str | None, opts: SessionOptions | None = None, *, queryid: int | None = None,
            query: str | None = None, run_analyze: bool = False) -> Explained:
    """Plan a statement of the workload (by queryid) or a given text on the server behind `dsn`."""
    if (queryid is None) == (query is None):
        raise ExplainError("give exactly one of --queryid and --query")
    opts = opts or SessionOptions()
    conn = connect(dsn, opts)  # ConnectError (exit 3) carries a safe message
    try:
        return _explain(conn, dsn, opts, queryid=queryid, query=query, run_analyze=run_analyze)
    except psycopg.Error as exc:  # the audit's rule: a lost connection, or a query that failed, is exit 3
        what = "lost the connection" if conn.broken or conn.closed else "could not read the server"
        raise CollectError(f"{what}: {_first(exc, dsn)}") from None
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
        raise ExplainError(f"cannot parse the statement: {facts.parse_error}")
    if facts.statement_count != 1 or facts.kind not in ("select", "insert", "update", "delete"):
        raise ExplainError("only a single SELECT, INSERT, UPDATE or DELETE can be explained")
    if run_analyze:
        if facts.kind != "select":
            raise ExplainError(f"--analyze executes the statement: refused for {facts.kind.upper()} (only SELECT)")
        refused = planning.refuse_to_execute(query)
        if refused is not None:
            raise ExplainError(f"--analyze executes the statement: refused, {refused}")
    # Text from pg_stat_statements is planned only as the role that ran it; text from the command line is the
    # user's own and is planned as the connected role.
    role = planning.statement_role(conn, userid=userid) if queryid is not None else \
        planning.statement_role(conn, own=True)
    try:
        result = planning.plan(conn, query, role, version=version, max_param=facts.max_param, verbose=True,
                               analyze=run_analyze, statement_timeout_ms=opts.statement_timeout_ms,
                               lock_timeout_ms=opts.lock_timeout_ms)
    except pg_errors.InsufficientPrivilege as exc:
        raise CollectError(
            f"permission denied: {_first(exc, dsn)}. EXPLAIN needs SELECT on every table the statement reads, which "
            "pg_monitor does not grant: connect as the application's role, or GRANT pg_read_all_data (14+)",
        ) from None
    except pg_errors.IndeterminateDatatype as exc:
        raise ExplainError(f"cannot plan it generically on PostgreSQL {version // 10000}: {_first(exc, dsn)}; pass "
                           "the statement with literal values (--query)") from None
    except pg_errors.QueryCanceled:
        raise CollectError(f"the statement was cancelled by statement_timeout = {opts.statement_timeout_ms} ms "
                           "(--statement-timeout, or statement_timeout_ms in the config file)") from None
    except pg_errors.LockNotAvailable:
        raise CollectError(f"a lock was not granted within lock_timeout = {opts.lock_timeout_ms} ms: a table the "
                           "statement reads is locked (DDL?); pgadvisor does not wait behind it") from None
    except psycopg.Error as exc:
        if conn.broken:
            raise
        raise CollectError(f"EXPLAIN failed: {_first(exc, dsn)}") from None
    if isinstance(result, planning.NotPlanned):
        if run_analyze and result.kind == "code":
            raise ExplainError(f"--analyze executes the statement: refused, {result.reason}")
        if result.kind == "role":  # the server side: the role that ran it cannot be used
            raise CollectError(result.reason)
        raise ExplainError(result.reason)
    plan = top_plan(result.doc, "EXPLAIN output")
    tables = _table_rows(conn, plan)
    return Explained(query=query, method=result.method, plan=plan, queryid=queryid, database=database,
                     notes=review(plan, table_rows=tables, work_mem_bytes=_bytes(result.settings.get("work_mem"))))


def _statement_text(conn: psycopg.Connection[Any], queryid: int, database: str,
                    dsn: str | None) -> tuple[str, int | None]:
    """The statement's text and the oid of the role that ran it (the most-called entry)."""
    schema = extension_schema(conn, "pg_stat_statements")
    if schema is None:
        raise CollectError(f"pg_stat_statements is not installed in database {database}: pass the statement "
                           "with --query")
    with conn.cursor() as cur:
        try:
            cur.execute(
                sql.SQL("SELECT s.query, s.userid::int8 FROM {}.pg_stat_statements s"
                        " WHERE s.queryid = %s AND s.dbid = (SELECT oid FROM pg_database"
                        " WHERE datname = current_database()) ORDER BY s.calls DESC LIMIT 1")
                .format(sql.Identifier(schema)), (queryid,))
        except psycopg.Error as exc:
            raise CollectError(f"cannot read pg_stat_statements: {_first(exc, dsn)}") from None
        row = cur.fetchone()
    if row is None or not row[0]:
        raise ExplainError(f"no statement with queryid {queryid} in pg_stat_statements of database {database}")
    if row[0] == "<insufficient privilege>":
        raise CollectError("pg_stat_statements hides this statement's text: grant pg_read_all_stats")
    return str(row[0]), (int(row[1]) if row[1] is not None else None)


def _table_rows(conn: psycopg.Connection[Any], plan: Mapping[str, Any]) -> dict[str, float]:
    """reltuples of the relations the plan scans (catalog only: readable by pg_monitor)."""
    names = sorted({(str(n.get("Schema") or ""), str(n["Relation Name"])) for n in nodes(plan)
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
        raise ExplainError(f"--queryid expects an integer, got {value!r}") from None
    if not -(2**63) <= number < 2**63:
        raise ExplainError("--queryid is out of the 64-bit range")
    return number

