"""README's plugin example is real: loaded from the page with `--checks-dir`, it reports the statement it is
about on a real workload, and stays silent on the healthy twin."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pgadvisor.cli import run_cli
from pgadvisor.snapshot import Snapshot
from tests.checks.test_cases import statement_object

ROOT = Path(__file__).resolve().parents[2]
BAD = "SELECT id, status FROM orders WHERE status = 's1' LIMIT 5"
GOOD = "SELECT id, status FROM orders WHERE status = 's2' ORDER BY id LIMIT 5"


def readme_plugin() -> str:
    """The statement check of README's "Your own checks" section, as it stands there."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Your own checks"):text.index("## Development")]
    blocks: list[str] = [b for b in re.findall(r"```python\n(.*?)```", section, re.DOTALL) if "StatementCheck" in b]
    assert len(blocks) == 1, "README's Your own checks section should hold one StatementCheck example"
    return blocks[0]


def test_readme_plugin_reports_the_planted_statement(fresh_db: Any, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """LIMIT without ORDER BY, called 12 times: one finding for it; its ORDER BY twin: none."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "zz101_limit_without_order.py").write_text(readme_plugin())
    fresh_db.execute("""
        CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL);
        INSERT INTO orders SELECT g, 's' || (g % 10) FROM generate_series(1, 1000) g;
        ANALYZE orders;
    """)
    for _ in range(12):
        fresh_db.execute(f"{BAD};\n{GOOD};\nSELECT pg_stat_force_next_flush();")
    snap_file = tmp_path / "snap.json"
    assert run_cli(["collect", fresh_db.monitor_dsn, "-o", str(snap_file)]) == 0
    capsys.readouterr()
    code = run_cli(["audit", "--snapshot", str(snap_file), "--checks-dir", str(plugins), "--check", "ZZ101",
                    "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(out)
    mine = [f for f in report["findings"] if f["database"] == fresh_db.name]
    snap = Snapshot.from_json(snap_file.read_text())
    assert [(f["check"], f["object"], f["severity"]) for f in mine] == [
        ("ZZ101", statement_object(snap, fresh_db.name, BAD), "info")], mine
    assert mine[0]["evidence"]["table"] == "public.orders"
    assert mine[0]["evidence"]["calls"] >= 12
