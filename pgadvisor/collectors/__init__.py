"""Collectors: the only code that talks to PostgreSQL. `collect()` reads one server into a `Snapshot`.

Every part is a row of the registry (`sources.SOURCES`), read in its order. Cluster-wide sources (settings,
activity, replication, ...) are read once; per-database sources (tables, indexes, foreign keys, ...) are read in
the connected database, or in every connectable one with `all_databases=True`, and merged. The what-if part
comes last, in the connected database, from the candidate indexes phase 2 proposes (`pgadvisor.phases`, which
is how a collection is normally started). Each source that fails becomes `Unavailable(reason)` and the
collection goes on; only a failed connection to the target itself stops it (ConnectError / CollectError, exit
code 3).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgadvisor import __version__
from pgadvisor.collectors.base import CollectError, Ctx, guarded
from pgadvisor.collectors.sources import SOURCES, Round, Source, unavailable_below
from pgadvisor.collectors.whatif import Propose
from pgadvisor.connection import ConnectError, SessionOptions, connect, describe_target
from pgadvisor.snapshot import HIDDEN_TEXT, ActivityInfo, ActivityRow, ServerInfo, Snapshot, Unavailable

__all__ = ["SOURCES", "CollectError", "ConnectError", "Progress", "Source", "collect"]

Progress = Callable[[str], None]
NOT_COLLECTED = Unavailable("not collected")


def collect(
    dsn: str | None,
    opts: SessionOptions | None = None,
    *,
    all_databases: bool = False,
    progress: Progress | None = None,
    propose: Propose | None = None,
) -> Snapshot:
    """Read the server behind `dsn` into a snapshot.

    `propose` is phase 2, the advisor's candidate indexes for the what-if part; `pgadvisor.phases.collect`
    supplies it (collectors may not import the advisor). Without it the what-if part is not collected.
    """
    opts = opts or SessionOptions()
    say = progress or (lambda _msg: None)
    say("connecting")
    conn = connect(dsn, opts)
    try:
        return _collect(conn, dsn, opts, all_databases=all_databases, say=say, propose=propose)
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
    conn: psycopg.Connection[Any], dsn: str | None, opts: SessionOptions, *, all_databases: bool, say: Progress,
    propose: Propose | None,
) -> Snapshot:
    started = time.time()
    version = conn.info.server_version
    ctx = Ctx(conn=conn, version=version, database=conn.info.dbname, opts=opts, dsn=dsn)
    if version < 130000:
        raise CollectError(f"PostgreSQL {version // 10000} is not supported (pgadvisor reads 13 to 18)")
    # The server comes first, outside the registry: what every source is read with (recovery, pg_monitor).
    server = guarded(ctx, "server", lambda: _server_info(ctx))
    ctx.monitor = isinstance(server, ServerInfo) and (server.has_pg_monitor or server.is_superuser)

    cluster: dict[str, Any] = {"server": server}
    for src in _scope("cluster"):
        cluster[src.part] = _read(ctx, src, cluster, say)
    databases = cluster["databases"]
    activity = cluster["activity"]

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

    concat = [s for s in _scope("database") if s.merge == "concat"]
    first = [s for s in _scope("database") if s.merge == "first"]
    per_db: dict[str, list[tuple[str, Any]]] = {src.part: [] for src in concat}
    kept: dict[str, Any] = {src.part: NOT_COLLECTED for src in first}
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
            got: dict[str, Any] = {}
            for src in concat:
                got[src.part] = _read(db_ctx, src, got, say, label)
                per_db[src.part].append((dbname, got[src.part]))
            if first and any(isinstance(kept[src.part], Unavailable) for src in first):
                # the first database that gives the group wins; a failure replaces only a failure
                for src in first:
                    got[src.part] = _read(db_ctx, src, got, say, label)
                lead = first[0].part
                if not isinstance(got[lead], Unavailable) or isinstance(kept[lead], Unavailable):
                    kept.update({src.part: got[src.part] for src in first})
            collected.append(dbname)
        finally:
            if db_ctx is not ctx:
                db_ctx.conn.close()

    parts: dict[str, Any] = {}
    for part, results in per_db.items():
        parts[part], part_notes = _merge(part, results)
        notes += part_notes
    parts.update(kept)
    for src in _scope("connected"):
        parts[src.part] = _read(ctx, src, {**cluster, **parts}, say, propose=propose)
    if isinstance(server, ServerInfo):
        server = ServerInfo(**{**_asdict(server), "databases_collected": tuple(collected)})
    cluster.pop("server")
    return Snapshot(
        target=describe_target(dsn, conn),
        collected_at=started,
        pgadvisor_version=__version__,
        server=server,
        activity_info=activity if isinstance(activity, Unavailable) else _activity_info(activity),
        notes=tuple(notes),
        collector_stats=tuple(stats),
        **cluster,
        **parts,
    )


def _scope(scope: str) -> list[Source]:
    return [src for src in SOURCES if src.scope == scope]


def _read(ctx: Ctx, src: Source, got: dict[str, Any], say: Progress, label: str = "", *,
          propose: Propose | None = None) -> Any:
    """One source, guarded; its progress message first. A required part that is Unavailable stands in for it."""
    if src.say is not None:
        say(src.say + label)
    missing = next((got[r] for r in src.requires if isinstance(got.get(r), Unavailable)), None)
    if missing is not None:
        return missing
    too_old = unavailable_below(src, ctx.version)
    if too_old is not None:
        return too_old
    return guarded(ctx, src.part, lambda: src.read(ctx, Round(got, propose)))


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
