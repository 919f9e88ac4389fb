"""QR009 query.offset_pagination: LIMIT + OFFSET paging, which reads and discards every earlier row."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pgadvisor.checkapi import Confidence, Severity, Statement, StatementCheck, Verdict, Workload, ident, seq, threshold
from pgadvisor.checkapi.rewrite import key_columns, keyset
from pgadvisor.checkapi.tree import (
    Match,
    PlainValue,
    Scope,
    Tree,
    ast,
    bare_column,
    block_tables,
    has_limit,
    int_const,
    label,
    matches_in,
    sort_direction,
    sort_nulls,
    sort_target,
)
from pgadvisor.snapshot import TableRow


@dataclass(frozen=True, slots=True)
class OffsetThresholds:
    """Keys of [checks.QR009]."""

    min_calls: int = threshold(1, help="Ignore statements called fewer times.")
    warning_blocks_per_row: float = threshold(
        10.0, help="Blocks read per returned row that, with a mean of at least warning_mean_ms, make a warning.")
    warning_mean_ms: float = threshold(20.0, help="Mean time (ms) needed with the blocks-per-row evidence.")
    warning_sampled_offset: int = threshold(
        1000, help="A literal OFFSET at least this large seen in pg_stat_activity makes a warning on its own.")


class OffsetPagination(StatementCheck[OffsetThresholds]):
    """Statement pages with LIMIT and OFFSET.

    ## Why it matters
    `ORDER BY ... LIMIT 20 OFFSET 10000` makes the server produce 10,020 rows in order and throw away the first
    10,000. Every page costs more than the one before, deep pages are slow, and rows shift between pages
    when data changes.

    ## Evidence
    The parse tree: a SELECT with ORDER BY, LIMIT and OFFSET (pglast). pg_stat_statements replaces the
    offset with `$n`, so its cost is judged from what remains: shared blocks touched per returned row and the
    mean time, and literal texts of the same statement (same parse-tree fingerprint) seen in
    `pg_stat_activity`, whose OFFSET value is read. The parse tree alone is info; a warning needs
    `warning_blocks_per_row` with `warning_mean_ms`, or a sampled OFFSET of `warning_sampled_offset` or more.
    Only statements reading a user table are judged.

    ## How to fix
    Keyset pagination: pass the sort keys of the last row shown instead of a row count to skip, with a unique
    tiebreaker from the primary key, and an index on those keys. The finding's fix is this very statement
    rewritten (new `$n` parameters are the last row's values) and the index it needs:

    ```sql
    SELECT id, title FROM posts WHERE (posts.created_at, posts.id) < ($3, $4)
    ORDER BY created_at DESC, posts.id DESC LIMIT $1;
    CREATE INDEX CONCURRENTLY ON public.posts (created_at DESC, id DESC);
    ```
    The first page is the same statement without the key condition.

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Shallow paging that never goes past a few pages (admin lists) is cheap: with no evidence the finding stays
    info. No rewrite is offered when it could change the result (ORDER BY a nullable column or an expression,
    joins, DISTINCT, grouping).

    ## References
    https://use-the-index-luke.com/no-offset
    https://www.postgresql.org/docs/current/queries-limit.html
    """

    code = "QR009"
    name = "query.offset_pagination"
    default_severity = Severity.INFO
    requires = ("statements", "tables", "indexes", "columns")
    thresholds = OffsetThresholds
    message = "OFFSET pagination ordered by {order_by} on {table} ({blocks_per_row} blocks per returned row): {query}"
    recommendation = "{advice}"

    def judge(self, wl: Workload, s: Statement, t: OffsetThresholds) -> Verdict | None:
        match = next((m for m in wl.matches(s, offset_pagination) if m.extra.get("has_limit")), None)
        if match is None:
            return None
        tables = wl.user_tables(s.database, seq(match.extra.get("tables")))
        if not tables:
            return None
        per_row = s.blocks_per_call / max(s.rows_per_call, 1.0)
        offsets = _sampled_offsets(wl, s)
        deepest = max(offsets, default=None)
        warn = (per_row >= t.warning_blocks_per_row and s.mean_exec_ms >= t.warning_mean_ms) or (
            deepest is not None and deepest >= t.warning_sampled_offset)
        order = [_order_text(item) for item in seq(match.extra.get("order_by"))]
        fix, advice = _keyset_fix(wl, s, tables[0], seq(match.extra.get("order_by")))
        return Verdict(
            severity=Severity.WARNING if warn else Severity.INFO,
            evidence={"table": _name(tables[0]), "order_by": ", ".join(order), "blocks_per_row": round(per_row, 1),
                      "sampled_offset_max": deepest, "sampled_texts": len(offsets), "keyset_rewrite": fix is not None},
            context={"advice": advice},
            fix_sql=fix,
            confidence=Confidence.HIGH if warn else Confidence.MEDIUM,
        )


def offset_pagination(tree: Tree) -> Iterator[Match]:
    """A SELECT with ORDER BY and OFFSET (each page reads and throws away all earlier rows)."""
    for block in tree.scope.blocks:
        stmt = block.node
        if not isinstance(stmt, ast.SelectStmt) or stmt.limitOffset is None or not stmt.sortClause:
            continue
        order = tuple(_order_item(tree.scope, stmt, s) for s in stmt.sortClause if isinstance(s, ast.SortBy))
        offset = stmt.limitOffset
        extra: dict[str, PlainValue] = {
            "order_by": order,
            "has_limit": has_limit(stmt),
            "offset_param": offset.number if isinstance(offset, ast.ParamRef) else None,
            "offset_value": int_const(offset),
            "tables": block_tables(block),
        }
        keys = ", ".join(str(item.get("column") or item.get("expression")) for item in order)
        yield tree.match(f"OFFSET pagination ordered by {keys}", extra, offset)


def _order_item(scope: Scope, stmt: ast.SelectStmt, sort: ast.SortBy) -> Mapping[str, PlainValue]:
    """One ORDER BY key as plain values: column and table when it is a plain column, else its text."""
    node = sort_target(stmt, sort.node)
    column = bare_column(scope, node)
    base = scope.origin(*column) if column is not None else None
    return {
        "column": column[1] if column else None,
        "table": label(base[0]) if base else None,
        "expression": None if column or node is None else scope.text(node),
        "direction": sort_direction(sort),
        "nulls": sort_nulls(sort),
    }


def _name(table: TableRow) -> str:
    return f"{table.schema}.{table.name}"


def _order_text(item: object) -> str:
    if not isinstance(item, Mapping):
        return "?"
    what = str(item.get("column") or item.get("expression") or "?")
    return what + (" DESC" if item.get("direction") == "desc" else "")


def _sampled_offsets(wl: Workload, s: Statement) -> list[int]:
    """OFFSET values of literal texts of this statement sampled from pg_stat_activity."""
    out = []
    for text in wl.samples(s):
        for p in matches_in(text, offset_pagination):
            value = p.extra.get("offset_value")
            if isinstance(value, int) and not isinstance(value, bool):
                out.append(value)
    return out


def _keyset_fix(wl: Workload, s: Statement, table: TableRow, order_by: tuple[object, ...]) -> tuple[str | None, str]:
    """The keyset form of the statement and the index it needs; None with the reason when not safe."""
    assert s.database is not None
    schema = wl.schema(s.database)
    text = keyset(s.query, schema)
    keys = key_columns(s.query, schema)
    if text is None or not keys:
        return None, ("switch to keyset pagination (WHERE (sort keys) < (last row's keys) ORDER BY ... LIMIT) on a "
                      "unique, NOT NULL sort order; no automatic rewrite: the ORDER BY is on an expression, a "
                      "nullable column, several tables, or the table has no primary key")
    directions = {str(i.get("column")): i.get("direction") for i in order_by if isinstance(i, Mapping)}
    last = next((d for d in reversed(list(directions.values()))), "asc")
    parts = [(k, directions.get(k, last) == "desc") for k in keys]
    uniform = len({d for _, d in parts}) == 1
    existing = next((ix for ix in wl.indexes(table)
                     if ix.method == "btree" and not ix.is_partial and tuple(ix.columns[:len(keys)]) == tuple(keys)
                     and (uniform or all(bool(o & 1) == d for o, (_, d) in zip(ix.options, parts, strict=False)))),
                    None)
    new_params = ", ".join(f"${wl.analysis(s).max_param + 1 + i}" for i in range(len(keys)))
    advice = (f"switch to keyset pagination: pass the last row's ({', '.join(keys)}) as {new_params} instead of "
              "an OFFSET")
    lines = [f"-- keyset form of queryid {s.queryid}; {new_params} = the last row's ({', '.join(keys)})",
             text + ";"]
    if existing is None:
        cols = ", ".join(ident(k) + (" DESC" if d else "") for k, d in parts)
        lines.append(f"CREATE INDEX CONCURRENTLY ON {ident(table.schema, table.name)} ({cols});")
        advice += f", with an index on ({', '.join(keys)})"
    else:
        advice += f"; index {existing.name} already serves that order"
    return "\n".join(lines), advice
