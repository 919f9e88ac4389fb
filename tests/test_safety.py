"""pgadvisor is safe on production: read-only sessions, named, bounded by timeouts, never queued behind DDL."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pgadvisor.cli import run_cli
from pgadvisor.collectors.base import Ctx, fetch, guarded
from pgadvisor.connection import SessionOptions, connect, mark, redact
from pgadvisor.phases import collect
from pgadvisor.redact import redact_sql
from pgadvisor.snapshot import OWN_QUERY_MARKER, ServerInfo, Snapshot, TableRow, Unavailable, is_own


def test_session_settings(fresh_db: Any) -> None:
    """Every session is read-only, named pgadvisor, with statement and lock timeouts and a safe search_path."""
    with connect(fresh_db.monitor_dsn, SessionOptions(statement_timeout_ms=4321, lock_timeout_ms=123)) as conn:
        show = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in  # type: ignore[index]
                ("default_transaction_read_only", "application_name", "statement_timeout", "lock_timeout",
                 "search_path")}
        assert show == {"default_transaction_read_only": "on", "application_name": "pgadvisor",
                        "statement_timeout": "4321ms", "lock_timeout": "123ms", "search_path": "pg_catalog"}


def test_writes_are_refused_even_for_a_superuser(fresh_db: Any) -> None:
    """Even connected as a superuser, pgadvisor's session cannot write."""
    with connect(fresh_db.dsn) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("CREATE TABLE public.should_not_exist (x int)")


def test_application_name_cannot_be_overridden_by_the_dsn(fresh_db: Any) -> None:
    """A DSN's own application_name does not hide pgadvisor in pg_stat_activity."""
    with connect(fresh_db.monitor_dsn + " application_name=sneaky") as conn:
        assert conn.execute("SHOW application_name").fetchone()[0] == "pgadvisor"  # type: ignore[index]


@contextlib.contextmanager
def held(dsn: str, *statements: str) -> Iterator[None]:
    """`statements` run by another session in a transaction left open (their locks held) until the block ends."""
    holder = psycopg.connect(dsn)
    try:
        for statement in statements:
            holder.execute(statement)
        yield
    finally:
        holder.rollback()
        holder.close()


def collect_without_waiting(dsn: str) -> Snapshot:
    """A collection with a 5 s lock_timeout that must finish well before it (so it never waited for a lock)."""
    started = time.monotonic()
    snap = collect(dsn, SessionOptions(lock_timeout_ms=5000))
    elapsed = time.monotonic() - started
    assert elapsed < 4, f"collection waited {elapsed:.1f}s for a lock"
    return snap


def test_collection_does_not_queue_behind_ddl(fresh_db: Any) -> None:
    """A table held ACCESS EXCLUSIVE by an open transaction (DDL, or DDL waiting) does not block collection:
    its size comes from pg_class instead of pg_relation_size(), which would wait for the lock."""
    fresh_db.execute("CREATE TABLE busy (id int PRIMARY KEY, v text); INSERT INTO busy SELECT g, 'x' "
                     "FROM generate_series(1, 1000) g; ANALYZE busy;")
    with held(fresh_db.dsn, "LOCK TABLE busy IN ACCESS EXCLUSIVE MODE"):
        snap = collect_without_waiting(fresh_db.monitor_dsn)
        assert isinstance(snap.tables, tuple) and isinstance(snap.indexes, tuple)
        busy = next(t for t in snap.tables if t.name == "busy")
        assert busy.size_bytes == busy.relpages * 8192 > 0
        pkey = next(i for i in snap.indexes if i.name == "busy_pkey")
        assert pkey.definition is None and pkey.columns == ("id",)
        holders = [a for a in snap.activity if a.query and "LOCK TABLE busy" in a.query]  # type: ignore[union-attr]
        assert holders, "the lock holder is visible in the snapshot"


def test_collection_does_not_queue_behind_waiting_ddl(fresh_db: Any) -> None:
    """DDL waiting for its lock (behind a reader) queues every later lock request on the table: pgadvisor's
    session must not join that queue."""
    fresh_db.execute("CREATE TABLE busy (id int PRIMARY KEY); INSERT INTO busy VALUES (1); ANALYZE busy;")
    reader = psycopg.connect(fresh_db.dsn)
    ddl = psycopg.connect(fresh_db.dsn, autocommit=True)
    try:
        reader.execute("SELECT * FROM busy")  # holds ACCESS SHARE until rollback
        waiter = threading.Thread(target=lambda: ddl.execute("ALTER TABLE busy ADD COLUMN x int"))
        waiter.start()
        deadline = time.monotonic() + 5
        while not fresh_db.server.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND mode = 'AccessExclusiveLock'")[0][0]:
            assert time.monotonic() < deadline, "the ALTER TABLE never queued"
            time.sleep(0.01)
        snap = collect_without_waiting(fresh_db.monitor_dsn)
        assert isinstance(snap.indexes, tuple) and isinstance(snap.tables, tuple)
    finally:
        reader.rollback()
        reader.close()
        waiter.join()
        ddl.close()


