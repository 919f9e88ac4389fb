"""pg_settings, with each value normalized to bytes (memory) or milliseconds (time), and no password in it.

Every setting's value (and its reset and boot values) is checked: a connection string or URI with a password
(`primary_conninfo`, an extension's DSN setting) keeps its host, port, user and the rest, and loses the password.
"""

from __future__ import annotations

from dataclasses import replace

from pgadvisor.collectors.base import Ctx, fetch
from pgadvisor.redact import scrub_setting
from pgadvisor.snapshot import SettingRow

_MEMORY = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_TIME = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}


def unit_factor(unit: str | None) -> float | None:
    """Bytes or milliseconds per unit of a pg_settings `unit` such as '8kB', 'MB' or 's'."""
    if not unit:
        return None
    digits = "".join(ch for ch in unit if ch.isdigit())
    base = unit[len(digits):]
    mult = int(digits) if digits else 1
    if base in _MEMORY:
        return float(mult * _MEMORY[base])
    if base in _TIME:
        return mult * _TIME[base]
    return None


def normalize(row: SettingRow) -> SettingRow:
    """Fill `value`: numeric settings as numbers, in bytes or ms when they have a unit; -1 and 0 kept as is."""
    if row.vartype not in ("integer", "real"):
        if row.vartype == "bool":
            return replace(row, value=1.0 if row.setting == "on" else 0.0)
        return row
    try:
        raw = float(row.setting)
    except ValueError:
        return row
    factor = unit_factor(row.unit)
    value = raw * factor if factor is not None and raw > 0 else raw
    return replace(row, value=value)




def collect_settings(ctx: Ctx) -> tuple[SettingRow, ...]:
    """All of pg_settings, passwords cut out."""
    return tuple(normalize(scrub_setting(row)) for row in fetch(ctx, SettingRow, "settings"))
