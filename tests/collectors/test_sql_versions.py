"""Every version variant of every source's SQL runs on every server at or above its version (where it should).

Each source is one template (`pgadvisor.collectors.queries`); a variant is the template rendered at one of its
version bounds. Only PostgreSQL 15 and 18 run here, so this is how the variants for 13, 14, 16 and 17 are
exercised: a variant for 13 must still run on 15 (columns are added, rarely removed), and the 16 and 17 variants
run on 18. Where PostgreSQL removed columns, the older variant is expected to fail from that version on, which is
why the newer branch exists.
"""

from __future__ import annotations

import itertools
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgadvisor.collectors import queries
from pgadvisor.collectors.statements import extension_version_num
from pgadvisor.connection import connect

# Every (source, version) at which a source's rendered SQL changes: the minimum and each version block's bound.
VARIANTS = [(source, version) for source in queries.sources() for version in queries.variants(source)]

# source -> server version from which its older variants no longer run (columns were removed or renamed)
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


def expected_to_run(source: str, version: int, server: int) -> bool:
    """Whether the variant should run on this server (pg_stat_statements variants are judged elsewhere)."""
    if version > server:
        return False
    newer = [v for v in queries.variants(source) if version < v <= server]
    breaks = SERVER_BREAKS.get(source)
    return not (newer and breaks is not None and server >= breaks)


def ids(variant: tuple[str, int]) -> str:
    """tables_160000."""
    return f"{variant[0]}_{variant[1]}"


# Sources that need a context of their own: a standby (tested below), or an extension's schema (`{schema}`).
GENERIC = [
    (source, version) for source, version in VARIANTS
    if source not in ("statements", "standby") and "{" not in queries.template(source)
]


def test_every_variant_differs_from_the_one_before() -> None:
    """Each version block changes the rendered text, and the blocks cover every source that has more than one."""
    for source in queries.sources():
        texts = [queries.pick(source, version) for version in queries.variants(source)]
        assert all(a != b for a, b in itertools.pairwise(texts)), source
        assert "-- if version" not in "".join(texts) and "-- end" not in "".join(texts), source
    assert len(queries.variants("statements")) == 5 and len(queries.variants("slots")) == 3


@pytest.mark.parametrize("variant", GENERIC, ids=ids)
def test_sql_variant_runs_where_it_should(variant: tuple[str, int], fresh_db: Any) -> None:
    """Run as the pg_monitor role in pgadvisor's safe session; it must succeed exactly where expected."""
    source, version = variant
    fresh_db.execute(SCHEMA)
    server = fresh_db.server.major * 10000
    if version > server + 9999:
        pytest.skip(f"{ids(variant)} is for a newer server than {fresh_db.server.major}")
    text = queries.pick(source, version)
    with connect(fresh_db.monitor_dsn) as conn:
        if expected_to_run(source, version, server):
            conn.execute(text).fetchall()
        else:
            with pytest.raises(psycopg.errors.UndefinedColumn):
                conn.execute(text)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v[0] == "statements"], ids=ids)
def test_statements_variant_runs_for_extension_versions(variant: tuple[str, int], fresh_db: Any) -> None:
    """pg_stat_statements variants are picked by the extension version: each runs where its columns exist."""
    _, version = variant
    (ext,) = fresh_db.execute("SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'")[0]
    installed = extension_version_num(ext)
    if version > installed:
        pytest.skip(f"{ids(variant)} needs pg_stat_statements {version // 100}.{version % 100}, installed {ext}")
    ok = not any(version < b <= installed for b in STATEMENT_BREAKS)
    query = sql.SQL(queries.pick("statements", version)).format(schema=sql.Identifier("public"))
    with connect(fresh_db.monitor_dsn) as conn:
        if ok:
            conn.execute(query).fetchall()
        else:
            with pytest.raises(psycopg.errors.UndefinedColumn):
                conn.execute(query)


@pytest.mark.slow
@pytest.mark.parametrize("variant", [v for v in VARIANTS if v[0] == "standby"], ids=ids)
def test_standby_variants_run_on_a_standby(variant: tuple[str, int], standby_pair: Any) -> None:
    """The replay-status queries run on a real standby (PostgreSQL 15) as the pg_monitor role."""
    with connect(standby_pair.monitor_dsn_standby) as conn:
        row = conn.execute(queries.pick(*variant)).fetchone()
        assert row is not None and row[0] is not None
