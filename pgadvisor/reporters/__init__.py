"""Output formats: one module each, one signature `render(subject, opts) -> str`, named in a registry.

`REPORTERS` render an audit `Report`; `TOP_VIEWS` a `TopList` (`pgadvisor top`); `EXPLAIN_VIEWS` an `Explained`
plan (`pgadvisor explain`); `CHECKS_VIEWS` the check `Registry` (`pgadvisor checks`). The command line looks the
format up and never branches on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pgadvisor.checkapi import Severity
from pgadvisor.engine import Report
from pgadvisor.plans import Explained
from pgadvisor.registry import Registry
from pgadvisor.top import TopList


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """What every reporter may be asked: the lowest severity to show, colour, verbosity."""

    min_severity: Severity = Severity.INFO
    color: bool = False
    verbose: bool = False


S = TypeVar("S")
View = Callable[[S, RenderOptions], str]
"""A renderer of one kind of subject (a Report, a TopList, an Explained plan)."""

Renderer = View[Report]

from pgadvisor.reporters import (  # noqa: E402
    checks_table,
    explain_json,
    explain_text,
    json_report,
    table,
    top_json,
    top_table,
)

REPORTERS: dict[str, Renderer] = {"table": table.render, "json": json_report.render}
TOP_VIEWS: dict[str, View[TopList]] = {"table": top_table.render, "json": top_json.render}
EXPLAIN_VIEWS: dict[str, View[Explained]] = {"text": explain_text.render, "json": explain_json.render}
CHECKS_VIEWS: dict[str, View[Registry]] = {"table": checks_table.render}
