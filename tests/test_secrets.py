"""Secrets never leave the server: every command, with passwords planted everywhere pgadvisor reads.

Planted on a real server: roles whose passwords were set with every literal form (pg_stat_statements keeps the
texts), two sessions idle in a transaction whose last statement set a password (one cut by
track_activity_query_size), a foreign server and a user mapping with passwords, `primary_conninfo` with a
password, a statement setting a URI with a password, and the DSN's own password. Then every command
runs (audit table and JSON, collect, top, explain, checks, audit/top from the snapshot, error paths with bad
DSNs), and every output, file and server log line written meanwhile is searched for each secret.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgadvisor.cli import run_cli
from tests.fixtures.clusters import PASSWORD, TestDb

MARK = "sEcret"
"""Every planted secret contains this (case-sensitive); the DSN's password is the fixture's PASSWORD."""

# Role statements, one per literal form. Each role gets its own name so the live sessions never wait on a lock.
ROLE_STATEMENTS = [
    "CREATE ROLE {r}_a LOGIN PASSWORD 'sEcret-plain-1'",
    "ALTER ROLE {r}_a WITH ENCRYPTED PASSWORD E'sEcret-e\\x2d2\\'q'",
    "ALTER USER {r}_a PASSWORD U&'sEcret-u\\0026-3'",
    "ALTER ROLE {r}_a PASSWORD U&'sEcret-u!0026-3b' UESCAPE '!'",
    "ALTER ROLE {r}_a PASSWORD $$sEcret-dollar-4$$",
    "ALTER ROLE {r}_a PASSWORD $pw$sEcret-tag-5$pw$ VALID UNTIL 'infinity'",
    "ALTER ROLE {r}_a PASSWORD 'sEcret-cont-6a'\n  -- continued below\n  'sEcret-cont-6b'",
    "CREATE USER {r}_b WITH PASSWORD 'sEcret-user-7'",
]


def closed_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Planted:
    """The server with the secrets, and what the commands printed and wrote."""

    db: TestDb
    roles: list[str]
    outputs: list[tuple[str, str]] = field(default_factory=list)  # (where, text)

    def uri(self, dbname: str | None = None) -> str:
        """The password DSN as a URI (the password role must give its password over TCP)."""
        return (f"postgresql://pgadvisor_pw:{PASSWORD}@127.0.0.1:{self.db.server.port}/{dbname or self.db.name}"
                "?connect_timeout=10")


@pytest.fixture
def planted(fresh_db: TestDb) -> Iterator[Planted]:
    """Plant every secret; undo the server-wide ones (roles, ALTER SYSTEM) afterwards."""
    server = fresh_db.server
    r = f"sec_{fresh_db.name}"
    roles = [f"{r}_a", f"{r}_b", f"{r}_live1", f"{r}_live2"]
    live: list[psycopg.Connection[Any]] = []
    try:
        with server.connect(fresh_db.name) as conn:
            for text in ROLE_STATEMENTS:
                conn.execute(text.format(r=r))
            for text in [
                f"CREATE ROLE {r}_live1 LOGIN",
                f"CREATE ROLE {r}_live2 LOGIN",
                "CREATE FOREIGN DATA WRAPPER sec_fdw",
                "CREATE SERVER sec_srv FOREIGN DATA WRAPPER sec_fdw OPTIONS (host 'h', password 'sEcret-server-8')",
                "CREATE USER MAPPING FOR CURRENT_USER SERVER sec_srv OPTIONS (user 'u', password 'sEcret-map-9')",
                "ALTER USER MAPPING FOR CURRENT_USER SERVER sec_srv OPTIONS (SET password E'sEcret-map-\\x31\\x30')",
                "ALTER SYSTEM SET primary_conninfo = 'host=10.9.9.9 port=5433 user=replicator "
                "password=''sEcret-primary-11'' application_name=standby1'",
                f"ALTER DATABASE {fresh_db.name} SET app.dsn = 'postgresql://app:sEcret-uri-12@db.example/app'",
                "SELECT pg_reload_conf()",
            ]:
                conn.execute(text)
        # Two sessions idle in a transaction whose last statement set a password; the second one's text is cut
        # by track_activity_query_size (1024 bytes) inside the literal, so it cannot be parsed.
        first = server.connect(fresh_db.name, autocommit=False)
        live.append(first)
        first.execute(f"ALTER ROLE {r}_live1 PASSWORD 'sEcret-live-13'")
        second = server.connect(fresh_db.name, autocommit=False)
        live.append(second)
        padding = "/* " + "p" * 940 + " */ "
        second.execute(f"{padding}ALTER ROLE {r}_live2 PASSWORD 'sEcret-trunc-14-{'z' * 200}'")
        yield Planted(fresh_db, roles)
    finally:
        for conn in live:
            conn.rollback()
            conn.close()
        with server.connect() as conn:
            conn.execute("ALTER SYSTEM RESET primary_conninfo")
            conn.execute("SELECT pg_reload_conf()")
            for role in roles:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def run(planted: Planted, capsys: pytest.CaptureFixture[str], args: list[str], expect: tuple[int, ...]) -> str:
    """Run one command in-process; keep its stdout and stderr for the search; check its exit code."""
    code = run_cli(args)
    out = capsys.readouterr()
    where = " ".join(a if MARK not in a and PASSWORD not in a else "<dsn>" for a in args)
    planted.outputs += [(f"stdout of {where}", out.out), (f"stderr of {where}", out.err)]
    assert code in expect, f"{where}: exit {code}\n{out.err}"
    return out.out


def _leaks(text: str) -> list[str]:
    found = [MARK] if MARK in text else []
    return found + ([PASSWORD] if PASSWORD in text else [])


def _statement_queryid(db: TestDb) -> int:
    rows = db.execute(sql.SQL(
        "SELECT queryid FROM pg_stat_statements WHERE dbid = {} AND query ILIKE 'ALTER ROLE%PASSWORD%' LIMIT 1"
    ).format(sql.Literal(db.dbid)))
    assert rows, "pg_stat_statements kept no ALTER ROLE ... PASSWORD text: the test would prove nothing"
    return int(rows[0][0])


def test_no_command_prints_or_saves_a_secret(planted: Planted, capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Every command, every output, every file and the server log: no planted secret, no DSN password."""
    db = planted.db
    log_offset = db.server.logfile.stat().st_size if db.server.logfile.exists() else 0
    queryid = _statement_queryid(db)
    snap_file, report_file = tmp_path / "snap.json", tmp_path / "report.json"

    run(planted, capsys, ["collect", db.password_dsn, "-o", str(snap_file)], (0,))
    run(planted, capsys, ["collect", planted.uri(), "-o", "-"], (0,))
    run(planted, capsys, ["audit", db.password_dsn, "--no-color", "--verbose"], (0, 1))
    run(planted, capsys, ["audit", planted.uri(), "--format", "json", "-o", str(report_file)], (0, 1))
    run(planted, capsys, ["audit", "--snapshot", str(snap_file), "--format", "json"], (0, 1))
    run(planted, capsys, ["top", db.password_dsn, "-n", "500"], (0,))
    top_json = run(planted, capsys, ["top", planted.uri(), "--format", "json", "-n", "500"], (0,))
    run(planted, capsys, ["top", "--snapshot", str(snap_file), "-n", "500"], (0,))
    run(planted, capsys, ["explain", db.password_dsn, "--queryid", str(queryid)], (2,))
    run(planted, capsys, ["explain", planted.uri(), "--query",
                          "SELECT 'host=h password=sEcret-explain-15'::text AS c", "--format", "json"], (0,))
    run(planted, capsys, ["explain", db.password_dsn, "--query", "ALTER ROLE x PASSWORD 'sEcret-explain-16'"], (2,))
    run(planted, capsys, ["explain", db.password_dsn, "--query", "ALTER ROLE x PASSWORD 'sEcret-explain-17"], (2,))
    run(planted, capsys, ["checks"], (0,))
    run(planted, capsys, ["checks", "show", f"postgresql://u:{MARK}-check-18@h/db"], (2,))

    snapshot_text = snap_file.read_text()
    files = [("snapshot file", snapshot_text), ("report file", report_file.read_text())]
    server_log = db.server.log_tail(lines=100_000, since=log_offset)
    everything = [*planted.outputs, *files, ("pgadvisor log records", caplog.text), ("server log", server_log)]
    leaks = {where: found for where, text in everything if (found := _leaks(text))}
    assert not leaks, leaks

    # The test proves something only if the secrets were there to be cut: redacted forms are in the snapshot.
    snap = json.loads(snapshot_text)
    settings = {s["name"]: s for s in snap["settings"]}
    assert "password=***" in settings["primary_conninfo"]["setting"]
    assert "host=10.9.9.9" in settings["primary_conninfo"]["setting"]  # the rest is kept as evidence
    activity = [a["query"] for a in snap["activity"] if a["query"]]
    assert any(q.endswith("_live1 PASSWORD '***'") for q in activity), activity
    assert "<redacted: unparsable statement mentioning a password>" in activity
    statements = [s["query"] for s in snap["statements"]]
    assert any("PASSWORD '***'" in q for q in statements), statements
    dsn_set = [q for q in statements if "app.dsn" in q]
    assert any(q.endswith(("app.dsn = '***'", "app.dsn = $1")) for q in dsn_set), dsn_set  # 18 normalizes it
    assert "PASSWORD '***'" in top_json


