"""Tier A of the missing-index advisor: plan the workload with hypothetical indexes (HypoPG), build nothing.

This collector measures and never chooses. Its work comes from phase 2 of the collection (`pgadvisor.phases`):
the workload statements worth planning and the candidate indexes, computed by the advisor from the parts phase 1
collected. Here each statement is planned with today's indexes, then with each candidate alone, then once with
every candidate that lowered a cost of its tables' statements (no threshold: a lower cost is a measurement), and
the costs are recorded. Which indexes to recommend is IX011's decision, with the user's thresholds.

Planning is execution, so every statement of pg_stat_statements goes through `collectors.planning.plan()`: as
the role that ran it (never as the auditing role), with that role's search_path, only when every function it
can reach is trusted (built in, or a superuser's C function or function with a fixed search_path), read-only,
inside a transaction that is always rolled back. The generic plan is costed as its `$n` text stands:
`EXPLAIN (GENERIC_PLAN, FORMAT JSON)` on 16+, and on 13-15 `PREPARE` + `SET LOCAL plan_cache_mode =
force_generic_plan` + `EXPLAIN EXECUTE` with NULL parameters. Nothing is executed. A statement that may not be
planned so is counted in the notes with the reason; when no statement can be (a pg_monitor-only auditor is a
member of no application role), the part is Unavailable and IX011 falls back to its tier B estimate, saying why.

`hypopg_create_index` only adds an index to this backend's memory, and is run by the auditing role: a candidate
whose expressions or predicate call a function or operator that is not trusted (same rule) is not created.
`hypopg_reset()` always runs at the end.

EXPLAIN needs SELECT on the tables: when the roles that ran the statements lack it, the part says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Set
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg import sql

from pgadvisor.collectors import planning
from pgadvisor.collectors.base import Ctx, extension_schema
from pgadvisor.snapshot import (
    ColumnRow,
    ColumnStatsRow,
    IndexRow,
    StatementRow,
    TableRow,
    Unavailable,
    WhatIf,
    WhatIfCandidate,
    WhatIfPlan,
)

MAX_STATEMENTS = 50
MAX_CANDIDATES = 200


@dataclass(frozen=True)
class WhatIfInputs:
    """The snapshot parts the what-if phase works from (already collected), for one database."""

    database: str
    statements: tuple[StatementRow, ...] | Unavailable
    tables: tuple[TableRow, ...] | Unavailable
    columns: tuple[ColumnRow, ...] | Unavailable
    indexes: tuple[IndexRow, ...] | Unavailable
    column_stats: tuple[ColumnStatsRow, ...] | Unavailable


class Plannable(Protocol):
    """What planning a statement needs: its row (text, role) and its highest `$n`."""

    @property
    def row(self) -> StatementRow: ...

    @property
    def max_param(self) -> int: ...


@dataclass(frozen=True)
class WorkStatement:
    """A workload statement to plan: its row, its highest `$n`, and the tables its scans read."""

    row: StatementRow
    max_param: int
    tables: frozenset[tuple[str, str]]  # (schema, table) of its indexable scans
    names: tuple[tuple[str | None, str], ...]  # relations its text names (lock guard); () if none locked


@dataclass(frozen=True)
class ProposedIndex:
    """A candidate index to create hypothetically: where, its parts, and its DDL."""

    schema: str
    table: str
    keys: tuple[str, ...]
    directions: tuple[str, ...]
    include: tuple[str, ...]
    predicate: str | None
    ddl: str  # CREATE INDEX CONCURRENTLY ..., as recommended
    create_ddl: str  # CREATE INDEX ..., as hypopg_create_index takes it
    sources: tuple[int, ...]  # queryids whose scans produced it


@dataclass(frozen=True)
class WhatIfWork:
    """Phase 2's hand-over: what to plan and with which candidates, and what it left out."""

    statements: tuple[WorkStatement, ...]
    candidates: tuple[ProposedIndex, ...]
    unplannable: int  # workload statements not a single SELECT/UPDATE/DELETE with an indexable filter, or unparsed
    covered: int  # candidates dropped because an existing index serves them


