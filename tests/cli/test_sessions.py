"""`top` and `explain` open the audit's session: the config file's statement and lock timeouts, the flags that
beat it, and `--connect-timeout`, all end the same way (exit 3, one line naming the limit that fired).

explain's waits are made deterministic with a lock another session holds until the test releases it: the
command either hits the timeout it was given, or a different limit fires first and the line names that one.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgadvisor.cli import run_cli
from tests.fixtures.clusters import MONITOR_ROLE

LONG_MS = 120_000  # the limit that must NOT fire: long, but bounded, so a failing test still ends


@contextmanager
def locked(dsn: str, relation: sql.Composable) -> Iterator[None]:
    """Hold ACCESS EXCLUSIVE on `relation` (a table or a view) in another session until the block ends."""
    with psycopg.connect(dsn) as conn:
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(relation))
        yield
        conn.rollback()


def config(tmp_path: Path, *, statement_ms: int, lock_ms: int) -> str:
    """A config file with these session timeouts; its path."""
    path = tmp_path / "pgadvisor.toml"
    path.write_text(f"statement_timeout_ms = {statement_ms}\nlock_timeout_ms = {lock_ms}\n")
    return str(path)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The single `pgadvisor: error:` line on stderr (and nothing else)."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pgadvisor: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_explain_honours_the_config_file_timeouts(fresh_db: Any, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """explain plans under the config file's statement_timeout and lock_timeout; a flag beats the file."""
    fresh_db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    query = ["--query", "SELECT id FROM t WHERE id = 1"]
    assert run_cli(["explain", fresh_db.dsn, *query]) == 0  # unlocked: planned
    capsys.readouterr()
    with locked(fresh_db.dsn, sql.Identifier("t")):
        cfg = config(tmp_path, statement_ms=1500, lock_ms=LONG_MS)
        assert run_cli(["explain", fresh_db.dsn, *query, "--config", cfg]) == 3
        assert "statement_timeout = 1500 ms" in one_error_line(capsys)
        cfg = config(tmp_path, statement_ms=LONG_MS, lock_ms=700)
        assert run_cli(["explain", fresh_db.dsn, *query, "--config", cfg]) == 3
        assert "lock_timeout = 700 ms" in one_error_line(capsys)
        assert run_cli(["explain", fresh_db.dsn, *query, "--config", cfg, "--lock-timeout", "900"]) == 3
        assert "lock_timeout = 900 ms" in one_error_line(capsys)


def test_top_sets_the_config_file_timeouts(fresh_db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """top's session runs under the config file's statement_timeout and lock_timeout, and a flag beats the file.

    The server log of the session's own statements is the proof (log_statement for the monitor role, in this
    database only): pg_stat_statements reads a function, which no lock can hold up, so nothing here can wait."""
    fresh_db.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} SET log_statement = 'all'").format(
        sql.Identifier(MONITOR_ROLE), sql.Identifier(fresh_db.name)))
    cfg = config(tmp_path, statement_ms=23456, lock_ms=678)
    offset = fresh_db.server.logfile.stat().st_size
    assert run_cli(["top", fresh_db.monitor_dsn, "--config", cfg, "--format", "json"]) == 0
    assert run_cli(["top", fresh_db.monitor_dsn, "--config", cfg, "--format", "json", "--lock-timeout", "789"]) == 0
    capsys.readouterr()
    log = fresh_db.server.log_tail(1_000_000, since=offset)
    assert log.count("SET statement_timeout = 23456") == 2, log[-3000:]
    assert log.count("SET lock_timeout = 678") == 1 and log.count("SET lock_timeout = 789") == 1, log[-3000:]
    assert "SET statement_timeout = 10000" not in log  # the default was not used instead


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A DSN for a TCP port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        yield f"host=127.0.0.1 port={port} dbname=x user=x sslmode=disable gssencmode=disable"


@pytest.mark.parametrize("how", ["flag", "config"])
@pytest.mark.parametrize("command", [["top"], ["explain", "--query", "SELECT 1"]])
def test_connect_timeout_is_honoured(silent_server: str, command: list[str], how: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A server that never answers: top and explain give up after --connect-timeout (or the config file's
    connect_timeout_s), not the default 10 s, with exit 3 and one line."""
    if how == "flag":
        extra = ["--connect-timeout", "2"]
    else:
        (tmp_path / "pgadvisor.toml").write_text("connect_timeout_s = 2\n")
        extra = ["--config", str(tmp_path / "pgadvisor.toml")]
    started = time.monotonic()
    assert run_cli([command[0], silent_server, *command[1:], *extra]) == 3
    elapsed = time.monotonic() - started
    line = one_error_line(capsys)
    assert "timeout" in line, line
    assert elapsed < 9, f"gave up after {elapsed:.1f} s: the 2 s connect timeout was not used"
