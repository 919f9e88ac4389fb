"""Planning is execution: the one routine that plans (or, for `explain --analyze`, runs) statement text read
from the server.

The planner runs code: it evaluates IMMUTABLE functions with constant arguments, inlines SQL functions and
views, and folds column defaults, index predicates and constraints. A text taken from pg_stat_statements (or
pg_stat_activity) was written by whoever ran it, so `plan()` follows one rule:

1. The text is planned only as the role that ran it (`SET LOCAL ROLE`, with that role's own `search_path`:
   its `pg_db_role_setting` for this database, then for all databases, then the database's, then the server
   default). A role the auditing role may not become (not a member, dropped, unknown) means the statement is
   NOT planned: `NotPlanned(reason)`. It is never planned as the auditor. Text given on the command line
   (`explain --query`) is the user's own and is planned as the connected role.
2. Before planning, the statement must reach only trusted code, checked against the catalog as that role:
   every function it calls (by name, every overload visible on the role's search path), every operator's
   function, every type it casts to, every function it could reach through attribute notation (`t.f`), and,
   for every relation it reads (views expanded, partitions included), the functions and operators of its
   view rules, index expressions and predicates, defaults, constraints, policies and statistics. Trusted
   means built in (`oid < 16384`, FirstNormalObjectId), or owned by a superuser and either written in C or
   with its own `SET search_path` (types and operators: built in or a superuser's). Reason: `SET ROLE` alone does
   not contain foreign code, which may itself run `set_config('role', 'none', true)` to become the session's
   (auditing) user again; foreign code must not run at all.
3. Everything runs in a transaction that is always rolled back, `READ ONLY`, with `statement_timeout` and
   `lock_timeout` set locally; the rollback resets the role, and a plan is handed back only if the role
   is still the one `plan()` set.

The generic plan: `EXPLAIN (GENERIC_PLAN, FORMAT JSON)` on 16+; on 13-15 `PREPARE` + `SET LOCAL
plan_cache_mode = force_generic_plan` + `EXPLAIN EXECUTE` with NULL arguments, deallocated after. A text
without `$n` is explained as it stands. `analyze=True` executes it (`EXPLAIN ANALYZE`) under the stricter rule
of `refuse_to_execute()`: one SELECT, nothing that writes or locks, no view, only built-in non-volatile functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pglast import ast
from psycopg import sql

from pgadvisor.sqltree import names, parse

FIRST_NORMAL_OID = 16384
"""FirstNormalObjectId: objects with a lower oid were created by initdb (built in)."""

PREPARED = "pgadvisor_plan"

_ROLE_REASON = "as the role that ran it"


@dataclass(frozen=True, slots=True)
class PlanRole:
    """The role a statement is planned as, and the search_path it runs with."""

    oid: int
    name: str
    search_path: str


@dataclass(frozen=True, slots=True)
class NotPlanned:
    """A statement that was deliberately not planned, and why (one line, safe to print).

    `kind`: "role" when the role that ran it may not be used, "code" when the statement reaches code that is
    not trusted or (analyze) may not be executed.
    """

    reason: str
    kind: str = "code"


@dataclass(frozen=True, slots=True)
class Planned:
    """An EXPLAIN (FORMAT JSON) document, how it was obtained and as whom."""

    doc: Any
    method: str  # plain | generic_plan | prepare_generic | analyze
    role: str
    settings: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------- the role


def statement_role(conn: psycopg.Connection[Any], *, userid: int | None = None, name: str | None = None,
                   own: bool = False) -> PlanRole | NotPlanned:
    """The role to plan a statement as: the one that ran it (`userid`, else `name`), or with `own=True` the
    connected role (text the user gave). NotPlanned when it is unknown, dropped, or not one the connected
    role may become (`pg_has_role(current_user, role, 'MEMBER')`)."""
    with conn.cursor() as cur:
        member = "pg_catalog.pg_has_role(current_user, oid, 'MEMBER')"
        if own:
            cur.execute("SELECT oid::int8, rolname::text, true, rolsuper FROM pg_catalog.pg_roles"
                        " WHERE rolname = current_user")
        elif userid is not None:
            cur.execute(f"SELECT oid::int8, rolname::text, {member}, rolsuper FROM pg_catalog.pg_roles"
                        " WHERE oid = %s::oid", (userid,))
        elif name is not None:
            cur.execute(f"SELECT oid::int8, rolname::text, {member}, rolsuper FROM pg_catalog.pg_roles"
                        " WHERE rolname = %s", (name,))
        else:
            return NotPlanned(f"not planned: the role that ran it is unknown, and it is planned only {_ROLE_REASON}",
                              "role")
        row = cur.fetchone()
        if row is None:
            which = f"oid {userid}" if userid is not None else repr(name)
            return NotPlanned(f"not planned: the role that ran it ({which}) no longer exists", "role")
        oid, rolname, is_member, is_super = int(row[0]), str(row[1]), bool(row[2]), bool(row[3])
        if not is_member:
            fix = "only a superuser may act as a superuser" if is_super else f"GRANT {rolname} TO the auditing role"
            return NotPlanned(f"not planned: it may be planned only {_ROLE_REASON}, {rolname}, and the auditing "
                              f"role is not a member of it ({fix})", "role")
        return PlanRole(oid, rolname, _search_path(cur, oid))


def _search_path(cur: psycopg.Cursor[Any], role: int) -> str:
    """The search_path a session of `role` in this database starts with (role+database, role, database, server)."""
    cur.execute(
        "WITH s AS (SELECT d.setrole, d.setdatabase, substr(c, 13) AS value"
        " FROM pg_catalog.pg_db_role_setting d, unnest(d.setconfig) c WHERE c LIKE 'search\\_path=%%'"
        " AND d.setrole IN (%(role)s::oid, 0) AND d.setdatabase IN"
        " ((SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()), 0))"
        " SELECT coalesce("
        "  (SELECT value FROM s WHERE setrole = %(role)s::oid AND setdatabase <> 0),"
        "  (SELECT value FROM s WHERE setrole = %(role)s::oid AND setdatabase = 0),"
        "  (SELECT value FROM s WHERE setrole = 0 AND setdatabase <> 0),"
        "  (SELECT CASE WHEN source IN ('default', 'configuration file', 'command line', 'environment variable')"
        "   THEN reset_val ELSE boot_val END FROM pg_catalog.pg_settings WHERE name = 'search_path'))",
        {"role": role},
    )
    row = cur.fetchone()
    return str(row[0]) if row and row[0] is not None else '"$user", public'


# ---------------------------------------------------------------------------------------------------- planning


def plan(conn: psycopg.Connection[Any], text: str, role: PlanRole | NotPlanned, *, version: int, max_param: int,
         statement_timeout_ms: int, lock_timeout_ms: int, verbose: bool = False,
         analyze: bool = False) -> Planned | NotPlanned:
    """Plan `text` (generic plan when it has `$n`; executed with `analyze=True`) as `role`, read-only, rolled back.

    NotPlanned when the role may not be used or the statement reaches code that is not trusted; a server error
    while planning (a missing table, a timeout) is raised as psycopg raises it, after the rollback.
    """
    if isinstance(role, NotPlanned):
        return role
    options = "VERBOSE, FORMAT JSON" if verbose else "FORMAT JSON"
    prepared = False
    try:
        with conn.transaction(force_rollback=True), conn.cursor() as cur:
            cur.execute("SET TRANSACTION READ ONLY")
            cur.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(int(statement_timeout_ms))))
            cur.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(int(lock_timeout_ms))))
            try:
                cur.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role.name)))
            except psycopg.errors.InsufficientPrivilege:
                return NotPlanned(f"not planned: the auditing role may not SET ROLE {role.name}, the role that ran "
                                  "it (PostgreSQL 16+: the grant needs the SET option)", "role")
            cur.execute("SELECT pg_catalog.set_config('search_path', %s, true)", (role.search_path,))
            refused = untrusted_code(cur, text, strict=analyze)
            if refused is not None:
                return NotPlanned(f"not planned: {refused}")
            if analyze:
                method = "analyze"
                cur.execute(f"EXPLAIN (ANALYZE, BUFFERS, {options}) " + text)
            elif max_param == 0:
                method = "plain"
                cur.execute(f"EXPLAIN ({options}) " + text)
            elif version >= 160000:
                method = "generic_plan"
                cur.execute(f"EXPLAIN (GENERIC_PLAN, {options}) " + text)
            else:
                method = "prepare_generic"
                cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                cur.execute(f"PREPARE {PREPARED} AS " + text)
                prepared = True
                args = ", ".join(["NULL"] * max_param)
                cur.execute(f"EXPLAIN ({options}) EXECUTE {PREPARED}({args})")
            row = cur.fetchone()
            cur.execute("SELECT current_user::text, current_setting('work_mem')")
            after = cur.fetchone()
            if after is None or after[0] != role.name:  # foreign code changed it: do not use what it produced
                return NotPlanned(f"not planned: the role changed while planning a statement of {role.name}", "role")
            settings = {"work_mem": str(after[1])}
    finally:
        if prepared and not conn.broken:
            with conn.cursor() as cur:
                cur.execute(f"DEALLOCATE {PREPARED}")
    assert row is not None
    value = row[0]
    return Planned(json.loads(value) if isinstance(value, str) else value, method, role.name, settings)


# ---------------------------------------------------------------------------------------------------- trusted code


@dataclass
class _Refs:
    """The names a statement refers to, as written (schema or None, name)."""

    functions: set[tuple[str | None, str]] = field(default_factory=set)
    operators: set[tuple[str | None, str]] = field(default_factory=set)
    types: set[tuple[str | None, str]] = field(default_factory=set)
    attributes: set[str] = field(default_factory=set)
    relations: set[tuple[str | None, str]] = field(default_factory=set)
    ctes: set[str] = field(default_factory=set)


_BETWEEN = {"BETWEEN", "NOT BETWEEN", "BETWEEN SYMMETRIC", "NOT BETWEEN SYMMETRIC"}


def _qualified(parts: tuple[str, ...]) -> tuple[str | None, str]:
    return (parts[-2] if len(parts) > 1 else None, parts[-1])


def _refs(nodes: Iterable[ast.Node]) -> _Refs:
    refs = _Refs()
    for node in nodes:
        if isinstance(node, ast.FuncCall):
            parts = names(node.funcname)
            if parts:
                refs.functions.add(_qualified(parts))
        elif isinstance(node, ast.A_Expr):
            parts = names(node.name)
            if parts and parts[-1] in _BETWEEN:
                refs.operators |= {(None, "<="), (None, ">=")}
            elif parts:
                refs.operators.add(_qualified(parts))
        elif isinstance(node, ast.TypeCast) and node.typeName is not None:
            parts = names(node.typeName.names)
            if parts:
                refs.types.add(_qualified(parts))
        elif isinstance(node, ast.ColumnRef):
            parts = names(node.fields)
            if len(parts) > 1:
                refs.attributes.add(parts[-1])
        elif isinstance(node, ast.A_Indirection):
            refs.attributes |= set(names(node.indirection))
        elif isinstance(node, ast.RangeVar) and node.relname:
            refs.relations.add((node.schemaname, node.relname))
        elif isinstance(node, ast.CommonTableExpr) and node.ctename:
            refs.ctes.add(node.ctename)
    return refs


_VISIBLE = ("(CASE WHEN %(schema)s::text IS NULL THEN n.nspname = ANY (pg_catalog.current_schemas(true))"
            " ELSE n.nspname = %(schema)s END)")
_SIGNATURE = ("p.pronamespace::regnamespace::text || '.' || p.proname || '('"
              " || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')'")
_TRUSTED_PROC = (
    f"(p.oid < {FIRST_NORMAL_OID} OR ((SELECT rolsuper FROM pg_catalog.pg_roles WHERE oid = p.proowner)"
    " AND (p.prolang IN (SELECT oid FROM pg_catalog.pg_language WHERE lanname IN ('c', 'internal'))"
    " OR EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search\\_path=%%'))))"
)
"""Trusted code: built in, or a superuser's C function, or a superuser's function with its own search_path (a
SQL or PL function without one resolves names through the caller's search_path, which the caller controls)."""
_UNTRUSTED = ("which is not trusted (neither built in, nor a superuser's C function or function with a fixed "
              "search_path)")


def untrusted_code(cur: psycopg.Cursor[Any], text: str, *, strict: bool = False) -> str | None:
    """Why `text` may not be planned (or, `strict`, executed) by pgadvisor, or None: it reaches a function or
    operator that is not trusted (`_TRUSTED_PROC`) or a type that is neither built in nor a superuser's
    (`strict`: also a function that is not built in or is volatile, or any view). Run as the statement's role,
    with its search_path."""
    parsed = parse(text)
    if parsed.error is not None:
        return f"cannot parse it: {parsed.error}"
    refs = _refs(node for nodes in parsed.nodes for node in nodes)
    for schema, name in sorted(refs.functions, key=str):
        why = _function(cur, schema, name, strict=strict)
        if why:
            return why
    for schema, name in sorted(refs.operators, key=str):
        cur.execute(
            "SELECT o.oid::regoperator::text FROM pg_catalog.pg_operator o"
            " JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode"
            f" WHERE o.oprname = %(name)s AND {_VISIBLE} AND NOT ({_TRUSTED_PROC}"
            + (" AND p.provolatile <> 'v')" if strict else ")") + " LIMIT 1", {"schema": schema, "name": name})
        row = cur.fetchone()
        if row is not None:
            return f"it uses operator {row[0]}, whose function is not trusted" + (" or is volatile" if strict else "")
    for schema, name in sorted(refs.types, key=str):
        cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE NOT (t.oid < %(first)s OR (SELECT rolsuper FROM"
            " pg_catalog.pg_roles WHERE oid = t.typowner))) FROM pg_catalog.pg_type t"
            f" JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.typname = %(name)s AND {_VISIBLE}",
            {"schema": schema, "name": name, "first": FIRST_NORMAL_OID})
        found, bad = cur.fetchone() or (0, 0)
        if not found or bad:
            return f"it casts to type {_dotted(schema, name)}, which is " + (
                "not found" if not found else "neither built in nor owned by a superuser")
    for name in sorted(refs.attributes):
        cur.execute(
            f"SELECT {_SIGNATURE} FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n"
            f" ON n.oid = p.pronamespace WHERE p.proname = %(name)s AND p.pronargs >= 1 AND {_VISIBLE}"
            f" AND NOT ({_TRUSTED_PROC}" + (" AND p.provolatile <> 'v')" if strict else ")") + " LIMIT 1",
            {"schema": None, "name": name})
        row = cur.fetchone()
        if row is not None:
            return f"{name} could call function {row[0]} (attribute notation), which is not trusted"
    oids: list[int] = []
    for schema, name in sorted(refs.relations, key=str):
        if schema is None and name in refs.ctes:
            continue
        cur.execute("SELECT c.oid::int8, c.relkind::text FROM pg_catalog.pg_class c"
                    " WHERE c.oid = pg_catalog.to_regclass(%s)", (_dotted(schema, name, quote=True),))
        row = cur.fetchone()
        if row is None:
            if strict:
                return f"relation {_dotted(schema, name)} is not found"
            continue  # the planner will say so; nothing of it can run
        if strict and row[1] in ("v", "m"):
            return f"it reads {'view' if row[1] == 'v' else 'materialized view'} {_dotted(schema, name)}, whose " \
                   "definition can call functions"
        oids.append(int(row[0]))
    return _relation_code(cur, oids) if oids else None


def _function(cur: psycopg.Cursor[Any], schema: str | None, name: str, *, strict: bool) -> str | None:
    cur.execute(
        f"SELECT {_SIGNATURE}, p.oid < %(first)s, p.provolatile::text,"
        f" {_TRUSTED_PROC} FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
        f" WHERE p.proname = %(name)s AND {_VISIBLE} ORDER BY 1",
        {"schema": schema, "name": name, "first": FIRST_NORMAL_OID})
    rows = cur.fetchall()
    if not rows and schema == "pg_catalog":
        return None  # a call the grammar writes (EXTRACT, OVERLAY, ...) missing on this version: it cannot run
    if not rows:
        return f"function {_dotted(schema, name)} is not found"
    for signature, builtin, volatility, trusted in rows:
        if strict and not builtin:
            return f"it calls {signature}, which is not a built-in function" + (
                "" if schema is not None or len(rows) == 1 else " (the name is ambiguous on the search_path)")
        if strict and volatility == "v":
            return f"it calls {signature}, which is volatile (it may change something)"
        if not trusted:
            return f"it calls {signature}, {_UNTRUSTED}"
    return None


_RELATION_CODE = f"""
WITH RECURSIVE rels(rel) AS (
    SELECT unnest(%(rels)s::oid[])
  UNION
    SELECT nxt.rel FROM rels r CROSS JOIN LATERAL (
        SELECT d.refobjid AS rel FROM pg_catalog.pg_rewrite w JOIN pg_catalog.pg_depend d
          ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = w.oid
         AND d.refclassid = 'pg_catalog.pg_class'::regclass
        WHERE w.ev_class = r.rel
      UNION ALL
        SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = r.rel
    ) nxt
),
attached(classid, objid) AS (
    SELECT 'pg_catalog.pg_class'::regclass, rel FROM rels
    UNION ALL SELECT 'pg_catalog.pg_rewrite'::regclass, w.oid FROM pg_catalog.pg_rewrite w JOIN rels ON w.ev_class = rel
    UNION ALL SELECT 'pg_catalog.pg_class'::regclass, i.indexrelid FROM pg_catalog.pg_index i
              JOIN rels ON i.indrelid = rel
    UNION ALL SELECT 'pg_catalog.pg_constraint'::regclass, c.oid FROM pg_catalog.pg_constraint c
              JOIN rels ON c.conrelid = rel
    UNION ALL SELECT 'pg_catalog.pg_attrdef'::regclass, a.oid FROM pg_catalog.pg_attrdef a JOIN rels ON a.adrelid = rel
    UNION ALL SELECT 'pg_catalog.pg_policy'::regclass, p.oid FROM pg_catalog.pg_policy p JOIN rels ON p.polrelid = rel
    UNION ALL SELECT 'pg_catalog.pg_statistic_ext'::regclass, s.oid FROM pg_catalog.pg_statistic_ext s
              JOIN rels ON s.stxrelid = rel
),
procs(proc) AS (
    SELECT d.refobjid FROM attached a JOIN pg_catalog.pg_depend d ON d.classid = a.classid AND d.objid = a.objid
    WHERE d.refclassid = 'pg_catalog.pg_proc'::regclass
  UNION ALL
    SELECT o.oprcode FROM attached a JOIN pg_catalog.pg_depend d ON d.classid = a.classid AND d.objid = a.objid
    JOIN pg_catalog.pg_operator o ON o.oid = d.refobjid WHERE d.refclassid = 'pg_catalog.pg_operator'::regclass
)
SELECT {_SIGNATURE} FROM procs JOIN pg_catalog.pg_proc p ON p.oid = procs.proc
WHERE NOT {_TRUSTED_PROC} LIMIT 1
"""


def _relation_code(cur: psycopg.Cursor[Any], rels: list[int]) -> str | None:
    """A function that is not trusted in the definitions behind the relations (views, indexes, defaults, ...)."""
    cur.execute(_RELATION_CODE, {"rels": rels})
    row = cur.fetchone()
    if row is None:
        return None
    return f"a relation it reads (its view, index, default, constraint or policy definitions) calls {row[0]}, " \
           + _UNTRUSTED


def _dotted(schema: str | None, name: str, *, quote: bool = False) -> str:
    def q(part: str) -> str:
        return '"' + part.replace('"', '""') + '"' if quote else part
    return f"{q(schema)}.{q(name)}" if schema else q(name)


# ---------------------------------------------------------------------------------------------------- executing


def refuse_to_execute(text: str) -> str | None:
    """Why `explain --analyze` may not execute `text` (judged on the parse tree; the catalog part is
    `untrusted_code(strict=True)`, run as the statement's role): None for a single SELECT with literal values,
    no data-modifying part, no SELECT INTO, no row locks."""
    parsed = parse(text)
    if parsed.error is not None:
        return f"cannot parse it: {parsed.error}"
    if len(parsed.statements) != 1 or not isinstance(parsed.statements[0].stmt, ast.SelectStmt):
        return "only a single SELECT"
    if parsed.max_param:
        return "it needs the parameter values: pass the statement with literals (--query)"
    for node in _all(parsed.nodes):
        if isinstance(node, ast.InsertStmt | ast.UpdateStmt | ast.DeleteStmt | ast.MergeStmt):
            return "it contains a data-modifying part"
        if isinstance(node, ast.LockingClause):
            return "it locks rows (FOR UPDATE / SHARE)"
        if isinstance(node, ast.SelectStmt) and node.intoClause:
            return "it creates a table (SELECT INTO)"
    return None


def _all(nodes: tuple[tuple[ast.Node, ...], ...]) -> Iterator[ast.Node]:
    for group in nodes:
        yield from group
