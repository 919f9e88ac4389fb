"""What a server or a plugin says is shown on the terminal, never obeyed: escapes in names, texts and titles."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from pgadvisor.cli import run_cli
from pgadvisor.textsafe import safe, safe_block
from tests.cli.test_audit import PLUGIN

OSC52 = "\x1b]52;c;aGVsbG8=\x07"  # sets the clipboard of terminals that allow it
RLO = "\u202e"  # right-to-left override: displays what follows backwards
EVIL = OSC52 + RLO
SHOWN = "\\x1b]52;c;aGVsbG8=\\x07\\u202e"  # how safe() shows EVIL
SGR = re.compile(r"\x1b\[[0-9;]*m")  # the colour codes pgadvisor writes itself with --color
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def assert_terminal_safe(text: str) -> None:
    """No control, bidi or separator character besides newlines and pgadvisor's own colour codes."""
    raw = RAW.findall(SGR.sub("", text))
    assert not raw, raw


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (EVIL, SHOWN),
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
        ("\x00\x7f\x85\x9b", "\\x00\\x7f\\x85\\x9b"),
        ("\u2066x\u2069\u200f\u2028", "\\u2066x\\u2069\\u200f\\u2028"),
        ("\udc80lone", "\\udc80lone"),
        ("plain ä → ✓ name", "plain ä → ✓ name"),
    ],
)
def test_safe_shows_every_control(text: str, shown: str) -> None:
    """safe() turns controls, bidi characters and lone surrogates into visible escapes and keeps the rest."""
    assert safe(text) == shown
    assert_terminal_safe(safe(text))
    safe(text).encode("utf-8")  # printable on a UTF-8 terminal, even with a lone surrogate


def test_safe_block_keeps_newlines_only() -> None:
    """Multi-line SQL keeps its lines and indentation; a lone CR or an escape sequence does not survive."""
    text = f"CREATE INDEX ON t (a)\n\tWHERE b\r\n = 1;\rDROP {EVIL}"
    assert safe_block(text) == f"CREATE INDEX ON t (a)\n    WHERE b\n = 1;\\rDROP {SHOWN}"


def evil_database(db: Any) -> None:
    """A table, two duplicate indexes (IX003 reports the second) and a workload statement with escapes."""
    table, ix1, ix2 = f"t{EVIL}x", f"ix{EVIL}1", f"ix{EVIL}2"
    db.execute(sql.SQL(
        "CREATE TABLE {t} (id int PRIMARY KEY, a int); INSERT INTO {t} SELECT g, g % 10 FROM generate_series(1, 500) g;"
        " CREATE INDEX {i1} ON {t} (a); CREATE INDEX {i2} ON {t} (a); ANALYZE {t};"
    ).format(t=sql.Identifier(table), i1=sql.Identifier(ix1), i2=sql.Identifier(ix2)))
    db.execute(sql.SQL("SELECT /* {c} */ count(*) FROM {t} WHERE a = 3").format(
        t=sql.Identifier(table), c=sql.SQL(EVIL)))


def test_audit_top_and_collect_escape_server_names(fresh_db: Any, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """An index named with an OSC 52 sequence and a bidi override, audited as pg_monitor: the table report (plain
    and coloured) shows it escaped, JSON carries it exactly (json.dumps escapes it), `top` and `collect` too."""
    evil_database(fresh_db)
    run_cli(["audit", fresh_db.monitor_dsn, "--check", "IX003"])
    out = capsys.readouterr().out
    assert_terminal_safe(out)
    assert f"public.ix{SHOWN}" in out
    assert f'INDEX CONCURRENTLY public."ix{SHOWN}' in out  # the fix SQL, escaped

    report = tmp_path / "report.txt"  # click.echo drops colour codes when stdout is not a terminal: use a file
    run_cli(["audit", fresh_db.monitor_dsn, "--check", "IX003", "--color", "-o", str(report)])
    colored = report.read_text()
    assert SGR.search(colored) and f"public.ix{SHOWN}" in colored
    assert_terminal_safe(colored)

    run_cli(["audit", fresh_db.monitor_dsn, "--check", "IX003", "--format", "json"])
    text = capsys.readouterr().out
    assert "\x1b" not in text and "\x07" not in text and RLO not in text
    assert any(f["object"].startswith(f"public.ix{EVIL}") for f in json.loads(text)["findings"])  # exact

    assert run_cli(["top", fresh_db.monitor_dsn, "-n", "500"]) == 0
    top = capsys.readouterr().out
    assert_terminal_safe(top)
    assert f"/* {SHOWN} */" in top

    snap = tmp_path / f"snap{EVIL}.json"
    assert run_cli(["collect", fresh_db.monitor_dsn, "-o", str(snap)]) == 0
    err = capsys.readouterr().err
    assert_terminal_safe(err)
    assert f"snap{SHOWN}.json" in err


def test_explain_plan_file_escapes_its_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A plan file (untrusted input) with escapes in a relation name and a filter: the text output shows them."""
    plan = [{"Plan": {"Node Type": "Seq Scan", "Relation Name": f"orders{EVIL}", "Schema": "public",
                      "Plan Rows": 500000, "Total Cost": 10.0, "Filter": f"(note = '{EVIL}'::text)"}}]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert run_cli(["explain", "--plan-file", str(path)]) == 0
    out = capsys.readouterr().out
    assert_terminal_safe(out)
    assert f"Seq Scan on public.orders{SHOWN}" in out


def test_checks_listing_and_errors_escape_plugin_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A plugin's title and a load error message are shown escaped by `checks` and `checks show`."""
    plugins = tmp_path / "p"
    plugins.mkdir()
    (plugins / "zz001.py").write_text(PLUGIN.replace('"""Table has no primary key.',
                                                     f'"""Table has no primary key {EVIL}.'))
    (plugins / "broken.py").write_text(f"raise RuntimeError({EVIL!r})\n")
    run_cli(["checks", "--checks-dir", str(plugins)])
    captured = capsys.readouterr()
    assert_terminal_safe(captured.out + captured.err)
    assert f"Table has no primary key {SHOWN}." in captured.out
    assert SHOWN in captured.err
    assert run_cli(["checks", "--checks-dir", str(plugins), "show", "ZZ001"]) == 0
    shown = capsys.readouterr().out
    assert_terminal_safe(shown)
    assert SHOWN in shown


def test_error_lines_escape_what_they_quote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An error line that quotes user input (a check id, a file name) shows it escaped, on one line."""
    assert run_cli(["checks", "show", f"XX{EVIL}\n9"]) == 2
    err = capsys.readouterr().err
    assert_terminal_safe(err)
    assert len(err.splitlines()) == 1
    assert run_cli(["audit", "--snapshot", str(tmp_path / f"missing{EVIL}.json")]) == 2
    err = capsys.readouterr().err
    assert_terminal_safe(err)
    assert f"missing{SHOWN}.json" in err


def test_progress_line_escapes_database_names(fresh_db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """On a terminal, the progress line names each database of --all-databases: escaped, with only pgadvisor's own
    line-clearing codes (`ESC [ K`) left raw."""
    name = f"d{EVIL}{fresh_db.name}"
    fresh_db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
        assert run_cli(["collect", fresh_db.monitor_dsn, "--all-databases", "-o", str(tmp_path / "s.json")]) == 0
    finally:
        fresh_db.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    err = capsys.readouterr().err
    assert f"d{SHOWN}{fresh_db.name}" in err
    assert_terminal_safe(err.replace("\r\x1b[K", ""))
