"""SQL lives in one .sql file per source, `<source>_<minversion>.sql`; `pick()` renders it for a version.

Where a column differs between versions, the file holds every variant in line blocks, each marker a whole line:

    -- if version >= 160000
           extract(epoch FROM s.last_seq_scan)::float8 AS last_seq_scan,
    -- elif version >= 140000
           ...
    -- else
           NULL::float8 AS last_seq_scan,
    -- end

The first branch whose bound the version reaches is kept, the marker lines are dropped, other lines are kept as
they are. `version` is the server's `server_version_num`, or for `statements` the pg_stat_statements extension
version (1.11 -> 111). Blocks do not nest.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

_NAME = re.compile(r"^(?P<source>[a-z_]+)_(?P<version>[0-9]+)\.sql$")
_IF = re.compile(r"^\s*-- (?P<kind>if|elif) version >= (?P<version>[0-9]+)\s*$")
_ELSE = re.compile(r"^\s*-- else\s*$")
_END = re.compile(r"^\s*-- end\s*$")


class NoQueryForVersion(LookupError):
    """No SQL file for this source supports this version."""


class BadTemplate(ValueError):
    """A .sql file's version blocks are malformed."""


@functools.cache
def _index() -> dict[str, tuple[int, str]]:
    """Source -> (minimum version, file name)."""
    out: dict[str, tuple[int, str]] = {}
    for entry in resources.files("pgadvisor.collectors").joinpath("sql").iterdir():
        match = _NAME.match(entry.name)
        if match:
            if match["source"] in out:
                raise BadTemplate(f"two files for {match['source']}: {out[match['source']][1]} and {entry.name}")
            out[match["source"]] = (int(match["version"]), entry.name)
    return out


def sources() -> list[str]:
    """Every source that has a .sql file, sorted."""
    return sorted(_index())


def minimum(source: str) -> int:
    """The lowest version the source's SQL supports."""
    if source not in _index():
        raise NoQueryForVersion(f"no query for {source}")
    return _index()[source][0]


@functools.cache
def template(source: str) -> str:
    """The source's .sql file as written, version blocks and all."""
    minimum(source)
    return resources.files("pgadvisor.collectors").joinpath("sql", _index()[source][1]).read_text()


def variants(source: str) -> tuple[int, ...]:
    """The versions from which the rendered text changes: the minimum, then each block bound, ascending."""
    bounds = {int(m["version"]) for line in template(source).splitlines() if (m := _IF.match(line))}
    return (minimum(source), *sorted(b for b in bounds if b > minimum(source)))


def render(text: str, version: int) -> str:
    """`text` with each version block reduced to its branch for `version` and the marker lines removed."""
    out: list[str] = []
    state = "outside"  # outside | taking (this branch is kept) | skipping (before the kept one) | done (after it)
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        branch = _IF.match(line)
        if branch or _ELSE.match(line):
            opening = branch is not None and branch["kind"] == "if"
            if opening != (state == "outside"):
                raise BadTemplate(f"line {number}: {line.strip()!r} {'inside' if opening else 'outside'} a block")
            reached = branch is None or version >= int(branch["version"])
            state = "done" if state in ("taking", "done") else ("taking" if reached else "skipping")
        elif _END.match(line):
            if state == "outside":
                raise BadTemplate(f"line {number}: -- end outside a block")
            state = "outside"
        elif state in ("outside", "taking"):
            out.append(line)
    if state != "outside":
        raise BadTemplate("a version block is not closed with -- end")
    return "".join(out)


@functools.cache
def pick(source: str, version: int) -> str:
    """The source's SQL rendered for `version`; NoQueryForVersion below its minimum."""
    if version < minimum(source):
        raise NoQueryForVersion(f"no query for {source} at version {version}")
    return render(template(source), version)
