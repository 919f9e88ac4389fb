"""The layers hold: the import-linter contracts in pyproject.toml pass on this tree, and they catch a check that
reaches below the check API (so a contract that can never break would fail here too)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run `lint-imports` from `root` (the contracts put `root` on the path, so `checks` imports)."""
    return subprocess.run([sys.executable, "-c", LINT], cwd=root, capture_output=True, text=True, timeout=600,
                          check=False)


def test_contracts_hold() -> None:
    """Every contract of pyproject.toml is kept by the code as it is."""
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_check_importing_the_analysis_breaks_a_contract(tmp_path: Path) -> None:
    """A copy of the tree where one check imports pgadvisor.analysis directly fails the checks contract."""
    for part in ("pgadvisor", "checks"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    check = tmp_path / "checks" / "queries" / "qr013_order_by_random.py"
    check.write_text(check.read_text() + "\nfrom pgadvisor.analysis import analyze  # noqa: E402\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Checks import only the check API and the snapshot BROKEN" in " ".join(result.stdout.split())
    assert "checks.queries.qr013_order_by_random -> pgadvisor.analysis" in result.stdout
