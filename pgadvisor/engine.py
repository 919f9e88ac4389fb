"""The engine: selected checks x one snapshot -> a `Report`.

Each check ends as Ran (with its findings), Skipped (a snapshot part it needs is unavailable, with the reason)
or Errored (it raised; the message is kept and the audit goes on).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pgadvisor.checkapi import Finding, Severity
from pgadvisor.config import Config, ConfigError, build_thresholds, check_known_names
from pgadvisor.registry import CheckClass, LoadError, Registry
from pgadvisor.snapshot import ServerInfo, Snapshot, Unavailable

REPORT_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one check went."""

    code: str
    name: str
    title: str
    status: str  # ran | skipped | errored
    reason: str | None
    findings: int
    seconds: float


@dataclass(frozen=True)
class Report:
    """The result of one audit: what was checked, what was found, and what could not be checked."""

    target: str
    collected_at: float
    server_version: str | None
    server_version_num: int | None
    databases: tuple[str, ...]
    findings: tuple[Finding, ...]
    outcomes: tuple[Outcome, ...]
    load_errors: tuple[LoadError, ...] = ()
    notes: tuple[str, ...] = ()
    suppressed: int = 0
    explicitly_selected: frozenset[str] = field(default_factory=frozenset)

    def filtered(self, min_severity: Severity) -> list[Finding]:
        """Findings at or above a severity, worst first."""
        return [f for f in self.findings if f.severity >= min_severity]

    def counts(self) -> dict[Severity, int]:
        """Number of findings per severity (all severities present, zeros included)."""
        c = Counter(f.severity for f in self.findings)
        return {s: c.get(s, 0) for s in Severity}

    def summary_line(self) -> str:
        """One line: counts per severity and checks run/skipped/errored."""
        c = self.counts()
        st = Counter(o.status for o in self.outcomes)
        parts = [f"{c[Severity.CRITICAL]} critical, {c[Severity.WARNING]} warning, {c[Severity.INFO]} info"]
        parts.append(f"{st.get('ran', 0)} checks ran")
        if st.get("skipped"):
            parts.append(f"{st['skipped']} skipped")
        if st.get("errored"):
            parts.append(f"{st['errored']} errored")
        if self.suppressed:
            parts.append(f"{self.suppressed} suppressed")
        return ", ".join(parts)

    def exit_code(self, fail_on: Severity) -> int:
        """3 if a check errored, failed to load, or an explicitly selected one could not run; 1 for findings
        at or above fail_on; else 0."""
        if self.load_errors or any(o.status == "errored" for o in self.outcomes):
            return 3
        if any(o.status == "skipped" and o.code in self.explicitly_selected for o in self.outcomes):
            return 3
        if any(f.severity >= fail_on for f in self.findings):
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape (see README: JSON output)."""
        c = self.counts()
        return {
            "format_version": REPORT_FORMAT_VERSION,
            "target": self.target,
            "collected_at": self.collected_at,
            "server_version": self.server_version,
            "server_version_num": self.server_version_num,
            "databases": list(self.databases),
            "summary": {s.label: c[s] for s in Severity} | {"suppressed": self.suppressed},
            "findings": [f.to_dict() for f in self.findings],
            "checks": [
                {"code": o.code, "name": o.name, "status": o.status, "reason": o.reason, "findings": o.findings,
                 "seconds": o.seconds}
                for o in self.outcomes
            ],
            "load_errors": [{"origin": e.origin, "message": e.message} for e in self.load_errors],
            "notes": list(self.notes),
        }


def select_checks(registry: Registry, config: Config, only: Sequence[str] = ()) -> list[CheckClass]:
    """The checks to run: `--check` patterns win; else config select (default all) minus config ignore."""
    def resolve(patterns: Iterable[str], what: str) -> list[CheckClass]:
        out: list[CheckClass] = []
        for pattern in patterns:
            found = registry.match(pattern)
            if not found:
                raise ConfigError(f"{what}: no check matches {pattern!r} (see `pgadvisor checks`)")
            out += [c for c in found if c not in out]
        return out

    if only:
        return resolve(only, "--check")
    chosen = resolve(config.select, f"{config.source}: select") if config.select else registry.sorted()
    dropped = resolve(config.ignore, f"{config.source}: ignore") if config.ignore else []
    return [c for c in chosen if c not in dropped]


@dataclass(frozen=True)
class Plan:
    """Checks with their validated thresholds, ready to run on any number of snapshots."""

    checks: tuple[tuple[CheckClass, Any], ...]
    config: Config
    load_errors: tuple[LoadError, ...]
    explicitly_selected: frozenset[str]


def plan(registry: Registry, config: Config, only: Sequence[str] = ()) -> Plan:
    """Validate config against the registry and build thresholds; ConfigError on any mistake."""
    known = {cls.name: cls.code for cls in registry.checks.values()} | {c: c for c in registry.checks}
    check_known_names(config, known)
    chosen = select_checks(registry, config, only)
    built = []
    for cls in chosen:
        raw: dict[str, Any] = {}
        for key in (cls.code, cls.name):
            raw.update(config.thresholds.get(key, {}))
        built.append((cls, build_thresholds(cls, raw, config.source or "config")))
    selected = frozenset(c.code for c in chosen) if only else frozenset()
    return Plan(tuple(built), config, tuple(registry.errors), selected)


def run(snapshot: Snapshot, the_plan: Plan, *, today: dt.date | None = None) -> Report:
    """Run every planned check on the snapshot."""
    findings: list[Finding] = []
    outcomes: list[Outcome] = []
    suppressed = 0
    notes = list(snapshot.notes)
    today = today or dt.date.today()
    config = the_plan.config
    for cls, thresholds in the_plan.checks:
        missing = [(p, snapshot.part(p)) for p in cls.requires if isinstance(snapshot.part(p), Unavailable)]
        if missing:
            reason = "; ".join(f"{p}: {u.reason}" for p, u in missing)
            outcomes.append(Outcome(cls.code, cls.name, cls.title(), "skipped", reason, 0, 0.0))
            continue
        started = time.perf_counter()
        try:
            produced = list(cls().run(snapshot, thresholds))
        except Exception as exc:  # a failing check must not stop the audit
            outcomes.append(
                Outcome(cls.code, cls.name, cls.title(), "errored", f"{type(exc).__name__}: {exc}", 0,
                        round(time.perf_counter() - started, 6))
            )
            continue
        kept = 0
        for f in produced:
            override = config.severity.get(cls.code) or config.severity.get(cls.name)
            if override is not None:
                f = replace(f, severity=override)
            rule = next((s for s in config.suppress if s.matches(cls.code, cls.name, f.object)), None)
            if rule is not None and (rule.expires is None or rule.expires >= today):
                suppressed += 1
                continue
            if rule is not None:
                notes.append(f"suppression of {cls.code} {f.object} expired on {rule.expires}: reported again")
            findings.append(f)
            kept += 1
        outcomes.append(
            Outcome(cls.code, cls.name, cls.title(), "ran", None, kept, round(time.perf_counter() - started, 6))
        )
    findings.sort(key=lambda f: (-f.severity, f.check, f.database or "", f.object))
    server = snapshot.server
    return Report(
        target=snapshot.target,
        collected_at=snapshot.collected_at,
        server_version=server.version.split(" on ")[0] if isinstance(server, ServerInfo) else None,
        server_version_num=server.version_num if isinstance(server, ServerInfo) else None,
        databases=server.databases_collected if isinstance(server, ServerInfo) else (),
        findings=tuple(findings),
        outcomes=tuple(outcomes),
        load_errors=the_plan.load_errors,
        notes=tuple(notes),
        suppressed=suppressed,
        explicitly_selected=the_plan.explicitly_selected,
    )
