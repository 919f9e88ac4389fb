"""QR012 query.not_in_subquery: `NOT IN (SELECT ...)`, wrong when the sub-query yields NULL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.analysis.workload import workload
from pgadvisor.checkapi import Check, Finding, Severity, threshold
from pgadvisor.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class NotInThresholds:
    """Keys of [checks.QR012]."""

    min_calls: int = threshold(1, help="Ignore statements called fewer times.")


class NotInSubquery(Check[NotInThresholds]):
    """Statement uses NOT IN (SELECT ...).

    ## Why it matters
    `x NOT IN (SELECT col ...)` returns no row at all as soon as the sub-query yields one NULL: a silent wrong
    answer. It also cannot become an anti-join: when the sub-query's result does not fit `work_mem` as a hash,
    PostgreSQL re-scans it for every outer row.

    ## Evidence
    The parse tree: `NOT (x IN (SELECT ...))` or `x <> ALL (SELECT ...)` over a user table. The catalog:
    whether the sub-query's column can be NULL (`pg_attribute.attnotnull`, primary key, and the outer side of
    an outer join). A nullable column is a warning (correctness); otherwise info (performance only).

    ## How to fix
    ```sql
    SELECT ... FROM orders o
    WHERE NOT EXISTS (SELECT 1 FROM refunds r WHERE r.order_id = o.id);
    ```
    `NOT EXISTS` ignores NULLs and plans as an anti-join.

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    A nullable column that never holds NULL in practice: add `NOT NULL` to the column, which also documents it.

    ## References
    https://www.postgresql.org/docs/current/functions-subquery.html#FUNCTIONS-SUBQUERY-NOTIN
    https://wiki.postgresql.org/wiki/Don%27t_Do_This#Don.27t_use_NOT_IN
    """

    code = "QR012"
    name = "query.not_in_subquery"
    default_severity = Severity.WARNING
    requires = ("statements", "tables", "columns")
    thresholds = NotInThresholds
    message = "{form} (SELECT {column} FROM {table}): {nulls}: {query}"
    recommendation = "rewrite as NOT EXISTS (SELECT 1 FROM {table} WHERE {column} = <outer value>)"

    def run(self, snap: Snapshot, t: NotInThresholds) -> Iterator[Finding]:
        wl = workload(snap)
        for found in wl.found("QR012"):
            s = found.statement
            if s.calls < t.min_calls:
                continue
            hits = [(p, wl.table(s.database, p.extra.get("table"))) for p in found.patterns]
            hits = [(p, tb) for p, tb in hits if tb is not None]
            if not hits:
                continue
            pattern, table = max(hits, key=lambda h: h[0].extra.get("nullable") is True)
            assert table is not None
            nullable = pattern.extra.get("nullable")
            nulls = ("the column can be NULL: one NULL makes it return no rows" if nullable is True
                     else "the column is NOT NULL: correct, but no anti-join" if nullable is False
                     else "the column's nullability is unknown")
            yield self.finding(
                obj=s.object,
                database=s.database,
                severity=Severity.WARNING if nullable is True else Severity.INFO,
                evidence={**s.evidence(), "form": str(pattern.extra.get("form")),
                          "table": f"{table.schema}.{table.name}", "column": str(pattern.extra.get("column")),
                          "nullable": nullable if isinstance(nullable, bool) else None},
                context={"nulls": nulls},
            )