Propose = Callable[[WhatIfInputs, frozenset[tuple[str, str]]], WhatIfWork]
"""Phase 2 (supplied by `pgadvisor.phases`): the what-if collector's work, from the collected parts and the
relations locked now (ACCESS EXCLUSIVE held or awaited); candidates come only from statements that touch none
(`touches`)."""


def collect_whatif(ctx: Ctx, inputs: WhatIfInputs, propose: Propose) -> WhatIf | Unavailable:
    """Plan the database's workload with hypothetical indexes; Unavailable when HypoPG or privileges lack."""
    for name in ("statements", "tables", "columns", "indexes"):
        part = getattr(inputs, name)
        if isinstance(part, Unavailable):
            return Unavailable(f"needs {name}: {part.reason}")
    hypo_schema = extension_schema(ctx.conn, "hypopg")
    if hypo_schema is None:
        return Unavailable(f"hypopg is not installed in database {ctx.database} (CREATE EXTENSION hypopg)")
    with ctx.conn.cursor() as cur:
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'hypopg'")
        version_row = cur.fetchone()
    hypo_version = str(version_row[0]) if version_row else "?"
    # Planning a statement, or creating a hypothetical index, opens its tables (ACCESS SHARE): never for a
    # table on which ACCESS EXCLUSIVE is held or awaited, so pgadvisor does not queue behind DDL.
    locked = _locked_relations(ctx)
    work = propose(inputs, frozenset(locked))
    skipped_locked = [w for w in work.statements if touches(w.names, locked)]
    analysed = [w for w in work.statements if w not in skipped_locked]
    proposed = [c for c in work.candidates if (c.schema, c.table) not in locked]
    method = "generic_plan" if ctx.version >= 160000 else "prepare"
    runner = _Planner(ctx, hypo_schema)
    notes: list[str] = []
    plans: list[WhatIfPlan] = []
    cands: list[WhatIfCandidate] = []
    if skipped_locked:
        notes.append(f"{len(skipped_locked)} statement(s) not planned: a table they read is locked (DDL held or "
                     "waiting), and planning would wait behind it")
    try:
        runner.reset()
        _set_lock_timeout(ctx, WHATIF_LOCK_TIMEOUT_MS)  # a backstop, should a lock appear after the check
        denied = 0
        for st in analysed:
            plan = runner.plan(st, ())
            if plan is not None:
                denied += plan.error is not None and plan.error.startswith("permission denied")
                plans.append(plan)
        reasons = Counter(runner.not_planned.values())
        notes.extend(f"{n} statement(s) {reason}" for reason, n in sorted(reasons.items(), key=lambda r: -r[1]))
        if analysed and not any(p.cost is not None for p in plans):
            if reasons:
                summary = "; ".join(f"{n}: {reason.removeprefix('not planned: ')}"
                                    for reason, n in reasons.most_common(3))
                more = f"; and {len(reasons) - 3} other reason(s)" if len(reasons) > 3 else ""
                return Unavailable(f"no statement could be planned as the role that ran them ({summary}{more}); "
                                   "IX011 falls back to its estimate")
            if denied:
                return Unavailable(
                    "EXPLAIN needs SELECT on the workload's tables, which the roles that ran the statements lack "
                    "(GRANT pg_read_all_data TO <role>, 14+); IX011 falls back to its estimate"
                )
        base = {p.queryid: p.cost for p in plans if p.cost is not None}
        planned = [st for st in analysed if st.row.queryid in base]
        # Only tables whose statements were planned (their definitions passed the trusted-code check), and only
        # candidates whose own expressions call trusted code: hypopg_create_index runs as the auditor.
        planned_tables = {t for st in planned for t in st.tables}
        refused: Counter[str] = Counter()
        lowered: set[int] = set()  # candidates that lowered some statement's cost, planned alone
        for idx, cand in enumerate(proposed):
            if (cand.schema, cand.table) not in planned_tables:
                continue
            why = runner.refused(cand)
            if why is not None:
                refused[why] += 1
                continue
            oid, size = runner.create(cand)
            cands.append(_candidate(idx, ctx.database, cand, size))
            for st in planned:
                if (cand.schema, cand.table) in st.tables:
                    plan = runner.plan(st, ((idx, oid),))
                    if plan is not None:
                        plans.append(plan)
                        if plan.cost is not None and idx in plan.used and plan.cost < base[st.row.queryid]:
                            lowered.add(idx)
            runner.drop(oid)
        notes.extend(f"{n} candidate(s) not created: {why}" for why, n in sorted(refused.items(), key=lambda r: -r[1]))
        together = tuple(sorted(lowered))
        plans += _plan_together(runner, planned, together, proposed)
        if work.unplannable:
            notes.append(f"{work.unplannable} statement(s) not planned: not a single SELECT/UPDATE/DELETE "
                         "with an indexable filter, or not parsed")
        if work.covered:
            notes.append(f"{work.covered} candidate(s) dropped: an existing index already serves them")
        return WhatIf(hypo_version, method, tuple(cands), tuple(plans), together, tuple(notes))
    finally:
        runner.reset()
        _set_lock_timeout(ctx, ctx.opts.lock_timeout_ms)


