"""Tier B of the advisor: the planner's B-tree cost formulas fed with `pg_stats`, without HypoPG.

Selectivity of `col = $n`: `(1 - null_frac) / n_distinct` from pg_stats; without readable statistics, the
statement's own rows per call over the table's rows (a measured upper bound). `col < $n` uses the planner's
default 1/3, so range-only candidates rarely pass. Costs follow `cost_index`: index pages and tuples, then heap
pages interpolated between the uncorrelated and the correlated case by correlation squared, against the
sequential scan. It only covers single-table statements; everything it says is unverified.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from pgadvisor.advisor.candidates import Candidate
from pgadvisor.advisor.needs import ScanNeed
from pgadvisor.snapshot import ColumnStatsRow, TableRow

DEFAULT_RANGE_SEL = 1.0 / 3.0
TYPE_WIDTH = {"integer": 4, "smallint": 2, "bigint": 8, "timestamp with time zone": 8,
              "timestamp without time zone": 8, "date": 4, "uuid": 16, "boolean": 1, "numeric": 12,
              "double precision": 8, "real": 4}


@dataclass(frozen=True, slots=True)
class CostGucs:
    """The planner cost settings of the server."""

    seq_page_cost: float = 1.0
    random_page_cost: float = 4.0
    cpu_tuple_cost: float = 0.01
    cpu_index_tuple_cost: float = 0.005
    cpu_operator_cost: float = 0.0025


@dataclass(frozen=True)
class TableFacts:
    """What the estimate knows of one table."""

    table: TableRow
    stats: Mapping[str, ColumnStatsRow]
    types: Mapping[str, str]
    rows_per_call: float | None = None  # of the statement being estimated, single-table only


def equality_sel(facts: TableFacts, column: str) -> float | None:
    """Fraction of rows `column = $n` matches, when pg_stats knows the column."""
    st = facts.stats.get(column)
    rows = facts.table.reltuples or 0.0
    if st is None or rows <= 0:
        return None
    distinct = st.n_distinct if st.n_distinct > 0 else -st.n_distinct * rows
    if distinct <= 0:
        return None
    return max(1.0 / rows, (1.0 - st.null_frac) / distinct)


def key_width(facts: TableFacts, key: str) -> float:
    """Average stored width of a key (pg_stats avg_width, else by type, else 32)."""
    st = facts.stats.get(key)
    if st is not None:
        return float(st.avg_width)
    return float(TYPE_WIDTH.get(facts.types.get(key, ""), 32))


def index_size(facts: TableFacts, cand: Candidate) -> float:
    """Bytes of a fresh B-tree: rows x (8-byte header + aligned keys + 4-byte pointer) at fillfactor 90."""
    rows = max(facts.table.reltuples or facts.table.n_live_tup, 1.0)
    data = sum(key_width(facts, k) for k in (*cand.keys, *cand.include))
    tuple_bytes = 8 + math.ceil(data / 8.0) * 8 + 4
    per_page = (8192 - 40) * 0.9
    return (math.ceil(rows * tuple_bytes / per_page) + 2) * 8192.0


def seq_cost(facts: TableFacts, quals: int, g: CostGucs) -> float:
    """cost_seqscan: pages x seq_page_cost + rows x (cpu_tuple_cost + quals x cpu_operator_cost)."""
    rows = facts.table.reltuples or float(facts.table.n_live_tup)
    return facts.table.relpages * g.seq_page_cost + rows * (g.cpu_tuple_cost + quals * g.cpu_operator_cost)


def candidate_sel(need: ScanNeed, cand: Candidate, facts: TableFacts) -> float | None:
    """Selectivity of the candidate's usable leading keys for this need; None when unknown."""
    sel = 1.0
    used = 0
    for key in cand.keys:
        if key in need.equality or key in need.joins or (key.startswith("(") and key[1:-1] in need.expressions):
            s = equality_sel(facts, key)
            if s is None:
                if used == 0 and facts.rows_per_call is not None and facts.table.reltuples:
                    s = max(facts.rows_per_call, 1.0) / facts.table.reltuples
                else:
                    return None if used == 0 else sel
            sel *= s
            used += 1
            continue
        if key in need.ranges:
            sel *= DEFAULT_RANGE_SEL
            used += 1
        break
    return sel if used else None


def index_cost(need: ScanNeed, cand: Candidate, facts: TableFacts, g: CostGucs) -> float | None:
    """The planner's index scan cost for this need with this candidate, or None when it cannot be used."""
    sel = candidate_sel(need, cand, facts)
    if sel is None:
        return None
    rows = facts.table.reltuples or float(facts.table.n_live_tup)
    relpages = max(facts.table.relpages, 1)
    fetched = max(1.0, sel * rows)
    index_pages = max(1.0, math.ceil(sel * index_size(facts, cand) / 8192.0))
    st = facts.stats.get(cand.keys[0])
    corr = (st.correlation or 0.0) if st is not None else 0.0
    only = need.projected is not None and set(need.projected) <= {*cand.keys, *cand.include}
    if only:
        io = 0.0  # an index-only scan of a vacuumed table
    else:
        uncorr = min(fetched, 2.0 * relpages * fetched / (2.0 * relpages + fetched))  # Mackert-Lohman
        max_io = uncorr * g.random_page_cost
        corr_pages = max(1.0, math.ceil(sel * relpages))
        min_io = g.random_page_cost + (corr_pages - 1) * g.seq_page_cost
        io = max_io + corr * corr * (min_io - max_io)
    cpu = fetched * (g.cpu_index_tuple_cost + g.cpu_operator_cost) + (0 if only else fetched * g.cpu_tuple_cost)
    return index_pages * g.random_page_cost + io + cpu
