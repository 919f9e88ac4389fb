"""The check API: everything a check may import, besides `pgadvisor.snapshot`.

Built-in checks and plugins use the same names. A check is a class with metadata and a docstring that is its
documentation; `run(snapshot, thresholds)` yields findings, without I/O.

- `Check`, `threshold`, `NoThresholds`, `Severity`, `Confidence`, `Finding`, `ident`, `fmt_bytes`,
  `fmt_duration`: the base of every check.
- `StatementCheck`, `Verdict`: the base of a check that judges the workload one statement at a time; it
  implements `judge(workload, statement, thresholds) -> Verdict | None`.
- `workload(snap)`, `Workload`, `Statement`: pg_stat_statements merged per statement, with each text's parse
  facts (`Workload.analysis` -> `StatementAnalysis`: kind, fingerprint, `TableRef`s, `TableScan`s with their
  `Filter`s) and parse trees (`Workload.trees`,
  `Workload.matches`), and the catalog around it (`table`, `user_tables`, `indexes`, `columns`, `schema`).
- `pgadvisor.checkapi.tree`: parse-tree walking (the node types, scopes, and helpers over them).
- `pgadvisor.checkapi.rewrite`: statement rewrites (`keyset`, `key_columns`).
- `pgadvisor.checkapi.advice`: the missing-index advisor (candidates, estimates, what-if inputs, selection).

`pgadvisor.analysis` and `pgadvisor.advisor` are the implementation below this API: a check never imports them
(an import-linter contract in pyproject.toml holds the line).
"""

from pgadvisor.analysis import Filter, StatementAnalysis, TableRef, TableScan
from pgadvisor.checkapi.check import (
    Check,
    Confidence,
    Evidence,
    Finding,
    NoThresholds,
    Scalar,
    Severity,
    fmt_bytes,
    fmt_duration,
    ident,
    threshold,
)
from pgadvisor.checkapi.statements import StatementCheck, Verdict
from pgadvisor.checkapi.workload import Statement, Workload, seq, short, workload

__all__ = [
    "Check",
    "Confidence",
    "Evidence",
    "Filter",
    "Finding",
    "NoThresholds",
    "Scalar",
    "Severity",
    "Statement",
    "StatementAnalysis",
    "StatementCheck",
    "TableRef",
    "TableScan",
    "Verdict",
    "Workload",
    "fmt_bytes",
    "fmt_duration",
    "ident",
    "seq",
    "short",
    "threshold",
    "workload",
]
