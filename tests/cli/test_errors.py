"""Bad input gets one clear line and the right exit code; no traceback, no password, ever."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pgadvisor.cli import run_cli
from pgadvisor.snapshot import Snapshot, Unavailable

SECRET = "hunter2-Secret"


def closed_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_closed_port_exits_3_with_one_line() -> None:
    """The real console entry point: exit 3, one line on stderr, nothing on stdout, no traceback."""
    dsn = f"host=127.0.0.1 port={closed_port()} user=x dbname=x connect_timeout=3 password={SECRET}"
    res = subprocess.run([sys.executable, "-m", "pgadvisor.cli", "audit", dsn], capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 3, res.stderr
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pgadvisor: error:"), res.stderr
    assert "Traceback" not in res.stderr and SECRET not in res.stderr


@pytest.mark.parametrize(
    "dsn",
    [
        f"host=127.0.0.1 password={SECRET} port",  # missing '='
        f"host=127.0.0.1 password='{SECRET}",  # unterminated quote
        f"postgresql://u:{SECRET}@127.0.0.1:5432/db?sslmode=bogus_mode",
        f"postgresql://u:{SECRET}@[::1:5432/db",
    ],
)
def test_malformed_dsn_exits_2_without_the_password(dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A DSN libpq cannot parse is a usage error (2), and the message never shows the password."""
    code = run_cli(["audit", dsn])
    err = capsys.readouterr().err
    assert code == 2, err  # sslmode=bogus is checked before connecting (libpq would only reject it then)
    assert SECRET not in err
    assert err.startswith("pgadvisor: error:")


def test_uri_password_not_printed_on_connection_failure(capsys: pytest.CaptureFixture[str]) -> None:
    """A URI with a password to a closed port: exit 3 and the password is not echoed."""
    code = run_cli(["audit", f"postgresql://someone:{SECRET}@127.0.0.1:{closed_port()}/db?connect_timeout=3"])
    captured = capsys.readouterr()
    assert code == 3
    assert SECRET not in captured.err + captured.out


