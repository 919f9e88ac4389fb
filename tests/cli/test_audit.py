"""`pgadvisor audit`, `collect` and `checks` end to end on real servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pgadvisor.cli import run_cli
from pgadvisor.config import Config
from pgadvisor.engine import plan, run
from pgadvisor.phases import collect
from pgadvisor.registry import load
from pgadvisor.snapshot import Snapshot

PLANTED = """
CREATE TABLE customers (id int PRIMARY KEY, email text);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 200) g;
CREATE TABLE orders (id int PRIMARY KEY, status text, customer_id int REFERENCES customers);
INSERT INTO orders SELECT g, 'new', g % 200 + 1 FROM generate_series(1, 20000) g;
CREATE INDEX orders_status_idx ON orders (status);
CREATE INDEX orders_status_dup ON orders (status);
CREATE UNIQUE INDEX customers_email_key ON customers (email);
ANALYZE;
"""


def audit_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    """Run `audit --format json` and parse its output."""
    code = run_cli(["audit", *args, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def keys(report: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    """What identifies a finding across runs."""
    return sorted((f["check"], f["object"], f["severity"], f["fix_sql"]) for f in report["findings"])


def test_live_and_snapshot_audits_agree(fresh_db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """collect -o + audit --snapshot gives the findings the live audit gave."""
    fresh_db.execute(PLANTED)
    code_live, live = audit_json([fresh_db.monitor_dsn], capsys)
    snap = tmp_path / "snap.json"
    assert run_cli(["collect", fresh_db.monitor_dsn, "-o", str(snap)]) == 0
    capsys.readouterr()
    code_off, offline = audit_json(["--snapshot", str(snap)], capsys)
    assert keys(live) == keys(offline)
    assert code_live == code_off
    found = {(f["check"], f["object"]) for f in live["findings"]}
    assert ("IX003", "public.orders_status_dup") in found
    assert ("IX004", "public.orders.orders_customer_id_fkey") in found


def test_snapshot_json_round_trip_is_exact(fresh_db: Any) -> None:
    """A snapshot read back from JSON is equal to the original, and audits to identical findings."""
    fresh_db.execute(PLANTED)
    snap = collect(fresh_db.monitor_dsn)
    again = Snapshot.from_json(snap.to_json())
    assert again == snap
    the_plan = plan(load(entry_points=False), Config())
    assert run(snap, the_plan).findings == run(again, the_plan).findings


def test_fail_on_sets_the_exit_code(fresh_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Findings at or above --fail-on exit 1; the default (critical) passes warnings; a healthy db exits 0."""
    assert run_cli(["audit", fresh_db.monitor_dsn]) == 0
    fresh_db.execute(PLANTED)
    assert run_cli(["audit", fresh_db.monitor_dsn]) == 0  # warnings only: default --fail-on critical
    assert run_cli(["audit", fresh_db.monitor_dsn, "--fail-on", "warning"]) == 1
    assert run_cli(["audit", fresh_db.monitor_dsn, "--fail-on", "info", "--check", "IX005"]) == 0
    out = capsys.readouterr().out
    assert "IX003 index.redundant" in out and "DROP INDEX CONCURRENTLY public.orders_status_dup;" in out


