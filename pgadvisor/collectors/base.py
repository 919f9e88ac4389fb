"""What every collector shares: the context, typed row fetching, and turning failures into `Unavailable`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors

from pgadvisor.collectors import queries
from pgadvisor.connection import SessionOptions, redact
from pgadvisor.redact import MASK, SECRET_FIELDS, password_column
from pgadvisor.snapshot import CollectorStat, Unavailable

R = TypeVar("R")


class CollectError(Exception):
    """The server went away or refused us mid-collection (exit code 3). The message is safe to print."""


@dataclass
class Ctx:
    """One connection to one database, with what we know about the server."""

    conn: psycopg.Connection[Any]
    version: int
    database: str
    opts: SessionOptions
    dsn: str | None = None
    stats: list[CollectorStat] = field(default_factory=list)
    monitor: bool = False  # the role has pg_monitor (or is superuser): a refusal is then an optional grant


def fetch(ctx: Ctx, row_cls: type[R], source: str, *, query: str | None = None, params: Sequence[Any] = ()) -> list[R]:
    """Run the source's SQL for this server version and build frozen rows (lists become tuples)."""
    text = query if query is not None else queries.pick(source, ctx.version)
    names = {f.name for f in fields(row_cls)}  # type: ignore[arg-type]  # R is always a dataclass
    with ctx.conn.cursor() as cur:
        cur.execute(text, params or None)
        columns = [d.name for d in cur.description or ()]
        rows = cur.fetchall()
    keep = [(i, name) for i, name in enumerate(columns) if name in names]
    # One converter per column, chosen from its first non-null value: most columns need none.
    convert: list[tuple[int, str, Callable[[Any], Any]]] = []
    for i, name in keep:
        sample = next((row[i] for row in rows if row[i] is not None), None)
        if name in SECRET_FIELDS and isinstance(sample, str):
            convert.append((i, name, SECRET_FIELDS[name]))
        elif isinstance(sample, list | Decimal):
            convert.append((i, name, _plain))
    out = []
    for row in rows:
        kwargs = {name: row[i] for i, name in keep}
        for i, name, fn in convert:
            if row[i] is not None:
                kwargs[name] = fn(row[i])
        if kwargs.get("constvalue") is not None and password_column(kwargs.get("column")):
            kwargs["constvalue"] = MASK  # pg_qualstats' sample of a constant compared with a password column
        out.append(row_cls(**kwargs))
    return out


def extension_schema(conn: psycopg.Connection[Any], name: str) -> str | None:
    """The schema an extension is installed in, in the connected database; None when it is not installed."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = %s",
            (name,),
        )
        row = cur.fetchone()
    return None if row is None else str(row[0])


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def guarded(ctx: Ctx, name: str, fn: Callable[[], R]) -> R | Unavailable:
    """Run one collector; a missing privilege, extension or a timeout becomes `Unavailable(reason)`.

    The Unavailable says whether collection *failed* (a timeout, a lock not granted, a server error, or a
    permission refused to a role without pg_monitor, which is below what pgadvisor documents as needed) or the
    part is merely *absent* (not in shared_preload_libraries, an object this version lacks, no query for this
    version, or a permission refused to a pg_monitor role: an optional extra grant, skipped with a reason).
    A lost connection is not a per-collector problem: it raises CollectError and the collection stops.
    """
    started = time.perf_counter()
    result: R | Unavailable
    try:
        result = fn()
    except pg_errors.QueryCanceled:
        result = Unavailable(f"timed out after statement_timeout = {ctx.opts.statement_timeout_ms} ms", failed=True)
    except pg_errors.LockNotAvailable:
        result = Unavailable(f"a lock was not granted within lock_timeout = {ctx.opts.lock_timeout_ms} ms",
                             failed=True)
    except pg_errors.InsufficientPrivilege as exc:
        result = Unavailable(f"permission denied: {_msg(exc, ctx)} (grant pg_monitor, or more for this part)",
                             failed=not ctx.monitor)
    except pg_errors.ObjectNotInPrerequisiteState as exc:
        result = Unavailable(_msg(exc, ctx))
    except (pg_errors.UndefinedTable, pg_errors.UndefinedFunction, pg_errors.UndefinedColumn) as exc:
        result = Unavailable(f"not available on this server: {_msg(exc, ctx)}")
    except queries.NoQueryForVersion as exc:
        result = Unavailable(str(exc))
    except psycopg.Error as exc:
        if ctx.conn.closed or ctx.conn.broken:
            raise CollectError(f"lost the connection while collecting {name}: {_msg(exc, ctx)}") from None
        result = Unavailable(_msg(exc, ctx), failed=True)
    seconds = time.perf_counter() - started
    reason = result.reason if isinstance(result, Unavailable) else None
    ctx.stats.append(CollectorStat(name=name, seconds=round(seconds, 6), ok=reason is None, reason=reason))
    return result


def _msg(exc: BaseException, ctx: Ctx) -> str:
    text = str(exc).strip().splitlines()
    return redact(text[0] if text else type(exc).__name__, ctx.dsn)
