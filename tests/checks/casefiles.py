"""Loading of the YAML check cases in tests/checks/cases (shared by test_cases.py and test_meta.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CASES_DIR = Path(__file__).parent / "cases"
CASE_KEYS = {"setup", "thresholds", "expect", "min_server", "max_server", "role", "needs_extension", "needs_jit",
             "statements"}


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
                )
            )
    return out
