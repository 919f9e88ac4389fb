"""The one place pgadvisor opens a session, and it is always a safe one.

Every query ends with the comment OWN_QUERY_MARKER (`/* pgadvisor:<token> */`), so pgadvisor's own statements
can be told apart in pg_stat_statements (by `snapshot.is_own`). Every session is read-only
(`default_transaction_read_only`), named `pgadvisor` in pg_stat_activity, bounded by `statement_timeout` and a
short `lock_timeout`, and has `search_path = pg_catalog` so no user object can shadow a catalog function. A
connection string, a URI or nothing at all is accepted; with nothing, libpq's PG* environment variables and
`.pgpass` apply as in psql. Passwords never reach a message: `redact()` scrubs them (see `pgadvisor.redact`).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql
from psycopg.abc import PQGen

from pgadvisor.redact import redact_message
from pgadvisor.snapshot import OWN_QUERY_MARKER


class ConnectError(Exception):
    """Could not connect (exit code 3). The message is safe to print: no password in it."""


class DsnError(Exception):
    """The connection string itself is malformed (exit code 2). The message is safe to print."""


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Timeouts for every session pgadvisor opens."""

    statement_timeout_ms: int = 10_000
    lock_timeout_ms: int = 500
    connect_timeout_s: int = 10


def redact(text: str, dsn: str | None = None) -> str:
    """A message safe to print: the DSN's password (in any form), PGPASSWORD, URI userinfo and `password=` cut."""
    return redact_message(text, [dsn])


def parse_dsn(dsn: str | None) -> dict[str, Any]:
    """Validate a DSN without connecting; DsnError with a redacted message when libpq cannot parse it."""
    try:
        return dict(pg_conninfo.conninfo_to_dict(dsn or ""))
    except psycopg.ProgrammingError as exc:
        raise DsnError(f"invalid connection string: {_first_line(redact(str(exc), dsn))}") from None


