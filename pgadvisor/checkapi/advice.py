"""The missing-index advisor, as checks use it: workload needs, index candidates, the cost estimates, what-if
inputs and the greedy selection.

```python
from pgadvisor.checkapi import advice

schema = advice.build_schema(database, tables, snap.columns, snap.indexes)
stmt = advice.analyse(row, schema)                  # a WorkloadStatement: the scans' needs, or None
for need in stmt.needs if stmt else ():
    for cand in advice.generate(need, selectivity):  # Candidate(schema, table, keys, directions, ...)
        cost = advice.index_cost(need, cand, facts, gucs)  # the estimate, in planner cost units
selection = advice.select(statement_costs, options, advice.SelectOptions(), prefix_of)
```

Pure: nothing here talks to PostgreSQL. The what-if costs a collector measured arrive in the snapshot
(`Snapshot.whatif`); `tier_a_inputs` turns them into the same `StatementCosts` the estimates give.
"""

from __future__ import annotations

from pgadvisor.advisor import (
    Candidate,
    Option,
    ScanNeed,
    Selection,
    SelectOptions,
    StatementCosts,
    WorkloadStatement,
    analyse,
    build_schema,
    covered_by,
    generate,
    need_of,
    propose,
    select,
    selectivity_from,
    tier_a_inputs,
    window_seconds,
    workload,
    writes_per_day,
)
from pgadvisor.advisor.estimate import CostGucs, TableFacts, index_cost, index_size, seq_cost

__all__ = [
    "Candidate",
    "CostGucs",
    "Option",
    "ScanNeed",
    "SelectOptions",
    "Selection",
    "StatementCosts",
    "TableFacts",
    "WorkloadStatement",
    "analyse",
    "build_schema",
    "covered_by",
    "generate",
    "index_cost",
    "index_size",
    "need_of",
    "propose",
    "select",
    "selectivity_from",
    "seq_cost",
    "tier_a_inputs",
    "window_seconds",
    "workload",
    "writes_per_day",
]
