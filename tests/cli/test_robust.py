"""One check cannot take the run down, and a run that saw little does not pass.

Plugins in a temporary `--checks-dir` run through `run_cli` on a saved snapshot (offline, no server); the
collection side (failed vs absent parts, hidden rows, client-side deadlines) runs against real servers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pgadvisor.cli import run_cli
from pgadvisor.engine import Outcome, Report
from pgadvisor.snapshot import ActivityInfo, ServerInfo, Snapshot, StatementsInfo, Unavailable

REPO = Path(__file__).resolve().parents[2]

TEMPLATE = '''
import time

from pgadvisor.checkapi import Check, NoThresholds, Severity


class Plugin(Check[NoThresholds]):
    """A test plugin.

    ## Why it matters
    Tests.

    ## Evidence
    None.

    ## How to fix
    Nothing.

    ## Thresholds
    None.

    ## False positives
    None.

    ## References
    https://www.postgresql.org/docs/current/
    """

    code = "{code}"
    name = "custom.{slug}"
    default_severity = Severity.WARNING
    requires = ()
    message = "{{object}} found"

    def run(self, snap, t):
{body}
'''

GOOD_BODY = '        yield self.finding(obj="public.good", evidence={"n": 1})'

BAD_BODIES: dict[str, tuple[str, str]] = {
    # name: (body of run(), what the errored reason must say)
    "system_exit": ("        raise SystemExit(0)", "SystemExit: 0"),
    "keyboard_interrupt": ("        raise KeyboardInterrupt", "KeyboardInterrupt"),
    "generator_exit": ("        raise GeneratorExit('bye')", "GeneratorExit: bye"),
    "base_exception": ("        class Odd(BaseException):\n            pass\n        raise Odd('odd')", "Odd: odd"),
    "returns_none": ("        return None", "run() returned NoneType, not an iterable of Finding"),
    "returns_int": ("        return 5", "run() returned int, not an iterable of Finding"),
    "yields_str": ("        yield 'public.t'", "run() yielded str 'public.t', not a Finding"),
    "endless_loop": ("        while True:\n            pass", "exceeded the 1 s budget"),
    "unprintable_error": ("        class Bad(Exception):\n            def __str__(self):\n"
                          "                raise ValueError\n        raise Bad()", "Bad: <Bad that cannot be printed>"),
    "unprintable_item": ("        class Bad:\n            def __repr__(self):\n                raise ValueError\n"
                         "        yield Bad()", "run() yielded Bad <Bad that cannot be printed>, not a Finding"),
}


def plugin(code: str, slug: str, body: str) -> str:
    """A plugin module: one check whose run() has the given body."""
    return TEMPLATE.format(code=code, slug=slug, body=body)


def empty_snapshot(tmp_path: Path, **parts: object) -> Path:
    """A saved snapshot with nothing collected (every part absent), plus the given parts."""
    fields: dict[str, Any] = {"server": Unavailable("not collected"), **parts}
    snap = Snapshot(target="test@offline", collected_at=1_700_000_000.0, pgadvisor_version="0", **fields)
    path = tmp_path / "snap.json"
    path.write_text(snap.to_json())
    return path


def check_threads() -> list[threading.Thread]:
    """Worker threads of checks still alive in this process."""
    return [t for t in threading.enumerate() if t.name.startswith("pgadvisor-check-")]


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_a_misbehaving_check_is_errored_and_the_others_report(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever a check raises or returns, or if it never ends, it is errored with the reason, the good
    check's finding is reported in full, and the exit code is 3 with the report written."""
    body, reason = BAD_BODIES[case]
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "zz101.py").write_text(plugin("ZZ101", "good", GOOD_BODY))
    (plugins / "zz102.py").write_text(plugin("ZZ102", "bad", body))
    started = time.monotonic()
    code = run_cli(["audit", "--snapshot", str(empty_snapshot(tmp_path)), "--checks-dir", str(plugins),
                    "--format", "json", "--check-timeout", "1"])
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 3, captured.err
    outcomes = {c["code"]: c for c in report["checks"]}
    assert outcomes["ZZ102"]["status"] == "errored"
    assert reason in outcomes["ZZ102"]["reason"], outcomes["ZZ102"]["reason"]
    assert outcomes["ZZ101"]["status"] == "ran"
    assert [(f["check"], f["object"]) for f in report["findings"] if f["check"].startswith("ZZ")] == [
        ("ZZ101", "public.good")]
    assert captured.err.strip() == "pgadvisor: error: check(s) errored: ZZ102"
    assert elapsed < 30, elapsed  # budget 1 s + 1 s grace; generous for a loaded machine
    if case == "endless_loop":
        deadline = time.monotonic() + 10
        while check_threads() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert check_threads() == [], "the runaway check's thread was not stopped"


