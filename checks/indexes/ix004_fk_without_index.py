"""IX004 index.fk_without_index: foreign keys whose referencing columns have no index."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Check, Finding, Severity, ident, threshold
from pgadvisor.snapshot import IndexRow, Snapshot

# The smallest heap footprint of a row: 24-byte tuple header + 4-byte line pointer. bytes / 28 is therefore an
# upper bound on the row count of a table that was never analyzed.
_MIN_ROW_BYTES = 28


@dataclass(frozen=True, slots=True)
class FkThresholds:
    """Keys of [checks.IX004]."""

    min_child_rows: int = threshold(10_000, help="Ignore referencing tables with fewer estimated rows.")
    critical_child_rows: int = threshold(10_000_000, help="Report as critical from this many rows.")

    def __post_init__(self) -> None:
        if not 0 <= self.min_child_rows <= self.critical_child_rows:
            raise ValueError("expected 0 <= min_child_rows <= critical_child_rows")


class FkWithoutIndex(Check[FkThresholds]):
    """Foreign key has no index on its referencing columns.

    ## Why it matters
    PostgreSQL requires an index on the referenced side of a foreign key but creates none on the referencing
    side. Every DELETE of a parent row, or UPDATE of its key, looks up the matching child rows: without an
    index that is a sequential scan of the child table for each parent row, under a lock. Joins from parent to
    child pay the same price.

    ## Evidence
    The constraint, its columns, the referenced table, the child's estimated rows (`pg_class.reltuples`) and
    the writes on the parent (`n_tup_upd + n_tup_del`) that trigger the scans. A usable index is valid, not
    partial, and its leading key columns are exactly the foreign key's columns in any order. When the child
    was never analyzed its row count is unknown: it is reported unless its size proves it small. A table that
    was locked during collection (its index definitions could not be read without waiting) is not judged.

    ## How to fix
    Create an index that starts with the foreign key's columns, without blocking writes:

    ```sql
    CREATE INDEX CONCURRENTLY ON public.orders (customer_id);
    ```
    Run it outside a transaction block. If it fails, drop the INVALID index it leaves and retry. On a
    partitioned table, create the index on each partition concurrently and attach them to an index created
    `ON ONLY` the parent.

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Parents whose rows are never deleted and whose keys never change, when no query joins from parent to
    child: the scan never happens (the evidence shows parent writes). Suppress it with a reason.

    ## References
    https://www.postgresql.org/docs/current/ddl-constraints.html#DDL-CONSTRAINTS-FK
    https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY
    """

    code = "IX004"
    name = "index.fk_without_index"
    default_severity = Severity.WARNING
    requires = ("foreign_keys", "indexes")
    thresholds = FkThresholds
    message = "no index starts with ({columns}), the columns that reference {references}"
    recommendation = "index the referencing columns; parent deletes and key updates scan {child_rows_text} rows"

    def run(self, snap: Snapshot, t: FkThresholds) -> Iterator[Finding]:
        assert isinstance(snap.indexes, tuple) and isinstance(snap.foreign_keys, tuple)
        usable: dict[tuple[str, str, str], list[IndexRow]] = defaultdict(list)
        unknown: set[tuple[str, str, str]] = set()
        for ix in snap.indexes:
            if not ix.shape_known:
                unknown.add((ix.database, ix.schema, ix.table))
            elif ix.is_valid and not ix.is_partial:
                usable[(ix.database, ix.schema, ix.table)].append(ix)
        for fk in snap.foreign_keys:
            table = (fk.database, fk.schema, fk.table)
            if table in unknown or _covered(fk.columns, usable[table]):
                continue
            rows = fk.child_rows
            upper_bound = rows if rows is not None else fk.child_bytes / _MIN_ROW_BYTES
            if upper_bound < t.min_child_rows:
                continue
            big = rows is not None and rows >= t.critical_child_rows
            yield self.finding(
                obj=f"{fk.schema}.{fk.table}.{fk.name}",
                database=fk.database,
                severity=Severity.CRITICAL if big else Severity.WARNING,
                evidence={
                    "columns": ", ".join(fk.columns),
                    "references": f"{fk.ref_schema}.{fk.ref_table} ({', '.join(fk.ref_columns)})",
                    "child_rows": rows,
                    "child_bytes": fk.child_bytes,
                    "parent_writes": fk.parent_writes,
                    "partitioned": fk.is_partitioned,
                },
                context={"child_rows_text": f"{rows:,.0f}" if rows is not None
                         else "an unknown number of (never analyzed)"},
                fix_sql=(f"CREATE INDEX CONCURRENTLY ON {ident(fk.schema, fk.table)} "
                         f"({', '.join(ident(c) for c in fk.columns)});"),
            )


def _covered(columns: tuple[str, ...], indexes: Iterable[IndexRow]) -> bool:
    """True if an index's leading key columns are exactly the FK columns, in any order."""
    want = set(columns)
    return any(set(ix.columns[: len(want)]) == want for ix in indexes)
