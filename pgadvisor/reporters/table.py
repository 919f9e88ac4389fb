"""The terminal report: findings grouped by severity, each with its evidence and fix; then what was skipped."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from tabulate import tabulate

from pgadvisor.checkapi import Confidence, Finding, Severity
from pgadvisor.engine import Report
from pgadvisor.textsafe import safe, safe_block

if TYPE_CHECKING:
    from pgadvisor.reporters import RenderOptions

_COLORS = {Severity.CRITICAL: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_WIDTH = 100


def render(report: Report, opts: RenderOptions) -> str:
    """Human-readable report for a terminal (plain text when colour is off, e.g. in CI logs).

    Every text that comes from the server or a plugin goes through `safe()`/`safe_block()` before it is styled,
    so an escape sequence in an object name is shown, not run by the terminal.
    """

    def style(text: str, **kw: object) -> str:
        return click.style(text, **kw) if opts.color else text  # type: ignore[arg-type]

    when = _when(report.collected_at)
    out = [
        style(f"pgadvisor audit of {safe(report.target)}", bold=True),
        f"{safe(report.server_version or 'server version unknown')} · collected {when}"
        + (f" · databases: {safe(', '.join(report.databases))}" if report.databases else ""),
        "",
    ]
    shown = report.filtered(opts.min_severity)
    for sev in (Severity.CRITICAL, Severity.WARNING, Severity.INFO):
        group = [f for f in shown if f.severity == sev]
        if not group:
            continue
        out.append(style(f"{sev.label.upper()} ({len(group)})", fg=_COLORS[sev], bold=True))
        out.append("")
        for f in group:
            out += _finding_block(f, style)
    if not shown:
        out += ["No findings" + (f" at or above {opts.min_severity.label}." if opts.min_severity > 1 else "."), ""]
    hidden = len(report.findings) - len(shown)
    if hidden:
        out += [f"({hidden} finding(s) below {opts.min_severity.label} not shown)", ""]
    problems = [o for o in report.outcomes if o.status != "ran"]
    if problems:
        out.append(style("Checks not run", bold=True))
        rows = [[safe(o.code), safe(o.name), "collection failed" if o.collection_failed else o.status,
                 _wrap(safe(o.reason or ""), 60)] for o in problems]
        out += [tabulate(rows, headers=["check", "name", "status", "reason"], tablefmt="simple"), ""]
    partial: dict[str, list[str]] = {}
    for o in report.outcomes:
        if o.note:
            partial.setdefault(o.note, []).append(o.code)
    if partial:
        out.append(style("Judged on a partial view", bold=True))
        for note, codes in partial.items():
            out.append(textwrap.fill(f"- {note} ({', '.join(codes)})", width=_WIDTH, initial_indent="  ",
                                     subsequent_indent="    ", break_on_hyphens=False))
        out.append("")
    for err in report.load_errors:
        out.append(style(f"load error: {safe(err.origin)}: {safe(err.message)}", fg="red"))
    if report.load_errors:
        out.append("")
    if report.notes and (opts.verbose or len(report.notes) <= 5):
        out.append(style("Notes", bold=True))
        out += [f"  - {safe(n)}" for n in report.notes] + [""]
    elif report.notes:
        out += [f"{len(report.notes)} collection notes (use --verbose to list them)", ""]
    incomplete = report.incomplete()
    if incomplete:
        out.append(style(incomplete, fg="red", bold=True))
    out.append(style(report.summary_line(), bold=True))
    return "\n".join(out) + "\n"


def _finding_block(f: Finding, st: Callable[..., str]) -> list[str]:
    where = f" [{safe(f.database)}]" if f.database else ""
    conf = "" if f.confidence is Confidence.HIGH else f" (confidence: {f.confidence.value})"
    lines = [
        "  " + st(f"{safe(f.check)} {safe(f.name)}", bold=True) + f"  {safe(f.object)}{where}{conf}",
        *_indent(_wrap(safe(f.message), _WIDTH - 4), 4),
    ]
    if f.evidence:
        ev = ", ".join(f"{safe(k)}={safe(_fmt(v))}" for k, v in f.evidence.items())
        lines += _indent(_wrap("evidence: " + ev, _WIDTH - 4), 4)
    if f.recommendation:
        lines += _indent(_wrap("fix: " + safe(f.recommendation), _WIDTH - 4), 4)
    if f.fix_sql:
        lines += _indent(safe_block(f.fix_sql), 6)
    lines.append("")
    return lines


def _when(epoch: float) -> str:
    """The collection time in UTC; a snapshot file can hold any number, so an impossible one is said so."""
    try:
        return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, OverflowError, OSError):
        return f"at an impossible time ({epoch!r})"


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.0f}" if v.is_integer() and abs(v) < 1e15 else f"{v:.3g}"
    return str(v)


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.fill(p, width=width, break_on_hyphens=False) for p in text.split("\n"))


def _indent(text: str, n: int) -> list[str]:
    return [" " * n + line for line in text.splitlines()]
