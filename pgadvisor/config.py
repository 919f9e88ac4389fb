"""Configuration: `pgadvisor.toml`, or `[tool.pgadvisor]` in `pyproject.toml`, validated strictly.

Found by walking up from the working directory, or given with `--config FILE`. Flags beat the file. Every
mistake (unknown key, wrong type, a threshold a check does not have) is a ConfigError naming the key and the
file: exit code 2, never a silently ignored setting.

```toml
fail_on = "warning"              # info | warning | critical
select = ["index.*", "RP001"]    # codes, names or globs; default: all
ignore = ["IX002"]
statement_timeout_ms = 10000
lock_timeout_ms = 500
connect_timeout_s = 10
check_timeout_s = 30             # each check's time budget; one that runs longer is reported as errored

[severity]                       # override a check's severity
IX001 = "info"

[checks.IX004]                   # thresholds, by code or name
min_child_rows = 50000

[[suppress]]                     # accept one finding, with a reason; optional expiry date
check = "IX001"
object = "public.orders_legacy_*"
reason = "kept for the yearly report"
expires = 2027-01-31
```
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgadvisor.checkapi import Severity
from pgadvisor.retired import RETIRED

MAX_TIMEOUT_MS = 2_147_483_647
"""The largest statement_timeout / lock_timeout PostgreSQL accepts (INT_MAX milliseconds, about 24.8 days)."""


class ConfigError(Exception):
    """A configuration problem (exit code 2). The message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Suppression:
    """An accepted finding: check code or name, object glob, why, and until when."""

    check: str
    object: str
    reason: str
    expires: dt.date | None = None

    def matches(self, code: str, name: str, obj: str) -> bool:
        """True when this entry covers the finding."""
        return self.check in (code, name) and fnmatch.fnmatchcase(obj, self.object)


@dataclass(frozen=True)
class Config:
    """Validated settings; threshold values are still raw until a check's thresholds class takes them."""

    source: str | None = None
    fail_on: Severity | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, Severity] = field(default_factory=dict)
    thresholds: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    suppress: tuple[Suppression, ...] = ()
    statement_timeout_ms: int | None = None
    lock_timeout_ms: int | None = None
    connect_timeout_s: int | None = None
    check_timeout_s: float | None = None


_TOP_KEYS = {"fail_on", "select", "ignore", "severity", "checks", "suppress", "statement_timeout_ms", "lock_timeout_ms",
             "connect_timeout_s", "check_timeout_s"}