def test_healthy_database_has_no_findings(fresh_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A well-indexed schema gives no finding at all, at any severity."""
    fresh_db.execute("""
        CREATE TABLE customers (id int PRIMARY KEY);
        CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers);
        CREATE INDEX ON orders (customer_id);
        ANALYZE;
    """)
    _, report = audit_json([fresh_db.monitor_dsn, "--fail-on", "info"], capsys)
    mine = [f for f in report["findings"] if f["database"] == fresh_db.name]
    assert mine == []


CORE_PARTS = {"server", "settings", "databases", "activity", "locks", "checkpointer", "roles", "replicas", "slots",
              "extensions", "tables", "indexes", "foreign_keys", "columns", "sequences", "statements_info",
              "statements"}


def test_monitor_role_collects_everything_it_may(fresh_db: Any) -> None:
    """As a pg_monitor-only role every core collector works; optional parts (extensions not installed here,
    a standby's replay state on a primary) say why they are missing."""
    snap = collect(fresh_db.monitor_dsn)
    failed = {s.name: s.reason for s in snap.collector_stats if not s.ok}
    assert not CORE_PARTS & set(failed), failed
    assert failed.get("standby") == "not a standby"
    assert all(reason for reason in failed.values())
    assert snap.server.has_pg_monitor and not snap.server.is_superuser  # type: ignore[union-attr]


def test_all_databases(fresh_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """--all-databases reads every connectable database and names each finding's database."""
    fresh_db.execute("CREATE TABLE a (x int); CREATE INDEX a1 ON a (x); CREATE INDEX a2 ON a (x);")
    other = fresh_db.name + "_other"
    fresh_db.server.execute(f"CREATE DATABASE {other} TEMPLATE pgadvisor_template")
    try:
        fresh_db.server.execute("CREATE TABLE b (y int); CREATE INDEX b1 ON b (y); CREATE INDEX b2 ON b (y);", other)
        _, report = audit_json([fresh_db.monitor_dsn, "--all-databases", "--check", "IX003"], capsys)
        found = {(f["database"], f["object"]) for f in report["findings"]}
        assert {(fresh_db.name, "public.a2"), (other, "public.b2")} <= found
        assert {fresh_db.name, other} <= set(report["databases"])
    finally:
        fresh_db.server.execute(f"DROP DATABASE {other} WITH (FORCE)")


def test_checks_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    """`checks` lists every built-in check; `checks show` prints its documentation and thresholds."""
    assert run_cli(["checks"]) == 0
    out = capsys.readouterr().out
    for code in ("IX001", "IX003", "IX004", "IX005", "RP001"):
        assert code in out
    assert run_cli(["checks", "show", "index.fk_without_index"]) == 0
    doc = capsys.readouterr().out
    assert "## Why it matters" in doc and "`min_child_rows`" in doc and "10000" in doc


PLUGIN = '''
from pgadvisor.checkapi import Check, NoThresholds, Severity


class TablesWithoutPk(Check[NoThresholds]):
    """Table has no primary key.

    ## Why it matters
    Logical replication cannot replicate its updates and deletes.

    ## Evidence
    pg_index.indisprimary.

    ## How to fix
    Add one.

    ## Thresholds
    None.

    ## False positives
    Append-only logs.

    ## References
    https://www.postgresql.org/docs/current/ddl-constraints.html
    """

    code = "ZZ001"
    name = "custom.table_without_pk"
    default_severity = Severity.WARNING
    requires = ("tables",)
    message = "{object} has no primary key"

    def run(self, snap, t):
        for table in snap.tables:
            if not table.has_primary_key:
                yield self.finding(obj=f"{table.schema}.{table.name}", database=table.database, evidence={})
'''


def test_checks_dir_plugin_runs_and_broken_plugin_is_isolated(
    fresh_db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user's check folder loads like the built-ins; a broken file is reported and the rest still runs."""
    plugins = tmp_path / "my_checks"
    plugins.mkdir()
    (plugins / "zz001.py").write_text(PLUGIN)
    (plugins / "broken.py").write_text("import not_a_module_anywhere\n")
    fresh_db.execute("CREATE TABLE nopk (x int);")
    code, report = audit_json([fresh_db.monitor_dsn, "--checks-dir", str(plugins)], capsys)
    assert ("ZZ001", "public.nopk") in {(f["check"], f["object"]) for f in report["findings"]}
    assert [e["origin"].endswith("broken.py") for e in report["load_errors"]] == [True]
    assert "not_a_module_anywhere" in report["load_errors"][0]["message"]
    assert code == 3  # a broken plugin never passes silently
    assert {c["code"] for c in report["checks"]} >= {"IX001", "ZZ001"}


def test_errored_check_is_reported_and_the_audit_goes_on(fresh_db: Any, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A check that raises becomes an `errored` outcome with its message; the others still run."""
    plugins = tmp_path / "p"
    plugins.mkdir()
    (plugins / "zz002.py").write_text(
        PLUGIN.replace("ZZ001", "ZZ002").replace("custom.table_without_pk", "custom.boom")
        .replace("for table in snap.tables:", "raise RuntimeError('boom')\n        for table in snap.tables:")
    )
    code, report = audit_json([fresh_db.monitor_dsn, "--checks-dir", str(plugins)], capsys)
    outcome = next(c for c in report["checks"] if c["code"] == "ZZ002")
    assert outcome["status"] == "errored" and "boom" in outcome["reason"]
    assert any(c["code"] == "IX004" and c["status"] == "ran" for c in report["checks"])
    assert code == 3


def test_output_file_min_severity_and_stdout_snapshot(fresh_db: Any, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """--output writes the report to a file; --min-severity hides lower findings but they still count for
    --fail-on; `collect -o -` writes the snapshot to stdout."""
    fresh_db.execute(PLANTED)
    out = tmp_path / "report.json"
    code = run_cli(["audit", fresh_db.monitor_dsn, "--format", "json", "-o", str(out), "--min-severity", "critical",
                    "--fail-on", "warning"])
    assert code == 1
    assert capsys.readouterr().out == ""
    report = json.loads(out.read_text())
    assert report["findings"] == [] and report["summary"]["warning"] >= 2
    assert run_cli(["audit", fresh_db.monitor_dsn, "--min-severity", "critical"]) == 0
    assert "finding(s) below critical not shown" in capsys.readouterr().out
    assert run_cli(["collect", fresh_db.monitor_dsn, "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert Snapshot.from_json(captured.out).target.startswith("pgadvisor_monitor@")
    assert "written to -" in captured.err


def test_unwritable_output_is_a_usage_error(fresh_db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A report that cannot be written is exit 2 with the path named."""
    target = tmp_path / "missing-dir" / "r.json"
    assert run_cli(["audit", fresh_db.monitor_dsn, "-o", str(target)]) == 2
    assert str(target) in capsys.readouterr().err
