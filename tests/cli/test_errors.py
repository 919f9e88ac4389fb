"""Bad input gets one clear line and the right exit code; no traceback, no password, ever."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pgadvisor.cli import run_cli

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
    assert code in (2, 3), err  # sslmode=bogus is only rejected by libpq at connect time
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