def test_locked_sequence_does_not_block_collection(fresh_db: Any) -> None:
    """ALTER SEQUENCE holds SHARE ROW EXCLUSIVE on it: even a role that may read its value does not wait."""
    fresh_db.execute("CREATE SEQUENCE seq_busy; SELECT nextval('seq_busy'); CREATE SEQUENCE seq_free; "
                     "SELECT nextval('seq_free'); SELECT nextval('seq_free');")
    with held(fresh_db.dsn, "ALTER SEQUENCE seq_busy RESTART 100"):
        snap = collect_without_waiting(fresh_db.dsn)  # superuser: may read values
        assert isinstance(snap.sequences, tuple)
        values = {s.name: s.last_value for s in snap.sequences}
        assert values == {"seq_busy": None, "seq_free": 2}


def test_nothing_waits_when_every_relation_is_locked(fresh_db: Any) -> None:
    """Every user relation held in its strongest lock by another session, every optional extension present,
    collected as a superuser (who may read everything): no collector waits for a lock."""
    fresh_db.execute("""
        CREATE EXTENSION IF NOT EXISTS pgstattuple;
        CREATE TABLE parent (id int PRIMARY KEY, email text);
        CREATE TABLE child (id serial PRIMARY KEY, parent_id int REFERENCES parent, note text);
        CREATE INDEX child_note_idx ON child (lower(note)) WHERE id > 0;
        INSERT INTO parent SELECT g, 'e' || g FROM generate_series(1, 500) g;
        INSERT INTO child (parent_id, note) SELECT g % 500 + 1, 'n' FROM generate_series(1, 5000) g;
        CREATE MATERIALIZED VIEW mv AS SELECT parent_id, count(*) FROM child GROUP BY 1;
        ANALYZE;
    """)
    if fresh_db.server.install.has_extension("hypopg"):
        fresh_db.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
    for _ in range(60):  # a workload the missing-index advisor would plan with EXPLAIN
        fresh_db.execute("SELECT * FROM child WHERE note = 'x'; SELECT * FROM parent WHERE email = 'e1'")
    with held(fresh_db.dsn, "LOCK TABLE parent, child IN ACCESS EXCLUSIVE MODE",
              "REFRESH MATERIALIZED VIEW mv",  # holds ACCESS EXCLUSIVE on mv until rollback
              "ALTER SEQUENCE child_id_seq RESTART 10"):
        snap = collect(fresh_db.dsn, SessionOptions(lock_timeout_ms=3000))
        slow = [(s.name, s.seconds, s.reason) for s in snap.collector_stats if s.seconds > 1.5]
        assert not slow, slow
        waited = [(s.name, s.reason) for s in snap.collector_stats if s.reason and "lock_timeout" in s.reason]
        assert not waited, waited


def test_own_queries_are_marked_and_left_out_of_the_workload(fresh_db: Any) -> None:
    """pg_stat_statements keeps the trailing OWN_QUERY_MARKER comment of every query pgadvisor sent (15 and
    18, which drops leading comments); the snapshot's workload has the application's statements, not ours."""
    fresh_db.execute("CREATE TABLE app (id int); SELECT count(*) FROM app;")
    collect(fresh_db.monitor_dsn)
    snap = collect(fresh_db.monitor_dsn)
    texts = [str(t) for (t,) in fresh_db.execute("SELECT query FROM pg_stat_statements")]
    assert sum(1 for t in texts if is_own(t)) > 5
    assert isinstance(snap.statements, tuple)
    texts = [s.query for s in snap.statements]
    assert any(t.startswith("SELECT count(*) FROM app") for t in texts)
    assert not [t for t in texts if is_own(t) or "pgadvisor:" in t]


