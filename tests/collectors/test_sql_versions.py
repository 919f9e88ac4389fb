"""Every version-specific SQL file runs on every server at or above its minimum version (where it should).

Only PostgreSQL 15 and 18 run here, so this is how the files for 13, 14, 16 and 17 are exercised: a file
for 13 must still run on 15 (columns are added, rarely removed), and the 16 and 17 files run on 18. Where
PostgreSQL removed columns, the older file is expected to fail from that version on, which is why the newer
file exists.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgadvisor.collectors.statements import extension_version_num
from pgadvisor.connection import connect

SQL_DIR = resources.files("pgadvisor.collectors").joinpath("sql")
FILES = sorted(p.name for p in SQL_DIR.iterdir() if p.name.endswith(".sql"))
NAME = re.compile(r"^(?P<family>[a-z_]+)_(?P<version>[0-9]+)\.sql$")

# family -> server version from which its older files no longer run (columns were removed or renamed)
SERVER_BREAKS = {"checkpointer": 170000}  # pg_stat_bgwriter lost the checkpoint columns in 17
# pg_stat_statements: 1.8 renamed total_time -> total_exec_time; 1.11 renamed blk_read_time
STATEMENT_BREAKS = (108, 111)

SCHEMA = """
CREATE TABLE p (id bigint PRIMARY KEY, email text);
CREATE TABLE c (id serial PRIMARY KEY, p_id bigint REFERENCES p, v int GENERATED ALWAYS AS (id * 2) STORED);
CREATE INDEX c_expr ON c ((v + 1)) WHERE p_id IS NOT NULL;
CREATE INDEX c_inc ON c (p_id) INCLUDE (v);
CREATE SEQUENCE s AS int;
SELECT nextval('s');
"""


def family_version(name: str) -> tuple[str, int]:
    """('tables', 160000) from tables_160000.sql."""
    match = NAME.match(name)
    assert match, name
    return match["family"], int(match["version"])


def expected_to_run(family: str, version: int, server: int) -> bool:
    """Whether the file should run on this server (pg_stat_statements files are judged elsewhere)."""
    if version > server:
        return False
    newer = [v for f, v in map(family_version, FILES) if f == family and version < v <= server]
    breaks = SERVER_BREAKS.get(family)
    return not (newer and breaks is not None and server >= breaks)


# Files that need a context of their own: a standby (tested below), or an extension's schema (`{schema}`).
GENERIC = [
    f for f in FILES if not f.startswith(("statements_", "standby_")) and "{" not in SQL_DIR.joinpath(f).read_text()
]


@pytest.mark.parametrize("name", GENERIC)
def test_sql_file_runs_where_it_should(name: str, fresh_db: Any) -> None:
    """Run as the pg_monitor role in pgadvisor's safe session; it must succeed exactly where expected."""
    family, version = family_version(name)
    fresh_db.execute(SCHEMA)
    server = fresh_db.server.major * 10000
    if version > server + 9999:
        pytest.skip(f"{name} is for a newer server than {fresh_db.server.major}")
    text = SQL_DIR.joinpath(name).read_text()
    with connect(fresh_db.monitor_dsn) as conn:
        if expected_to_run(family, version, server):
            conn.execute(text).fetchall()
        else:
            with pytest.raises(psycopg.errors.UndefinedColumn):
                conn.execute(text)


@pytest.mark.parametrize("name", [f for f in FILES if f.startswith("statements_")])
def test_statements_file_runs_for_extension_versions(name: str, fresh_db: Any) -> None:
    """pg_stat_statements files are picked by the extension version: each runs where its columns exist."""
    _, version = family_version(name)
    (ext,) = fresh_db.execute("SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'")[0]
    installed = extension_version_num(ext)
    if version > installed:
        pytest.skip(f"{name} needs pg_stat_statements {version // 100}.{version % 100}, installed {ext}")
    ok = not any(version < b <= installed for b in STATEMENT_BREAKS)
    query = sql.SQL(SQL_DIR.joinpath(name).read_text()).format(schema=sql.Identifier("public"))
    with connect(fresh_db.monitor_dsn) as conn:
        if ok:
            conn.execute(query).fetchall()
        else:
            with pytest.raises(psycopg.errors.UndefinedColumn):
                conn.execute(query)


@pytest.mark.slow
@pytest.mark.parametrize("name", [f for f in FILES if f.startswith("standby_")])
def test_standby_files_run_on_a_standby(name: str, standby_pair: Any) -> None:
    """The replay-status queries run on a real standby (PostgreSQL 15) as the pg_monitor role."""
    with connect(standby_pair.monitor_dsn_standby) as conn:
        row = conn.execute(SQL_DIR.joinpath(name).read_text()).fetchone()
        assert row is not None and row[0] is not None