def _plan_together(runner: _Planner, planned: list[WorkStatement], together: tuple[int, ...],
                   proposed: list[ProposedIndex]) -> list[WhatIfPlan]:
    """Each statement planned once with every candidate in `together` on its tables, when there are two or more.

    The set depends on measured costs only, not on thresholds: IX011 reads from it which index the planner
    prefers for a statement when the alternatives exist too.
    """
    if len(together) < 2:
        return []
    created = {i: runner.create(proposed[i])[0] for i in together}
    out = []
    for st in planned:
        present = tuple((i, created[i]) for i in together
                        if (proposed[i].schema, proposed[i].table) in st.tables)
        if len(present) >= 2:
            plan = runner.plan(st, present)
            if plan is not None:
                out.append(plan)
    return out


WHATIF_LOCK_TIMEOUT_MS = 100


def _set_lock_timeout(ctx: Ctx, ms: int) -> None:
    with ctx.conn.cursor() as cur:
        cur.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(int(ms))))


def _locked_relations(ctx: Ctx) -> set[tuple[str, str]]:
    """(schema, name) of relations in this database with ACCESS EXCLUSIVE held or requested."""
    with ctx.conn.cursor() as cur:
        cur.execute(
            "SELECT n.nspname::text, c.relname::text FROM pg_locks l"
            " JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return {(str(s), str(n)) for s, n in cur.fetchall()}


def touches(names: tuple[tuple[str | None, str], ...], locked: Set[tuple[str, str]]) -> bool:
    """Whether a statement reads a locked relation (an unqualified name matches that name in any schema)."""
    if not locked:
        return False
    bare = {name for _, name in locked}
    return any((schema, name) in locked or (schema is None and name in bare) for schema, name in names)


def _candidate(idx: int, database: str, c: ProposedIndex, size: int | None) -> WhatIfCandidate:
    return WhatIfCandidate(idx, database, c.schema, c.table, c.keys, c.directions, c.include, c.predicate,
                           c.ddl, size, c.sources)


class _Planner:
    """Creates hypothetical indexes (as the auditor, trusted expressions only) and plans each statement
    generically as the role that ran it, through `planning.plan()`."""

    def __init__(self, ctx: Ctx, hypo_schema: str) -> None:
        self.ctx = ctx
        self.hypo = sql.Identifier(hypo_schema)
        self.names: dict[str, int] = {}
        self.roles: dict[tuple[int | None, str | None], planning.PlanRole | planning.NotPlanned] = {}
        self.not_planned: dict[int, str] = {}  # queryid -> reason

    def reset(self) -> None:
        with self.ctx.conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT {}.hypopg_reset()").format(self.hypo))
        self.names.clear()

    def refused(self, cand: ProposedIndex) -> str | None:
        """Why a candidate may not be created as the auditor (its expressions reach code that is not trusted)."""
        with self.ctx.conn.cursor() as cur:
            return planning.untrusted_code(cur, cand.create_ddl)

    def create(self, cand: ProposedIndex) -> tuple[int, int | None]:
        with self.ctx.conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT indexrelid::int8, indexname::text FROM {}.hypopg_create_index(%s)")
                        .format(self.hypo), (cand.create_ddl,))
            row = cur.fetchone()
            assert row is not None
            oid, name = int(row[0]), str(row[1])
            cur.execute(sql.SQL("SELECT {}.hypopg_relation_size(%s::oid)").format(self.hypo), (oid,))
            size = cur.fetchone()
        self.names[name] = oid
        return oid, (int(size[0]) if size and size[0] is not None else None)

    def drop(self, oid: int) -> None:
        with self.ctx.conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT {}.hypopg_drop_index(%s::oid)").format(self.hypo), (oid,))
        self.names = {n: o for n, o in self.names.items() if o != oid}

    def role(self, row: StatementRow) -> planning.PlanRole | planning.NotPlanned:
        key = (row.userid, row.user)
        if key not in self.roles:
            self.roles[key] = planning.statement_role(self.ctx.conn, userid=row.userid) if row.userid is not None \
                else planning.statement_role(self.ctx.conn, name=row.user)
        return self.roles[key]

    def plan(self, st: Plannable, present: tuple[tuple[int, int], ...]) -> WhatIfPlan | None:
        """The plan's cost (or its error) with the `present` candidates; None when it was not planned."""
        ids = tuple(i for i, _ in present)
        by_oid = {oid: i for i, oid in present}
        try:
            result = planning.plan(self.ctx.conn, st.row.query, self.role(st.row), version=self.ctx.version,
                                   max_param=st.max_param, statement_timeout_ms=self.ctx.opts.statement_timeout_ms,
                                   lock_timeout_ms=WHATIF_LOCK_TIMEOUT_MS)
        except psycopg.errors.InsufficientPrivilege as exc:
            first = str(exc).strip().splitlines()[0]
            return WhatIfPlan(st.row.queryid, self.ctx.database, ids, None, (), f"permission denied: {first}")
        except psycopg.Error as exc:
            if self.ctx.conn.broken:
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return WhatIfPlan(st.row.queryid, self.ctx.database, ids, None, (), first[:200])
        if isinstance(result, planning.NotPlanned):
            self.not_planned[st.row.queryid] = result.reason
            return None
        top = result.doc[0]["Plan"]
        used = []
        for name in _index_names(top):
            oid = self.names.get(name)
            if oid is not None and oid in by_oid and by_oid[oid] not in used:
                used.append(by_oid[oid])
        return WhatIfPlan(st.row.queryid, self.ctx.database, ids, float(top["Total Cost"]), tuple(used), None)


def _index_names(node: dict[str, Any]) -> Iterator[str]:
    if "Index Name" in node:
        yield str(node["Index Name"])
    for child in node.get("Plans", []):
        yield from _index_names(child)


def read_whatif(ctx: Ctx, parts: Mapping[str, Any], propose: Propose | None) -> WhatIf | Unavailable:
    """The `whatif` part for the connected database, from the merged parts; `propose` is phase 2.

    Without `propose` (the advisor's candidates, supplied by `pgadvisor.phases`) the part is not collected.
    """
    if propose is None:
        return Unavailable("not collected: no candidate indexes were proposed (collect through pgadvisor.phases)")
    inputs = WhatIfInputs(
        database=ctx.database,
        statements=parts.get("statements", Unavailable("not collected")),
        tables=parts.get("tables", Unavailable("not collected")),
        columns=parts.get("columns", Unavailable("not collected")),
        indexes=parts.get("indexes", Unavailable("not collected")),
        column_stats=parts.get("column_stats", Unavailable("not collected")),
    )
    return collect_whatif(ctx, inputs, propose)
