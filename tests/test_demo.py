"""`pgadvisor demo`: the README's first command works, finds what it planted, and nobody else can get in."""

from __future__ import annotations

import json
import os
import pwd
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgadvisor.cli import run_cli
from pgadvisor.connection import connect
from pgadvisor.demo import DEMO_DB, MONITOR, keep_message, start_server
from pgadvisor.demo_server import CLUSTER_DIR_ENV, OsUser, PgServer

pytestmark = pytest.mark.slow


def test_demo_finds_the_planted_problems_and_leaves_nothing(reachable_tmp: Path) -> None:
    """The demo starts its own server, audits it as pg_monitor, reports each planted problem, and without
    --keep deletes everything it made (data directory, socket, passfile)."""
    env = {**os.environ, CLUSTER_DIR_ENV: str(reachable_tmp)}
    res = subprocess.run([sys.executable, "-m", "pgadvisor.cli", "demo", "--format", "json"], capture_output=True,
                         text=True, timeout=300, check=False, env=env)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    found = {(f["check"], f["object"]) for f in report["findings"]}
    assert {
        ("IX003", "public.orders_status_idx2"),
        ("IX003", "public.orders_created_idx"),
        ("IX004", "public.orders.orders_customer_id_fkey"),
        ("IX005", "public.customers_email_domain_key"),
    } <= found
    assert report["target"].startswith(f"{MONITOR}@{reachable_tmp}/pgadvisor-")  # a Unix socket, no TCP
    assert not [c for c in report["checks"] if c["status"] == "errored"]
    assert list(reachable_tmp.iterdir()) == []


def _postmaster_alive(pid: int) -> bool:
    """True if process `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_demo_keep_leaves_a_running_server_and_one_command_that_removes_it(reachable_tmp: Path) -> None:
    """With --keep the server outlives the demo (the exit clean-up leaves it alone), the printed psql line
    connects, and the printed stop command stops the postmaster and deletes every file the demo made."""
    env = {**os.environ, CLUSTER_DIR_ENV: str(reachable_tmp)}
    res = subprocess.run([sys.executable, "-m", "pgadvisor.cli", "demo", "--keep", "--format", "json"],
                         capture_output=True, text=True, timeout=300, check=False, env=env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["findings"]
    psql = re.search(r'^  (\S+/psql) "([^"]+)"$', res.stderr, re.MULTILINE)
    stop = re.search(r"^Stop and remove it with:\n  (.+)$", res.stderr, re.MULTILINE)
    assert psql is not None, res.stderr
    assert stop is not None, res.stderr
    made = sorted(reachable_tmp.iterdir())
    assert made, "the kept server's directory is gone"
    datadirs = [p / "data" for p in made if (p / "data" / "postmaster.pid").exists()]
    assert len(datadirs) == 1, made
    pid = int((datadirs[0] / "postmaster.pid").read_text().split()[0])
    assert _postmaster_alive(pid)
    env_psql = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": os.environ.get("HOME", "/")}
    query = subprocess.run([psql.group(1), "-w", "-X", "-At", "-c", "SELECT current_database()", psql.group(2)],
                           capture_output=True, text=True, timeout=60, check=False, env=env_psql, cwd="/")
    assert (query.returncode, query.stdout.strip()) == (0, DEMO_DB), query.stderr

    done = subprocess.run(stop.group(1), shell=True, capture_output=True, text=True, timeout=120, check=False,
                          cwd="/")
    assert done.returncode == 0, done.stderr
    assert not _postmaster_alive(pid)
    assert list(reachable_tmp.iterdir()) == []
    gone = subprocess.run([psql.group(1), "-w", "-X", "-At", "-c", "SELECT 1", psql.group(2)],
                          capture_output=True, text=True, timeout=60, check=False, env=env_psql, cwd="/")
    assert gone.returncode != 0


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def _other_os_user(server: OsUser | None) -> OsUser:
    """An unprivileged OS user that is neither root nor the one running the server."""
    for name in ("nobody", "daemon", "bin"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        if pw.pw_uid != 0 and (server is None or pw.pw_uid != server.uid):
            return OsUser.named(name)
    pytest.skip("no unprivileged OS user other than the server's")


def _psql_as(user: OsUser | None, cluster: PgServer, conninfo: str) -> subprocess.CompletedProcess[str]:
    """`psql -w -c 'SELECT 1'` as `user` (None: as ourselves), with no PG* variables."""
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": user.home if user else os.environ.get("HOME", "/")}
    return subprocess.run(
        [str(cluster.install.binary("psql")), "-w", "-X", "-At", "-c", "SELECT current_user", conninfo],
        capture_output=True, text=True, timeout=60, check=False, env=env, cwd="/",
        **(user.popen_kwargs() if user else {}),
    )


@pytest.fixture(scope="module")
def demo_server() -> Iterator[PgServer]:
    """The demo's own server, started by demo.start_server() (nothing planted)."""
    cluster = start_server()
    try:
        yield cluster
    finally:
        cluster.close()


