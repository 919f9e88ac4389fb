"""Index analysis sources: column statistics (`pg_stats`), B-tree bloat and pg_qualstats predicates.

`pg_stats` shows a column only to a role that may SELECT it, so a `pg_monitor`-only role sees none: the part
becomes `Unavailable` with the grant that fixes it. Bloat is measured with `pgstattuple.pgstatindex()` when the
extension is installed (pg_monitor includes `pg_stat_scan_tables`, which may run it), within a page budget;
other B-trees get the statistical estimate from `pg_stats` when it is readable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pgadvisor.collectors import queries
from pgadvisor.collectors.base import Ctx, extension_schema, fetch
from pgadvisor.snapshot import ColumnStatsRow, IndexBloatRow, QualStatRow, Unavailable

EXACT_BUDGET_PAGES = 262_144
"""pgstatindex reads every page of the index: measure at most 2 GiB (8 kB pages) of indexes per database."""

STATS_GRANT = "GRANT pg_read_all_data TO <role> (14+), or SELECT on the tables"


def collect_column_stats(ctx: Ctx) -> tuple[ColumnStatsRow, ...] | Unavailable:
    """`pg_stats` rows this role may read; Unavailable when it hides every analyzed table."""
    rows = tuple(fetch(ctx, ColumnStatsRow, "column_stats"))
    if rows:
        return rows
    with ctx.conn.cursor() as cur:
        cur.execute(queries.pick("unreadable_tables", ctx.version))
        found = cur.fetchone()
    if found and found[0]:
        return Unavailable(
            f"pg_stats hides the columns of {found[0]} table(s) this role may not SELECT ({STATS_GRANT})"
        )
    return rows


@dataclass(frozen=True, slots=True)
class _IndexPages:
    schema: str
    table: str
    name: str
    oid: int
    relpages: int
    reltuples: float | None
    fillfactor: int
    natts: int
    has_expressions: bool
    columns: tuple[str, ...]
    locked: bool


def collect_index_bloat(
    ctx: Ctx, column_stats: tuple[ColumnStatsRow, ...] | Unavailable, block_size: int = 8192
) -> tuple[IndexBloatRow, ...] | Unavailable:
    """Exact free space of B-trees (pgstatindex) within the budget, else a pg_stats estimate."""
    indexes = fetch(ctx, _IndexPages, "index_pages")
    schema = extension_schema(ctx.conn, "pgstattuple")
    stats = {} if isinstance(column_stats, Unavailable) else {
        (r.schema, r.table, r.column): r for r in column_stats
    }
    out: list[IndexBloatRow] = []
    budget = EXACT_BUDGET_PAGES
    exact_denied: str | None = None
    unmeasured = 0
    for ix in indexes:
        row: IndexBloatRow | None = None
        if schema is not None and exact_denied is None and not ix.locked and ix.relpages <= budget:
            try:
                row = _exact(ctx, schema, ix, block_size)
                budget -= ix.relpages
            except psycopg.errors.InsufficientPrivilege as exc:
                exact_denied = str(exc).strip().splitlines()[0]
            except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled, psycopg.errors.UndefinedTable):
                row = None
        if row is None:
            row = estimate_bloat(ix.schema, ix.table, ix.name, ix.relpages, ix.reltuples, ix.fillfactor,
                                 ix.columns if not ix.has_expressions else (), stats, ctx.database, block_size)
        if row is None:
            unmeasured += 1
        else:
            out.append(row)
    if not out and unmeasured:
        why = f"pgstatindex was refused ({exact_denied})" if exact_denied else (
            "pgstattuple is not installed in this database" if schema is None else "no index fits the scan budget")
        reason = column_stats.reason if isinstance(column_stats, Unavailable) else "pg_stats has no usable rows"
        return Unavailable(
            f"{why}, and the estimate needs pg_stats: {reason}. Fix: CREATE EXTENSION pgstattuple "
            f"(pg_monitor may run pgstatindex), or {STATS_GRANT}"
        )
    return tuple(out)


def _exact(ctx: Ctx, schema: str, ix: _IndexPages, block_size: int) -> IndexBloatRow | None:
    query = sql.SQL(
        "SELECT index_size, avg_leaf_density, leaf_fragmentation, leaf_pages, empty_pages, deleted_pages"
        " FROM {}.pgstatindex({}::regclass)"
    ).format(sql.Identifier(schema), sql.Literal(ix.oid))
    with ctx.conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query)
        r: dict[str, Any] | None = cur.fetchone()
    if r is None:
        return None
    size = int(r["index_size"])
    density = float(r["avg_leaf_density"])
    if math.isnan(density):  # an empty index
        return None
    leaf_bytes = int(r["leaf_pages"]) * block_size
    # free space in leaves beyond the default fill, plus empty and deleted pages
    used = leaf_bytes * density / 100.0
    wanted_leaf = used / 0.9
    wasted = max(0, int(leaf_bytes - wanted_leaf) + (int(r["empty_pages"]) + int(r["deleted_pages"])) * block_size)
    return IndexBloatRow(
        database=ctx.database, schema=ix.schema, table=ix.table, name=ix.name, source="exact", size_bytes=size,
        wasted_bytes=min(wasted, size), avg_leaf_density=density,
        leaf_fragmentation=None if math.isnan(float(r["leaf_fragmentation"])) else float(r["leaf_fragmentation"]),
    )


def estimate_bloat(
    schema: str, table: str, name: str, relpages: int, reltuples: float | None, fillfactor: int,
    columns: tuple[str, ...], stats: dict[tuple[str, str, str], ColumnStatsRow], database: str,
    block_size: int = 8192,
) -> IndexBloatRow | None:
    """The classic B-tree estimate: expected leaf pages from row count and average key width.

    Tuple = 8-byte header + aligned key data (+ null bitmap when a key may be NULL) + 4-byte line pointer;
    a leaf page holds (block size - 24 header - 16 special) x fillfactor of them. Deduplication (13+) stores
    repeated keys once, so on repetitive keys the estimate is low (it errs on the quiet side).
    """
    if not columns or reltuples is None or relpages < 10:
        return None
    widths = []
    nullable = False
    for col in columns:
        st = stats.get((schema, table, col))
        if st is None:
            return None
        widths.append(st.avg_width * (1.0 - st.null_frac))
        nullable = nullable or st.null_frac > 0
    data = sum(widths)
    header = 8 + (8 if nullable else 0)
    tuple_bytes = header + math.ceil(data / 8.0) * 8 + 4
    per_page = (block_size - 24 - 16) * fillfactor / 100.0
    leaf = math.ceil(reltuples * tuple_bytes / per_page) if reltuples > 0 else 1
    expected = leaf + max(1, math.ceil(leaf / 100)) + 1  # internal pages and the meta page
    wasted_pages = max(0, relpages - expected)
    return IndexBloatRow(
        database=database, schema=schema, table=table, name=name, source="estimate",
        size_bytes=relpages * block_size, wasted_bytes=wasted_pages * block_size,
        avg_leaf_density=None, leaf_fragmentation=None,
    )


def collect_qual_stats(ctx: Ctx) -> tuple[QualStatRow, ...] | Unavailable:
    """Predicates pg_qualstats sampled in this database, with a constant per (column, operator)."""
    schema = extension_schema(ctx.conn, "pg_qualstats")
    if schema is None:
        return Unavailable(f"pg_qualstats is not installed in database {ctx.database}")
    text = sql.SQL(queries.pick("qual_stats", ctx.version)).format(schema=sql.Identifier(schema))
    rows = fetch(ctx, QualStatRow, "qual_stats", query=text.as_string(ctx.conn))
    return tuple(
        QualStatRow(**{**_fields(r), "constvalue": plain_constant(r.constvalue)}) for r in rows
    )


def plain_constant(text: str | None) -> str | None:
    """`'%abc%'::text` -> `%abc%`; other constants as pg_qualstats printed them."""
    if text is None:
        return None
    value = text
    if "::" in value and value.startswith("'"):
        value = value[: value.rindex("::")]
    if len(value) >= 2 and value.startswith("'") and value.endswith("'"):
        value = value[1:-1].replace("''", "'")
    return value


def _fields(row: QualStatRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}
