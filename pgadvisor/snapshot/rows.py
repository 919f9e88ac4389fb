"""The rows of a snapshot: one frozen dataclass per kind of row, and `Unavailable(reason)` for a part that could
not be read. Plain data: nothing here talks to PostgreSQL or knows about JSON (see `codec.py`).

Times are seconds since the epoch (UTC, float); durations are seconds; sizes are bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

FORMAT_VERSION = 2
"""2 added `Unavailable.failed`, `StatementsInfo.hidden/hidden_calls`, `activity_info` and `StatementRow.userid`."""
READABLE_VERSIONS = (1, 2)
"""Version 1 files read too: what version 2 added takes its default."""

OWN_QUERY_MARKER = "/* pgadvisor:ea13f6000e54 */"
"""Every query pgadvisor sends ends with this comment (`connection.mark`), which pg_stat_statements keeps, so
pgadvisor's own catalog queries are left out of the workload it judges. The fixed random token makes sure no
user statement ends with it by accident (a plain `/* pgadvisor */` would hide a user's statement from analysis).
Trailing, because PostgreSQL 18's pg_stat_statements drops a statement's leading comments."""


def is_own(query: str) -> bool:
    """True for a statement pgadvisor sent itself: the only test of OWN_QUERY_MARKER anywhere."""
    return query.rstrip().endswith(OWN_QUERY_MARKER)


HIDDEN_TEXT = "<insufficient privilege>"
"""What pg_stat_statements and pg_stat_activity show instead of another role's query text to a role without
pg_read_all_stats (pg_monitor includes it)."""


class SnapshotFormatError(ValueError):
    """A snapshot file that cannot be read: not JSON, another format version, or a wrong shape."""


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A part of the snapshot that could not be collected, and why.

    `failed` tells a collection failure (a timeout, a lock not granted, an error, a permission a role below
    pg_monitor lacks) from a part that is simply absent here (an extension not installed, not a standby, no
    query for this version): a run that failed to collect what most checks need does not pass (exit code 3).
    """

    reason: str
    failed: bool = False

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
    userid: int | None = None  # oid of the role that ran it (`user` is its name; None: dropped or not recorded)


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
    hidden: int | None = None  # entries of other roles shown as <insufficient privilege> (no pg_read_all_stats)
    hidden_calls: int | None = None  # their calls


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
class ActivityInfo:
    """How much of `pg_stat_activity` this role could see."""

    backends: int  # rows read (other than pgadvisor's own session)
    hidden: int  # rows shown as <insufficient privilege>: other roles' sessions, without pg_read_all_stats


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
    chosen: tuple[int, ...]  # candidates that lowered a cost alone, planned together per statement (no selection)
    notes: tuple[str, ...]
