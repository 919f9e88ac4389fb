"""Plugin loading through entry points (group `pgadvisor.checks`), as an installed package would register."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pgadvisor.registry import load
from tests.cli.test_audit import PLUGIN


def install_fake_distribution(root: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    """Lay out what pip leaves behind: the modules and a .dist-info with METADATA and entry_points.txt."""
    for module, text in modules.items():
        target = root / module
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    info = root / f"{name}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_entry_point_plugins_load_and_broken_ones_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package's checks load through its entry point; a broken package is a load error naming it and its
    version, and the built-in checks are unaffected."""
    install_fake_distribution(
        tmp_path, "acme_checks",
        "[pgadvisor.checks]\nacme = acme_checks\n",
        {"acme_checks/__init__.py": "", "acme_checks/pk.py": PLUGIN},
    )
    install_fake_distribution(
        tmp_path, "broken_checks",
        "[pgadvisor.checks]\nbroken = broken_checks.nope:CHECKS\n",
        {"broken_checks/__init__.py": ""},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load()
    assert "ZZ001" in registry.checks
    assert "plugin acme (acme_checks 1.2.3)" in registry.checks["ZZ001"].origin
    assert {"IX001", "IX004"} <= set(registry.checks)
    (error,) = [e for e in registry.errors if "broken" in e.origin]
    assert error.origin == "plugin broken (broken_checks 1.2.3)"
    assert "ModuleNotFoundError" in error.message
    for mod in [m for m in sys.modules if m.startswith(("acme_checks", "broken_checks"))]:
        monkeypatch.delitem(sys.modules, mod)


def test_invalid_check_is_refused_with_reasons(tmp_path: Path) -> None:
    """A check without docstring sections, with a bad code or a code already taken is refused, not loaded."""
    bad = PLUGIN.replace("ZZ001", "IX001").replace("## Why it matters", "## Why")
    (tmp_path / "bad.py").write_text(bad)
    registry = load([tmp_path], entry_points=False)
    (error,) = registry.errors
    assert "docstring lacks sections: Why it matters" in error.message
    assert "code IX001 is already used" in error.message
    assert registry.checks["IX001"].name == "index.unused"
