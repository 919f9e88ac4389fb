"""Collectors: the only code that talks to PostgreSQL. `collect()` reads one server into a `Snapshot`.

Cluster-wide sources (settings, activity, replication, ...) are read once; per-database sources (tables,
indexes, foreign keys, ...) are read in the connected database, or in every connectable one with
`all_databases=True`. Each source that fails becomes `Unavailable(reason)` and the collection goes on; only a
failed connection to the target itself stops it (ConnectError / CollectError, exit code 3).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgadvisor import __version__
from pgadvisor.collectors.base import CollectError, Ctx, fetch, guarded
from pgadvisor.collectors.index_stats import collect_index_parts
from pgadvisor.collectors.replication import collect_replicas, collect_slots, collect_standby
from pgadvisor.collectors.settings import collect_settings
from pgadvisor.collectors.statements import collect_statements, collect_statements_info
from pgadvisor.collectors.whatif import collect_whatif_part
from pgadvisor.connection import ConnectError, SessionOptions, connect, describe_target
from pgadvisor.snapshot import (
    HIDDEN_TEXT,
    ActivityInfo,
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
    Snapshot,
    StatementRow,
    StatementsInfo,
    TableRow,
    Unavailable,
)

__all__ = ["CollectError", "ConnectError", "Progress", "collect"]

Progress = Callable[[str], None]

# Per-database sources: snapshot part -> row class. Each is one .sql file family.
_PER_DATABASE: dict[str, type[Any]] = {
    "extensions": ExtensionRow,
    "tables": TableRow,
    "indexes": IndexRow,
    "foreign_keys": ForeignKeyRow,
    "columns": ColumnRow,
    "sequences": SequenceRow,
}


def collect(
    dsn: str | None,
    opts: SessionOptions | None = None,
    *,
    all_databases: bool = False,
    progress: Progress | None = None,
) -> Snapshot:
    """Read the server behind `dsn` into a snapshot."""
    opts = opts or SessionOptions()
    say = progress or (lambda _msg: None)
    say("connecting")
    conn = connect(dsn, opts)
    try:
        return _collect(conn, dsn, opts, all_databases=all_databases, say=say)
    except psycopg.OperationalError as exc:
        from pgadvisor.connection import redact

        raise CollectError(f"lost the connection: {redact(str(exc).strip().splitlines()[0], dsn)}") from None
    finally:
        conn.close()


def _server_info(ctx: Ctx) -> ServerInfo:
    with ctx.conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_pick_server())
        row = cur.fetchone()
        assert row is not None
        system_identifier: str | None = None
        try:
            cur.execute("SELECT system_identifier::text FROM pg_control_system()")
            ident_row = cur.fetchone()
            system_identifier = ident_row["system_identifier"] if ident_row else None
        except psycopg.errors.InsufficientPrivilege:
            system_identifier = None
    return ServerInfo(**row, system_identifier=system_identifier, databases_collected=())


def _pick_server() -> str:
    from pgadvisor.collectors import queries

    return queries.pick("server", 130000)


def _collect(
    conn: psycopg.Connection[Any], dsn: str | None, opts: SessionOptions, *, all_databases: bool, say: Progress
) -> Snapshot:
    started = time.time()
    version = conn.info.server_version
    ctx = Ctx(conn=conn, version=version, database=conn.info.dbname, opts=opts, dsn=dsn)
    if version < 130000:
        raise CollectError(f"PostgreSQL {version // 10000} is not supported (pgadvisor reads 13 to 18)")
    server = guarded(ctx, "server", lambda: _server_info(ctx))
    in_recovery = isinstance(server, ServerInfo) and server.in_recovery
    ctx.monitor = isinstance(server, ServerInfo) and (server.has_pg_monitor or server.is_superuser)

    say("reading settings")
    settings = guarded(ctx, "settings", lambda: collect_settings(ctx))
    say("reading databases, activity and locks")
    databases = guarded(ctx, "databases", lambda: tuple(fetch(ctx, DatabaseRow, "databases")))
    activity = guarded(ctx, "activity", lambda: tuple(fetch(ctx, ActivityRow, "activity")))
    activity_info = activity if isinstance(activity, Unavailable) else _activity_info(activity)
    locks = guarded(ctx, "locks", lambda: tuple(fetch(ctx, LockRow, "locks")))
    checkpointer = guarded(ctx, "checkpointer", lambda: fetch(ctx, CheckpointerInfo, "checkpointer")[0])
    roles = guarded(ctx, "roles", lambda: tuple(fetch(ctx, RoleRow, "roles")))
    say("reading replication")
    replicas = guarded(ctx, "replicas", lambda: collect_replicas(ctx))
    slots = guarded(ctx, "slots", lambda: collect_slots(ctx))
    standby = guarded(ctx, "standby", lambda: collect_standby(ctx, in_recovery=in_recovery))

    targets = [ctx.database]
    notes: list[str] = []
    if all_databases:
        if isinstance(databases, Unavailable):
            notes.append(
                f"--all-databases: the database list is unavailable ({databases.reason}); read only {ctx.database}"
            )
        else:
            targets += [d.name for d in databases if d.allow_connections and d.name != ctx.database
                        and d.name not in ("template0", "template1")]

    per_db: dict[str, list[tuple[str, Any]]] = {part: [] for part in _PER_DATABASE}
    statements_info: StatementsInfo | Unavailable = Unavailable("not collected")
    statements: tuple[StatementRow, ...] | Unavailable = Unavailable("not collected")
    collected: list[str] = []
    stats = ctx.stats
    for index, dbname in enumerate(targets, start=1):
        label = f" ({dbname}, {index}/{len(targets)})" if len(targets) > 1 else ""
        if dbname == ctx.database:
            db_ctx = ctx
        else:
            try:
                db_conn = connect(dsn, opts, dbname=dbname)
            except ConnectError as exc:
                notes.append(f"database {dbname} skipped: {exc}")
                continue
            db_ctx = Ctx(conn=db_conn, version=version, database=dbname, opts=opts, dsn=dsn, stats=stats,
                         monitor=ctx.monitor)
        try:
            for part, row_cls in _PER_DATABASE.items():
                say(f"reading {part.replace('_', ' ')}{label}")
                per_db[part].append((dbname, guarded(db_ctx, part, partial(_rows, db_ctx, row_cls, part))))
            say(f"reading column statistics, index bloat and qualifier statistics{label}")
            for part, value in collect_index_parts(db_ctx).items():
                per_db.setdefault(part, []).append((dbname, value))
            if not isinstance(statements, tuple):
                say(f"reading pg_stat_statements{label}")
                info = guarded(db_ctx, "statements_info", partial(collect_statements_info, db_ctx))
                if isinstance(info, StatementsInfo):
                    statements_info = info
                    statements = guarded(db_ctx, "statements", partial(collect_statements, db_ctx, info))
                elif isinstance(statements_info, Unavailable):
                    statements_info = info
                    statements = info
            collected.append(dbname)
        finally:
            if db_ctx is not ctx:
                db_ctx.conn.close()

    parts: dict[str, Any] = {}
    for part, results in per_db.items():
        parts[part], part_notes = _merge(part, results)
        notes += part_notes
    say("planning the workload with hypothetical indexes")
    parts["whatif"] = collect_whatif_part(ctx, parts, statements, statements_info, server, started)
    if isinstance(server, ServerInfo):
        server = ServerInfo(**{**_asdict(server), "databases_collected": tuple(collected)})
    return Snapshot(
        target=describe_target(dsn, conn),
        collected_at=started,
        pgadvisor_version=__version__,
        server=server,
        settings=settings,
        databases=databases,
        activity=activity,
        activity_info=activity_info,
        locks=locks,
        checkpointer=checkpointer,
        roles=roles,
        replicas=replicas,
        slots=slots,
        standby=standby,
        statements=statements,
        statements_info=statements_info,
        notes=tuple(notes),
        collector_stats=tuple(stats),
        **parts,
    )


def _rows(ctx: Ctx, row_cls: type[Any], source: str) -> tuple[Any, ...]:
    return tuple(fetch(ctx, row_cls, source))


def _merge(part: str, results: list[tuple[str, Any]]) -> tuple[Any, list[str]]:
    """Concatenate one part over databases; Unavailable only when no database gave it."""
    rows: list[Any] = []
    failures = [(db, r) for db, r in results if isinstance(r, Unavailable)]
    for _db, r in results:
        if not isinstance(r, Unavailable):
            rows.extend(r)
    if results and len(failures) == len(results):
        return failures[0][1], []
    return tuple(rows), [f"{part} unavailable in database {db}: {r.reason}" for db, r in failures]


def _activity_info(rows: tuple[ActivityRow, ...]) -> ActivityInfo:
    """How many backends were read, and how many of them hid their details from this role."""
    return ActivityInfo(backends=len(rows), hidden=sum(1 for r in rows if r.query == HIDDEN_TEXT))


def _asdict(obj: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
