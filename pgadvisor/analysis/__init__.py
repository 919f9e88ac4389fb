"""SQL statement analysis: typed, frozen facts about statement texts, from PostgreSQL's own parser.

```python
from pgadvisor.analysis import analyze, Schema, TableDef, ColumnDef

facts = analyze("SELECT * FROM orders WHERE lower(email) = $1 ORDER BY id LIMIT $2 OFFSET $3")
facts.codes()           # frozenset({"QR009", "QR011", "QR014"})
facts.scans[0].filters  # (Filter(op="=", kind="equality", expression="lower(email)", ...),)
```

Pure Python, no server: `analyze` never raises on bad input, and `rewrite.keyset` turns OFFSET pagination
into keyset pagination.
"""

from pgadvisor.analysis import rewrite
from pgadvisor.analysis.model import (
    ColumnDef,
    Filter,
    IndexDef,
    JoinKey,
    OrderItem,
    Pattern,
    PlainValue,
    Schema,
    StatementAnalysis,
    TableDef,
    TableRef,
    TableScan,
)
from pgadvisor.analysis.parse import normalize_expression
from pgadvisor.analysis.patterns import DETECTORS, Options
from pgadvisor.analysis.statement import analyze

PATTERN_CODES: tuple[str, ...] = tuple(DETECTORS)
"""Every pattern code the analysis can report."""

__all__ = [
    "DETECTORS",
    "PATTERN_CODES",
    "ColumnDef",
    "Filter",
    "IndexDef",
    "JoinKey",
    "Options",
    "OrderItem",
    "Pattern",
    "PlainValue",
    "Schema",
    "StatementAnalysis",
    "TableDef",
    "TableRef",
    "TableScan",
    "analyze",
    "normalize_expression",
    "rewrite",
]