def find_config(start: Path | None = None) -> Path | None:
    """The nearest pgadvisor.toml, or pyproject.toml with a [tool.pgadvisor] table, from start upwards."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pgadvisor.toml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text())
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
                continue
            if isinstance(data.get("tool"), dict) and "pgadvisor" in data["tool"]:
                return pyproject
    return None


def load_config(path: Path | None, *, search: bool = True) -> Config:
    """Read and validate a config file (or the one found by searching); an empty Config when there is none."""
    if path is None and search:
        path = find_config()
    if path is None:
        return Config()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("pgadvisor", {})
        where = f"{path} [tool.pgadvisor]"
    else:
        where = str(path)
    return parse_config(data, where)


def parse_config(data: Mapping[str, Any], where: str) -> Config:
    """Validate the structure (not yet the thresholds, which need the registry)."""
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    fail_on = None
    if "fail_on" in data:
        fail_on = _severity(data["fail_on"], f"{where}: fail_on")
    severity = {}
    for key, value in _table(data.get("severity", {}), f"{where}: [severity]").items():
        severity[key] = _severity(value, f"{where}: severity.{key}")
    thresholds = {}
    for key, value in _table(data.get("checks", {}), f"{where}: [checks]").items():
        thresholds[key] = dict(_table(value, f"{where}: [checks.{key}]"))
    suppress = []
    entries = data.get("suppress", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: suppress must be an array of tables ([[suppress]])")
    for i, entry in enumerate(entries):
        ctx = f"{where}: suppress[{i}]"
        entry = _table(entry, ctx)
        extra = set(entry) - {"check", "object", "reason", "expires"}
        if extra:
            raise ConfigError(f"{ctx}: unknown key {sorted(extra)[0]!r}")
        for required in ("check", "object", "reason"):
            if not isinstance(entry.get(required), str) or not entry[required].strip():
                raise ConfigError(f"{ctx}: {required!r} is required and must be a non-empty string")
        expires = entry.get("expires")
        if expires is not None and not isinstance(expires, dt.date):
            raise ConfigError(f"{ctx}: expires must be a TOML date such as 2027-01-31")
        suppress.append(Suppression(entry["check"], entry["object"], entry["reason"], expires))
    return Config(
        source=where,
        fail_on=fail_on,
        select=_strings(data.get("select", []), f"{where}: select"),
        ignore=_strings(data.get("ignore", []), f"{where}: ignore"),
        severity=severity,
        thresholds=thresholds,
        suppress=tuple(suppress),
        statement_timeout_ms=_positive_int(data.get("statement_timeout_ms"), f"{where}: statement_timeout_ms"),
        lock_timeout_ms=_positive_int(data.get("lock_timeout_ms"), f"{where}: lock_timeout_ms"),
        connect_timeout_s=_positive_int(data.get("connect_timeout_s"), f"{where}: connect_timeout_s", unit="seconds"),
        check_timeout_s=_positive_number(data.get("check_timeout_s"), f"{where}: check_timeout_s"),
    )


def build_thresholds(cls: Any, raw: Mapping[str, Any], where: str) -> Any:
    """Instantiate a check's thresholds dataclass from raw values, type-checked against its fields."""
    hints = typing.get_type_hints(cls.thresholds)
    known = {f.name for f in dataclasses.fields(cls.thresholds)}
    values = {}
    for key, value in raw.items():
        if key not in known:
            hint = f" (known: {', '.join(sorted(known))})" if known else " (this check has no thresholds)"
            raise ConfigError(f"{where}: {cls.code} has no threshold {key!r}{hint}")
        want = hints[key]
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not _is_instance(value, want):
            raise ConfigError(f"{where}: {cls.code}.{key} must be {_type_name(want)}, got {value!r}")
        values[key] = value
    try:
        return cls.thresholds(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: thresholds of {cls.code}: {exc}") from None


def check_known_names(config: Config, known: Mapping[str, str]) -> None:
    """Reject config that names a check that does not exist (known: name -> code) or a retired code."""
    where = config.source or "config"
    names = [*config.severity, *config.thresholds, *(s.check for s in config.suppress)]
    for name in names:
        if name.upper() in RETIRED:
            raise ConfigError(f"{where}: check {name} is retired: {RETIRED[name.upper()]}")
        if name.upper() not in known.values() and name not in known:
            raise ConfigError(f"{where}: unknown check {name!r} (see `pgadvisor checks`)")


def _is_instance(value: Any, want: Any) -> bool:
    if want is float:
        return isinstance(value, float)
    if want is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if want in (bool, str):
        return isinstance(value, want)
    origin = typing.get_origin(want)
    if origin is tuple:
        (item,) = (a for a in typing.get_args(want) if a is not Ellipsis)
        return isinstance(value, list | tuple) and all(_is_instance(v, item) for v in value)
    if origin in (typing.Union, __import__("types").UnionType):
        return any(_is_instance(value, a) for a in typing.get_args(want))
    if want is type(None):
        return value is None
    return True


def _type_name(want: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(want, str(want))


def _severity(value: Any, ctx: str) -> Severity:
    if not isinstance(value, str):
        raise ConfigError(f"{ctx}: expected info, warning or critical, got {value!r}")
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise ConfigError(f"{ctx}: {exc}") from None


def _table(value: Any, ctx: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{ctx}: expected a table")
    return value


def _strings(value: Any, ctx: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{ctx}: expected a list of strings")
    return tuple(value)


def _positive_int(value: Any, ctx: str, *, unit: str = "milliseconds") -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_TIMEOUT_MS:
        raise ConfigError(f"{ctx}: expected {unit} from 1 to {MAX_TIMEOUT_MS}, got {value!r}")
    return value


def _positive_number(value: Any, ctx: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < float("inf"):
        raise ConfigError(f"{ctx}: expected a positive number of seconds, got {value!r}")
    return float(value)
