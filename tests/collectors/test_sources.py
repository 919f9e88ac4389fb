"""The collectors' registry: every snapshot part has exactly one source, read in the order and with the progress
messages the collection always had; without phase 2 the what-if part is not collected."""

from __future__ import annotations

import dataclasses
from typing import Any

from pgadvisor.collectors import SOURCES, collect
from pgadvisor.snapshot import Snapshot, Unavailable

# filled by collect() itself, not by a source: identity, the server (read first), derived parts, bookkeeping
NOT_SOURCES = {"format_version", "target", "collected_at", "pgadvisor_version", "server", "activity_info", "notes",
               "collector_stats"}


def test_every_snapshot_part_has_one_source() -> None:
    """Each Snapshot field is filled by exactly one registered source (or by collect() itself)."""
    parts = [s.part for s in SOURCES]
    assert len(parts) == len(set(parts)), parts
    assert set(parts) == {f.name for f in dataclasses.fields(Snapshot)} - NOT_SOURCES


def test_requirements_name_earlier_parts_of_the_same_scope() -> None:
    """A source requires only parts read before it in the same round, and declares a server version we read."""
    seen: dict[str, str] = {}
    for src in SOURCES:
        for req in src.requires:
            assert seen.get(req) == src.scope, (src.part, req)
        seen[src.part] = src.scope
        assert src.min_version >= 130000


def test_collect_reads_the_sources_in_order_and_leaves_whatif_to_the_phases(fresh_db: Any) -> None:
    """collectors.collect() alone: the progress messages in registry order, every source timed once (the
    statements group in the connected database), and the what-if part not collected, saying why."""
    said: list[str] = []
    snap = collect(fresh_db.dsn, progress=said.append)
    expected = ["connecting"] + [s.say for s in SOURCES if s.say is not None]
    assert said == expected
    assert [s.name for s in snap.collector_stats] == ["server"] + [s.part for s in SOURCES]
    assert isinstance(snap.whatif, Unavailable) and "pgadvisor.phases" in snap.whatif.reason