def test_wrong_password_exits_3_without_the_password(fresh_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Authentication failure (scram-sha-256): exit 3, the password given is not printed."""
    dsn = fresh_db.password_dsn.replace("S3cret-pw-XYZ", SECRET)
    code = run_cli(["audit", dsn])
    captured = capsys.readouterr()
    assert code == 3
    assert "password authentication failed" in captured.err
    assert SECRET not in captured.err + captured.out


def test_password_role_audit_never_prints_the_password(fresh_db: Any, capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    """A successful audit (table, JSON) and a saved snapshot do not contain the password."""
    secret = "S3cret-pw-XYZ"
    assert run_cli(["audit", fresh_db.password_dsn]) == 0
    assert run_cli(["audit", fresh_db.password_dsn, "--format", "json"]) == 0
    snap = tmp_path / "s.json"
    assert run_cli(["collect", fresh_db.password_dsn, "-o", str(snap)]) == 0
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err
    assert secret not in snap.read_text()
    assert "pgadvisor_pw@127.0.0.1" in captured.out


def test_libpq_environment_and_pgpass(fresh_db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """With no DSN, PG* variables and ~/.pgpass apply, as in psql."""
    port = fresh_db.server.port
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{port}:*:pgadvisor_pw:S3cret-pw-XYZ\n")
    pgpass.chmod(0o600)
    for key, value in {"PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": "pgadvisor_pw",
                       "PGDATABASE": fresh_db.name, "PGPASSFILE": str(pgpass)}.items():
        monkeypatch.setenv(key, value)
    assert run_cli(["audit"]) == 0
    assert f"pgadvisor_pw@127.0.0.1:{port}/{fresh_db.name}" in capsys.readouterr().out


def write(tmp_path: Path, text: str, name: str = "pgadvisor.toml") -> Path:
    """Write a config file and return its path."""
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("fail_on = ", "invalid TOML"),
        ("colour = 'red'\n", "unknown key 'colour'"),
        ("fail_on = 'fatal'\n", "unknown severity"),
        ("[checks.IX004]\nmin_child_rows = 'many'\n", "IX004.min_child_rows must be an integer"),
        ("[checks.IX004]\nmin_rows = 5\n", "has no threshold 'min_rows'"),
        ("[checks.IX004]\nmin_child_rows = 10\ncritical_child_rows = 5\n", "min_child_rows <= critical_child_rows"),
        ("[checks.NOPE01]\nx = 1\n", "unknown check 'NOPE01'"),
        ("select = ['zz.*']\n", "no check matches 'zz.*'"),
        ("[[suppress]]\ncheck = 'IX001'\nobject = 'x'\n", "'reason' is required"),
    ],
)
def test_broken_config_exits_2_naming_the_problem(tmp_path: Path, text: str, needle: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Config mistakes are exit 2 with the file and key named, before any connection is tried."""
    cfg = write(tmp_path, text)
    code = run_cli(["audit", f"host=127.0.0.1 port={closed_port()}", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err and str(cfg) in err


def test_pyproject_tool_section_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """[tool.pgadvisor] in the nearest pyproject.toml is read when no --config is given."""
    write(tmp_path, "[tool.pgadvisor]\nfail_on = 'sometimes'\n", "pyproject.toml")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert run_cli(["audit", "--snapshot", "missing.json"]) == 2
    assert "[tool.pgadvisor]" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("not json", "not a JSON document"),
        ('{"a": 1}', "no format_version"),
        ('{"format_version": 99}', "format_version 99 is not supported"),
        ('{"format_version": 1, "target": 5}', "malformed snapshot"),
    ],
)
def test_bad_snapshot_file_exits_2(tmp_path: Path, content: str, needle: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A snapshot that is not ours, or broken, is a clear usage error."""
    path = tmp_path / "snap.json"
    path.write_text(content)
    assert run_cli(["audit", "--snapshot", str(path)]) == 2
    assert needle in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown options, formats and checks are usage errors."""
    assert run_cli(["audit", "--format", "yaml"]) == 2
    assert run_cli(["audit", "--bogus"]) == 2
    assert run_cli(["audit", "--check", "XX999", "--snapshot", "x.json"]) == 2
    assert run_cli(["checks", "show", "XX999"]) == 2
    assert run_cli(["audit", "dbname=x", "--snapshot", "x.json"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    """--help shows examples; exit 0."""
    assert run_cli(["--help"]) == 0
    out = capsys.readouterr().out
    assert "pgadvisor demo" in out and "--snapshot" in out
    assert run_cli(["audit", "--help"]) == 0
    assert "--fail-on" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------- one exit-code rule


def assert_one_error_line(code: int, err: str, *, expected: int = 2, needle: str = "") -> None:
    """Bad input: the exit code, exactly one `pgadvisor: error:` line, no traceback, never "internal error"."""
    lines = err.strip().splitlines()
    assert code == expected, err
    assert len(lines) == 1 and lines[0].startswith("pgadvisor: error: "), err
    assert "Traceback" not in err and "internal error" not in err, err
    assert needle in lines[0], err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["audit", "host=127.0.0.1 port=notaport"], "port='notaport' is not a port number"),
        (["audit", "host=127.0.0.1 port=70000"], "port='70000'"),
        (["audit", "host=127.0.0.1,127.0.0.2 port=5432,x"], "port='5432,x'"),
        (["audit", "postgresql://u@127.0.0.1:notaport/db"], "port='notaport'"),
        (["audit", "host=127.0.0.1 sslmode=bogus"], "sslmode='bogus' is not one of disable"),
        (["audit", "postgresql://u@127.0.0.1/db?sslmode=Require"], "sslmode='Require'"),
        (["audit", "host=127.0.0.1 connect_timeout=abc"], "connect_timeout='abc' is not an integer"),
        (["audit", "host=127.0.0.1 connect_timeout=5_0"], "connect_timeout='5_0'"),
        (["audit", "host=127.0.0.1 target_session_attrs=primaryish"], "target_session_attrs"),
        (["collect", "host=127.0.0.1 keepalives_idle=soon", "-o", "-"], "keepalives_idle='soon'"),
        (["top", "host=127.0.0.1 gssencmode=always"], "gssencmode='always'"),
        (["explain", "host=127.0.0.1 port=notaport", "--query", "SELECT 1"], "port='notaport'"),
        (["audit", "host=127.0.0.1 nosuchoption=1"], 'invalid connection option "nosuchoption"'),
        (["audit", "--statement-timeout", "99999999999", "host=127.0.0.1"], "1<=x<=2147483647"),
        (["audit", "--lock-timeout", "2147483648", "host=127.0.0.1"], "--lock-timeout"),
        (["collect", "--statement-timeout", "0", "-o", "-"], "--statement-timeout"),
        (["explain", "--statement-timeout", "1e9", "--query", "SELECT 1"], "'1e9' is not a valid integer"),
        (["audit", "--bogus"], "no such option '--bogus'"),
        (["audit", "--format", "yaml"], "'yaml' is not one of 'json', 'table'"),
        (["audit", "--fail-on", "fatal"], "--fail-on"),
        (["checks", "show"], "missing argument 'CHECK_ID'"),
        (["checks", "--checks-dir", "/nonexistent/pgadvisor-checks"], "does not exist"),
        (["nosuchcommand"], "no such command 'nosuchcommand'"),
        (["top", "-n", "0"], "0 is not in the range"),
        (["explain", "--queryid", "abc"], "--queryid expects an integer"),
        (["explain", "--queryid", str(2**64)], "64-bit range"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Malformed DSN values, out-of-range timeouts and click's own usage errors: exit 2, one line, before any
    connection is tried (every DSN above points at a closed or unreachable server)."""
    code = run_cli(args)
    captured = capsys.readouterr()
    assert_one_error_line(code, captured.err, needle=needle)
    assert captured.out == ""


def test_usage_error_names_the_command_for_help(capsys: pytest.CaptureFixture[str]) -> None:
    """click's usage block becomes one line pointing at the command's --help."""
    assert run_cli(["audit", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pgadvisor: error: no such option '--bogus'") and "(see pgadvisor audit --help)" in err
    assert "Usage:" not in err


def test_usage_error_from_the_console_entry_point_is_one_line() -> None:
    """The real entry point prints click's usage errors on one line too (no `Usage:` block)."""
    res = subprocess.run([sys.executable, "-m", "pgadvisor.cli", "audit", "--bogus"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert_one_error_line(res.returncode, res.stderr, needle="--bogus")


@pytest.mark.parametrize(("variable", "value"), [("PGPORT", "notaport"), ("PGSSLMODE", "bogus"),
                                                 ("PGCONNECT_TIMEOUT", "abc")])
def test_bad_libpq_environment_is_exit_2(variable: str, value: str, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Without a DSN the PG* variables apply: a malformed one is named, exit 2."""
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv(variable, value)
    assert_one_error_line(run_cli(["audit"]), capsys.readouterr().err, needle=f"{variable}='{value}'")


def test_timeout_at_int_max_is_accepted(fresh_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The maxima are PostgreSQL's own (INT_MAX ms): the largest value is accepted by the server."""
    assert run_cli(["audit", fresh_db.monitor_dsn, "--statement-timeout", "2147483647",
                    "--lock-timeout", "2147483647", "--check", "IX004"]) == 0
    assert "error" not in capsys.readouterr().err


def test_config_timeout_above_int_max_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same maximum in the config file."""
    cfg = write(tmp_path, "statement_timeout_ms = 99999999999\n")
    code = run_cli(["audit", f"host=127.0.0.1 port={closed_port()}", "--config", str(cfg)])
    assert_one_error_line(code, capsys.readouterr().err, needle="from 1 to 2147483647")


def snapshot_json(**changes: object) -> str:
    """A valid (empty) snapshot document with some top-level values replaced (NaN and Infinity kept as such)."""
    data = json.loads(Snapshot(target="t", collected_at=0.0, pgadvisor_version="x", server=Unavailable("-")).to_json())
    data.update(changes)
    return json.dumps(data)


GOOD = snapshot_json()
DEEP = "[" * 100_000 + "]" * 100_000

BAD_SNAPSHOTS: list[tuple[str, bytes, str]] = [
    ("empty", b"", "not a JSON document"),
    ("not json", b"not json", "not a JSON document"),
    ("truncated", GOOD[: len(GOOD) // 2].encode(), "not a JSON document"),
    ("nan", snapshot_json(collected_at=float("nan")).encode(), "NaN"),
    ("infinity", snapshot_json(collected_at=float("inf")).encode(), "Infinity"),
    ("-infinity", GOOD.replace('"collected_at": 0.0', '"collected_at": -Infinity').encode(), "Infinity"),
    ("overflowing float", GOOD.replace('"collected_at": 0.0', '"collected_at": 1e999').encode(), "out of range"),
    ("huge integer", GOOD.replace('"collected_at": 0.0', '"collected_at": ' + "9" * 5000).encode(), ""),
    ("deep nesting", DEEP.encode(), "not a pgadvisor snapshot"),  # a top level that is not an object, said first
    ("deep inside", GOOD.replace('"notes": []', '"notes": ' + DEEP).encode(), "nested too deeply"),
    ("a list", b"[1, 2, 3]", "not a pgadvisor snapshot"),
    ("a list of the snapshot", f"[{GOOD}]".encode(), "not a pgadvisor snapshot"),
    ("null", b"null", "not a pgadvisor snapshot"),
    ("a string", b'"snapshot"', "not a pgadvisor snapshot"),
    ("wrong version type", snapshot_json(format_version="1").encode(), "format_version"),
    ("target a number", snapshot_json(target=5).encode(), "malformed snapshot"),
    ("collected_at a string", snapshot_json(collected_at="yesterday").encode(), "malformed snapshot"),
    ("notes an object", snapshot_json(notes={"a": 1}).encode(), "malformed snapshot"),
    ("indexes of numbers", snapshot_json(indexes=[1, 2]).encode(), "malformed snapshot"),
    ("indexes of empty objects", snapshot_json(indexes=[{}]).encode(), "malformed snapshot"),
    ("statements a string", snapshot_json(statements="x").encode(), "malformed snapshot"),
    ("server a list", snapshot_json(server=[]).encode(), "malformed snapshot"),
    ("latin-1", snapshot_json(target="café").encode("utf-16"), "not a UTF-8 text file"),
    ("invalid utf-8", GOOD.encode().replace(b'"t"', b'"\xff\xfe"'), "not a UTF-8 text file"),
    ("binary", bytes(range(256)), "not a UTF-8 text file"),
]


@pytest.mark.parametrize(("content", "needle"), [(c, n) for _, c, n in BAD_SNAPSHOTS],
                         ids=[name for name, _, _ in BAD_SNAPSHOTS])
@pytest.mark.parametrize("command", ["audit", "top"])
def test_bad_snapshot_contents_are_one_line_exit_2(tmp_path: Path, command: str, content: bytes, needle: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever a snapshot file holds, a broken one is exit 2 with one line naming the file (the contract for any
    snapshot codec)."""
    path = tmp_path / "snap.json"
    path.write_bytes(content)
    code = run_cli([command, "--snapshot", str(path)])
    captured = capsys.readouterr()
    assert_one_error_line(code, captured.err, needle=needle)
    assert str(path) in captured.err and captured.out == ""


def test_the_base_snapshot_of_those_cases_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The bad cases above break a document that itself audits cleanly."""
    path = tmp_path / "snap.json"
    path.write_text(GOOD)
    assert run_cli(["audit", "--snapshot", str(path)]) == 0
    assert capsys.readouterr().out.startswith("pgadvisor audit of t\n")


BAD_PLANS: list[tuple[str, bytes, str]] = [
    ("empty", b"", "not a JSON document"),
    ("truncated", b'[{"Plan": {"Node Type": "Seq Scan"', "not a JSON document"),
    ("nan", b'[{"Plan": {"Node Type": "Seq Scan", "Plan Rows": NaN}}]', "NaN"),
    ("infinity", b'[{"Plan": {"Node Type": "Nested Loop", "Actual Loops": Infinity}}]', "Infinity"),
    ("overflowing float", b'[{"Plan": {"Node Type": "Hash", "Hash Batches": 1e999}}]', "too large"),
    ("deep nesting", DEEP.encode(), "nested too deeply"),
    ("not utf-8", '[{"Plan": {"Node Type": "Seq Scan"}}]'.encode("utf-16"), "not a UTF-8 text file"),
    ("a list of numbers", b"[1, 2]", 'no "Plan" object'),
    ("an empty list", b"[]", 'no "Plan" object'),
    ("plan a number", b'{"Plan": 5}', 'no "Plan" object'),
    ("plans a number", b'{"Plan": {"Node Type": "Seq Scan", "Plans": 5}}', "not an EXPLAIN"),
    ("plans an object", b'{"Plan": {"Node Type": "Seq Scan", "Plans": {"a": 1}}}', ""),
]


@pytest.mark.parametrize(("content", "needle"), [(c, n) for _, c, n in BAD_PLANS],
                         ids=[name for name, _, _ in BAD_PLANS])
def test_bad_plan_files_are_one_line_exit_2(tmp_path: Path, content: bytes, needle: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """`explain --plan-file` gets the same treatment as a snapshot: exit 2 and one line, never a traceback."""
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    code = run_cli(["explain", "--plan-file", str(path)])
    captured = capsys.readouterr()
    if needle == "" and code == 0:  # a shape that is merely odd may be reviewed; it must not crash
        assert captured.err == ""
        return
    assert_one_error_line(code, captured.err, needle=needle)
    assert str(path) in captured.err


def test_bare_command_shows_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    """`pgadvisor` alone prints click's help (exit 2), not the help folded into an error line."""
    assert run_cli([]) == 2
    captured = capsys.readouterr()
    assert "Usage: pgadvisor" in captured.out + captured.err
    assert "pgadvisor: error:" not in captured.err
