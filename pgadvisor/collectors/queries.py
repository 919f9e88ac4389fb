"""SQL lives in .sql files named `<source>_<minversion>.sql`; `pick()` chooses the right one for a version."""

from __future__ import annotations

import functools
import re
from importlib import resources

_NAME = re.compile(r"^(?P<source>[a-z_]+)_(?P<version>[0-9]+)\.sql$")


@functools.cache
def _index() -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {}
    for entry in resources.files("pgadvisor.collectors").joinpath("sql").iterdir():
        match = _NAME.match(entry.name)
        if match:
            out.setdefault(match["source"], []).append((int(match["version"]), entry.name))
    for versions in out.values():
        versions.sort()
    return out


class NoQueryForVersion(LookupError):
    """No SQL file for this source supports this version."""


@functools.cache
def pick(source: str, version: int) -> str:
    """The text of the highest `<source>_<v>.sql` with v <= version."""
    candidates = [name for v, name in _index().get(source, []) if v <= version]
    if not candidates:
        raise NoQueryForVersion(f"no query for {source} at version {version}")
    return resources.files("pgadvisor.collectors").joinpath("sql", candidates[-1]).read_text()
