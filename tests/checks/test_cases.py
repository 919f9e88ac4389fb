"""Every check case runs against a real server: plant the problem (bad_) or its healthy twin (good_), collect a
snapshot as a role granted only pg_monitor, run that one check, and compare (object, severity) exactly, so a
missed finding and a false alarm both fail."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from pgadvisor.analysis import analyze
from pgadvisor.config import Config
from pgadvisor.engine import plan, run
from pgadvisor.phases import collect
from pgadvisor.registry import load
from pgadvisor.snapshot import CheckpointerInfo, ServerInfo, Snapshot, StatementsInfo
from tests.checks.casefiles import Case, load_cases

CASES = load_cases()
REGISTRY = load(entry_points=False)


STEP = re.compile(r"^-- step( may-fail)?\s*$", re.MULTILINE)


def run_setup(db: Any, script: str) -> None:
    """Run a case's setup. `-- step` starts a chunk run on its own (CREATE INDEX CONCURRENTLY cannot run in a
    multi-statement script); `-- step may-fail` one whose error is expected (to plant a failed build).
    Other chunks end with pg_stat_force_next_flush(), so their scans are visible to the next session (15+)."""
    parts = STEP.split(script)
    chunks = [(parts[0], "plain")] + [
        (parts[i + 1], "may-fail" if parts[i] else "alone") for i in range(1, len(parts) - 1, 2)
    ]
    for text, kind in chunks:
        if not text.strip():
            continue
        if kind == "plain":
            db.execute(text + "\n;SELECT pg_stat_force_next_flush();")
        elif kind == "alone":
            db.execute(text)
        else:
            with contextlib.suppress(psycopg.Error):
                db.execute(text)


def age_snapshot(snap: Snapshot, seconds: float) -> Snapshot:
    """The same snapshot from a server whose statistics have been counting `seconds` longer: the server's start
    and every statistics reset move back together (so "reset at start" stays true), while the counters,
    `collected_at` and the times of events (last scan, last vacuum, activity) stay as they were collected."""
    if seconds == 0:
        return snap

    def back(t: float | None) -> float | None:
        return None if t is None else t - seconds

    changes: dict[str, Any] = {}
    if isinstance(snap.server, ServerInfo):
        changes["server"] = dataclasses.replace(snap.server, start_time=snap.server.start_time - seconds)
    if isinstance(snap.databases, tuple):
        changes["databases"] = tuple(dataclasses.replace(d, stats_reset=back(d.stats_reset)) for d in snap.databases)
    if isinstance(snap.statements_info, StatementsInfo):
        changes["statements_info"] = dataclasses.replace(
            snap.statements_info, stats_reset=back(snap.statements_info.stats_reset))
    if isinstance(snap.checkpointer, CheckpointerInfo):
        changes["checkpointer"] = dataclasses.replace(
            snap.checkpointer, stats_reset=back(snap.checkpointer.stats_reset))
    return dataclasses.replace(snap, **changes)


def run_statements(db: Any, statements: list[str], sessions: int) -> None:
    """Run each statement as the application, in `sessions` concurrent sessions (each its own connection)."""
    for statement in statements:
        script = statement + ";\nSELECT pg_stat_force_next_flush();"
        if sessions <= 1:
            db.execute(script)
            continue
        with ThreadPoolExecutor(max_workers=sessions) as pool:
            for future in [pool.submit(db.execute, script) for _ in range(sessions)]:
                future.result()  # an error in any session fails the case


def statement_object(snap: Snapshot, database: str, text: str) -> str:
    """`queryid:<n>` of the one statement of `database` whose parse-tree fingerprint is that of `text` (an
    expected finding may name its statement by `query:` instead of `object:`, since queryids are not known
    in advance)."""
    want = analyze(text).fingerprint
    assert want is not None, f"expected query does not parse: {text}"
    rows = snap.statements if isinstance(snap.statements, tuple) else ()
    ids = {r.queryid for r in rows if r.database == database and analyze(r.query).fingerprint == want}
    assert len(ids) == 1, f"{len(ids)} statements of {database} match {text!r}"
    return f"queryid:{ids.pop()}"


def expected_object(snap: Snapshot, database: str, expect: dict[str, str]) -> str:
    """The object an expected finding names: as written (`object:`), the statement of a text (`query:`), or the
    parse-tree fingerprint of a text (`fingerprint_of:`, computed by the pglast in use, whose values change
    between its versions)."""
    if "object" in expect:
        return expect["object"]
    if "fingerprint_of" in expect:
        value = analyze(expect["fingerprint_of"]).fingerprint
        assert value is not None, f"expected text does not parse: {expect['fingerprint_of']}"
        return f"fingerprint:{value}"
    return statement_object(snap, database, expect["query"])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, fresh_db: Any) -> None:
    """The check reports exactly the expected findings for this planted case."""
    major = fresh_db.server.major
    if not case.min_server <= major <= case.max_server:
        pytest.skip(f"case needs PostgreSQL {case.min_server}..{case.max_server}, server is {major}")
    if case.needs_extension and not fresh_db.server.install.has_extension(case.needs_extension):
        pytest.skip(f"extension {case.needs_extension} is not available for PostgreSQL {major}")
    if case.needs_jit and not fresh_db.execute("SELECT pg_jit_available()")[0][0]:
        pytest.skip(f"PostgreSQL {major} cannot JIT here (built without LLVM)")
    run_setup(fresh_db, case.setup)
    run_statements(fresh_db, case.statements, case.sessions)
    dsn = fresh_db.monitor_dsn if case.role == "monitor" else fresh_db.dsn
    snap = age_snapshot(collect(dsn), case.age_seconds)
    internal = [s for s in snap.collector_stats if s.reason and "internal error" in s.reason]
    assert not internal, internal
    config = Config(source="case", thresholds={case.check: case.thresholds})
    report = run(snap, plan(REGISTRY, config, only=[case.check]))
    outcome = report.outcomes[0]
    assert outcome.status == "ran", f"{case.check} did not run: {outcome.reason}"
    got = sorted((f.object, f.severity.label) for f in report.findings if f.database in (fresh_db.name, None))
    want = sorted((expected_object(snap, fresh_db.name, e), e["severity"]) for e in case.expect)
    assert got == want, "\n".join(f"{f.severity.label} {f.object}: {f.message}" for f in report.findings)


def test_age_snapshot_moves_every_window_start_together(fresh_db: Any) -> None:
    """`age:` makes every statistics window N days older and changes nothing else: start and resets keep their
    distances, so a reset at the server's start still reads as one, and the counters are the same."""
    fresh_db.execute("SELECT pg_stat_statements_reset()")
    snap = collect(fresh_db.monitor_dsn)
    aged = age_snapshot(snap, 8 * 86_400.0)
    assert isinstance(snap.server, ServerInfo) and isinstance(aged.server, ServerInfo)
    assert isinstance(snap.statements_info, StatementsInfo) and isinstance(aged.statements_info, StatementsInfo)
    before, after = snap.stats_age_seconds(fresh_db.name), aged.stats_age_seconds(fresh_db.name)
    assert before is not None and after == pytest.approx(before + 8 * 86_400.0)
    if snap.statements_info.stats_reset is not None:  # 14+
        assert aged.statements_info.stats_reset is not None
        assert aged.statements_info.stats_reset - aged.server.start_time == pytest.approx(
            snap.statements_info.stats_reset - snap.server.start_time)
    assert (aged.collected_at, aged.indexes, aged.tables, aged.statements, aged.activity) == (
        snap.collected_at, snap.indexes, snap.tables, snap.statements, snap.activity)