def test_config_check_timeout_is_validated_and_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`check_timeout_s` in pgadvisor.toml sets the budget; a non-positive value is a config error (2)."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "zz103.py").write_text(plugin("ZZ103", "slow", "        time.sleep(1.5)\n        return []"))
    snap = str(empty_snapshot(tmp_path))
    cfg = tmp_path / "pgadvisor.toml"
    for bad in ("0", "-1", "'30'", "true", "nan"):
        cfg.write_text(f"check_timeout_s = {bad}\n")
        assert run_cli(["audit", "--snapshot", snap, "--config", str(cfg)]) == 2
        assert "check_timeout_s: expected a positive number of seconds" in capsys.readouterr().err
    cfg.write_text("check_timeout_s = 0.5\n")
    assert run_cli(["audit", "--snapshot", snap, "--config", str(cfg), "--checks-dir", str(plugins),
                    "--format", "json"]) == 3
    (outcome,) = [c for c in json.loads(capsys.readouterr().out)["checks"] if c["code"] == "ZZ103"]
    assert outcome["reason"].startswith("exceeded the 0.5 s budget")
    cfg.write_text("check_timeout_s = 20\n")  # generous: the 1.5 s sleep fits
    assert run_cli(["audit", "--snapshot", snap, "--config", str(cfg), "--checks-dir", str(plugins)]) == 0
    capsys.readouterr()


def test_a_check_that_ignores_the_stop_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    """A plugin that swallows every exception in an endless loop: the real CLI still prints the report,
    says the check did not stop, and the process exits (daemon thread) with code 3."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    body = "\n".join(["        while True:", "            try:", "                time.sleep(0.01)",
                      "            except BaseException:", "                pass"])
    (plugins / "zz104.py").write_text(plugin("ZZ104", "stubborn", body))
    (plugins / "zz101.py").write_text(plugin("ZZ101", "good", GOOD_BODY))
    started = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "pgadvisor.cli", "audit", "--snapshot", str(empty_snapshot(tmp_path)),
         "--checks-dir", str(plugins), "--check-timeout", "1", "--check", "ZZ*", "--format", "json"],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert time.monotonic() - started < 60
    assert res.returncode == 3, res.stderr
    assert "Traceback" not in res.stderr
    outcomes = {c["code"]: c for c in json.loads(res.stdout)["checks"]}
    assert "did not stop when asked" in outcomes["ZZ104"]["reason"]
    assert outcomes["ZZ101"]["status"] == "ran"


def test_real_ctrl_c_still_stops_the_run(tmp_path: Path) -> None:
    """SIGINT to the process while a check runs: exit 130, 'interrupted', no report, no traceback."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "zz105.py").write_text(plugin("ZZ105", "sleepy", "        while True:\n            time.sleep(0.01)"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgadvisor.cli", "audit", "--snapshot", str(empty_snapshot(tmp_path)),
         "--checks-dir", str(plugins), "--check-timeout", "600", "--check", "ZZ105"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    try:
        time.sleep(3)  # imports and check loading; the check then sleeps for its 600 s budget
        proc.send_signal(2)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == "pgadvisor: error: interrupted" and out == ""


# --------------------------------------------------------------------------------------------- failed collection


def outcome(code: str, status: str, *, failed: bool = False) -> Outcome:
    """An outcome for a report built by hand."""
    return Outcome(code, code.lower(), code, status, None if status == "ran" else "why", 0, 0.0,
                   collection_failed=failed)


def report_of(*outcomes: Outcome, selected: frozenset[str] = frozenset()) -> Report:
    """A report with these outcomes and no findings."""
    return Report("t", 0.0, None, None, (), (), tuple(outcomes), explicitly_selected=selected)


