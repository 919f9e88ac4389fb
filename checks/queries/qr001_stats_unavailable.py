"""QR001 query.stats_unavailable: the query checks cannot run, or run on partial data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Check, Finding, Severity, fmt_duration, threshold
from pgadvisor.snapshot import ServerInfo, Snapshot, StatementsInfo, Unavailable

EXT = "pg_stat_statements"
SAME_TIME_S = 0.05
"""A stats_reset this close to the server's start (measured: 2 ms before it) is its first start, not a reset."""


@dataclass(frozen=True, slots=True)
class StatsUnavailableThresholds:
    """Keys of [checks.QR001]."""

    min_stats_age_s: float = threshold(
        3600.0, help="Report statistics reset less than this many seconds ago as too young to judge.")
    min_dealloc: int = threshold(1, help="Report evicted entries (pg_stat_statements_info.dealloc) from this many.")


class StatsUnavailable(Check[StatsUnavailableThresholds]):
    """pg_stat_statements is missing, not loaded, outdated or losing entries.

    ## Why it matters
    Every query check (QR*) and the missing-index advisor read pg_stat_statements. Without it they are skipped;
    with a stale extension version, evicted entries, no I/O timing or a counting window of a few minutes they
    judge on partial data.

    ## Evidence
    `shared_preload_libraries`, the extension in `pg_extension` (its `extversion` against
    `pg_available_extensions.default_version`), `pg_stat_statements.track`, `pg_stat_statements.max` and, on
    pss 1.9+ (PostgreSQL 14+), `pg_stat_statements_info.dealloc` (entries evicted since the last reset) and
    `stats_reset` (explicit resets only: statistics born with the server are not "reset"; the checks never
    extrapolate a young window's rates); before 1.9 the database's `stats_reset` stands in. `track_io_timing`
    from `pg_settings`.

    - not loaded, not installed in the database, or `track = none` → warning: the query checks are skipped and
      say why;
    - extension older than the server's default, entries evicted, `track_io_timing = off`, statistics reset
      less than `min_stats_age_s` ago → info.

    ## How to fix
    ```sql
    ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';  -- keep what is already listed; restart
    CREATE EXTENSION pg_stat_statements;                                -- in the database you audit
    ALTER EXTENSION pg_stat_statements UPDATE;                          -- after a server upgrade
    ALTER SYSTEM SET pg_stat_statements.max = 10000;                    -- when entries are evicted; restart
    ALTER SYSTEM SET track_io_timing = on; SELECT pg_reload_conf();     -- check the cost with pg_test_timing
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    A server whose statistics were reset on purpose a moment ago: the young-statistics finding goes away by
    itself. `track_io_timing` can be left off where `pg_test_timing` shows a slow clock.

    ## References
    https://www.postgresql.org/docs/current/pgstatstatements.html
    https://www.postgresql.org/docs/current/runtime-config-statistics.html#GUC-TRACK-IO-TIMING
    """

    code = "QR001"
    name = "query.stats_unavailable"
    default_severity = Severity.WARNING
    requires = ()
    thresholds = StatsUnavailableThresholds
    message = "{problem}"
    recommendation = "{advice}"

    def run(self, snap: Snapshot, t: StatsUnavailableThresholds) -> Iterator[Finding]:
        database = snap.server.database if isinstance(snap.server, ServerInfo) else None
        info = snap.statements_info
        preload = snap.setting("shared_preload_libraries")
        libraries = [x.strip().strip('"') for x in (preload.setting if preload else "").split(",") if x.strip()]
        loaded = EXT in libraries if preload is not None else None
        if isinstance(info, Unavailable) or isinstance(snap.statements, Unavailable):
            reason = info.reason if isinstance(info, Unavailable) else str(getattr(snap.statements, "reason", ""))
            yield self._missing(database, reason, libraries, loaded=loaded)
            return
        if loaded is False:  # installed and readable, yet not preloaded: the view errors on every read
            yield self._missing(database, "not in shared_preload_libraries", libraries, loaded=loaded)
            return
        yield from self._partial(snap, info, database, t)

    def _missing(self, database: str | None, reason: str, libraries: list[str], *, loaded: bool | None) -> Finding:
        if loaded is False:
            wanted = ", ".join([*libraries, EXT])
            problem = f"{EXT} is not in shared_preload_libraries ({', '.join(libraries) or 'empty'}): query checks "\
                "are skipped"
            advice = (f"add it to shared_preload_libraries and restart, then CREATE EXTENSION {EXT} in "
                      f"{database or 'the database'}")
            fix = f"ALTER SYSTEM SET shared_preload_libraries = '{wanted}';\n-- restart, then:\nCREATE EXTENSION {EXT};"
            return self.finding(obj=EXT, evidence={"reason": reason, "loaded": False,
                                                   "shared_preload_libraries": ", ".join(libraries)},
                                context={"problem": problem, "advice": advice}, fix_sql=fix)
        problem = f"{EXT} cannot be read ({reason}): query checks are skipped"
        advice = f"CREATE EXTENSION {EXT} in {database or 'the audited database'} (it is preloaded)"
        return self.finding(obj=EXT, database=database, evidence={"reason": reason, "loaded": loaded},
                            context={"problem": problem, "advice": advice}, fix_sql=f"CREATE EXTENSION {EXT};")

    def _partial(self, snap: Snapshot, info: StatementsInfo, database: str | None,
                 t: StatsUnavailableThresholds) -> Iterator[Finding]:
        if info.track == "none":
            yield self.finding(
                obj=f"{EXT}.track", evidence={"track": info.track},
                context={"problem": f"{EXT}.track = none: no statement is counted, query checks see nothing",
                         "advice": "set it to top (the default) or all"},
                fix_sql=f"ALTER SYSTEM SET {EXT}.track = 'top'; SELECT pg_reload_conf();")
        if info.default_version and _version(info.version) < _version(info.default_version):
            yield self.finding(
                obj=f"{EXT}.version", database=database, severity=Severity.INFO,
                evidence={"version": info.version, "default_version": info.default_version},
                context={"problem": f"{EXT} {info.version} is older than the server's {info.default_version}: "
                                    "newer columns (toplevel, I/O and JIT timings, dealloc) are missing",
                         "advice": f"update the extension in {database or 'this database'}"},
                fix_sql=f"ALTER EXTENSION {EXT} UPDATE;")
        if info.dealloc is not None and info.dealloc >= t.min_dealloc:
            size = max(10_000, 2 * (info.max_entries or 5000))
            yield self.finding(
                obj=f"{EXT}.max", severity=Severity.INFO,
                evidence={"dealloc": info.dealloc, "max_entries": info.max_entries},
                context={"problem": f"{info.dealloc} times {EXT} evicted its least-used entries (max = "
                                    f"{info.max_entries}): rare statements lose their statistics",
                         "advice": f"raise {EXT}.max (restart), or find statements that differ only in "
                                   "literals or IN-list lengths (QR016)"},
                fix_sql=f"ALTER SYSTEM SET {EXT}.max = {size};  -- takes effect after a restart")
        io = snap.setting("track_io_timing")
        if io is not None and io.setting == "off":
            yield self.finding(
                obj="track_io_timing", severity=Severity.INFO, evidence={"track_io_timing": "off"},
                context={"problem": "track_io_timing is off: the time statements spend reading blocks is unknown",
                         "advice": "turn it on (check the clock's cost with pg_test_timing first)"},
                fix_sql="ALTER SYSTEM SET track_io_timing = on; SELECT pg_reload_conf();")
        age, source = _reset_age(snap, info, database)
        if age is not None and age < t.min_stats_age_s:
            yield self.finding(
                obj=f"{EXT}.stats_reset", severity=Severity.INFO,
                evidence={"stats_age_s": round(age, 1), "source": source},
                context={"problem": f"statement statistics are only {fmt_duration(age)} old ({source}): too young to "
                                    "judge rates and shares",
                         "advice": "audit again after a representative period of traffic"})


def _reset_age(snap: Snapshot, info: StatementsInfo, database: str | None) -> tuple[float | None, str]:
    """Seconds since the statistics were explicitly reset, and from where; None when they were not reset (they
    count since the server first started: a young server is not a finding, rates are never extrapolated)."""
    start = snap.server.start_time if isinstance(snap.server, ServerInfo) else None
    if info.stats_reset is not None:
        born_with_server = start is not None and abs(info.stats_reset - start) < SAME_TIME_S
        if born_with_server:
            return None, "pg_stat_statements_info"
        return max(0.0, snap.collected_at - info.stats_reset), "pg_stat_statements_info"
    if not isinstance(snap.databases, Unavailable):
        for db in snap.databases:
            if db.name == database and db.stats_reset is not None:
                return max(0.0, snap.collected_at - db.stats_reset), "pg_stat_database"
    return None, "pg_stat_database"


def _version(text: str) -> tuple[int, ...]:
    """'1.10' -> (1, 10)."""
    out = []
    for part in text.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)
