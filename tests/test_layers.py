"""The layers hold: checks are pure (no psycopg, no collectors), collectors know nothing of checks, reporters
read reports only. Checked on the import statements of every module, as import-linter contracts would."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# module prefixes each layer may NOT import
FORBIDDEN = {
    "checks": ("psycopg", "pgadvisor.collectors", "pgadvisor.connection", "pgadvisor.engine", "pgadvisor.cli",
               "pgadvisor.reporters", "pgadvisor.registry", "pgadvisor.cluster", "pgadvisor.config"),
    "pgadvisor/analysis": ("psycopg", "pgadvisor.collectors", "pgadvisor.engine", "pgadvisor.cli",
                           "pgadvisor.reporters", "pgadvisor.registry"),
    "pgadvisor/advisor": ("psycopg", "pgadvisor.collectors", "pgadvisor.engine", "pgadvisor.cli",
                          "pgadvisor.reporters", "pgadvisor.registry"),
    "pgadvisor/collectors": ("pgadvisor.checkapi", "pgadvisor.engine", "pgadvisor.registry", "pgadvisor.reporters",
                             "pgadvisor.cli", "pgadvisor.config"),
    "pgadvisor/reporters": ("psycopg", "pgadvisor.collectors", "pgadvisor.connection", "pgadvisor.cli"),
    "pgadvisor/engine.py": ("psycopg", "pgadvisor.collectors", "pgadvisor.connection", "pgadvisor.cli",
                            "pgadvisor.reporters"),
    "pgadvisor/checkapi.py": ("psycopg", "pgadvisor.collectors", "pgadvisor.engine", "pgadvisor.registry"),
    "pgadvisor/snapshot": ("psycopg", "pgadvisor.collectors", "pgadvisor.checkapi", "pgadvisor.engine"),
}


def imports(path: Path) -> set[str]:
    """Every module a file imports, absolute names."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{alias.name}" for alias in node.names}
    return out


CASES = [
    (layer, path)
    for layer in FORBIDDEN
    for path in ([ROOT / layer] if layer.endswith(".py") else sorted((ROOT / layer).rglob("*.py")))
]


@pytest.mark.parametrize(("layer", "path"), CASES, ids=[str(p.relative_to(ROOT)) for _, p in CASES])
def test_layer_imports(layer: str, path: Path) -> None:
    """No module imports from a layer above it (or from PostgreSQL, where it must stay pure)."""
    bad = sorted(m for m in imports(path) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN[layer]))
    assert not bad, f"{path.relative_to(ROOT)} ({layer}) imports {bad}"