def test_demo_server_listens_on_no_tcp_port(demo_server: PgServer) -> None:
    """listen_addresses is empty, TCP to 127.0.0.1 is refused, and pg_hba.conf trusts nobody."""
    assert demo_server.execute("SHOW listen_addresses") == [("",)]
    rules = demo_server.execute("SELECT type, auth_method, error FROM pg_hba_file_rules")
    assert rules
    assert {(kind, method, error) for kind, method, error in rules} == {("local", "scram-sha-256", None)}
    with pytest.raises(psycopg.OperationalError, match="refused"):
        psycopg.connect(host="127.0.0.1", port=demo_server.port, user="postgres", dbname="postgres",
                        connect_timeout=10)


def test_demo_files_are_private(demo_server: PgServer) -> None:
    """The data directory, the socket directory and the passfile are closed to group and others."""
    assert demo_server.passfile is not None
    for path in (demo_server.base_dir, demo_server.datadir, demo_server.socket_dir, demo_server.passfile,
                 demo_server.passfile.parent):
        assert _private(path), f"{path} is open to group or others: {oct(path.stat().st_mode)}"
    assert demo_server.passfile.stat().st_uid == os.geteuid()
    assert demo_server.passfile.stat().st_mode & 0o777 == 0o600
    server_uid = demo_server.os_user.uid if demo_server.os_user else os.geteuid()
    assert demo_server.socket_dir.stat().st_uid == server_uid
    assert demo_server.datadir.stat().st_uid == server_uid


def test_demo_needs_the_generated_password(demo_server: PgServer) -> None:
    """Even a process that reaches the socket cannot log in without the password in the passfile."""
    no_password = {"host": str(demo_server.socket_dir), "port": demo_server.port, "dbname": "postgres",
                   "passfile": "/nonexistent", "connect_timeout": 10}
    for user in ("postgres", MONITOR):
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(user=user, **no_password)  # type: ignore[arg-type]
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(user=user, password="guess", **no_password)  # type: ignore[arg-type]
    with connect(demo_server.dsn(DEMO_DB, user=MONITOR)) as conn:  # pgadvisor's own session
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (MONITOR, DEMO_DB)
    password = demo_server.passfile.read_text().strip().rsplit(":", 1)[1] if demo_server.passfile else ""
    assert len(password) >= 24
    assert password not in demo_server.dsn()
    assert password not in demo_server.log_tail(100_000)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can try the socket as another OS user")
def test_other_os_users_cannot_connect(demo_server: PgServer) -> None:
    """Another OS user cannot even reach the socket; the server's own OS user reaches it but has no password."""
    target = f"host={demo_server.socket_dir} port={demo_server.port} user=postgres dbname=postgres"
    other = _psql_as(_other_os_user(demo_server.os_user), demo_server, target)
    assert other.returncode != 0
    assert "Permission denied" in other.stderr, other.stderr
    assert demo_server.os_user is not None
    owner = _psql_as(demo_server.os_user, demo_server, target)
    assert owner.returncode != 0
    assert "no password supplied" in owner.stderr, owner.stderr
    mine = _psql_as(None, demo_server, demo_server.dsn())  # the control: root with the passfile gets in
    assert (mine.returncode, mine.stdout.strip()) == (0, "postgres"), mine.stderr


def test_keep_message_commands_work(demo_server: PgServer, capsys: pytest.CaptureFixture[str]) -> None:
    """What `demo --keep` prints connects: the pgadvisor audit line and the psql line, without a password."""
    message = keep_message(demo_server)
    assert demo_server.passfile is not None
    assert demo_server.passfile.read_text().strip().rsplit(":", 1)[1] not in message
    audit = re.search(r'pgadvisor audit "([^"]+)"', message)
    psql = re.search(r'psql "([^"]+)"', message)
    assert audit is not None
    assert psql is not None
    capsys.readouterr()
    assert run_cli(["audit", audit.group(1), "--format", "json"]) in (0, 1)
    out, err = capsys.readouterr()
    assert json.loads(out)["target"] == f"{MONITOR}@{demo_server.socket_dir}:{demo_server.port}/{DEMO_DB}", err
    res = _psql_as(None, demo_server, psql.group(1))
    assert (res.returncode, res.stdout.strip()) == (0, "postgres"), res.stderr
    assert str(demo_server.datadir) in message
