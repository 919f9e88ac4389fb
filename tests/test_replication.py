"""RP001 on a real streaming standby: pause replay, write on the primary, and see the lag from both sides."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pgadvisor.checkapi import Finding
from pgadvisor.config import Config
from pgadvisor.engine import plan, run
from pgadvisor.phases import collect
from pgadvisor.registry import load
from pgadvisor.snapshot import StandbyStatus

pytestmark = pytest.mark.slow

REGISTRY = load(entry_points=False)
TIGHT = {"warning_seconds": 1.0, "critical_seconds": 3600.0, "warning_bytes": 1024, "critical_bytes": 2**40}


def lag_findings(dsn: str, thresholds: dict[str, Any]) -> list[Finding]:
    """Collect as the pg_monitor role and run RP001 alone."""
    snap = collect(dsn)
    report = run(snap, plan(REGISTRY, Config(source="test", thresholds={"RP001": thresholds}), only=["RP001"]))
    assert report.outcomes[0].status == "ran", report.outcomes[0].reason
    return list(report.findings)


@contextlib.contextmanager
def replay_paused(pair: Any, table: str, rows: int, width: int) -> Iterator[Any]:
    """Replay paused on the standby after a replayed commit, then `rows` rows of `width` bytes written to `table`
    on the primary; replay resumes and catches up afterwards."""
    pair.primary.execute(f"CREATE TABLE IF NOT EXISTS {table} (id int, pad text)")
    pair.primary.execute(f"INSERT INTO {table} VALUES (0, 'before')")
    pair.wait_for_replay()
    pair.standby.execute("SELECT pg_wal_replay_pause()")
    try:
        pair.primary.execute(f"INSERT INTO {table} SELECT g, repeat('x', {width}) FROM generate_series(1, {rows}) g")
        yield pair
    finally:
        pair.standby.execute("SELECT pg_wal_replay_resume()")
        pair.wait_for_replay(timeout=120.0)


@pytest.fixture
def paused(standby_pair: Any) -> Iterator[Any]:
    """Replay paused on the standby after a replayed commit, then ~1 MB written on the primary."""
    with replay_paused(standby_pair, "lag_probe", 10_000, 100):
        time.sleep(1.5)
        yield standby_pair


@pytest.fixture
def paused_far_behind(standby_pair: Any) -> Iterator[Any]:
    """Replay paused on the standby, then an import of about 135 MB of WAL on the primary: more than RP001's
    default warning_bytes (100 MiB), far less than its critical_bytes (1 GiB)."""
    try:
        with replay_paused(standby_pair, "import_probe", 130_000, 1000):
            yield standby_pair
    finally:
        standby_pair.primary.execute("DROP TABLE IF EXISTS import_probe")


def _default_severity(finding: Finding) -> str:
    """What RP001's defaults make of the evidence: critical from 60 s or 1 GiB behind, else warning. The bytes
    are planted; the seconds depend on how long the import took on this machine, so the test accepts both."""
    lag_s = finding.evidence["lag_seconds"]
    return "critical" if isinstance(lag_s, float) and lag_s >= 60.0 else "warning"


def test_RP001_bad_default_import_not_replayed(paused_far_behind: Any) -> None:
    """At the default thresholds, 135 MB not replayed is a finding from both sides, by its bytes."""
    (name,) = paused_far_behind.primary.execute("SELECT application_name FROM pg_stat_replication")[0]
    for dsn, obj in ((paused_far_behind.monitor_dsn_primary, f"standby {name}"),
                     (paused_far_behind.monitor_dsn_standby, "this standby")):
        findings = lag_findings(dsn, {})
        assert [(f.object, f.severity.label) for f in findings] == [(obj, _default_severity(findings[0]))]
        lag_bytes = findings[0].evidence["lag_bytes"]
        assert isinstance(lag_bytes, int) and 100 * 2**20 <= lag_bytes < 2**30


def test_RP001_good_default_import_replayed(standby_pair: Any) -> None:
    """The same import on a standby that keeps up: nothing at the default thresholds, from either side."""
    standby_pair.primary.execute("CREATE TABLE IF NOT EXISTS import_probe (id int, pad text)")
    try:
        standby_pair.primary.execute(
            "INSERT INTO import_probe SELECT g, repeat('i', 1000) FROM generate_series(1, 130000) g"
        )
        standby_pair.wait_for_replay(timeout=120.0)
        assert lag_findings(standby_pair.monitor_dsn_primary, {}) == []
        assert lag_findings(standby_pair.monitor_dsn_standby, {}) == []
    finally:
        standby_pair.primary.execute("DROP TABLE import_probe")


def test_RP001_bad_paused_replay_seen_from_the_primary(paused: Any) -> None:
    """The primary reports its standby as lagging, by name, from pg_stat_replication."""
    (name,) = paused.primary.execute("SELECT application_name FROM pg_stat_replication")[0]
    findings = lag_findings(paused.monitor_dsn_primary, TIGHT)
    assert [(f.object, f.severity.label) for f in findings] == [(f"standby {name}", "warning")]
    lag_bytes = findings[0].evidence["lag_bytes"]
    assert isinstance(lag_bytes, int) and lag_bytes >= 1024 * 1024  # 10,000 rows of ~130 bytes not replayed


def test_RP001_bad_paused_replay_seen_from_the_standby(paused: Any) -> None:
    """The standby reports its own replay lag and that replay is paused."""
    findings = lag_findings(paused.monitor_dsn_standby, TIGHT)
    assert [(f.object, f.severity.label) for f in findings] == [("this standby", "warning")]
    ev = findings[0].evidence
    assert ev["replay_paused"] is True
    assert isinstance(ev["lag_seconds"], float) and ev["lag_seconds"] >= 1.0


def test_RP001_bad_critical_time_lag(paused: Any) -> None:
    """Past the critical level the finding is critical."""
    findings = lag_findings(paused.monitor_dsn_standby, {**TIGHT, "critical_seconds": 1.0})
    assert [f.severity.label for f in findings] == ["critical"]


def test_RP001_good_caught_up_standby(standby_pair: Any) -> None:
    """A standby that replayed everything is not lagging, from either side, even with tight thresholds."""
    standby_pair.primary.execute("CREATE TABLE IF NOT EXISTS lag_probe (id int, pad text)")
    standby_pair.primary.execute("INSERT INTO lag_probe VALUES (1, 'caught up')")
    standby_pair.wait_for_replay()
    tight = {"warning_seconds": 5.0, "critical_seconds": 60.0, "warning_bytes": 1024 * 1024,
             "critical_bytes": 2**30}
    assert lag_findings(standby_pair.monitor_dsn_primary, tight) == []
    assert lag_findings(standby_pair.monitor_dsn_standby, tight) == []


def test_standby_snapshot_shape(standby_pair: Any) -> None:
    """On the standby the snapshot knows it is in recovery and has replay status; the primary sees a replica."""
    snap = collect(standby_pair.monitor_dsn_standby)
    assert isinstance(snap.standby, StandbyStatus)
    assert snap.standby.receiver_status == "streaming"
    primary = collect(standby_pair.monitor_dsn_primary)
    assert isinstance(primary.replicas, tuple) and len(primary.replicas) == 1
