"""QR014 query.select_star_wide: `SELECT *` on wide tables, read often."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, fmt_bytes, seq, threshold
from pgadvisor.checkapi.tree import Match, PlainValue, Relation, Scope, Tree, ast, enums, is_star, star_relations
from pgadvisor.snapshot import TableRow


@dataclass(frozen=True, slots=True)
class SelectStarThresholds:
    """Keys of [checks.QR014]."""

    min_calls: int = threshold(1000, help="Only statements called at least this often.")
    min_row_bytes: float = threshold(1024, help="A table whose average row (heap + TOAST) is this wide ...")
    min_columns: int = threshold(30, help="... or that has this many columns, is wide.")


class SelectStarWide(StatementCheck[SelectStarThresholds]):
    """Statement selects every column of a wide table, often.

    ## Why it matters
    `SELECT *` reads, de-TOASTs and sends every column, even those the application ignores; on a wide table
    that is most of the cost, and no index-only scan can serve it. It also breaks when columns are added.

    ## Evidence
    The parse tree: `*` or `t.*` in a select list (EXISTS sub-queries excepted) expanding a user table. The
    catalog: the table's column count (`pg_attribute`) and its average row size, (heap + TOAST bytes) /
    `reltuples`, since `pg_stats.avg_width` is hidden from a pg_monitor role. The statistics: `calls`.

    ## How to fix
    List the columns the code uses; a covering index can then answer it alone:

    ```sql
    SELECT id, status, total FROM orders WHERE customer_id = $1;
    CREATE INDEX CONCURRENTLY ON orders (customer_id) INCLUDE (status, total);
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Exports and ORMs that really need every column.

    ## References
    https://www.postgresql.org/docs/current/storage-toast.html
    https://www.postgresql.org/docs/current/indexes-index-only-scans.html
    """

    code = "QR014"
    name = "query.select_star_wide"
    default_severity = Severity.INFO
    requires = ("statements", "tables", "indexes", "columns")
    thresholds = SelectStarThresholds
    message = "SELECT * over {table} ({columns} columns, about {row_size} per row), {calls} calls: {query}"
    recommendation = "select only the columns the code uses"

    def judge(self, wl: Workload, s: Statement, t: SelectStarThresholds) -> Verdict | None:
        labels = [lab for m in wl.matches(s, select_star) for lab in seq(m.extra.get("tables"))]
        for table in wl.user_tables(s.database, labels):
            columns = wl.column_count(table)
            width = _row_bytes(wl, table)
            if columns < t.min_columns and (width is None or width < t.min_row_bytes):
                continue
            return Verdict(
                evidence={"table": f"{table.schema}.{table.name}", "columns": columns,
                          "avg_row_bytes": None if width is None else round(width)},
                context={"row_size": fmt_bytes(width)},
            )
        return None


def select_star(tree: Tree) -> Iterator[Match]:
    """`SELECT *` or `t.*` in a select list (EXISTS sub-queries, whose list is ignored, excepted)."""
    exists_blocks = _exists_blocks(tree.scope)
    for block in tree.scope.blocks:
        stmt = block.node
        if block.role != "select" or id(block) in exists_blocks or not isinstance(stmt, ast.SelectStmt):
            continue
        for target in stmt.targetList or ():
            ref = target.val if isinstance(target, ast.ResTarget) else None
            if not isinstance(ref, ast.ColumnRef) or not is_star(ref):
                continue
            rels = star_relations(block, ref)
            tables = tuple(dict.fromkeys(_base_label(r) for r in rels))
            extra: dict[str, PlainValue] = {
                "tables": tuple(t for t in tables if t is not None),
                "relations": tuple({"name": r.name, "kind": r.kind, "table": _base_label(r)} for r in rels),
                "qualified": len(ref.fields or ()) > 1,
            }
            shown = ", ".join(r.name for r in rels) or "?"
            yield tree.match(f"SELECT * expands every column of {shown}", extra, ref)


def _exists_blocks(scope: Scope) -> set[int]:
    """ids of blocks that are the body of an EXISTS sub-query."""
    return {
        id(child)
        for block in scope.blocks
        for link, child in block.sublinks
        if link.subLinkType == enums.SubLinkType.EXISTS_SUBLINK
    }


def _base_label(rel: Relation) -> str | None:
    """The base table behind a relation: itself, or the single table a sub-query or CTE reads."""
    for _ in range(32):
        if rel.table is not None:
            return rel.table.qualified
        if rel.inner is None or len(rel.inner.relations) != 1:
            return None
        rel = rel.inner.relations[0]
    return None


def _row_bytes(wl: Workload, table: TableRow) -> float | None:
    """(heap + TOAST) bytes per row: total size minus the indexes, over the estimated rows."""
    rows = table.reltuples or 0
    if rows <= 0:
        return None
    data = table.total_bytes - sum(ix.size_bytes for ix in wl.indexes(table))
    return max(0, data) / rows

