"""IX003 index.redundant: duplicate indexes, and indexes whose keys lead another index."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Check, Finding, Severity, fmt_bytes, ident, threshold
from pgadvisor.snapshot import IndexRow, Snapshot


@dataclass(frozen=True, slots=True)
class RedundantThresholds:
    """Keys of [checks.IX003]."""

    warning_min_bytes: int = threshold(
        10 * 1024 * 1024, help="A prefix-redundant index this large or larger is a warning (smaller: info).")


class RedundantIndex(Check[RedundantThresholds]):
    """Index duplicates another index, or its key columns are a leading prefix of another index.

    ## Why it matters
    Two indexes that answer the same lookups double the write cost and the space for no read benefit. A
    B-tree on `(a)` is redundant next to one on `(a, b)`: the longer index serves every lookup, range scan and
    sort on `a` alone, at nearly the same cost.

    ## Evidence
    Catalog arrays, not definition text: key columns (`indkey`, INCLUDE columns ignored for matching),
    operator classes, collations, sort options (DESC, NULLS FIRST), expressions, predicate and access method
    must all match. An exact duplicate is a warning; a prefix-redundant index is a warning from
    `warning_min_bytes`, info below. A unique index is never redundant to a non-unique one (it enforces a
    constraint), and is redundant to another unique index only when both have the same key columns. An index
    that backs a constraint is never the one to drop; of two exact duplicates the one kept is the one that
    backs a constraint, else the unique one, else the more scanned, else the older (lower OID). Only valid
    indexes are compared, and only those whose definition was read (not on a table locked during collection).

    ## How to fix
    Drop the redundant one (the finding names the index that is kept):

    ```sql
    DROP INDEX CONCURRENTLY public.orders_customer_id_idx;
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    A shorter index can be faster for very hot lookups when the longer one is much wider, and an index kept
    for a planned change may look redundant today. Suppress the finding with a reason.

    ## References
    https://www.postgresql.org/docs/current/indexes-multicolumn.html
    https://www.postgresql.org/docs/current/indexes-unique.html
    """

    code = "IX003"
    name = "index.redundant"
    default_severity = Severity.WARNING
    requires = ("indexes",)
    thresholds = RedundantThresholds
    message = "{kind} of {kept} on {table} ({size} to reclaim)"
    recommendation = "drop {object}; {kept} serves the same lookups"

    def run(self, snap: Snapshot, t: RedundantThresholds) -> Iterator[Finding]:
        assert isinstance(snap.indexes, tuple)
        by_table: dict[tuple[str, str, str], list[IndexRow]] = defaultdict(list)
        for ix in snap.indexes:
            if ix.is_valid and ix.is_ready and not ix.build_in_progress and ix.shape_known:
                by_table[(ix.database, ix.schema, ix.table)].append(ix)
        for indexes in by_table.values():
            reported: set[str] = set()
            for drop in sorted(indexes, key=lambda i: i.name):
                if _protected(drop):
                    continue
                for keep in sorted(indexes, key=_keep_order):
                    if keep is drop or keep.name in reported or drop.name in reported:
                        continue
                    kind = _redundancy(drop, keep)
                    if kind is None:
                        continue
                    if kind == "duplicate" and _keep_order(drop) < _keep_order(keep):
                        continue  # the other one of the pair is dropped instead
                    reported.add(drop.name)
                    exact = kind == "duplicate"
                    big = drop.size_bytes >= t.warning_min_bytes
                    yield self.finding(
                        obj=f"{drop.schema}.{drop.name}",
                        database=drop.database,
                        severity=Severity.WARNING if exact or big else Severity.INFO,
                        evidence={
                            "kind": "exact duplicate" if exact else "leading prefix",
                            "kept": f"{keep.schema}.{keep.name}",
                            "table": f"{drop.schema}.{drop.table}",
                            "size_bytes": drop.size_bytes,
                            "dropped_definition": drop.definition,
                            "kept_definition": keep.definition,
                            "idx_scan": drop.idx_scan,
                        },
                        context={"size": fmt_bytes(drop.size_bytes)},
                        fix_sql=f"DROP INDEX CONCURRENTLY {ident(drop.schema, drop.name)};",
                    )
                    break


def _protected(ix: IndexRow) -> bool:
    """Dropping it would drop a constraint or the replica identity."""
    return ix.is_primary or ix.is_exclusion or ix.is_replident or ix.constraint_name is not None


def _keep_order(ix: IndexRow) -> tuple[int, int, int, int]:
    """Which index of a duplicate pair to keep: constraint-backing, unique, most scanned, then the older one."""
    return (0 if _protected(ix) else 1, 0 if ix.is_unique else 1, -ix.idx_scan, ix.oid)


def _shape(ix: IndexRow, n: int) -> tuple[object, ...]:
    return (ix.columns[:n], ix.opclasses[:n], ix.collations[:n], ix.options[:n])


def _redundancy(drop: IndexRow, keep: IndexRow) -> str | None:
    """'duplicate', 'prefix' or None: can `keep` serve every lookup `drop` serves?"""
    if drop.method != keep.method or drop.predicate != keep.predicate or drop.expressions != keep.expressions:
        return None
    n = len(drop.columns)
    if n > len(keep.columns) or _shape(drop, n) != _shape(keep, n):
        return None
    if drop.is_unique and not (keep.is_unique and len(keep.columns) == n):
        return None  # a unique index enforces something; only an equal unique index replaces it
    if not set(drop.include_columns) <= set(c for c in keep.columns if c) | set(keep.include_columns):
        return None  # drop serves index-only scans keep cannot
    if n == len(keep.columns) and drop.include_columns == keep.include_columns:
        return "duplicate" if drop.is_unique == keep.is_unique else "prefix"
    if drop.method != "btree":
        return None  # prefix redundancy holds for B-trees only
    return "prefix"
