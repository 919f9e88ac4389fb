"""The package as users get it: docs generated from the code, and a wheel that carries the built-in checks."""

from __future__ import annotations

import os
import site
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
    python = isolated_env(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q", str(wheel)],
                   check=True, timeout=300, env=env)
    out = subprocess.run([str(python.parent / "pgadvisor"), "checks"], capture_output=True, text=True,
                         cwd=tmp_path, check=True, timeout=120, env=env).stdout
    for cls in load(entry_points=False).sorted():
        assert cls.code in out
    where = subprocess.run([str(python), "-c", "import pgadvisor, os; print(os.path.dirname(pgadvisor.__file__))"],
                           capture_output=True, text=True, cwd=tmp_path, check=True, env=env).stdout.strip()
    assert (Path(where) / "_builtin_checks").is_dir()
    assert str(ROOT) not in where
    site_dir = Path(where).parent
    assert not (site_dir / "checks").exists()


def isolated_env(env_dir: Path) -> Path:
    """A fresh virtual environment (its python) that sees the running interpreter's installed packages as plain
    path entries after its own: the dependencies import, but no editable install of pgadvisor does (a `.pth`
    file's paths are not scanned for further `.pth` files). Works whether the tests run in a virtual
    environment, one with system site packages, or none: `system_site_packages` would see only the base
    interpreter's packages, not those of the environment running the tests. Run it without PYTHONPATH, which
    would put a source checkout first."""
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                         capture_output=True, text=True, check=True).stdout.strip()
    outer = [p for p in dict.fromkeys([*site.getsitepackages(), site.getusersitepackages()]) if Path(p).is_dir()]
    (Path(own) / "_outer_site.pth").write_text("".join(p + "\n" for p in outer))
    return python