BAD_DSNS = [
    # (DSN, exit codes): libpq cannot parse it (2), or it parses and the connection fails (3)
    ("postgresql://u:sEcret-sp1 sEcret-sp2@127.0.0.1:{port}/db", (2,)),
    ("postgresql://u:sEcret%2Dpct@127.0.0.1:{port}/db?connect_timeout=3", (3,)),
    ("postgresql://u:sEcret-at1@sEcret-at2@127.0.0.1:{port}/db?connect_timeout=3", (2, 3)),
    ("postgresql://u:sEcret%zz@127.0.0.1:{port}/db", (2,)),
    ("host=127.0.0.1 port={port} user=u password='sEcret q\\' uoted' connect_timeout=3", (3,)),
    ("postgresql://u@127.0.0.1:{port}/db?password=sEcret-qp&connect_timeout=3", (3,)),
    ("postgresql://u@127.0.0.1:{port}/db?password=sEcret-qp2&bogus=1", (2,)),
    ("host=127.0.0.1 password='sEcret-unterminated", (2,)),
    ("host=127.0.0.1 password=sEcret-noeq port", (2,)),
    ("host=127.0.0.1 port={port} password=sEcret-port-in-message@x connect_timeout=3", (3,)),
]


@pytest.mark.parametrize("command", ["audit", "collect", "top", "explain"])
def test_bad_dsns_never_echo_the_password(command: str, capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    """Every form of DSN with a password that fails to parse or connect: one line, no password in it."""
    port = closed_port()
    for template, codes in BAD_DSNS:
        dsn = template.format(port=port)
        extra = {"collect": ["-o", str(tmp_path / "s.json")], "explain": ["--query", "SELECT 1"]}.get(command, [])
        code = run_cli([command, dsn, *extra])
        out = capsys.readouterr()
        assert code in codes, (template, out.err)
        assert not _leaks(out.out + out.err), (template, out.err)
        assert out.err.startswith("pgadvisor: error:") and out.err.count("\n") == 1, out.err


def test_wrong_passwords_against_a_real_server(fresh_db: TestDb, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong password in the DSN, in PGPASSWORD, and a right one to a missing database: exit 3, no secret."""
    server = fresh_db.server
    cases = [
        server.dsn(fresh_db.name, user="pgadvisor_pw", password="sEcret-wrong-19"),
        f"postgresql://pgadvisor_pw:{PASSWORD}@127.0.0.1:{server.port}/no_such_db",
        f"postgresql://pgadvisor_pw:{PASSWORD.replace('-', '%2D')}@127.0.0.1:{server.port}/no_such_db",
    ]
    for dsn in cases:
        assert run_cli(["audit", dsn]) == 3
        err = capsys.readouterr().err
        assert not _leaks(err) and err.startswith("pgadvisor: error:"), err
    monkeypatch.setenv("PGPASSWORD", "sEcret-env-20")
    assert run_cli(["top", server.dsn(fresh_db.name, user="pgadvisor_pw")]) == 3
    err = capsys.readouterr().err
    assert not _leaks(err) and "password authentication failed" in err, err


@pytest.mark.slow
def test_a_real_standbys_primary_conninfo_keeps_its_password(standby_pair: Any, capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:
    """A streaming standby whose primary_conninfo holds a password: collect and audit it as pg_monitor."""
    standby = standby_pair.standby
    (original,) = standby.execute("SHOW primary_conninfo")[0]

    def set_conninfo(value: str) -> None:
        standby.execute(sql.SQL("ALTER SYSTEM SET primary_conninfo = {}").format(sql.Literal(value)))
        standby.execute("SELECT pg_reload_conf()")

    set_conninfo(f"{original} password='sEcret-standby 21'")
    try:
        snap_file = tmp_path / "standby.json"
        assert run_cli(["collect", standby_pair.monitor_dsn_standby, "-o", str(snap_file)]) == 0
        assert run_cli(["audit", standby_pair.monitor_dsn_standby, "--format", "json"]) in (0, 1)
        out = capsys.readouterr()
        text = snap_file.read_text()
        assert not _leaks(out.out + out.err + text)
        settings = {s["name"]: s["setting"] for s in json.loads(text)["settings"]}
        assert settings["primary_conninfo"].endswith("password=***")
        assert settings["primary_conninfo"].startswith(original.split("password")[0].split()[0])
    finally:
        set_conninfo(str(original))
    standby_pair.primary.execute("CREATE TABLE IF NOT EXISTS secrets_probe (id int)")
    standby_pair.wait_for_replay()  # still streaming
