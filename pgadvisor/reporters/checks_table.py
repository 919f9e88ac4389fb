"""The check list for a terminal (`pgadvisor checks`): code, name, severity, what it needs, its title."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tabulate import tabulate

from pgadvisor.registry import Registry
from pgadvisor.textsafe import safe

if TYPE_CHECKING:
    from pgadvisor.reporters import RenderOptions


def render(registry: Registry, opts: RenderOptions) -> str:
    """One line per registered check, sorted by code; plugin texts escaped by `safe()`."""
    rows = [[safe(c.code), safe(c.name), c.default_severity.label, safe(", ".join(c.requires)), safe(c.title())]
            for c in registry.sorted()]
    table: str = tabulate(rows, headers=["code", "name", "severity", "needs", "title"], tablefmt="simple")
    return table + "\n"
