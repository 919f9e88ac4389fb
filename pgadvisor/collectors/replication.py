"""Replication from both sides: standbys and slots as the primary sees them, replay state on a standby."""

from __future__ import annotations

from pgadvisor.collectors.base import Ctx, fetch
from pgadvisor.snapshot import ReplicaRow, SlotRow, StandbyStatus, Unavailable


def collect_replicas(ctx: Ctx) -> tuple[ReplicaRow, ...]:
    """pg_stat_replication: one row per WAL sender (standbys, pg_basebackup, cascaded standbys)."""
    return tuple(fetch(ctx, ReplicaRow, "replicas"))


def collect_slots(ctx: Ctx) -> tuple[SlotRow, ...]:
    """pg_replication_slots with the WAL each slot retains."""
    return tuple(fetch(ctx, SlotRow, "slots"))


def collect_standby(ctx: Ctx, *, in_recovery: bool) -> StandbyStatus | Unavailable:
    """Replay lag as the standby sees it; Unavailable on a primary."""
    if not in_recovery:
        return Unavailable("not a standby")
    rows = fetch(ctx, StandbyStatus, "standby")
    return rows[0]
