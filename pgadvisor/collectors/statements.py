"""pg_stat_statements, read with the column names of the installed extension version (not the server's)."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from pgadvisor.collectors import queries
from pgadvisor.collectors.base import Ctx, fetch
from pgadvisor.snapshot import StatementRow, StatementsInfo, Unavailable, is_own


def extension_version_num(version: str) -> int:
    """'1.10' -> 110: major * 100 + minor, so versions compare as numbers."""
    parts = [*version.split("."), "0"][:2]
    try:
        return int(parts[0]) * 100 + int(parts[1])
    except ValueError:
        return 0


def _extension(ctx: Ctx) -> dict[str, Any] | None:
    with ctx.conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT n.nspname::text AS schema, e.extversion AS version, a.default_version"
            " FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " LEFT JOIN pg_available_extensions a ON a.name = e.extname"
            " WHERE e.extname = 'pg_stat_statements'"
        )
        return cur.fetchone()


def collect_statements_info(ctx: Ctx) -> StatementsInfo | Unavailable:
    """Where the extension lives, its version, its limits and (14+) how many entries it evicted."""
    ext = _extension(ctx)
    if ext is None:
        return Unavailable(f"pg_stat_statements is not installed in database {ctx.database}")
    with ctx.conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN"
            " ('pg_stat_statements.max', 'pg_stat_statements.track', 'pg_stat_statements.track_planning')"
        )
        settings = {r["name"]: r["setting"] for r in cur.fetchall()}
        dealloc = stats_reset = None
        if extension_version_num(ext["version"]) >= 109:
            cur.execute(
                sql.SQL(
                    "SELECT dealloc, extract(epoch FROM stats_reset)::float8 AS stats_reset"
                    " FROM {}.pg_stat_statements_info"
                ).format(sql.Identifier(ext["schema"]))
            )
            info = cur.fetchone()
            if info:
                dealloc, stats_reset = info["dealloc"], info["stats_reset"]
        # Other roles' entries, without pg_read_all_stats: NULL queryid and "<insufficient privilege>" as text.
        # The statements query leaves them out (it needs both), so count them here, without reading any text.
        cur.execute(
            sql.SQL(
                "SELECT count(*) AS hidden, coalesce(sum(calls), 0)::int8 AS hidden_calls"
                " FROM {}.pg_stat_statements(false) WHERE queryid IS NULL"
            ).format(sql.Identifier(ext["schema"]))
        )
        hidden = cur.fetchone() or {"hidden": None, "hidden_calls": None}
    max_entries = settings.get("pg_stat_statements.max")
    planning = settings.get("pg_stat_statements.track_planning")
    return StatementsInfo(
        schema=ext["schema"],
        version=ext["version"],
        default_version=ext["default_version"],
        max_entries=int(max_entries) if max_entries is not None else None,
        track=settings.get("pg_stat_statements.track"),
        track_planning=None if planning is None else planning == "on",
        dealloc=dealloc,
        stats_reset=stats_reset,
        hidden=hidden["hidden"],
        hidden_calls=hidden["hidden_calls"],
    )


def collect_statements(ctx: Ctx, info: StatementsInfo) -> tuple[StatementRow, ...]:
    """Every statement pg_stat_statements keeps, with its text, except pgadvisor's own (`is_own`)."""
    text = queries.pick("statements", extension_version_num(info.version))
    query = sql.SQL(text).format(schema=sql.Identifier(info.schema)).as_string(ctx.conn)
    return tuple(row for row in fetch(ctx, StatementRow, "statements", query=query) if not is_own(row.query))