_DSN_CHOICES: dict[str, tuple[str, ...]] = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "target_session_attrs": ("any", "read-write", "read-only", "primary", "standby", "prefer-standby"),
    "load_balance_hosts": ("disable", "random"),
    "sslnegotiation": ("postgres", "direct"),
    "sslcertmode": ("disable", "allow", "require"),
}
_DSN_INTEGERS = ("connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                 "tcp_user_timeout")
# the libpq environment variable behind each checked option (used when the DSN does not set it)
_DSN_ENV = {"port": "PGPORT", "connect_timeout": "PGCONNECT_TIMEOUT", "sslmode": "PGSSLMODE",
            "gssencmode": "PGGSSENCMODE", "channel_binding": "PGCHANNELBINDING",
            "target_session_attrs": "PGTARGETSESSIONATTRS", "load_balance_hosts": "PGLOADBALANCEHOSTS",
            "sslnegotiation": "PGSSLNEGOTIATION", "sslcertmode": "PGSSLCERTMODE"}
_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")  # what libpq's strtol-based parse_int_param accepts


def check_dsn(dsn: str | None) -> None:
    """DsnError (exit 2) for a DSN, or PG* variable, libpq would only reject when connecting: a port that is not
    a number from 1 to 65535, a timeout that is not an integer, an unknown sslmode and the like."""
    params = parse_dsn(dsn) if dsn is not None else {}
    options = [*_DSN_CHOICES, *_DSN_INTEGERS, "port"]
    for option in options:
        value, origin = params.get(option), f"{option}="
        if value is None and option in _DSN_ENV and _DSN_ENV[option] in os.environ:
            value, origin = os.environ[_DSN_ENV[option]], f"{_DSN_ENV[option]}="
        if value is None:
            continue
        text = str(value)
        if option == "port":  # a comma-separated list, one per host; an empty entry means the default
            bad = any(p.strip() and not (_INTEGER.fullmatch(p) and 1 <= int(p) <= 65535) for p in text.split(","))
            expected = "a port number from 1 to 65535"
        elif option in _DSN_INTEGERS:
            bad = not _INTEGER.fullmatch(text) or not -(2**31) <= int(text) < 2**31
            expected = "an integer"
        else:
            bad = text not in _DSN_CHOICES[option]
            expected = "one of " + ", ".join(_DSN_CHOICES[option])
        if bad:
            raise DsnError(f"invalid connection string: {origin}{text!r} is not {expected}")


def describe_target(dsn: str | None, conn: psycopg.Connection[Any] | None = None) -> str:
    """`user@host:port/dbname` for display: never the password."""
    if conn is not None:
        info = conn.info
        host = info.host
        return f"{info.user}@{host}:{info.port}/{info.dbname}"
    try:
        params = pg_conninfo.conninfo_to_dict(dsn or "")
    except psycopg.ProgrammingError:
        return "<invalid dsn>"
    host = str(params.get("host") or "(default)")
    user = str(params.get("user") or "(default user)")
    return f"{user}@{host}:{params.get('port') or 5432}/{params.get('dbname') or '(default)'}"


RV = TypeVar("RV")

ROUND_TRIP_MARGIN_S = 5.0
"""Added to statement_timeout for the client-side deadline of one round trip (at least half the timeout)."""


def round_trip_limit_s(opts: SessionOptions) -> float:
    """How long pgadvisor waits for any one answer from the server: statement_timeout plus a margin."""
    timeout_s = opts.statement_timeout_ms / 1000
    return timeout_s + max(ROUND_TRIP_MARGIN_S, timeout_s / 2)


class GuardedConnection(psycopg.Connection[Any]):
    """A connection whose every round trip has a client-side deadline (`deadline_s`).

    statement_timeout is enforced by the server, so a backend that is frozen (stopped, a hung host, a network
    that drops packets without a reset) never answers, and a cancel request cannot reach it either. Every
    round trip (execute, fetch, commit) goes through `wait()`: past the deadline the connection is closed and
    OperationalError raised, so a collection stops with exit code 3 instead of hanging.
    """

    deadline_s: float | None = None

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        """Consume a libpq generator; past `deadline_s` close the connection and raise OperationalError."""
        limit = self.deadline_s
        if timeout is not None or limit is None:
            return super().wait(gen, interval, timeout)
        started = time.monotonic()
        try:
            return super().wait(gen, interval, limit)
        except psycopg.OperationalError:
            if time.monotonic() - started < limit:
                raise
            self.pgconn.finish()  # the protocol state is unknown: nothing more may be sent on this session
            raise psycopg.OperationalError(
                f"no answer from the server within {limit:g} s (statement_timeout plus a margin): "
                "closed the connection (is the server or the network stalled?)"
            ) from None


class MarkedCursor(psycopg.Cursor[Any]):
    """Ends every query with OWN_QUERY_MARKER, so pg_stat_statements shows which statements are ours."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        """Execute the query with the marker comment in front."""
        return super().execute(mark(query), params, **kwargs)


def mark(query: Any) -> Any:
    """The query with the marker comment at its end, on a line of its own (str, bytes or psycopg.sql composable).

    At the end, because PostgreSQL 18's pg_stat_statements no longer keeps a statement's leading comments.
    """
    if isinstance(query, str):
        return f"{query}\n{OWN_QUERY_MARKER}"
    if isinstance(query, bytes):
        return query + b"\n" + OWN_QUERY_MARKER.encode()
    if isinstance(query, sql.Composable):
        return sql.Composed([query, sql.SQL("\n" + OWN_QUERY_MARKER)])
    return query


def connect(
    dsn: str | None, opts: SessionOptions | None = None, *, dbname: str | None = None
) -> psycopg.Connection[Any]:
    """Open a safe, read-only, autocommit session. ConnectError (no password in it) when it fails."""
    opts = opts or SessionOptions()
    params = parse_dsn(dsn)
    params["application_name"] = "pgadvisor"
    params.setdefault("connect_timeout", str(opts.connect_timeout_s))
    if dbname is not None:
        params["dbname"] = dbname
    conn_str = pg_conninfo.make_conninfo("", **params)
    try:
        conn = GuardedConnection.connect(conn_str, autocommit=True, cursor_factory=MarkedCursor)
    except psycopg.Error as exc:
        raise ConnectError(_first_line(redact(str(exc), dsn))) from None
    conn.deadline_s = round_trip_limit_s(opts)
    try:
        with conn.cursor() as cur:
            # SET here rather than startup `options`, which poolers such as PgBouncer reject.
            cur.execute("SET default_transaction_read_only = on")
            cur.execute(f"SET statement_timeout = {int(opts.statement_timeout_ms)}")
            cur.execute(f"SET lock_timeout = {int(opts.lock_timeout_ms)}")
            cur.execute("SET idle_in_transaction_session_timeout = 60000")
            cur.execute("SET search_path = pg_catalog")
            cur.execute("SET application_name = 'pgadvisor'")
    except psycopg.Error as exc:
        conn.close()
        raise ConnectError(f"could not prepare a safe session: {_first_line(redact(str(exc), dsn))}") from None
    return conn


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return "; ".join(lines[:2]) if lines else "unknown error"
