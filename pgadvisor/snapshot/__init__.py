"""The snapshot: plain, frozen data read from one server, saved as JSON and audited later.

Collectors produce it, checks read it. Nothing here talks to PostgreSQL. Every part is either a tuple of rows or
an `Unavailable` that says why it could not be read (missing extension, missing privilege, timeout), so a check
can be skipped with that reason instead of guessing.

Times are seconds since the epoch (UTC, float); durations are seconds; sizes are bytes. Ages are computed from
`Snapshot.collected_at`, never from the clock of the machine that audits, so an offline audit of a saved
snapshot gives exactly the findings the live audit gave.

`rows` holds the row classes, `model` the `Snapshot`, `codec` its JSON (msgspec); import them all from here.
"""

from __future__ import annotations

from pgadvisor.snapshot.model import PART_NAMES, Part, Snapshot
from pgadvisor.snapshot.rows import (
    FORMAT_VERSION,
    HIDDEN_TEXT,
    OWN_QUERY_MARKER,
    ActivityInfo,
    ActivityRow,
    CheckpointerInfo,
    CollectorStat,
    ColumnRow,
    ColumnStatsRow,
    DatabaseRow,
    ExtensionRow,
    ForeignKeyRow,
    IndexBloatRow,
    IndexRow,
    LockRow,
    QualStatRow,
    ReplicaRow,
    RoleRow,
    SequenceRow,
    ServerInfo,
    SettingRow,
    SlotRow,
    SnapshotFormatError,
    StandbyStatus,
    StatementRow,
    StatementsInfo,
    TableRow,
    Unavailable,
    WhatIf,
    WhatIfCandidate,
    WhatIfPlan,
    is_own,
)

__all__ = [
    "FORMAT_VERSION",
    "HIDDEN_TEXT",
    "OWN_QUERY_MARKER",
    "PART_NAMES",
    "ActivityInfo",
    "ActivityRow",
    "CheckpointerInfo",
    "CollectorStat",
    "ColumnRow",
    "ColumnStatsRow",
    "DatabaseRow",
    "ExtensionRow",
    "ForeignKeyRow",
    "IndexBloatRow",
    "IndexRow",
    "LockRow",
    "Part",
    "QualStatRow",
    "ReplicaRow",
    "RoleRow",
    "SequenceRow",
    "ServerInfo",
    "SettingRow",
    "SlotRow",
    "Snapshot",
    "SnapshotFormatError",
    "StandbyStatus",
    "StatementRow",
    "StatementsInfo",
    "TableRow",
    "Unavailable",
    "WhatIf",
    "WhatIfCandidate",
    "WhatIfPlan",
    "is_own",
]
