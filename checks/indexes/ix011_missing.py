"""IX011 index.missing: the workload-level missing-index advisor."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Check, Confidence, Finding, Severity, fmt_bytes, fmt_duration, threshold
from pgadvisor.checkapi import advice as advisor
from pgadvisor.checkapi.advice import (
    Candidate,
    CostGucs,
    Option,
    Selection,
    SelectOptions,
    StatementCosts,
    TableFacts,
    index_cost,
    index_size,
    seq_cost,
)
from pgadvisor.snapshot import ColumnStatsRow, ServerInfo, Snapshot, StatementRow, TableRow, Unavailable, WhatIf

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class MissingThresholds:
    """Keys of [checks.IX011]."""

    min_calls: int = threshold(50, help="Ignore statements called fewer times than this.")
    min_mean_ms: float = threshold(20.0, help="Ignore statements faster than this on average (ms).")
    coverage: float = threshold(0.95, help="Consider the top statements that make up this share of total time.")
    min_cost_drop: float = threshold(
        0.30, help="An index counts for a statement only if it cuts the plan cost by this fraction.")
    min_saved_s_per_day: float = threshold(
        1.0, help="An index counts for a statement only if it saves at least this many seconds per day.")
    max_indexes: int = threshold(5, help="Recommend at most this many new indexes.")
    budget_fraction: float = threshold(0.10, help="New indexes may take this fraction of the database size ...")
    budget_min_bytes: int = threshold(100 * 1024 * 1024, help="... or this many bytes, whichever is larger.")
    warning_saved_s_per_day: float = threshold(60.0, help="From this predicted saving per day, a warning (else info).")
    write_ms_per_entry: float = threshold(
        0.002, help="Milliseconds each index entry write costs; weighs the table's write rate against the gain.")
    estimate_min_scan_fraction: float = threshold(
        0.5, help="Without HypoPG, only statements that read this fraction of their table's pages per call.")

    def __post_init__(self) -> None:
        if not 0 < self.min_cost_drop < 1 or not 0 < self.coverage <= 1:
            raise ValueError("expected 0 < min_cost_drop < 1 and 0 < coverage <= 1")


class MissingIndex(Check[MissingThresholds]):
    """The workload would run faster with these new indexes.

    ## Why it matters
    A statement that filters, joins or sorts a large table without a suitable index reads the whole table on
    every call. A few well-chosen indexes usually remove most of a workload's time; too many slow every write.
    So the advisor chooses for the whole workload, not statement by statement.

    ## Evidence
    The workload is the top statements of `pg_stat_statements` (the `coverage` share of total time, with
    `min_calls` and `min_mean_ms`). Each is parsed (pglast) and split into per-table scans: equality, range,
    join and LIMIT sort columns, expression and constant predicates, projected columns; candidates put equality
    columns first (most selective first), then one range column or the ORDER BY columns of a LIMIT query,
    with expression, partial and INCLUDE variants. A candidate an existing valid index already serves is dropped.

    Tier A (HypoPG installed, and an auditing role that may plan each statement as the role that ran it): the
    collector plans every statement's generic plan with each hypothetical index alone (`hypopg_create_index` in
    the read-only session; nothing is built or executed), and once more with every candidate that lowered a
    cost on its tables. This check then selects, with these thresholds: a greedy pass keeps the indexes with the
    best time saved (calls x mean time x cost reduction) per MiB net of write overhead. An index is `verified`
    when the planner still uses it for a statement it serves with all the alternatives present; one the planner
    then passes over for another chosen index is not recommended. Tier B (no HypoPG, or no statement could be
    planned as its role):
    the planner's index cost formula fed with `pg_stats` (or the statement's rows per call when pg_stats is not
    readable), for single-table statements that read most of their table per call; labelled `estimate` and
    unverified, with low confidence, and `estimate_because` says why tier A was not used (the what-if part's
    reason, e.g. no statement could be planned as the role that ran it). Evidence: tier, verified, statements
    served (queryid, text, cost before and after), time saved per day, estimated size, writes per day on the
    table and their cost.

    ## How to fix
    Create the index without blocking writes, then confirm with IX006 and the statement's plan:

    ```sql
    CREATE INDEX CONCURRENTLY ON public.orders (customer_id, created_at DESC);
    ```
    Run it outside a transaction block; if it fails, drop the INVALID index it leaves (IX005) and retry.

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Costs are the planner's estimates (HypoPG's are within a few percent on average, about 35 % at worst);
    generic plans assume default selectivities for `$n` ranges. Time per day is extrapolated from the
    statistics window, so a young window gives low confidence. Statements seen only on standbys are not in the
    primary's pg_stat_statements. A statement's saving is that of its best single index: the chosen set is not
    planned as such (the collector measures without thresholds), so a plan combining two chosen indexes (a
    BitmapAnd, a join using both) is credited as the better one alone.

    ## References
    https://hypopg.readthedocs.io/
    https://www.postgresql.org/docs/current/sql-explain.html
    https://www.postgresql.org/docs/current/indexes-multicolumn.html
    https://doi.org/10.14778/3372716.3372721
    """

    code = "IX011"
    name = "index.missing"
    default_severity = Severity.INFO
    requires = ("statements", "tables", "indexes", "columns", "server")
    thresholds = MissingThresholds
    message = "{label} would save {saved} per day over {n_statements} statement(s) ({tier}{unverified})"
    recommendation = "create it concurrently; size about {size}, {writes_per_day:.0f} index writes per day"

    def run(self, snap: Snapshot, t: MissingThresholds) -> Iterator[Finding]:
        assert isinstance(snap.statements, tuple) and isinstance(snap.tables, tuple)
        assert isinstance(snap.server, ServerInfo)
        reset = getattr(snap.statements_info, "stats_reset", None)
        window = advisor.window_seconds(reset, snap.server.start_time, snap.collected_at)
        for database in sorted({s.database for s in snap.statements if s.database}):
            yield from self._database(snap, t, database, window, connected=snap.server.database)

    def _database(self, snap: Snapshot, t: MissingThresholds, database: str, window: float, *,
                  connected: str) -> Iterator[Finding]:
        assert isinstance(snap.statements, tuple) and isinstance(snap.tables, tuple)
        rows = advisor.workload(snap.statements, database, min_calls=t.min_calls, min_mean_ms=t.min_mean_ms,
                                coverage=t.coverage, limit=200)
        if not rows:
            return
        tables = {(r.schema, r.name): r for r in snap.tables if r.database == database}
        table_window = max(60.0, snap.stats_age_seconds(database) or DAY)
        db_bytes = next((d.size_bytes for d in snap.databases if d.name == database and d.size_bytes),
                        None) if isinstance(snap.databases, tuple) else None
        budget = max(float(t.budget_min_bytes), (db_bytes or 0) * t.budget_fraction)
        opts = SelectOptions(t.min_cost_drop, t.min_saved_s_per_day, t.max_indexes, budget, 0.003,
                             t.write_ms_per_entry)
        by_id = {r.queryid: r for r in rows}
        whatif = snap.whatif
        if isinstance(whatif, WhatIf) and any(c.database == database for c in whatif.candidates):
            yield from self._tier_a(snap, t, database, whatif, by_id, tables, window, table_window, opts)
        elif isinstance(whatif, WhatIf) and not whatif.candidates and database == connected:
            return  # HypoPG planned the workload and found nothing to propose
        else:
            yield from self._tier_b(snap, t, database, rows, tables, window, table_window, opts)

    # ------------------------------------------------------------------ tier A: HypoPG plans

    def _tier_a(self, snap: Snapshot, t: MissingThresholds, database: str, whatif: WhatIf,
                by_id: dict[int, StatementRow], tables: dict[tuple[str, str], TableRow], window: float,
                table_window: float, opts: SelectOptions) -> Iterator[Finding]:
        stmts, options, prefix_of = advisor.tier_a_inputs(whatif, by_id, tables, window, table_window)
        selection = advisor.select(stmts, options, opts, prefix_of)
        cands = {c.id: c for c in whatif.candidates}
        # each statement planned once more with every candidate that lowered a cost on its tables (two or more):
        # the index the planner prefers when the alternatives exist too
        joint = {p.queryid: p for p in whatif.plans if len(p.candidates) > 1 and p.cost is not None}
        chosen = set(selection.chosen)
        costs = {s.queryid: s for s in stmts}
        for idx in selection.chosen:
            c = cands[idx]
            served = sorted(q for q, i in selection.serves.items() if i == idx)
            prefers = [set(joint[q].used) if q in joint else {idx} for q in served]
            if served and all(idx not in used and used & chosen for used in prefers):
                continue  # with the alternatives present the planner takes another chosen index instead
            verified = any(idx in used for used in prefers)
            cand = Candidate(c.schema, c.table, c.keys, c.directions, c.include, c.predicate)
            after = {q: costs[q].after.get(idx) for q in served}
            yield self._finding(snap, t, database, cand, selection, idx, served, by_id, costs, after,
                                size=float(c.size_bytes or 0), tier="hypopg", verified=verified,
                                window=window, table_window=table_window, tables=tables)

    # ------------------------------------------------------------------ tier B: estimate from statistics

    def _tier_b(self, snap: Snapshot, t: MissingThresholds, database: str, rows: list[StatementRow],
                tables: dict[tuple[str, str], TableRow], window: float, table_window: float,
                opts: SelectOptions) -> Iterator[Finding]:
        assert isinstance(snap.columns, tuple) and isinstance(snap.indexes, tuple)
        schema = advisor.build_schema(database, tables.values(), snap.columns, snap.indexes)
        stats = snap.column_stats if isinstance(snap.column_stats, tuple) else ()
        by_table: dict[tuple[str, str], dict[str, ColumnStatsRow]] = {}
        for st in stats:
            if st.database == database:
                by_table.setdefault((st.schema, st.table), {})[st.column] = st
        types: dict[tuple[str, str], dict[str, str]] = {}
        for col in snap.columns:
            if col.database == database:
                types.setdefault((col.schema, col.table), {})[col.name] = col.type
        g = _gucs(snap)
        # why not tier A: the what-if part's reason (no HypoPG, or statements not planned as their role)
        why = snap.whatif.reason if isinstance(snap.whatif, Unavailable) else "no HypoPG plan for this database"
        indexes = [i for i in snap.indexes if i.database == database]
        sel = advisor.selectivity_from([s for s in stats if s.database == database], tables.values())
        cand_ids: dict[Candidate, int] = {}
        statement_costs: list[StatementCosts] = []
        facts_of: dict[tuple[str, str], TableFacts] = {}
        for row in rows:
            w = advisor.analyse(row, schema)
            if w is None or len(w.needs) != 1 or w.needs[0].joins:
                continue  # the estimate covers single-table statements only
            need = w.needs[0]
            table = tables.get((need.schema, need.table))
            if table is None or not table.relpages or not table.reltuples:
                continue
            blocks = (row.shared_blks_hit + row.shared_blks_read) / max(row.calls, 1)
            if blocks < t.estimate_min_scan_fraction * table.relpages:
                continue  # no evidence that this statement scans its table today
            facts = TableFacts(table, by_table.get((need.schema, need.table), {}),
                               types.get((need.schema, need.table), {}),
                               rows_per_call=row.rows / max(row.calls, 1) if w.rows_are_matches else None)
            facts_of[(need.schema, need.table)] = facts
            base = seq_cost(facts, max(1, len(need.equality) + len(need.ranges)), g)
            after: dict[int, float] = {}
            for cand in advisor.generate(need, sel):
                if advisor.covered_by(cand, indexes) is not None:
                    continue
                cost = index_cost(need, cand, facts, g)
                if cost is not None and cost < base:
                    after[cand_ids.setdefault(cand, len(cand_ids))] = cost
            statement_costs.append(StatementCosts(row.queryid, row.total_exec_ms * DAY / window, base, after))
        if not cand_ids:
            return
        by_idx = {i: c for c, i in cand_ids.items()}
        options = [Option(i, index_size(facts_of[(c.schema, c.table)], c),
                          advisor.writes_per_day(tables.get((c.schema, c.table)), table_window))
                   for i, c in by_idx.items()]
        prefix_of = {i: frozenset(j for j, o in by_idx.items() if j != i and c.is_prefix_of(o))
                     for i, c in by_idx.items()}
        selection = advisor.select(statement_costs, options, opts, prefix_of)
        by_id = {r.queryid: r for r in rows}
        costs = {s.queryid: s for s in statement_costs}
        sizes = {o.idx: o.size_bytes for o in options}
        for idx in selection.chosen:
            served = sorted(q for q, i in selection.serves.items() if i == idx)
            after_costs: dict[int, float | None] = {q: costs[q].after.get(idx) for q in served}
            yield self._finding(snap, t, database, by_idx[idx], selection, idx, served, by_id, costs, after_costs,
                                size=sizes[idx], tier="estimate", verified=False, window=window,
                                table_window=table_window, tables=tables, why=why)

    # ------------------------------------------------------------------ the finding

    def _finding(self, snap: Snapshot, t: MissingThresholds, database: str, cand: Candidate, selection: Selection,
                 idx: int, served: list[int], by_id: dict[int, StatementRow], costs: dict[int, StatementCosts],
                 after: dict[int, float | None], *, size: float, tier: str, verified: bool, window: float,
                 table_window: float, tables: dict[tuple[str, str], TableRow], why: str | None = None) -> Finding:
        saved_ms = selection.saved_ms_per_day.get(idx, 0.0)
        writes = advisor.writes_per_day(tables.get((cand.schema, cand.table)), table_window)
        parts = []
        for q in served:
            before = costs[q].base_cost
            new = after.get(q)
            text = " ".join(by_id[q].query.split())[:80]
            parts.append(f"{q}: {text} (cost {before:.0f} -> {new:.0f})" if new is not None else f"{q}: {text}")
        top = max(served, key=lambda q: costs[q].ms_per_day) if served else None
        if tier == "estimate":
            confidence = Confidence.LOW
        else:
            confidence = Confidence.HIGH if verified and window >= DAY else Confidence.MEDIUM
        return self.finding(
            obj=cand.label,
            database=database,
            severity=Severity.WARNING if saved_ms / 1000.0 >= t.warning_saved_s_per_day else Severity.INFO,
            confidence=confidence,
            evidence={
                "tier": tier,
                "verified": verified,
                "statements": "; ".join(parts),
                "queryids": ",".join(str(q) for q in served),
                "cost_before": round(costs[top].base_cost, 2) if top is not None else None,
                "cost_after": round(after[top] or 0.0, 2) if top is not None and after.get(top) is not None else None,
                "saved_s_per_day": round(saved_ms / 1000.0, 3),
                "size_bytes": int(size),
                "writes_per_day": round(writes, 1),
                "write_ms_per_day": round(writes * t.write_ms_per_entry, 1),
                "stats_window_s": round(window, 1),
                **({"estimate_because": why} if why else {}),
            },
            context={
                "label": cand.label,
                "saved": fmt_duration(saved_ms / 1000.0),
                "n_statements": len(served),
                "unverified": ", unverified estimate" if tier == "estimate" else (
                    ", preferred over the alternatives" if verified else ", planned alone"),
                "size": fmt_bytes(size),
            },
            fix_sql=cand.ddl(),
        )


def _gucs(snap: Snapshot) -> CostGucs:
    values = {}
    for name in ("seq_page_cost", "random_page_cost", "cpu_tuple_cost", "cpu_index_tuple_cost", "cpu_operator_cost"):
        row = snap.setting(name)
        if row is not None:
            try:
                values[name] = float(row.setting)
            except ValueError:
                continue
    return CostGucs(**values)