def test_more_than_half_skipped_by_failed_collection_exits_3() -> None:
    """The line: more than half of the checks skipped by *failed* collection exits 3; absent parts never do;
    an explicitly selected check that could not run always does."""
    from pgadvisor.checkapi import Severity

    half = report_of(outcome("A1", "ran"), outcome("A2", "skipped", failed=True))
    assert half.exit_code(Severity.CRITICAL) == 0 and half.incomplete() is None
    most = report_of(outcome("A1", "ran"), outcome("A2", "skipped", failed=True), outcome("A3", "skipped",
                                                                                          failed=True))
    assert most.exit_code(Severity.CRITICAL) == 3
    assert most.incomplete() == "2 of 3 checks could not run because collection failed (see their reasons): " \
                                "this run does not pass"
    assert most.to_dict()["incomplete"] == most.incomplete()
    absent = report_of(outcome("A1", "ran"), outcome("A2", "skipped"), outcome("A3", "skipped"))
    assert absent.exit_code(Severity.CRITICAL) == 0
    chosen = report_of(outcome("A1", "ran"), outcome("A2", "skipped"), selected=frozenset({"A2"}))
    assert chosen.exit_code(Severity.CRITICAL) == 3


def statements_info(*, hidden: int, hidden_calls: int) -> StatementsInfo:
    """pg_stat_statements 1.10 with this many hidden entries."""
    return StatementsInfo(schema="public", version="1.10", default_version=None, max_entries=5000, track="top",
                          track_planning=False, dealloc=0, stats_reset=None, hidden=hidden, hidden_calls=hidden_calls)


def test_failed_flag_hidden_counts_round_trip_and_older_snapshots_read() -> None:
    """`Unavailable.failed`, the hidden statement counts and the activity summary survive JSON; a snapshot
    written before they existed reads with their defaults; a wrong type is refused."""
    snap = Snapshot(
        target="t", collected_at=1.0, pgadvisor_version="0", server=Unavailable("timed out", failed=True),
        statements_info=statements_info(hidden=3, hidden_calls=40),
        activity_info=ActivityInfo(backends=9, hidden=4),
    )
    again = Snapshot.from_json(snap.to_json())
    assert again == snap and again.server == Unavailable("timed out", failed=True)
    data = json.loads(snap.to_json())
    data["server"] = {"unavailable": "old"}
    del data["activity_info"]
    for key in ("hidden", "hidden_calls"):
        del data["statements_info"][key]
    old = Snapshot.from_json(json.dumps(data))
    assert old.server == Unavailable("old") and not old.server.failed
    assert isinstance(old.statements_info, StatementsInfo) and old.statements_info.hidden is None
    assert old.activity_info == Unavailable("not collected")
    data["server"] = {"unavailable": "x", "failed": "yes"}
    with pytest.raises(ValueError, match="expected `bool`"):
        Snapshot.from_json(json.dumps(data))


