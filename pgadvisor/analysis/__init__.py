"""SQL statement analysis: typed, frozen facts about statement texts, from PostgreSQL's own parser.

```python
from pgadvisor.analysis import analyze, parse_trees, Schema, TableDef, ColumnDef

facts = analyze("SELECT * FROM orders WHERE lower(email) = $1 ORDER BY id LIMIT $2 OFFSET $3")
facts.kind              # "select"
facts.scans[0].filters  # (Filter(op="=", kind="equality", expression="lower(email)", ...),)
trees = parse_trees("SELECT ...", schema)  # parse trees with resolved scopes, for walkers of their own
```

Pure Python, no server: `analyze` never raises on bad input, and `rewrite.keyset` turns OFFSET pagination
into keyset pagination. This package knows SQL, not checks: it names no check code. Checks reach it through
`pgadvisor.checkapi`.
"""

from pgadvisor.analysis import rewrite
from pgadvisor.analysis.catalog import build_schema, index_def, split_expressions
from pgadvisor.analysis.model import (
    ColumnDef,
    Filter,
    IndexDef,
    JoinKey,
    Match,
    OrderItem,
    PlainValue,
    Schema,
    StatementAnalysis,
    TableDef,
    TableRef,
    TableScan,
)
from pgadvisor.analysis.statement import analyze, analyze_trees
from pgadvisor.analysis.tree import StatementTree, parse_trees
from pgadvisor.sqltree import normalize_expression

__all__ = [
    "ColumnDef",
    "Filter",
    "IndexDef",
    "JoinKey",
    "Match",
    "OrderItem",
    "PlainValue",
    "Schema",
    "StatementAnalysis",
    "StatementTree",
    "TableDef",
    "TableRef",
    "TableScan",
    "analyze",
    "analyze_trees",
    "build_schema",
    "index_def",
    "normalize_expression",
    "parse_trees",
    "rewrite",
    "split_expressions",
]
