"""The snapshot: plain, frozen data read from one server, saved as JSON and audited later.

Collectors produce it, checks read it. Nothing here talks to PostgreSQL. Every part is either a tuple of rows or
an `Unavailable` that says why it could not be read (missing extension, missing privilege, timeout), so a check
can be skipped with that reason instead of guessing.

Times are seconds since the epoch (UTC, float); durations are seconds; sizes are bytes. Ages are computed from
`Snapshot.collected_at`, never from the clock of the machine that audits, so an offline audit of a saved
snapshot gives exactly the findings the live audit gave.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

FORMAT_VERSION = 1

OWN_QUERY_MARKER = "/* pgadvisor:ea13f6000e54 */"
"""Every query pgadvisor sends ends with this comment (`connection.mark`), which pg_stat_statements keeps, so
pgadvisor's own catalog queries are left out of the workload it judges. The fixed random token makes sure no
user statement ends with it by accident (a plain `/* pgadvisor */` would hide a user's statement from analysis).
Trailing, because PostgreSQL 18's pg_stat_statements drops a statement's leading comments."""


def is_own(query: str) -> bool:
    """True for a statement pgadvisor sent itself: the only test of OWN_QUERY_MARKER anywhere."""
    return query.rstrip().endswith(OWN_QUERY_MARKER)


class SnapshotFormatError(ValueError):
    """A snapshot file that cannot be read: not JSON, another format version, or a wrong shape."""


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A part of the snapshot that could not be collected, and why."""

    reason: str

    def __bool__(self) -> bool:
        return False


# ---------------------------------------------------------------------------------------------------- server


@dataclass(frozen=True, slots=True)
class ExtensionRow:
    """An extension installed in a database (`pg_extension`)."""

    database: str
    name: str
    schema: str
    version: str
    default_version: str | None


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """Who and what we are connected to."""

    version_num: int
    version: str
    database: str
    current_user: str
    is_superuser: bool
    has_pg_monitor: bool
    in_recovery: bool
    start_time: float
    now: float
    system_identifier: str | None
    block_size: int
    databases_collected: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SettingRow:
    """One row of `pg_settings`; `value` is normalized to bytes or milliseconds when the setting has a unit."""

    name: str
    setting: str
    unit: str | None
    vartype: str
    source: str
    boot_val: str | None
    reset_val: str | None
    pending_restart: bool
    value: float | None


# ---------------------------------------------------------------------------------------------------- schema


@dataclass(frozen=True, slots=True)
class TableRow:
    """A user table with its statistics (`pg_class` + `pg_stat_user_tables`)."""

    database: str
    schema: str
    name: str
    oid: int
    relkind: str
    reltuples: float | None  # None: never analyzed or vacuumed
    relpages: int
    size_bytes: int  # heap only
    total_bytes: int  # heap + indexes + TOAST
    n_live_tup: int
    n_dead_tup: int
    n_mod_since_analyze: int
    n_ins_since_vacuum: int
    seq_scan: int
    seq_tup_read: int
    idx_scan: int | None
    idx_tup_fetch: int | None
    n_tup_ins: int
    n_tup_upd: int
    n_tup_hot_upd: int
    n_tup_del: int
    last_vacuum: float | None
    last_autovacuum: float | None
    last_analyze: float | None
    last_autoanalyze: float | None
    vacuum_count: int
    autovacuum_count: int
    analyze_count: int
    autoanalyze_count: int
    last_seq_scan: float | None  # 16+
    reloptions: tuple[str, ...]
    frozenxid_age: int | None
    minmxid_age: int | None
    has_primary_key: bool
    comment: str | None


@dataclass(frozen=True, slots=True)
class IndexRow:
    """An index with its definition and statistics (`pg_index` + `pg_stat_user_indexes`)."""

    database: str
    schema: str
    table: str
    name: str
    oid: int
    method: str
    columns: tuple[str | None, ...]  # key columns; None for an expression column
    include_columns: tuple[str, ...]
    opclasses: tuple[str, ...]  # per key column
    collations: tuple[str | None, ...]  # per key column
    options: tuple[int, ...]  # per key column: indoption bits (1 DESC, 2 NULLS FIRST)
    expressions: str | None  # pg_get_expr(indexprs); None also when the table was locked (see shape_known)
    predicate: str | None  # pg_get_expr(indpred); None also when the table was locked (see shape_known)
    is_unique: bool
    is_primary: bool
    is_exclusion: bool
    is_valid: bool
    is_ready: bool
    is_replident: bool
    is_partitioned: bool  # an index on a partitioned table (relkind 'I'): it has no scans of its own
    constraint_name: str | None
    constraint_type: str | None  # p, u, x
    build_in_progress: bool
    idx_scan: int
    idx_tup_read: int
    idx_tup_fetch: int
    last_idx_scan: float | None  # 16+
    size_bytes: int
    reltuples: float | None
    definition: str | None  # None when the table was locked (pg_get_indexdef would have waited)
    comment: str | None

    @property
    def shape_known(self) -> bool:
        """False when its table was locked during collection: definition, expressions and predicate were not
        read (the functions that read them wait for the lock), so checks must not judge its shape."""
        return self.definition is not None

    @property
    def is_partial(self) -> bool:
        """True when the index has a WHERE clause."""
        return self.predicate is not None

    @property
    def backs_constraint(self) -> bool:
        """True when dropping the index would drop a constraint or the replica identity."""
        return (
            self.is_primary
            or self.is_unique
            or self.is_exclusion
            or self.is_replident
            or self.constraint_name is not None
        )


@dataclass(frozen=True, slots=True)
class ForeignKeyRow:
    """A foreign key constraint with both sides' columns (`pg_constraint` with `contype = 'f'`)."""

    database: str
    schema: str
    table: str
    name: str
    columns: tuple[str, ...]
    ref_schema: str
    ref_table: str
    ref_columns: tuple[str, ...]
    child_rows: float | None  # reltuples of the referencing table; None when never analyzed
    child_bytes: int
    parent_writes: int  # n_tup_upd + n_tup_del of the referenced table
    is_partitioned: bool
    validated: bool


@dataclass(frozen=True, slots=True)
class ColumnRow:
    """A column of a user table (`pg_attribute`)."""

    database: str
    schema: str
    table: str
    name: str
    attnum: int
    type: str
    type_oid: int
    not_null: bool
    has_default: bool
    identity: str | None  # 'a' always, 'd' by default
    generated: str | None


@dataclass(frozen=True, slots=True)
class SequenceRow:
    """A sequence and how far it has run (`pg_sequences`); `last_value` is None before the first nextval()."""

    database: str
    schema: str
    name: str
    data_type: str
    start_value: int
    min_value: int
    max_value: int
    increment_by: int
    cycle: bool
    last_value: int | None
    readable: bool
    owned_by: str | None  # schema.table.column for serial/identity
    owner_column_type: str | None


# ---------------------------------------------------------------------------------------------------- workload


@dataclass(frozen=True, slots=True)
class StatementRow:
    """One row of pg_stat_statements, with times in milliseconds, whatever the extension version."""

    queryid: int
    database: str | None
    user: str | None
    toplevel: bool
    query: str
    calls: int
    total_exec_ms: float
    mean_exec_ms: float
    stddev_exec_ms: float
    min_exec_ms: float
    max_exec_ms: float
    plans: int | None
    total_plan_ms: float | None
    rows: int
    shared_blks_hit: int
    shared_blks_read: int
    shared_blks_dirtied: int
    shared_blks_written: int
    temp_blks_read: int
    temp_blks_written: int
    blk_read_ms: float
    blk_write_ms: float
    temp_blk_write_ms: float | None  # 1.10+
    wal_records: int | None
    wal_fpi: int | None
    wal_bytes: float | None
    jit_ms: float | None  # 1.10+: generation + inlining + optimization + emission


@dataclass(frozen=True, slots=True)
class StatementsInfo:
    """What we know of pg_stat_statements itself."""

    schema: str
    version: str
    default_version: str | None
    max_entries: int | None
    track: str | None
    track_planning: bool | None
    dealloc: int | None  # 14+ (pg_stat_statements_info)
    stats_reset: float | None  # 14+


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """A backend from `pg_stat_activity`, with the PIDs blocking it."""

    pid: int
    database: str | None
    user: str | None
    application_name: str
    client_addr: str | None
    backend_type: str
    state: str | None
    backend_start: float | None
    xact_start: float | None
    query_start: float | None
    state_change: float | None
    wait_event_type: str | None
    wait_event: str | None
    backend_xid_age: int | None
    backend_xmin_age: int | None
    blocked_by: tuple[int, ...]
    query: str | None


@dataclass(frozen=True, slots=True)
class LockRow:
    """A relation-level lock from `pg_locks`, held or awaited."""

    pid: int | None
    locktype: str
    database: str | None
    relation: str | None  # schema.name when resolvable
    mode: str
    granted: bool
    wait_start: float | None  # 14+


@dataclass(frozen=True, slots=True)
class DatabaseRow:
    """A database with its `pg_stat_database` counters and wraparound ages."""

    name: str
    oid: int
    allow_connections: bool
    connection_limit: int
    size_bytes: int | None
    frozenxid_age: int
    minmxid_age: int
    numbackends: int
    xact_commit: int
    xact_rollback: int
    blks_read: int
    blks_hit: int
    temp_files: int
    temp_bytes: int
    deadlocks: int
    conflicts: int
    checksum_failures: int | None
    stats_reset: float | None
    sessions: int | None  # 14+
    session_time_ms: float | None  # 14+


@dataclass(frozen=True, slots=True)
class CheckpointerInfo:
    """Checkpointer and background writer counters (`pg_stat_bgwriter`, `pg_stat_checkpointer` on 17+)."""

    checkpoints_timed: int
    checkpoints_requested: int
    write_time_ms: float
    sync_time_ms: float
    buffers_checkpoint: int
    buffers_clean: int
    maxwritten_clean: int
    buffers_backend: int | None  # gone in 17 (pg_stat_io has it)
    buffers_alloc: int
    stats_reset: float | None


@dataclass(frozen=True, slots=True)
class RoleRow:
    """A role from `pg_roles` (no password data: `pg_authid` is not readable with pg_monitor)."""

    name: str
    superuser: bool
    login: bool
    create_role: bool
    create_db: bool
    replication: bool
    bypass_rls: bool
    connection_limit: int
    valid_until: float | None
    member_of: tuple[str, ...]


# ---------------------------------------------------------------------------------------------------- replication


@dataclass(frozen=True, slots=True)
class ReplicaRow:
    """A standby (or WAL receiver) as the primary sees it in `pg_stat_replication`."""

    pid: int
    application_name: str
    client_addr: str | None
    state: str | None
    sync_state: str | None
    sent_lsn: str | None
    replay_lsn: str | None
    write_lag_s: float | None
    flush_lag_s: float | None
    replay_lag_s: float | None
    replay_lag_bytes: int | None  # pg_current_wal_lsn() - replay_lsn
    reply_time: float | None
    backend_xmin_age: int | None


@dataclass(frozen=True, slots=True)
class SlotRow:
    """A replication slot (`pg_replication_slots`)."""

    name: str
    plugin: str | None
    slot_type: str
    database: str | None
    active: bool
    temporary: bool
    xmin_age: int | None
    catalog_xmin_age: int | None
    retained_bytes: int | None
    wal_status: str | None  # 13+
    safe_wal_size: int | None  # 13+
    inactive_since: float | None  # 17+
    invalidation_reason: str | None  # 17+
    conflicting: bool | None  # 16+


@dataclass(frozen=True, slots=True)
class StandbyStatus:
    """Replay state read on a standby itself."""

    receive_lsn: str | None
    replay_lsn: str | None
    last_replay_time: float | None
    replay_lag_s: float | None  # 0 when everything received was replayed
    replay_lag_bytes: int | None
    replay_paused: bool
    receiver_status: str | None
    sender_host: str | None
    min_apply_delay_s: float


@dataclass(frozen=True, slots=True)
class CollectorStat:
    """How one collector went: timing, and whether it returned data."""

    name: str
    seconds: float
    ok: bool
    reason: str | None


# ---------------------------------------------------------------------------------------------------- index analysis


@dataclass(frozen=True, slots=True)
class ColumnStatsRow:
    """Planner statistics of one column (`pg_stats`): only columns the collecting role may SELECT are visible."""

    database: str
    schema: str
    table: str
    column: str
    null_frac: float
    avg_width: int
    n_distinct: float  # negative: minus the fraction of rows (PostgreSQL's convention)
    correlation: float | None
    mcv_max_freq: float | None  # frequency of the most common value, when there is an MCV list


@dataclass(frozen=True, slots=True)
class IndexBloatRow:
    """How much of a B-tree is free space: measured (`pgstattuple.pgstatindex`) or estimated from `pg_stats`."""

    database: str
    schema: str
    table: str
    name: str
    source: str  # exact | estimate
    size_bytes: int
    wasted_bytes: int
    avg_leaf_density: float | None  # exact only, percent
    leaf_fragmentation: float | None  # exact only, percent


@dataclass(frozen=True, slots=True)
class QualStatRow:
    """One predicate seen by pg_qualstats: a column compared with a constant, with a sample of the constant."""

    database: str
    schema: str
    table: str
    column: str
    operator: str  # ~~ (LIKE), ~~* (ILIKE), =, <, ...
    constvalue: str | None
    eval_type: str  # f: filter on a scan, i: index qual
    execution_count: int
    nbfiltered: int
    queryid: int | None


@dataclass(frozen=True, slots=True)
class WhatIfCandidate:
    """A hypothetical index the what-if collector planned with (HypoPG)."""

    id: int
    database: str
    schema: str
    table: str
    keys: tuple[str, ...]  # column names or parenthesised expressions
    directions: tuple[str, ...]  # asc | desc, per key
    include: tuple[str, ...]
    predicate: str | None
    ddl: str  # CREATE INDEX CONCURRENTLY ...
    size_bytes: int | None  # hypopg_relation_size
    sources: tuple[int, ...]  # queryids whose scans produced it


@dataclass(frozen=True, slots=True)
class WhatIfPlan:
    """The generic plan's cost of one statement with a set of hypothetical indexes (empty: today's indexes)."""

    queryid: int
    database: str
    candidates: tuple[int, ...]
    cost: float | None
    used: tuple[int, ...]  # candidates the plan uses
    error: str | None


@dataclass(frozen=True, slots=True)
class WhatIf:
    """Tier A of the missing-index advisor: costs planned with hypothetical indexes, never built."""

    hypopg_version: str
    plan_method: str  # generic_plan (16+) | prepare (13-15)
    candidates: tuple[WhatIfCandidate, ...]
    plans: tuple[WhatIfPlan, ...]
    chosen: tuple[int, ...]  # the set the collector re-planned together
    notes: tuple[str, ...]


# ---------------------------------------------------------------------------------------------------- snapshot

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

    # ------------------------------------------------------------------ JSON

    def to_json(self, *, indent: int | None = None) -> str:
        """Serialize to JSON, with `format_version` first."""
        return json.dumps(_encode(self), indent=indent, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        """Read a snapshot written by `to_json`; SnapshotFormatError on anything else."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SnapshotFormatError(f"not a JSON document: {exc}") from None
        if not isinstance(data, dict) or "format_version" not in data:
            raise SnapshotFormatError("not a pgadvisor snapshot (no format_version)")
        if data["format_version"] != FORMAT_VERSION:
            raise SnapshotFormatError(
                f"snapshot format_version {data['format_version']!r} is not supported "
                f"(this pgadvisor reads version {FORMAT_VERSION})"
            )
        try:
            snap = _decode(cls, data, "snapshot")
        except (TypeError, ValueError, KeyError) as exc:
            raise SnapshotFormatError(f"malformed snapshot: {exc}") from None
        assert isinstance(snap, Snapshot)
        return snap


PART_NAMES: frozenset[str] = frozenset(
    f.name
    for f in dataclasses.fields(Snapshot)
    if f.name not in {"target", "collected_at", "pgadvisor_version", "notes", "collector_stats", "format_version"}
)


def _encode(obj: Any) -> Any:
    if isinstance(obj, Unavailable):
        return {"unavailable": obj.reason}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        if isinstance(obj, Snapshot):
            out["format_version"] = obj.format_version
        for f in dataclasses.fields(obj):
            out[f.name] = _encode(getattr(obj, f.name))
        return out
    if isinstance(obj, tuple | list):
        return [_encode(x) for x in obj]
    return obj


class _DecodeError(ValueError):
    """A value that does not fit its declared type; `path` says where."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path, self.message = path, message

    def within(self, outer: str) -> _DecodeError:
        return _DecodeError(f"{outer}{self.path}" if self.path.startswith("[") else
                            f"{outer}.{self.path}" if self.path else outer, self.message)


Decoder = Callable[[Any], Any]


def _decode(tp: Any, value: Any, where: str) -> Any:
    """Decode JSON data into the declared type (a dataclass, tuple, union or scalar)."""
    try:
        return _decoder(tp)(value)
    except _DecodeError as exc:
        raise ValueError(str(exc.within(where))) from None


@functools.cache
def _decoder(tp: Any) -> Decoder:
    """Build (once per type) a function that decodes JSON data of that type."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        nullable, may_be_unavailable = type(None) in args, Unavailable in args
        options = [_decoder(a) for a in args if a is not type(None) and a is not Unavailable]

        def union(value: Any) -> Any:
            if value is None and nullable:
                return None
            if may_be_unavailable and isinstance(value, dict) and "unavailable" in value:
                return Unavailable(str(value["unavailable"]))
            for option in options:
                try:
                    return option(value)
                except _DecodeError:
                    continue
            raise _DecodeError("", f"{value!r:.80} does not fit {tp}")

        return union
    if origin is tuple:
        (item_type,) = (a for a in typing.get_args(tp) if a is not Ellipsis)
        item = _decoder(item_type)

        def sequence(value: Any) -> Any:
            if not isinstance(value, list):
                raise _DecodeError("", "expected a list")
            out = []
            for i, v in enumerate(value):
                try:
                    out.append(item(v))
                except _DecodeError as exc:
                    raise exc.within(f"[{i}]") from None
            return tuple(out)

        return sequence
    if origin is dict:
        def mapping(value: Any) -> Any:
            if not isinstance(value, dict):
                raise _DecodeError("", "expected an object")
            return dict(value)

        return mapping
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        field_list = dataclasses.fields(tp)
        decoders = [(f.name, _decoder(hints[f.name])) for f in field_list]
        required = [f.name for f in field_list
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        cls = tp

        def record(value: Any) -> Any:
            if not isinstance(value, dict):
                raise _DecodeError("", f"expected an object for {cls.__name__}")
            kwargs = {}
            for name, decode in decoders:
                if name in value:
                    try:
                        kwargs[name] = decode(value[name])
                    except _DecodeError as exc:
                        raise exc.within(name) from None
            missing = [name for name in required if name not in value]
            if missing:
                raise _DecodeError("", f"missing field {missing[0]!r}")
            return cls(**kwargs)

        return record
    scalar = _SCALARS.get(tp)
    if scalar is not None:
        return scalar
    if tp is Any:
        return lambda value: value
    raise TypeError(f"cannot decode type {tp!r}")


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _DecodeError("", "expected a number")
    return float(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _DecodeError("", "expected an integer")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _DecodeError("", "expected true/false")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _DecodeError("", "expected a string")
    return value


_SCALARS: dict[Any, Decoder] = {float: _number, int: _integer, bool: _boolean, str: _string}