def test_partial_view_note_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A check requiring statements/activity judged on a partial view carries the note (table and JSON);
    a check that needs neither does not."""
    server = ServerInfo(version_num=150000, version="PostgreSQL 15", database="app", current_user="Auditor",
                        is_superuser=False, has_pg_monitor=False, in_recovery=False, start_time=0.0, now=1.0,
                        system_identifier=None, block_size=8192, databases_collected=("app",))
    info = statements_info(hidden=2, hidden_calls=7)
    path = empty_snapshot(tmp_path, server=server, statements=(), statements_info=info,
                          activity=(), activity_info=ActivityInfo(backends=5, hidden=3))
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    both = plugin("ZZ106", "both", "        return []").replace("requires = ()",
                                                                    "requires = ('statements', 'activity')")
    (plugins / "zz106.py").write_text(both)
    (plugins / "zz101.py").write_text(plugin("ZZ101", "good", GOOD_BODY))
    args = ["audit", "--snapshot", str(path), "--checks-dir", str(plugins), "--check", "ZZ*"]
    assert run_cli([*args, "--format", "json"]) == 0
    checks = {c["code"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    grant = 'GRANT pg_read_all_stats TO "Auditor"'
    assert checks["ZZ106"]["note"] == (
        f"judged 0 of 2 statements; 2 hidden (other roles', 7 calls): {grant}; "
        f"judged 2 of 5 sessions; 3 hidden (other roles'): {grant}"
    )
    assert checks["ZZ101"]["note"] is None
    assert run_cli(args) == 0
    table = capsys.readouterr().out
    assert "Judged on a partial view" in table and "judged 0 of 2 statements" in table and "(ZZ106)" in table


# --------------------------------------------------------------------------------------------- live servers


@contextlib.contextmanager
def plain_role(db: Any) -> Iterator[str]:
    """A role with LOGIN and CONNECT on the test database, and nothing else (no pg_monitor)."""
    role = f"plain_{db.name}"
    db.execute(f"CREATE ROLE {role} LOGIN; GRANT CONNECT ON DATABASE {db.name} TO {role}")
    try:
        yield role
    finally:
        db.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")


def test_live_audit_with_a_check_that_exits(fresh_db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On a real server a plugin's `raise SystemExit(0)` no longer ends the audit silently with 0: the
    built-in checks report their findings, the plugin is errored, exit 3."""
    fresh_db.execute("CREATE TABLE a (x int); CREATE INDEX a1 ON a (x); CREATE INDEX a2 ON a (x);")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "zz102.py").write_text(plugin("ZZ102", "bad", BAD_BODIES["system_exit"][0]))
    code = run_cli(["audit", fresh_db.monitor_dsn, "--checks-dir", str(plugins), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 3
    assert ("IX003", "public.a2") in {(f["check"], f["object"]) for f in report["findings"]}
    (bad,) = [c for c in report["checks"] if c["code"] == "ZZ102"]
    assert bad["status"] == "errored" and bad["reason"] == "SystemExit: 0"


def test_statement_timeout_that_fails_collection_exits_3_with_the_report(
    fresh_db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--statement-timeout 1` makes nearly every collector time out: the report is written, the skipped
    checks say 'collection failed', and the run exits 3 instead of 0."""
    code = run_cli(["audit", fresh_db.monitor_dsn, "--statement-timeout", "1", "--format", "json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 3, captured.err
    failed = [c for c in report["checks"] if c["collection_failed"]]
    assert 2 * len(failed) > len(report["checks"])
    assert all("statement_timeout = 1 ms" in c["reason"] for c in failed)
    assert report["incomplete"] and captured.err.strip() == f"pgadvisor: error: {report['incomplete']}"


def test_permission_refused_fails_a_plain_role_but_not_a_pg_monitor_one(
    fresh_db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pg_stat_statements refused (EXECUTE revoked): for a pg_monitor role a missing optional grant, so the
    statement checks are skipped and the run passes; for a role without pg_monitor a failed collection that
    leaves most checks unable to run, so exit 3 with the report."""
    fresh_db.execute("REVOKE EXECUTE ON FUNCTION pg_stat_statements(boolean) FROM PUBLIC")
    code, report = _audit_json([fresh_db.monitor_dsn], capsys)
    statement_checks = [c for c in report["checks"] if c["status"] == "skipped" and "statements" in c["reason"]]
    assert len(statement_checks) > len(report["checks"]) / 2
    assert all("permission denied" in c["reason"] and not c["collection_failed"] for c in statement_checks)
    assert code == 0 and report["incomplete"] is None
    with plain_role(fresh_db) as role:
        code, report = _audit_json([fresh_db.server.dsn(fresh_db.name, user=role)], capsys)
        failed = [c for c in report["checks"] if c["collection_failed"]]
        assert {c["code"] for c in failed} == {c["code"] for c in statement_checks}
        assert code == 3 and report["incomplete"]


def _audit_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = run_cli(["audit", *args, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_rows_hidden_from_a_role_without_pg_monitor_are_counted_and_noted(
    fresh_db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A LOGIN + CONNECT role sees other roles' statements and sessions as <insufficient privilege>: the
    snapshot counts them exactly, and the checks that judged the rest say how much they saw and which grant
    shows the rest, in the table and in JSON."""
    fresh_db.execute("CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 10);"
                     "SELECT count(*) FROM t WHERE x > 3; SELECT sum(x) FROM t")
    count = f"SELECT count(*) FROM pg_stat_statements WHERE userid <> (SELECT oid FROM pg_roles WHERE rolname = " \
            f"'plain_{fresh_db.name}')"
    with plain_role(fresh_db) as role, fresh_db.server.connect(fresh_db.name) as other:
        other.execute("SELECT 1")  # another role's session, idle during the collection
        fresh_db.execute(count)  # its own entry exists from now on ...
        ((hidden,),) = fresh_db.execute(count)  # ... so this count is what the collection will see
        snap_file = tmp_path / "plain.json"
        assert run_cli(["collect", fresh_db.server.dsn(fresh_db.name, user=role), "-o", str(snap_file)]) == 0
        snap = Snapshot.from_json(snap_file.read_text())
        info, statements, activity = snap.statements_info, snap.statements, snap.activity_info
        assert isinstance(info, StatementsInfo) and isinstance(statements, tuple)
        assert isinstance(activity, ActivityInfo)
        assert info.hidden == hidden > 0
        assert 1 <= activity.hidden <= activity.backends
        code, report = _audit_json(["--snapshot", str(snap_file)], capsys)
        assert code == 0, report["incomplete"]
        note = (f"judged {len(statements)} of {len(statements) + hidden} statements; {hidden} hidden "
                f"(other roles', {info.hidden_calls} calls): GRANT pg_read_all_stats TO {role}")
        noted = {c["code"] for c in report["checks"] if c["note"] == note}
        assert {"QR002", "QR003", "IX011"} <= noted
        assert all(c["note"] is None for c in report["checks"] if c["code"].startswith("IX00"))
        assert run_cli(["audit", "--snapshot", str(snap_file)]) == 0
        assert f"{hidden} hidden" in capsys.readouterr().out
    monitor = Snapshot.from_json(Snapshot.to_json(_collect(fresh_db.monitor_dsn)))
    assert isinstance(monitor.statements_info, StatementsInfo) and monitor.statements_info.hidden == 0
    assert isinstance(monitor.activity_info, ActivityInfo) and monitor.activity_info.hidden == 0


def _collect(dsn: str) -> Snapshot:
    from pgadvisor.phases import collect

    return collect(dsn)


# --------------------------------------------------------------------------------------------- client-side deadlines


def test_frozen_backend_ends_the_run_with_exit_3(
    fresh_db: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The backend serving pgadvisor is stopped (SIGSTOP) mid-collection: statement_timeout cannot fire and a
    cancel cannot reach it, so the client-side deadline closes the connection: exit 3, one line, well within
    connect timeout + statement timeout + 10 s (it hung for 93 s before)."""
    import pgadvisor.cli as cli_module
    from pgadvisor.phases import collect

    frozen: list[int] = []

    def freeze(msg: str) -> None:
        if msg == "reading settings" and not frozen:
            rows = fresh_db.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'pgadvisor'"
                                    f" AND datname = '{fresh_db.name}'")
            frozen.extend(pid for (pid,) in rows)
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)

    def collect_and_freeze(dsn: str | None, opts: Any, *, all_databases: bool) -> Snapshot:
        return collect(dsn, opts, all_databases=all_databases, progress=freeze)

    def thaw() -> None:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    monkeypatch.setattr(cli_module, "collect", collect_and_freeze)
    safety = threading.Timer(120, thaw)  # a broken deadline fails the test instead of hanging the suite
    safety.start()
    started = time.monotonic()
    try:
        code = run_cli(["audit", fresh_db.monitor_dsn, "--statement-timeout", "2000", "--connect-timeout", "3"])
        elapsed = time.monotonic() - started
    finally:
        safety.cancel()
        thaw()
    err = capsys.readouterr().err
    assert len(frozen) == 1, frozen
    assert elapsed < 3 + 2 + 10, elapsed
    assert code == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "no answer from the server within 7 s" in lines[0], err


def test_server_that_accepts_and_never_answers_ends_within_connect_timeout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A listener that accepts the TCP connection and never speaks: exit 3 within --connect-timeout + margin."""
    held: list[socket.socket] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(60)

        def accept() -> None:
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

        threading.Thread(target=accept, daemon=True).start()
        port = listener.getsockname()[1]
        started = time.monotonic()
        code = run_cli(["audit", f"host=127.0.0.1 port={port} user=x dbname=x",
                        "--connect-timeout", "3"])
        elapsed = time.monotonic() - started
    for conn in held:
        conn.close()
    err = capsys.readouterr().err
    assert held, "the listener never accepted: the test did not test anything"
    assert code == 3, err
    assert 2.5 < elapsed < 3 + 10, elapsed
    assert err.strip() == "pgadvisor: error: connection timeout expired", err
