"""The Snapshot: every part read from one server at one time, and how it goes to and from JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgadvisor.snapshot import codec
from pgadvisor.snapshot.rows import (
    FORMAT_VERSION,
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
    StandbyStatus,
    StatementRow,
    StatementsInfo,
    TableRow,
    Unavailable,
    WhatIf,
)

Part = tuple[Any, ...] | Unavailable


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything collected from one server at one time.

    Per-database parts (tables, indexes, foreign keys, columns, sequences, extensions) hold the rows of every
    database that was collected; each row names its database. A part that failed in some databases but not
    others keeps the rows it got, and `notes` says what is missing.
    """

    target: str
    collected_at: float
    pgadvisor_version: str
    server: ServerInfo | Unavailable
    settings: tuple[SettingRow, ...] | Unavailable = Unavailable("not collected")
    extensions: tuple[ExtensionRow, ...] | Unavailable = Unavailable("not collected")
    tables: tuple[TableRow, ...] | Unavailable = Unavailable("not collected")
    indexes: tuple[IndexRow, ...] | Unavailable = Unavailable("not collected")
    foreign_keys: tuple[ForeignKeyRow, ...] | Unavailable = Unavailable("not collected")
    columns: tuple[ColumnRow, ...] | Unavailable = Unavailable("not collected")
    sequences: tuple[SequenceRow, ...] | Unavailable = Unavailable("not collected")
    statements: tuple[StatementRow, ...] | Unavailable = Unavailable("not collected")
    statements_info: StatementsInfo | Unavailable = Unavailable("not collected")
    activity: tuple[ActivityRow, ...] | Unavailable = Unavailable("not collected")
    activity_info: ActivityInfo | Unavailable = Unavailable("not collected")
    locks: tuple[LockRow, ...] | Unavailable = Unavailable("not collected")
    databases: tuple[DatabaseRow, ...] | Unavailable = Unavailable("not collected")
    checkpointer: CheckpointerInfo | Unavailable = Unavailable("not collected")
    roles: tuple[RoleRow, ...] | Unavailable = Unavailable("not collected")
    replicas: tuple[ReplicaRow, ...] | Unavailable = Unavailable("not collected")
    slots: tuple[SlotRow, ...] | Unavailable = Unavailable("not collected")
    standby: StandbyStatus | Unavailable = Unavailable("not collected")
    column_stats: tuple[ColumnStatsRow, ...] | Unavailable = Unavailable("not collected")
    index_bloat: tuple[IndexBloatRow, ...] | Unavailable = Unavailable("not collected")
    qual_stats: tuple[QualStatRow, ...] | Unavailable = Unavailable("not collected")
    whatif: WhatIf | Unavailable = Unavailable("not collected")
    notes: tuple[str, ...] = ()
    collector_stats: tuple[CollectorStat, ...] = ()
    format_version: int = field(default=FORMAT_VERSION)

    # ------------------------------------------------------------------ helpers for checks

    def part(self, name: str) -> Any:
        """Return a part by name (what `Check.requires` names)."""
        if name not in PART_NAMES:
            raise KeyError(f"unknown snapshot part {name!r}")
        return getattr(self, name)

    def setting(self, name: str) -> SettingRow | None:
        """One setting by name, or None when settings are unavailable or it does not exist here."""
        if isinstance(self.settings, Unavailable):
            return None
        for row in self.settings:
            if row.name == name:
                return row
        return None

    @property
    def version_num(self) -> int | None:
        """server_version_num, when known."""
        return None if isinstance(self.server, Unavailable) else self.server.version_num

    @property
    def block_size(self) -> int:
        """The server's block size in bytes (8192, the default, when the server part is unavailable)."""
        return 8192 if isinstance(self.server, Unavailable) else self.server.block_size

    def stats_age_seconds(self, database: str) -> float | None:
        """How long the statistics counters of a database have been accumulating, as far as we can tell.

        `pg_stat_database.stats_reset`, or when that is NULL (never reset) the server's start time, which
        under-estimates the window on 15+ where statistics survive a clean restart: the safe side.
        """
        if isinstance(self.server, Unavailable):
            return None
        since = self.server.start_time
        if not isinstance(self.databases, Unavailable):
            for db in self.databases:
                if db.name == database and db.stats_reset is not None:
                    since = db.stats_reset
        return max(0.0, self.collected_at - since)

    # ------------------------------------------------------------------ JSON (pgadvisor.snapshot.codec)

    def to_json(self, *, indent: int | None = None) -> str:
        """Serialize to JSON, with `format_version` first."""
        return self.to_bytes(indent=indent).decode()

    def to_bytes(self, *, indent: int | None = None) -> bytes:
        """Serialize to UTF-8 JSON bytes, with `format_version` first (what `collect -o` writes)."""
        return codec.encode(self, indent=indent)

    @classmethod
    def from_json(cls, data: str | bytes) -> Snapshot:
        """Read a snapshot written by `to_json`; SnapshotFormatError, naming where, on anything else."""
        snap = codec.decode(cls, data)
        assert isinstance(snap, Snapshot)
        return snap

    @classmethod
    def from_file(cls, path: str | Path) -> Snapshot:
        """Read a snapshot file (bytes straight to the decoder, no text copy); OSError if it cannot be read."""
        snap = codec.read(cls, Path(path))
        assert isinstance(snap, Snapshot)
        return snap


PART_NAMES: frozenset[str] = frozenset(
    f.name
    for f in dataclasses.fields(Snapshot)
    if f.name not in {"target", "collected_at", "pgadvisor_version", "notes", "collector_stats", "format_version"}
)
