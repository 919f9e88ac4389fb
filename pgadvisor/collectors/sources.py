"""The collectors' registry: every snapshot part, the source that fills it, and what that source needs.

`collect()` walks this table in order; nothing else names a part. Adding a part is one row here, its collector
function (or just its `sql/<part>_<minversion>.sql` for a plain catalog read) and its field on `Snapshot`.

Scopes: `cluster` parts are read once, on the connection to the target. `database` parts are read in every
collected database and concatenated (`merge="concat"`), or taken from the first database that gives them
(`merge="first"`, a group read together until all of its parts are in). `connected` parts are read once in the
target's database after the per-database parts are merged: the what-if phase, which needs the whole workload.

`say` is the progress message printed before the source (None: it belongs to the previous message). `requires`
names parts of the same round: when one is Unavailable this part is that Unavailable and is not read.
`min_version`, `extension` and `privilege` (what it needs beyond pg_monitor) are declarations: the collector
itself turns a missing extension or privilege into a precise `Unavailable`; a server older than `min_version`
is not read at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pgadvisor.collectors.base import Ctx, fetch
from pgadvisor.collectors.index_stats import STATS_GRANT, collect_column_stats, collect_index_bloat, collect_qual_stats
from pgadvisor.collectors.replication import collect_replicas, collect_slots, collect_standby
from pgadvisor.collectors.settings import collect_settings
from pgadvisor.collectors.statements import collect_statements, collect_statements_info
from pgadvisor.collectors.whatif import Propose, read_whatif
from pgadvisor.snapshot import (
    ActivityRow,
    CheckpointerInfo,
    ColumnRow,
    DatabaseRow,
    ExtensionRow,
    ForeignKeyRow,
    IndexRow,
    LockRow,
    RoleRow,
    SequenceRow,
    ServerInfo,
    StatementsInfo,
    TableRow,
    Unavailable,
)

Scope = Literal["cluster", "database", "connected"]


@dataclass(frozen=True)
class Round:
    """What a source may read besides the server: the parts collected so far, and phase 2 for the what-if part."""

    parts: Mapping[str, Any]
    propose: Propose | None = None


@dataclass(frozen=True)
class Source:
    """One snapshot part and how to fill it (see the module docstring)."""

    part: str
    scope: Scope
    read: Callable[[Ctx, Round], Any]
    say: str | None = None
    merge: Literal["concat", "first"] = "concat"
    requires: tuple[str, ...] = ()
    min_version: int = 130000
    extension: str | None = None
    privilege: str | None = None


def _catalog(part: str, scope: Scope, row_cls: type[Any], *, say: str | None = None, one: bool = False) -> Source:
    """A plain catalog read: `sql/<part>_<minversion>.sql` for this version into `row_cls` rows (or one row)."""

    def read(ctx: Ctx, _got: Round) -> Any:
        rows = fetch(ctx, row_cls, part)
        return rows[0] if one else tuple(rows)

    if scope == "database" and say is None:
        say = f"reading {part.replace('_', ' ')}"
    return Source(part, scope, read, say=say)


def _in_recovery(got: Round) -> bool:
    server = got.parts.get("server")
    return isinstance(server, ServerInfo) and server.in_recovery


def _statements(ctx: Ctx, got: Round) -> Any:
    info = got.parts["statements_info"]
    assert isinstance(info, StatementsInfo)
    return collect_statements(ctx, info)


SOURCES: tuple[Source, ...] = (
    Source("settings", "cluster", lambda ctx, _: collect_settings(ctx), say="reading settings"),
    _catalog("databases", "cluster", DatabaseRow, say="reading databases, activity and locks"),
    _catalog("activity", "cluster", ActivityRow),
    _catalog("locks", "cluster", LockRow),
    _catalog("checkpointer", "cluster", CheckpointerInfo, one=True),
    _catalog("roles", "cluster", RoleRow),
    Source("replicas", "cluster", lambda ctx, _: collect_replicas(ctx), say="reading replication"),
    Source("slots", "cluster", lambda ctx, _: collect_slots(ctx)),
    Source("standby", "cluster", lambda ctx, got: collect_standby(ctx, in_recovery=_in_recovery(got))),
    _catalog("extensions", "database", ExtensionRow),
    _catalog("tables", "database", TableRow),
    _catalog("indexes", "database", IndexRow),
    _catalog("foreign_keys", "database", ForeignKeyRow),
    _catalog("columns", "database", ColumnRow),
    _catalog("sequences", "database", SequenceRow),
    Source("column_stats", "database", lambda ctx, _: collect_column_stats(ctx),
           say="reading column statistics, index bloat and qualifier statistics", privilege=STATS_GRANT),
    Source("index_bloat", "database", lambda ctx, got: collect_index_bloat(ctx, got.parts["column_stats"]),
           extension="pgstattuple (exact; else estimated from pg_stats)"),
    Source("qual_stats", "database", lambda ctx, _: collect_qual_stats(ctx), extension="pg_qualstats"),
    Source("statements_info", "database", lambda ctx, _: collect_statements_info(ctx), say="reading pg_stat_statements",
           merge="first", extension="pg_stat_statements"),
    Source("statements", "database", _statements, merge="first", requires=("statements_info",),
           extension="pg_stat_statements"),
    Source("whatif", "connected", lambda ctx, got: read_whatif(ctx, got.parts, got.propose),
           say="planning the workload with hypothetical indexes", extension="hypopg",
           privilege="membership in the roles that ran the statements, and their SELECT on the tables"),
)

def unavailable_below(source: Source, version: int) -> Unavailable | None:
    """Why a source is not read on this server version, or None when it is."""
    if version >= source.min_version:
        return None
    return Unavailable(f"needs PostgreSQL {source.min_version // 10000} or later")
