"""The package as users get it: docs generated from the code, and a wheel that carries the built-in checks."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from pgadvisor.docs import render_all
from pgadvisor.registry import load

ROOT = Path(__file__).resolve().parents[1]


def test_check_docs_are_fresh() -> None:
    """docs/checks.md is what scripts/gen_check_docs.py writes from the checks today."""
    assert (ROOT / "docs" / "checks.md").read_text() == render_all(load(entry_points=False)), (
        "docs/checks.md is stale: run scripts/gen_check_docs.py"
    )


@pytest.mark.slow
def test_wheel_carries_builtin_checks(tmp_path: Path) -> None:
    """A wheel built from the repository, installed elsewhere, lists the built-in checks (no top-level
    `checks` package is installed: they live in pgadvisor/_builtin_checks)."""
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(dist), str(ROOT)], check=True, timeout=300)
    wheel = next(dist.glob("pgadvisor-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True, timeout=300)
    out = subprocess.run([str(env_dir / "bin" / "pgadvisor"), "checks"], capture_output=True, text=True,
                         cwd=tmp_path, check=True, timeout=120).stdout
    for cls in load(entry_points=False).sorted():
        assert cls.code in out
    where = subprocess.run([str(python), "-c", "import pgadvisor, os; print(os.path.dirname(pgadvisor.__file__))"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout.strip()
    assert (Path(where) / "_builtin_checks").is_dir()
    assert str(ROOT) not in where
    site = Path(where).parent
    assert not (site / "checks").exists()
