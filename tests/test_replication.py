"""RP001 on a real streaming standby: pause replay, write on the primary, and see the lag from both sides."""

from __future__ import annotations

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


@pytest.fixture
def paused(standby_pair: Any) -> Iterator[Any]:
    """Replay paused on the standby after a replayed commit, then ~1 MB written on the primary."""
    standby_pair.primary.execute("CREATE TABLE IF NOT EXISTS lag_probe (id int, pad text)")
    standby_pair.primary.execute("INSERT INTO lag_probe VALUES (0, 'before')")
    standby_pair.wait_for_replay()
    standby_pair.standby.execute("SELECT pg_wal_replay_pause()")
    try:
        standby_pair.primary.execute(
            "INSERT INTO lag_probe SELECT g, repeat('x', 100) FROM generate_series(1, 10000) g"
        )
        time.sleep(1.5)
        yield standby_pair
    finally:
        standby_pair.standby.execute("SELECT pg_wal_replay_resume()")
        standby_pair.wait_for_replay()


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
