"""RP001 replication.lag: standbys behind the primary, seen from the primary and from the standby itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Check, Finding, Severity, fmt_bytes, fmt_duration, threshold
from pgadvisor.snapshot import ReplicaRow, Snapshot, StandbyStatus

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class LagThresholds:
    """Keys of [checks.RP001]."""

    warning_seconds: float = threshold(10.0, help="Replay lag in seconds that is a warning (stale reads).")
    critical_seconds: float = threshold(60.0, help="Replay lag in seconds that is critical.")
    warning_bytes: int = threshold(100 * MiB, help="WAL not yet replayed, in bytes, that is a warning.")
    critical_bytes: int = threshold(1024 * MiB, help="WAL not yet replayed, in bytes, that is critical.")

    def __post_init__(self) -> None:
        if not 0 <= self.warning_seconds <= self.critical_seconds:
            raise ValueError("expected 0 <= warning_seconds <= critical_seconds")
        if not 0 <= self.warning_bytes <= self.critical_bytes:
            raise ValueError("expected 0 <= warning_bytes <= critical_bytes")


class ReplicationLag(Check[LagThresholds]):
    """Standby is behind the primary.

    ## Why it matters
    WAL that a standby has not replayed is data its readers cannot see yet (stale reads) and, when it has
    not even been received, data lost if the primary fails now. Lag that grows means the standby cannot keep
    up: replay I/O, long queries on the standby that conflict with replay, network, or a paused replay.

    ## Evidence
    On the primary, per standby in `pg_stat_replication`: `replay_lag` and the bytes between
    `pg_current_wal_lsn()` and `replay_lsn`. On a standby: `now() - pg_last_xact_replay_timestamp()`, counted
    as 0 when everything received has been replayed (an idle primary is not lag), less
    `recovery_min_apply_delay` for a deliberately delayed standby; the bytes received but not replayed; and
    whether replay is paused. A finding is a warning from either warning level and critical from either
    critical level.

    ## How to fix
    Find the bottleneck. On the standby, check `pg_is_wal_replay_paused()` (resume with
    `SELECT pg_wal_replay_resume();`), long queries holding replay back (`max_standby_streaming_delay`,
    `pg_stat_database_conflicts`), and disk I/O. On the primary, check the network and `wal_sender` state.

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    On a standby the time lag is measured from the last replayed commit: after a long idle spell on the
    primary, the first new WAL makes the lag jump until it is replayed. A single sample cannot tell a burst from
    a trend; the exporter's alert uses a `for:` duration for that.

    ## References
    https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-REPLICATION-VIEW
    https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-RECOVERY-CONTROL
    """

    code = "RP001"
    name = "replication.lag"
    default_severity = Severity.WARNING
    requires = ("server",)
    thresholds = LagThresholds
    message = "{side}: {lag_time} and {lag_size} of WAL behind{paused_text}"
    recommendation = "find what holds replay back: paused replay, conflicting standby queries, I/O or network"

    def run(self, snap: Snapshot, t: LagThresholds) -> Iterator[Finding]:
        if isinstance(snap.replicas, tuple):
            for r in snap.replicas:
                finding = self._judge(t, f"standby {r.application_name or r.client_addr or r.pid}",
                                      "seen from the primary", _primary_lag(r), r.replay_lag_bytes, paused=None,
                                      extra={"client_addr": r.client_addr, "state": r.state,
                                             "sync_state": r.sync_state})
                if finding is not None:
                    yield finding
        if isinstance(snap.standby, StandbyStatus):
            s = snap.standby
            lag = None if s.replay_lag_s is None else max(0.0, s.replay_lag_s - s.min_apply_delay_s)
            finding = self._judge(t, "this standby", "seen from the standby", lag, s.replay_lag_bytes,
                                  paused=s.replay_paused,
                                  extra={"receiver_status": s.receiver_status,
                                         "min_apply_delay_s": s.min_apply_delay_s})
            if finding is not None:
                yield finding

    def _judge(self, t: LagThresholds, obj: str, side: str, seconds: float | None, size: int | None, *,
               paused: bool | None, extra: dict[str, str | float | None]) -> Finding | None:
        sec = seconds or 0.0
        byt = size or 0
        if sec >= t.critical_seconds or byt >= t.critical_bytes:
            severity = Severity.CRITICAL
        elif sec >= t.warning_seconds or byt >= t.warning_bytes:
            severity = Severity.WARNING
        else:
            return None
        return self.finding(
            obj=obj,
            severity=severity,
            evidence={
                "side": side,
                "lag_seconds": round(sec, 3) if seconds is not None else None,
                "lag_bytes": size,
                "replay_paused": paused,
                **extra,
            },
            context={"lag_time": fmt_duration(seconds) if seconds is not None else "unknown time",
                     "lag_size": fmt_bytes(size), "paused_text": " (replay is paused)" if paused else ""},
        )


def _primary_lag(r: ReplicaRow) -> float | None:
    """replay_lag keeps its last value for a while after catching up: no bytes behind means no lag."""
    if r.replay_lag_bytes == 0:
        return 0.0
    return r.replay_lag_s
