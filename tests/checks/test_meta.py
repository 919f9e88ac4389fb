"""Every registered check is complete: documented, with thresholds that have help, and with cases."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from pgadvisor.registry import load
from tests.checks.casefiles import load_cases

REGISTRY = load(entry_points=False)
CASES = load_cases()


def test_builtin_checks_load_cleanly() -> None:
    """No built-in check fails to load or validate."""
    assert REGISTRY.errors == []
    assert len(REGISTRY.checks) >= 5


# Checks whose planted problem needs more than one fresh database (a standby, a running workload): their bad_
# and good_ tests live in these modules, as functions named test_<CODE>_bad_* and test_<CODE>_good_*.
EXTERNAL_CASES = {"RP001": "tests/test_replication.py"}


@pytest.mark.parametrize("code", sorted(REGISTRY.checks))
def test_check_has_bad_and_good_cases(code: str) -> None:
    """A check without a planted problem and a healthy twin is not tested."""
    names = [c.name for c in CASES if c.check == code]
    if code in EXTERNAL_CASES:
        text = (Path(__file__).parents[2] / EXTERNAL_CASES[code]).read_text()
        names += re.findall(rf"def test_{code}_((?:bad|good)_\w+)\(", text)
    assert any(n.startswith("bad_") for n in names), f"{code} has no bad_ case"
    assert any(n.startswith("good_") for n in names), f"{code} has no good_ case"


def _external_default_tests(code: str) -> list[str]:
    """Names (bad_/good_...) of the external tests of a check that run it at its default thresholds: their body
    has no non-empty dict literal and names none of the module's threshold dicts (module-level dict constants)."""
    path = Path(__file__).parents[2] / EXTERNAL_CASES[code]
    tree = ast.parse(path.read_text())
    lowered = {t.id for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign)
               and isinstance(node.value, ast.Dict) and node.value.keys
               for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}
    out = []
    for node in tree.body:
        m = re.fullmatch(rf"test_{code}_((?:bad|good)_\w+)", getattr(node, "name", ""))
        if not isinstance(node, ast.FunctionDef) or m is None:
            continue
        inner = list(ast.walk(node))
        if any(isinstance(n, ast.Dict) and n.keys for n in inner):
            continue
        if any(isinstance(n, ast.Name) and n.id in lowered for n in inner):
            continue
        out.append(m.group(1))
    return out


@pytest.mark.parametrize("code", sorted(REGISTRY.checks))
def test_check_fires_and_stays_quiet_at_default_thresholds(code: str) -> None:
    """Lowering a threshold to make a case fire hides a check that never fires in real life: every check has a
    bad_ case and a good_ twin with no `thresholds:` key, so its defaults are seen to fire, and to judge real
    data quiet, on a real server."""
    names = [c.name for c in CASES if c.check == code and not c.thresholds]
    if code in EXTERNAL_CASES:
        names += _external_default_tests(code)
    assert any(n.startswith("bad_") for n in names), f"{code} has no bad_ case at its default thresholds"
    assert any(n.startswith("good_") for n in names), f"{code} has no good_ case at its default thresholds"


def test_cases_name_known_checks() -> None:
    """Every case file belongs to a registered check, and its thresholds exist."""
    for case in CASES:
        cls = REGISTRY.get(case.check)
        assert cls is not None, f"{case.file}: unknown check {case.check}"
        known = {k for k, _, _ in cls.threshold_fields()}
        assert set(case.thresholds) <= known, f"{case.id}: unknown thresholds {set(case.thresholds) - known}"


@pytest.mark.parametrize("code", sorted(REGISTRY.checks))
def test_check_doc_sections(code: str) -> None:
    """Docstring sections are present and not empty; the message template only uses known fields."""
    cls = REGISTRY.checks[code]
    sections = cls.doc_sections()
    for heading in ("Why it matters", "Evidence", "How to fix", "False positives", "References"):
        assert sections.get(heading), f"{code}: empty section {heading}"
    assert cls.message, f"{code} has no message template"
