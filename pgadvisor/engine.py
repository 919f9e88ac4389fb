"""The engine: selected checks x one snapshot -> a `Report`.

Each check ends as Ran (with its findings), Skipped (a snapshot part it needs is unavailable, with the reason)
or Errored (the message is kept and the audit goes on).

A check cannot take the run down. Each runs in a daemon worker thread with a time budget (`check_timeout_s`,
default 30 s). Whatever it raises there, `SystemExit`, `GeneratorExit` and `KeyboardInterrupt` included, makes it
Errored, and so does returning something that is not an iterable of `Finding`. When the budget passes, the
engine raises an exception inside the thread (`PyThreadState_SetAsyncExc`, which stops pure-Python loops), marks
the check Errored and moves on; a daemon thread never keeps the process alive.

KeyboardInterrupt: Python delivers signals to the main thread only, so a real Ctrl-C always lands in the engine
(waiting on the worker) and stops the run, while a KeyboardInterrupt caught in a worker can only have been
raised by the check's own code and is reported as that check's error.

A check that judged a partial view (other roles' statements or sessions hidden from a role without
pg_read_all_stats) gets a note on its outcome saying how much it saw and which grant would show the rest.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pgadvisor.checkapi import Finding, Severity, ident
from pgadvisor.config import Config, ConfigError, build_thresholds, check_known_names
from pgadvisor.registry import CheckClass, LoadError, Registry
from pgadvisor.snapshot import ActivityInfo, ServerInfo, Snapshot, StatementsInfo, Unavailable

REPORT_FORMAT_VERSION = 1
DEFAULT_CHECK_TIMEOUT_S = 30.0
_STOP_GRACE_S = 1.0  # how long a check stopped at its budget gets to unwind


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
    note: str | None = None  # ran on a partial view: how much it saw, and the grant that shows the rest
    collection_failed: bool = False  # skipped because collecting a part it needs failed (not merely absent)


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
            failed = sum(1 for o in self.outcomes if o.collection_failed)
            parts.append(f"{st['skipped']} skipped" + (f" ({failed} by failed collection)" if failed else ""))
        if st.get("errored"):
            parts.append(f"{st['errored']} errored")
        if self.suppressed:
            parts.append(f"{self.suppressed} suppressed")
        return ", ".join(parts)

    def incomplete(self) -> str | None:
        """Why the run saw too little to pass: more than half of the checks were skipped because collection
        failed (timeouts, errors, permissions refused to a role without pg_monitor); None otherwise.

        Parts that are merely absent (an extension not installed, not a standby) do not count.
        """
        failed = sum(1 for o in self.outcomes if o.collection_failed)
        if failed and 2 * failed > len(self.outcomes):
            return (f"{failed} of {len(self.outcomes)} checks could not run because collection failed "
                    "(see their reasons): this run does not pass")
        return None

    def problem(self) -> str | None:
        """Why this run exits 3 although it produced a report: a check failed to load or errored, an explicitly
        selected check could not run, or failed collection skipped more than half of the checks."""
        if self.load_errors:
            return f"{len(self.load_errors)} check module(s) failed to load"
        errored = [o.code for o in self.outcomes if o.status == "errored"]
        if errored:
            return f"check(s) errored: {', '.join(errored)}"
        skipped = [o.code for o in self.outcomes if o.status == "skipped" and o.code in self.explicitly_selected]
        if skipped:
            return f"selected check(s) could not run: {', '.join(skipped)}"
        return self.incomplete()

    def exit_code(self, fail_on: Severity) -> int:
        """3 when `problem()` says so; 1 for findings at or above fail_on; else 0."""
        if self.problem() is not None:
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
                 "seconds": o.seconds, "note": o.note, "collection_failed": o.collection_failed}
                for o in self.outcomes
            ],
            "load_errors": [{"origin": e.origin, "message": e.message} for e in self.load_errors],
            "notes": list(self.notes),
            "incomplete": self.incomplete(),
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
    check_timeout_s: float = DEFAULT_CHECK_TIMEOUT_S


def plan(
    registry: Registry, config: Config, only: Sequence[str] = (), *, check_timeout_s: float | None = None
) -> Plan:
    """Validate config against the registry and build thresholds; ConfigError on any mistake.

    The time budget of each check is `check_timeout_s` (the CLI's --check-timeout), else the config's, else 30 s.
    """
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
    budget = check_timeout_s or config.check_timeout_s or DEFAULT_CHECK_TIMEOUT_S
    return Plan(tuple(built), config, tuple(registry.errors), selected, budget)


def run(snapshot: Snapshot, the_plan: Plan, *, today: dt.date | None = None) -> Report:
    """Run every planned check on the snapshot."""
    findings: list[Finding] = []
    outcomes: list[Outcome] = []
    suppressed = 0
    notes = list(snapshot.notes)
    today = today or dt.date.today()
    config = the_plan.config
    partial = _partial_views(snapshot)
    for cls, thresholds in the_plan.checks:
        missing = [(p, snapshot.part(p)) for p in cls.requires if isinstance(snapshot.part(p), Unavailable)]
        if missing:
            reason = "; ".join(f"{p}: {u.reason}" for p, u in missing)
            failed = any(u.failed for _, u in missing)
            outcomes.append(Outcome(cls.code, cls.name, cls.title(), "skipped", reason, 0, 0.0,
                                    collection_failed=failed))
            continue
        started = time.perf_counter()
        produced, error = _run_guarded(cls, snapshot, thresholds, the_plan.check_timeout_s)
        if error is not None:
            outcomes.append(
                Outcome(cls.code, cls.name, cls.title(), "errored", error, 0, round(time.perf_counter() - started, 6))
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
        note = "; ".join(partial[p] for p in cls.requires if p in partial) or None
        outcomes.append(
            Outcome(cls.code, cls.name, cls.title(), "ran", None, kept, round(time.perf_counter() - started, 6),
                    note=note)
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


def _partial_views(snapshot: Snapshot) -> dict[str, str]:
    """Part name -> what a check requiring it could not see, and the grant that would show it."""
    role = ident(snapshot.server.current_user) if isinstance(snapshot.server, ServerInfo) else "<role>"
    grant = f"GRANT pg_read_all_stats TO {role}"
    out: dict[str, str] = {}
    info, statements = snapshot.statements_info, snapshot.statements
    if isinstance(info, StatementsInfo) and info.hidden and isinstance(statements, tuple):
        seen = len(statements)
        calls = f", {info.hidden_calls} calls" if info.hidden_calls is not None else ""
        out["statements"] = (f"judged {seen} of {seen + info.hidden} statements; {info.hidden} hidden "
                             f"(other roles'{calls}): {grant}")
    activity = snapshot.activity_info
    if isinstance(activity, ActivityInfo) and activity.hidden:
        out["activity"] = (f"judged {activity.backends - activity.hidden} of {activity.backends} sessions; "
                           f"{activity.hidden} hidden (other roles'): {grant}")
    return out


class _BudgetExceeded(BaseException):
    """Raised inside a check's worker thread when its time budget has passed."""


class _NotFindings(Exception):
    """A check returned or yielded something that is not a Finding."""


@dataclass
class _Result:
    """What a worker thread hands back; `lock` orders `finished` against the engine's stop request."""

    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def _run_guarded(
    cls: CheckClass, snapshot: Snapshot, thresholds: Any, budget_s: float
) -> tuple[list[Finding], str | None]:
    """Run one check in a daemon thread within its budget: (findings, None) or ([], why it errored)."""
    result = _Result()

    def work() -> None:
        try:
            findings: list[Finding] = []
            error: str | None = None
            try:
                findings = _findings_of(cls().run(snapshot, thresholds))
            except _BudgetExceeded:
                return
            except _NotFindings as exc:
                error = str(exc)
            except BaseException as exc:  # SystemExit, GeneratorExit, its own KeyboardInterrupt: all its errors
                error = f"{type(exc).__name__}: {_text(exc, str)}".removesuffix(": ")
            with result.lock:
                result.findings, result.error, result.finished = findings, error, True
        except BaseException:  # only _BudgetExceeded, arriving as the check finished: it is late anyway
            pass

    worker = threading.Thread(target=work, name=f"pgadvisor-check-{cls.code}", daemon=True)
    worker.start()
    try:
        worker.join(budget_s)
    finally:  # the budget passed, or a real Ctrl-C interrupted the join (and then propagates)
        late, ended = _stop(worker, result)
    if late:
        why = f"exceeded the {budget_s:g} s budget (check_timeout_s, --check-timeout)"
        if not ended:
            why += "; it did not stop when asked and runs on in the background until pgadvisor exits"
        return [], why
    if result.error is not None:
        return [], result.error
    return result.findings, None


def _stop(worker: threading.Thread, result: _Result) -> tuple[bool, bool]:
    """Stop a check still running: (it was still running, it has ended now).

    `_BudgetExceeded` is raised in its thread and delivered when the thread next runs Python bytecode: a loop in
    pure Python stops within the grace period, a blocking C call (a sleep, a huge regex) only when it returns.
    The daemon thread never keeps the process from exiting.
    """
    with result.lock:
        if result.finished or worker.ident is None or not worker.is_alive():
            return False, True
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), ctypes.py_object(_BudgetExceeded))
    worker.join(_STOP_GRACE_S)
    return True, not worker.is_alive()


def _findings_of(produced: Any) -> list[Finding]:
    """Consume what `run` returned; _NotFindings when it is not an iterable of Finding."""
    try:
        items = iter(produced)
    except TypeError:
        raise _NotFindings(f"run() returned {type(produced).__name__}, not an iterable of Finding") from None
    out: list[Finding] = []
    for item in items:
        if not isinstance(item, Finding):
            raise _NotFindings(f"run() yielded {type(item).__name__} {_text(item, repr):.60}, not a Finding")
        out.append(item)
    return out


def _text(obj: object, how: Callable[[object], str]) -> str:
    """str() or repr() of something a check produced, which may itself raise."""
    try:
        return how(obj)
    except Exception:
        return f"<{type(obj).__name__} that cannot be printed>"
