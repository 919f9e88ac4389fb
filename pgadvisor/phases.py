"""Collection in phases: collectors measure, the advisor proposes in between, checks judge afterwards.

Phase 1 reads the base parts (settings, activity, tables, indexes, statements, ...). Phase 2 is pure analysis:
from the collected workload the advisor computes the statements worth planning and the candidate indexes, with
no threshold of the user's. Phase 3 hands that list to the what-if collector, which plans the statements with
each candidate (HypoPG) and records the costs. The selection, with the user's thresholds, is IX011's.

`collect()` is the one entry point that starts a collection (the CLI, the demo and the tests call it);
`pgadvisor.collectors.collect` alone, which may not import the advisor, leaves the what-if part uncollected.
"""

from __future__ import annotations

from pgadvisor import advisor, collectors
from pgadvisor.analysis import analyze
from pgadvisor.collectors import CollectError, ConnectError, Progress
from pgadvisor.collectors.whatif import (
    MAX_CANDIDATES,
    MAX_STATEMENTS,
    ProposedIndex,
    WhatIfInputs,
    WhatIfWork,
    WorkStatement,
    touches,
)
from pgadvisor.connection import SessionOptions
from pgadvisor.snapshot import Snapshot, Unavailable

__all__ = ["CollectError", "ConnectError", "Progress", "collect", "propose_whatif"]


def collect(
    dsn: str | None,
    opts: SessionOptions | None = None,
    *,
    all_databases: bool = False,
    progress: Progress | None = None,
) -> Snapshot:
    """Read the server behind `dsn` into a snapshot: base parts, then the advisor's candidates, then what-if."""
    return collectors.collect(dsn, opts, all_databases=all_databases, progress=progress, propose=propose_whatif)


def propose_whatif(inputs: WhatIfInputs, locked: frozenset[tuple[str, str]]) -> WhatIfWork:
    """Phase 2: the workload statements worth planning, and the candidate indexes for them.

    The statements are the database's top ones by time (at least two calls, `MAX_STATEMENTS`), parsed into
    per-table needs; candidates come from the needs of the statements that touch no `locked` relation, minus
    those an existing index serves (`MAX_CANDIDATES`, most-requested first).
    """
    statements, tables, columns, indexes = inputs.statements, inputs.tables, inputs.columns, inputs.indexes
    assert not isinstance(statements, Unavailable) and not isinstance(tables, Unavailable)
    assert not isinstance(columns, Unavailable) and not isinstance(indexes, Unavailable)
    schema = advisor.build_schema(inputs.database, tables, columns, indexes)
    rows = advisor.workload(statements, inputs.database, min_calls=2, min_mean_ms=0.0, coverage=0.99,
                            limit=MAX_STATEMENTS)
    analysed = [w for w in (advisor.analyse(r, schema) for r in rows) if w is not None and w.needs]
    work = [WorkStatement(w.row, w.max_param, frozenset((n.schema, n.table) for n in w.needs),
                          tuple((t.schema, t.name) for t in analyze(w.row.query).tables) if locked else ())
            for w in analysed]
    free = [w for w, s in zip(analysed, work, strict=True) if not touches(s.names, locked)]
    selectivity = advisor.selectivity_from(inputs.column_stats, tables)
    proposal = advisor.propose(free, indexes, selectivity, limit=MAX_CANDIDATES)
    candidates = tuple(
        ProposedIndex(c.schema, c.table, c.keys, c.directions, c.include, c.predicate, c.ddl(),
                      c.ddl(concurrently=False), tuple(proposal.sources[c]))
        for c in proposal.candidates
    )
    return WhatIfWork(tuple(work), candidates, unplannable=len(rows) - len(analysed), covered=proposal.covered)
