"""Every benchmark script runs end to end at its smallest size, so the scripts behind benchmarks/README.md cannot rot.

Functional only: each script runs as `python benchmarks/<script>.py` with the smallest parameters its docstring
names, and the test checks that it exits 0 and prints every row and fact the README quotes. Nothing here is
about speed (speed is measured by the scripts themselves, as ratios within one run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.cluster import PgInstall, debian_install, find_installs

ROOT = Path(__file__).resolve().parents[1]
FACTS = "cores, load average"


def run_script(name: str, *args: str, timeout: float = 300) -> str:
    """Run benchmarks/<name> with this worktree first on the path; its stdout, after asserting it exited 0."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert FACTS in proc.stdout and "load average at the end" in proc.stdout, proc.stdout
    return proc.stdout


def rows_of(out: str) -> dict[str, list[str]]:
    """Each printed table row's cells after its first, by its first cell (the step's name)."""
    return {cells[0]: cells[1:] for line in out.splitlines() if (cells := line.split())}


def test_bench_analysis_smallest() -> None:
    out = run_script("bench_analysis.py", "--count", "20", "--repeat", "1")
    assert "20 distinct statements" in out
    for step in ("pglast.parse_sql", "analyze(text)", "analyze(text,", "fingerprint(text)"):
        assert step in rows_of(out), out
    assert "a top-1,000 workload:" in out


@pytest.mark.skipif(not Path("/usr/bin/time").is_file(), reason="bench_snapshot measures memory with /usr/bin/time")
def test_bench_snapshot_smallest() -> None:
    out = run_script("bench_snapshot.py", "--mb", "0.5", "--repeat", "1")
    assert "tables over 20 databases" in out
    rows = rows_of(out)
    for step in ("json.loads", "msgspec", "Snapshot.from_file", "msgspec.encode", "Snapshot.to_bytes"):
        assert step in rows, out
    assert rows["msgspec.encode"][1] == "1.00", out  # the writing floor is its own unit


@pytest.mark.parametrize("major", [15, 18])
def test_bench_collect_smallest(major: int) -> None:
    if major not in find_installs():
        pytest.skip(f"PostgreSQL {major} is not installed")
    out = run_script("bench_collect.py", "--tables", "4", "--repeat", "1", "--major", str(major))
    assert f"PostgreSQL {major}." in out and "4 tables" in out
    rows = rows_of(out)
    assert rows["bare"][1] == "1.00", out  # every ratio is against the replayed queries of the same run
    for step in ("collect", "audit", "checks", "json"):
        assert float(rows[step][0]) > 0, out


def _advisor_server() -> PgInstall | None:
    install = debian_install(15)
    if install is None or not (install.has_extension("hypopg") and install.has_extension("pg_qualstats")):
        return None
    return install


@pytest.mark.slow
@pytest.mark.skipif(_advisor_server() is None, reason="needs PostgreSQL 15 with hypopg and pg_qualstats")
def test_bench_advisor_smallest() -> None:
    out = run_script("bench_advisor.py", "--customers", "100", "--orders", "400", "--events", "400",
                     "--calls", "12", "--timed-calls", "1", "--best-of", "1")
    assert "pgadvisor IX011 thresholds" in out and "min_calls=10" in out and "min_mean_ms=0.0" in out
    assert "pg_qualstats_index_advisor(min_filter => 1000, min_selectivity => 30" in out
    assert "what-if phase (tier A)" in out and "SelectOptions(" in out
    for tool in ("pgadvisor IX011 tier A (HypoPG)", "pgadvisor IX011 tier B (pg_monitor)",
                 "pg_qualstats_index_advisor"):
        assert f"| {tool} |" in out, out
