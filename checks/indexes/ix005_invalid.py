"""IX005 index.invalid: indexes left invalid by a failed concurrent build."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pgadvisor.checkapi import Check, Finding, NoThresholds, Severity, fmt_bytes, ident
from pgadvisor.snapshot import Snapshot

_LEFTOVER = re.compile(r"_cc(new|old)[0-9]*$")


class InvalidIndex(Check[NoThresholds]):
    """Index is invalid: a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY left it behind.

    ## Why it matters
    When a concurrent index build fails (a deadlock, a unique violation, a cancelled statement, a lost
    session), PostgreSQL leaves the index in place marked invalid (`pg_index.indisvalid = false`). The planner
    never uses it, yet every write to the table still maintains it once the build got past its first phase
    (`indisready`). The schema looks indexed but the queries get sequential scans, and a unique index that
    failed does not enforce uniqueness.

    ## Evidence
    `pg_index.indisvalid` and `indisready`, the index size, and whether it backs a constraint. Indexes still
    being built (listed in `pg_stat_progress_create_index`) are not reported. `_ccnew` / `_ccold` indexes are
    the leftovers of a failed `REINDEX CONCURRENTLY`: the original index is still there.

    ## How to fix
    Rebuild it without blocking writes:

    ```sql
    REINDEX INDEX CONCURRENTLY public.orders_customer_id_idx;
    ```
    or drop it (`DROP INDEX CONCURRENTLY`) and run the `CREATE INDEX CONCURRENTLY` again. Drop `_ccnew` /
    `_ccold` leftovers. If a unique build failed on duplicates, remove the duplicates first.

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    None known: an index that is built right now is excluded through `pg_stat_progress_create_index`.

    ## References
    https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY
    https://www.postgresql.org/docs/current/sql-reindex.html#SQL-REINDEX-CONCURRENTLY
    """

    code = "IX005"
    name = "index.invalid"
    default_severity = Severity.CRITICAL
    requires = ("indexes",)
    message = "invalid index ({size}) on {table}: never used by the planner, {burden}"

    def run(self, snap: Snapshot, t: NoThresholds) -> Iterator[Finding]:
        assert isinstance(snap.indexes, tuple)
        for ix in snap.indexes:
            if (ix.is_valid and ix.is_ready) or ix.build_in_progress:
                continue
            name = ident(ix.schema, ix.name)
            if _LEFTOVER.search(ix.name):
                fix = f"DROP INDEX CONCURRENTLY {name};"
                rec = "leftover of a failed REINDEX CONCURRENTLY: the original index still exists; drop this one"
            else:
                fix = f"REINDEX INDEX CONCURRENTLY {name};"
                rec = ("rebuild it; or drop it with DROP INDEX CONCURRENTLY and run CREATE INDEX CONCURRENTLY "
                       "again" + ("; a unique build fails again until the duplicate rows are fixed"
                                  if ix.is_unique else ""))
            yield self.finding(
                obj=f"{ix.schema}.{ix.name}",
                database=ix.database,
                evidence={
                    "table": f"{ix.schema}.{ix.table}",
                    "is_valid": ix.is_valid,
                    "is_ready": ix.is_ready,
                    "unique": ix.is_unique,
                    "constraint": ix.constraint_name,
                    "size_bytes": ix.size_bytes,
                    "definition": ix.definition,
                },
                context={
                    "size": fmt_bytes(ix.size_bytes),
                    "burden": "yet still written on every change" if ix.is_ready
                    else "not maintained either (the build failed before it was ready)",
                },
                recommendation=rec,
                fix_sql=fix,
            )