@pytest.mark.parametrize(
    ("text", "own"),
    [
        (f"SELECT 1\n{OWN_QUERY_MARKER}", True),
        (f"SELECT 1 {OWN_QUERY_MARKER} \n", True),
        ("SELECT 1 /* pgadvisor */", False),  # a user's comment: analysed like any statement
        (f"SELECT 1 /* {OWN_QUERY_MARKER[3:-3]} was here */", False),
        (f"{OWN_QUERY_MARKER} SELECT 1", False),
        (f"SELECT '{OWN_QUERY_MARKER}' AS x, 2", False),
    ],
)
def test_is_own_recognises_only_the_trailing_marker(text: str, own: bool) -> None:  # noqa: FBT001
    """Only a statement ending in the exact marker, with its random token, is pgadvisor's."""
    assert is_own(text) is own
    assert is_own(mark(text.rstrip()))


def test_user_statement_ending_in_pgadvisor_comment_is_analysed(fresh_db: Any,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A user's statement ending in `/* pgadvisor */` is flagged by the check it deserves (QR013); an audit after
    an audit reports nothing about pgadvisor's own statements."""
    fresh_db.execute("CREATE TABLE products (id int PRIMARY KEY, title text);"
                     " INSERT INTO products SELECT g, 'p' || g FROM generate_series(1, 2000) g; ANALYZE products;")
    fresh_db.reset_statements()
    fresh_db.execute("SELECT id, title FROM products ORDER BY random() LIMIT 5 /* pgadvisor */")
    for _ in range(2):
        assert run_cli(["audit", fresh_db.monitor_dsn, "--format", "json"]) in (0, 1)
        report = json.loads(capsys.readouterr().out)
        queries = [f for f in report["findings"] if f["check"].startswith("QR")]
        assert any(f["check"] == "QR013" and "/* pgadvisor */" in json.dumps(f) for f in queries), queries
        assert not [f for f in queries if OWN_QUERY_MARKER in json.dumps(f) or "pgadvisor:" in json.dumps(f)]


def test_statement_timeout_makes_a_part_unavailable(fresh_db: Any) -> None:
    """A query that hits statement_timeout becomes Unavailable with the reason; the session stays usable."""
    opts = SessionOptions(statement_timeout_ms=200)
    with connect(fresh_db.monitor_dsn, opts) as conn:
        ctx = Ctx(conn=conn, version=conn.info.server_version, database=fresh_db.name, opts=opts)
        slow = guarded(ctx, "slow", lambda: fetch(ctx, TableRow, "x", query="SELECT pg_sleep(2)"))
        assert isinstance(slow, Unavailable) and "statement_timeout = 200 ms" in slow.reason
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert ctx.stats[0].ok is False


def test_connection_lost_mid_collection_is_exit_3(fresh_db: Any) -> None:
    """If the server ends our session, the collection stops with a CollectError (exit 3), not a traceback."""
    from pgadvisor.collectors import CollectError

    def killer() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            rows = fresh_db.server.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                           "WHERE application_name = 'pgadvisor' AND state = 'active'")
            if rows:
                return
            time.sleep(0.001)

    fresh_db.execute("CREATE TABLE t AS SELECT g FROM generate_series(1, 10) g")
    opts = SessionOptions(statement_timeout_ms=10_000)
    with connect(fresh_db.monitor_dsn, opts) as conn:
        ctx = Ctx(conn=conn, version=conn.info.server_version, database=fresh_db.name, opts=opts)
        t = threading.Thread(target=killer)
        t.start()
        try:
            with pytest.raises(CollectError, match="lost the connection"):
                guarded(ctx, "slow", lambda: fetch(ctx, ServerInfo, "x", query="SELECT pg_sleep(3)"))
        finally:
            t.join()


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("CREATE ROLE app LOGIN PASSWORD 'pw-one'", "pw-one"),
        ("alter user app with encrypted password E'pw\\'two' valid until 'infinity'", "two"),
        ("ALTER ROLE app PASSWORD $q$pw-three$q$", "pw-three"),
        ("SELECT dblink_connect('host=h password=pw-four dbname=d')", "pw-four"),
        ("CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'a', password 'pw-five')", "pw-five"),
        ("CREATE ROLE app PASSWORD 'pw-six-truncated", "pw-six"),
    ],
)
def test_redact_sql(text: str, secret: str) -> None:
    """Passwords in statement texts are replaced."""
    assert secret not in redact_sql(text)


def test_redact_messages() -> None:
    """Connection strings and URIs in messages lose their passwords."""
    assert "pw" not in redact("could not connect: postgresql://u:pw@h/db")
    assert "pw-7" not in redact("bad: host=h password='pw-7' port=1")
    assert "abc123" not in redact("x abc123 y", "host=h password=abc123")
