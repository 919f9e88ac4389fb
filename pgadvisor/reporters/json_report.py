"""JSON: the stable machine format, with `format_version` (documented in README.md)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pgadvisor.engine import Report

if TYPE_CHECKING:
    from pgadvisor.reporters import RenderOptions


def render(report: Report, opts: RenderOptions) -> str:
    """The whole report as one JSON document; findings below min_severity are left out."""
    data = report.to_dict()
    data["findings"] = [f for f in data["findings"] if _rank(f["severity"]) >= opts.min_severity]
    return json.dumps(data, indent=2) + "\n"


def _rank(label: str) -> int:
    from pgadvisor.checkapi import Severity

    return int(Severity.parse(label))
