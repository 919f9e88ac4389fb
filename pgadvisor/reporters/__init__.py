"""Output formats: one module each, one signature `render(report, opts) -> str`, named in REPORTERS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pgadvisor.checkapi import Severity
from pgadvisor.engine import Report


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """What every reporter may be asked: the lowest severity to show, colour, verbosity."""

    min_severity: Severity = Severity.INFO
    color: bool = False
    verbose: bool = False


Renderer = Callable[[Report, RenderOptions], str]

from pgadvisor.reporters import json_report, table  # noqa: E402

REPORTERS: dict[str, Renderer] = {"table": table.render, "json": json_report.render}
