"""The missing-index advisor's pure logic: workload needs, candidates, the tier B cost model, greedy selection.

Nothing here talks to PostgreSQL. Phase 2 of the collection (`pgadvisor.phases`) uses it to propose the
hypothetical indexes the what-if collector plans with, without thresholds; the missing-index check uses it,
through `pgadvisor.checkapi.advice`, to rank and select from the snapshot with the user's thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pgadvisor.advisor.candidates import Candidate, Selectivity, covered_by, generate
from pgadvisor.advisor.needs import ScanNeed, WorkloadStatement, analyse, need_of, workload
from pgadvisor.advisor.select import Option, Selection, SelectOptions, StatementCosts, select
from pgadvisor.analysis import build_schema
from pgadvisor.snapshot import ColumnStatsRow, IndexRow, StatementRow, TableRow, Unavailable, WhatIf

__all__ = [
    "Candidate",
    "Option",
    "ScanNeed",
    "SelectOptions",
    "Selection",
    "StatementCosts",
    "WorkloadStatement",
    "analyse",
    "build_schema",
    "covered_by",
    "generate",
    "need_of",
    "propose",
    "select",
    "selectivity_from",
    "tier_a_inputs",
    "window_seconds",
    "workload",
    "writes_per_day",
]

MIN_WINDOW_S = 60.0


@dataclass(frozen=True)
class Proposal:
    """Candidates not served by an existing index, with the statements whose scans produced each."""

    candidates: tuple[Candidate, ...]
    sources: Mapping[Candidate, tuple[int, ...]]
    covered: int  # candidates dropped because an existing index serves them


def selectivity_from(stats: Iterable[ColumnStatsRow] | Unavailable, tables: Iterable[TableRow]) -> Selectivity:
    """An equality-selectivity function over pg_stats rows (None for unknown columns)."""
    rows = {(t.schema, t.name): t.reltuples or 0.0 for t in tables}
    by_col = {} if isinstance(stats, Unavailable) else {(s.schema, s.table, s.column): s for s in stats}

    def sel(schema: str, table: str, column: str) -> float | None:
        st = by_col.get((schema, table, column))
        n = rows.get((schema, table), 0.0)
        if st is None:
            return None
        distinct = st.n_distinct if st.n_distinct > 0 else -st.n_distinct * n
        return (1.0 - st.null_frac) / distinct if distinct > 0 else None

    return sel


def propose(statements: Sequence[WorkloadStatement], indexes: Iterable[IndexRow], selectivity: Selectivity,
            *, limit: int = 300) -> Proposal:
    """Every candidate of the workload, minus those an existing index covers, most-requested first."""
    existing = list(indexes)
    sources: dict[Candidate, list[int]] = {}
    for st in statements:
        for need in st.needs:
            for cand in generate(need, selectivity):
                sources.setdefault(cand, [])
                if st.row.queryid not in sources[cand]:
                    sources[cand].append(st.row.queryid)
    kept = {c: tuple(q) for c, q in sources.items() if covered_by(c, existing) is None}
    ordered = sorted(kept, key=lambda c: (-len(kept[c]), -len(c.keys), c.label))[:limit]
    return Proposal(tuple(ordered), {c: kept[c] for c in ordered}, len(sources) - len(kept))


def window_seconds(stats_reset: float | None, server_start: float | None, now: float) -> float:
    """How long pg_stat_statements has been counting (at least a minute)."""
    since = stats_reset if stats_reset is not None else server_start
    return max(MIN_WINDOW_S, now - since) if since is not None else 86_400.0


def writes_per_day(table: TableRow | None, window_s: float) -> float:
    """Index entries written per day on a table: inserts, non-HOT updates and deletes."""
    if table is None:
        return 0.0
    writes = table.n_tup_ins + table.n_tup_upd - table.n_tup_hot_upd + table.n_tup_del
    return writes * 86_400.0 / window_s


def tier_a_inputs(
    whatif: WhatIf,
    rows: Mapping[int, StatementRow],
    tables: Mapping[tuple[str, str], TableRow],
    window_s: float,
    table_window_s: float,
) -> tuple[list[StatementCosts], list[Option], dict[int, frozenset[int]]]:
    """Selection inputs from the what-if plans: the statement costs, each candidate's price, prefix sharing.

    `window_s` is how long pg_stat_statements has counted, `table_window_s` how long the table counters have.
    """
    base: dict[int, float] = {}
    after: dict[int, dict[int, float]] = {}
    for p in whatif.plans:
        if p.cost is None:
            continue
        if not p.candidates:
            base[p.queryid] = p.cost
        elif len(p.candidates) == 1 and p.candidates[0] in p.used:
            after.setdefault(p.queryid, {})[p.candidates[0]] = p.cost
    stmts = [
        StatementCosts(q, rows[q].total_exec_ms * 86_400.0 / window_s, cost, after.get(q, {}))
        for q, cost in base.items() if q in rows
    ]
    options = []
    for c in whatif.candidates:
        size = float(c.size_bytes) if c.size_bytes is not None else 8192.0
        options.append(Option(c.id, size, writes_per_day(tables.get((c.schema, c.table)), table_window_s)))
    as_cand = {c.id: Candidate(c.schema, c.table, c.keys, c.directions, c.include, c.predicate)
               for c in whatif.candidates}
    prefix_of = {
        i: frozenset(j for j, other in as_cand.items() if j != i and cand.is_prefix_of(other))
        for i, cand in as_cand.items()
    }
    return stmts, options, prefix_of
