"""Loading of the YAML check cases in tests/checks/cases (shared by test_cases.py and test_meta.py).

A case file names its `check`, an optional shared `setup`, and cases named `bad_*` (a planted problem) or
`good_*` (its healthy twin). Keys of a case:

- `setup`: SQL run (as superuser) after the shared setup; `-- step` / `-- step may-fail` split it into chunks.
- `statements`: SQL run as the application after setup, to fill pg_stat_statements.
- `sessions`: run each of `statements` in this many concurrent sessions (default 1), so a workload of many
  slow calls takes the wall time of one session's share.
- `age`: how long before collection the statistics started counting, beyond the real (minutes-old) window,
  e.g. `8d`, `36h`, `90m`, `30s`. The collected snapshot's clock fields are shifted consistently: the server's
  start time and every statistics reset (`pg_stat_database`, `pg_stat_statements_info`, the checkpointer)
  move back by that much, while the counters, `collected_at` and event times (last scan, last vacuum, activity)
  stay as collected. The result is a snapshot that could have been taken on a server whose counters grew
  over that longer window. Use it where only time is missing (statistics age, uptime, a per-day rate).
- `thresholds`: the check's thresholds for this case. Every check also has a `bad_` and a `good_` case WITHOUT
  this key (test_meta.py enforces it): a lowered threshold tests a severity boundary, never whether the check
  fires in real life.
- `expect`: the exact findings, `{object: ..., severity: ...}` or `{query: <text>, severity: ...}`.
- `min_server`, `max_server`, `role` (monitor | superuser), `needs_extension`, `needs_jit`: when and how to run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CASES_DIR = Path(__file__).parent / "cases"
CASE_KEYS = {"setup", "thresholds", "expect", "min_server", "max_server", "role", "needs_extension", "needs_jit",
             "statements", "sessions", "age"}
AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhms])\s*$")
UNIT_SECONDS = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}


def parse_age(text: str) -> float:
    """`8d`, `36h`, `90m` or `30s` as seconds."""
    m = AGE.match(str(text))
    if m is None:
        raise ValueError(f"age {text!r}: expected a number and a unit d, h, m or s (e.g. 8d)")
    return float(m.group(1)) * UNIT_SECONDS[m.group(2)]


@dataclass(frozen=True)
class Case:
    """One bad_ or good_ case of one check."""

    file: str
    check: str
    name: str
    setup: str
    thresholds: dict[str, Any]
    expect: list[dict[str, str]]
    min_server: int = 0
    max_server: int = 99
    role: str = "monitor"  # monitor (pg_monitor only) or superuser
    needs_extension: str | None = None
    needs_jit: bool = False  # skipped where the server cannot JIT (built without LLVM)
    statements: list[str] = field(default_factory=list)  # run as the app, after setup, to fill pg_stat_statements
    sessions: int = 1  # concurrent sessions running each statement
    age_seconds: float = 0.0  # statistics window added before collection (see `age` above)

    @property
    def id(self) -> str:
        """pytest id: CHECK-case."""
        return f"{self.check}-{self.name}"


def load_cases() -> list[Case]:
    """Every case of every file, validated: unknown keys are an error, not ignored."""
    out = []
    for path in sorted(CASES_DIR.glob("*.yml")):
        data = yaml.safe_load(path.read_text())
        check = data.pop("check")
        common = data.pop("setup", "") or ""
        for name, body in data.items():
            if not name.startswith(("bad_", "good_")):
                raise ValueError(f"{path.name}: case {name!r} must start with bad_ or good_")
            body = body or {}
            unknown = set(body) - CASE_KEYS
            if unknown:
                raise ValueError(f"{path.name}: {name}: unknown keys {sorted(unknown)}")
            if "expect" not in body:
                raise ValueError(f"{path.name}: {name}: 'expect' is required")
            out.append(
                Case(
                    file=path.name,
                    check=check,
                    name=name,
                    setup=common + "\n" + (body.get("setup") or ""),
                    thresholds=dict(body.get("thresholds") or {}),
                    expect=list(body["expect"] or []),
                    min_server=int(body.get("min_server", 0)),
                    max_server=int(body.get("max_server", 99)),
                    role=body.get("role", "monitor"),
                    needs_extension=body.get("needs_extension"),
                    needs_jit=bool(body.get("needs_jit", False)),
                    statements=list(body.get("statements") or []),
                    sessions=int(body.get("sessions", 1)),
                    age_seconds=parse_age(body["age"]) if "age" in body else 0.0,
                )
            )
    return out
