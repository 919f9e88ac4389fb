"""End to end on a realistic workload (pgbench, PostgreSQL 15): a healthy OLTP run gives no finding at all, and
the same database with one statement that walks the primary key for a value it never finds is reported."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.cluster import LocalCluster, debian_install

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SICK = (
    "\\set v random(-5000, 5000)\n"
    "SELECT aid, abalance FROM pgbench_accounts WHERE abalance = :v ORDER BY aid LIMIT 10;\n"
)


@pytest.fixture(scope="module")
def bench() -> Iterator[LocalCluster]:
    """A PostgreSQL 15 server with a pgbench database (scale 10: 1,000,000 accounts) and a pg_monitor role."""
    install = debian_install(15)
    if install is None:
        pytest.skip("PostgreSQL 15 from Debian is not installed")
    with LocalCluster(install, settings={"shared_preload_libraries": "pg_stat_statements"}) as cluster:
        cluster.execute("CREATE ROLE mon LOGIN; GRANT pg_monitor TO mon; CREATE DATABASE bench;")
        cluster.execute("CREATE EXTENSION pg_stat_statements; CREATE EXTENSION pgstattuple;", "bench")
        pgbench(cluster, "-i", "-s", "10", "-q")
        yield cluster


def pgbench(cluster: LocalCluster, *args: str) -> None:
    """Run pgbench against the bench database as the superuser."""
    subprocess.run([str(cluster.install.binary("pgbench")), *args, "-h", "127.0.0.1", "-p", str(cluster.port),
                    "-U", "postgres", "bench"], check=True, capture_output=True, timeout=300)


def audit(cluster: LocalCluster) -> dict[str, object]:
    """`pgadvisor audit --format json` as the pg_monitor role."""
    res = subprocess.run([sys.executable, "-m", "pgadvisor.cli", "audit", cluster.dsn("bench", user="mon"),
                          "--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    report: dict[str, object] = json.loads(res.stdout)
    return report


def test_healthy_pgbench_workload_has_no_finding(bench: LocalCluster) -> None:
    """TPC-B-like transactions through primary keys: nothing to report, at any severity."""
    pgbench(bench, "-c", "4", "-j", "2", "-t", "500")  # a count, not a duration: the same work on any machine
    report = audit(bench)
    assert report["findings"] == [], report["findings"]


def test_statement_walking_the_primary_key_is_reported(bench: LocalCluster, tmp_path: Path) -> None:
    """A filter on an unindexed column behind ORDER BY aid LIMIT walks the whole primary key (1,000,000 rows)
    for values that match nothing: QR004 reports the cached buffers it touches per call, whatever else does."""
    script = tmp_path / "sick.sql"
    script.write_text(SICK)
    pgbench(bench, "-c", "2", "-j", "2", "-t", "60", "-f", str(script))  # 120 calls: QR004 needs 100, however slow
    findings = [f for f in report_findings(audit(bench)) if "abalance" in str(f["message"])]
    # QR004 must report it; others may too (QR002 does when a loaded machine makes the walk slow enough)
    assert ("QR004", "info") in [(f["check"], f["severity"]) for f in findings], findings


def report_findings(report: dict[str, object]) -> list[dict[str, object]]:
    """The findings list, typed."""
    findings = report["findings"]
    assert isinstance(findings, list)
    return findings
