"""QR019 query.unbounded_write: UPDATE or DELETE without WHERE."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, threshold
from pgadvisor.checkapi.tree import Match, PlainValue, Tree, ast, label


@dataclass(frozen=True, slots=True)
class UnboundedWriteThresholds:
    """Keys of [checks.QR019]."""

    min_calls: int = threshold(1, help="Ignore statements called fewer times.")
    warning_rows_per_call: float = threshold(10_000, help="Rows changed per call that make a warning.")


class UnboundedWrite(StatementCheck[UnboundedWriteThresholds]):
    """Statement updates or deletes every row of a table.

    ## Why it matters
    An UPDATE or DELETE with no WHERE rewrites the whole table in one transaction: it locks every row, writes
    a burst of WAL that replicas must replay, leaves as many dead rows for vacuum, and on a big table runs for
    minutes. Often it is a bug (a lost condition).

    ## Evidence
    The parse tree: an `UpdateStmt` or `DeleteStmt` with no WHERE clause (`WHERE CURRENT OF` counts as one) on
    a user table. The statistics: rows changed per call; from `warning_rows_per_call` a warning, else info.

    ## How to fix
    Batch by key range, each batch its own transaction; to empty a table on purpose, TRUNCATE:

    ```sql
    UPDATE events SET archived = true WHERE id >= $1 AND id < $1 + 10000;
    TRUNCATE events;
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Small tables of settings or work queues rewritten on purpose.

    ## References
    https://www.postgresql.org/docs/current/sql-update.html
    https://www.postgresql.org/docs/current/sql-truncate.html
    """

    code = "QR019"
    name = "query.unbounded_write"
    default_severity = Severity.INFO
    requires = ("statements", "tables")
    thresholds = UnboundedWriteThresholds
    message = "{kind} without WHERE on {table}, {rows_per_call} rows per call: {query}"
    recommendation = "add the missing condition, batch by key range, or TRUNCATE when emptying the table on purpose"

    def judge(self, wl: Workload, s: Statement, t: UnboundedWriteThresholds) -> Verdict | None:
        hits = [(m, wl.table(s.database, m.extra.get("table"))) for m in wl.matches(s, unbounded_write)]
        match, table = next(((m, tb) for m, tb in hits if tb is not None), (None, None))
        if match is None or table is None:
            return None
        return Verdict(
            severity=Severity.WARNING if s.rows_per_call >= t.warning_rows_per_call else Severity.INFO,
            evidence={"kind": str(match.extra.get("kind")).upper(), "table": f"{table.schema}.{table.name}"},
        )


def unbounded_write(tree: Tree) -> Iterator[Match]:
    """UPDATE or DELETE with no WHERE at all (`WHERE CURRENT OF` counts as a WHERE)."""
    for block in tree.scope.blocks:
        stmt = block.node
        if not isinstance(stmt, ast.UpdateStmt | ast.DeleteStmt) or stmt.whereClause is not None:
            continue
        target = next((r for r in block.relations if r.target), None)
        extra: dict[str, PlainValue] = {
            "kind": block.role,
            "table": label(target) if target else None,
            "has_from": len(block.relations) > 1,
        }
        yield tree.match(f"{block.role.upper()} without WHERE touches every row of {extra['table']}", extra,
                         stmt.relation)
