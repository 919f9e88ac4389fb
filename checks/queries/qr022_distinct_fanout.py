"""QR022 query.distinct_fanout: DISTINCT over a join, often hiding the duplicates the join made."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, seq, threshold
from pgadvisor.checkapi.tree import Match, PlainValue, Tree, ast, block_tables


@dataclass(frozen=True, slots=True)
class DistinctThresholds:
    """Keys of [checks.QR022]."""

    min_calls: int = threshold(1, help="Ignore statements called fewer times.")
    warning_blocks_per_row: float = threshold(100, help="Blocks touched per returned row that make a warning.")


class DistinctFanout(StatementCheck[DistinctThresholds]):
    """Statement uses DISTINCT over a join.

    ## Why it matters
    Joining orders to their items to find "customers who ordered X" yields one row per matching item;
    `DISTINCT` then sorts or hashes them all away again. The join did the fan-out for nothing: a semi-join
    (`EXISTS`) stops at the first match.

    ## Evidence
    The parse tree: `SELECT DISTINCT` (or `DISTINCT ON`) over two or more joined relations, one of them a
    user table. The statistics: shared blocks touched per returned row; from `warning_blocks_per_row` a
    warning, else info.

    ## How to fix
    ```sql
    SELECT c.id, c.name FROM customers c
    WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.product_id = $1);
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    DISTINCT over a join whose duplicates are real data (the same value from different rows): the rewrite
    does not apply. DISTINCT ON to pick one row per group is a legitimate idiom; it is reported as info.

    ## References
    https://www.postgresql.org/docs/current/functions-subquery.html#FUNCTIONS-SUBQUERY-EXISTS
    """

    code = "QR022"
    name = "query.distinct_fanout"
    default_severity = Severity.INFO
    requires = ("statements", "tables")
    thresholds = DistinctThresholds
    message = "DISTINCT over a join of {relations} ({blocks_per_row} blocks per returned row): {query}"
    recommendation = "keep the outer table in FROM and test the others with WHERE EXISTS (SELECT 1 ...)"

    def judge(self, wl: Workload, s: Statement, t: DistinctThresholds) -> Verdict | None:
        match = next(iter(wl.matches(s, distinct_over_join)), None)
        if match is None or not wl.user_tables(s.database, seq(match.extra.get("tables"))):
            return None
        per_row = s.blocks_per_call / max(s.rows_per_call, 1.0)
        heavy = per_row >= t.warning_blocks_per_row and not match.extra.get("distinct_on")
        return Verdict(
            severity=Severity.WARNING if heavy else Severity.INFO,
            evidence={"relations": ", ".join(str(r) for r in seq(match.extra.get("relations"))),
                      "blocks_per_row": round(per_row, 1), "distinct_on": bool(match.extra.get("distinct_on"))},
        )


def distinct_over_join(tree: Tree) -> Iterator[Match]:
    """SELECT DISTINCT over two or more joined relations (often hiding join fan-out)."""
    for block in tree.scope.blocks:
        stmt = block.node
        if block.role != "select" or not isinstance(stmt, ast.SelectStmt) or not stmt.distinctClause:
            continue
        rels = block.data_relations()
        if len(rels) < 2:
            continue
        extra: dict[str, PlainValue] = {
            "relations": tuple(r.name for r in rels),
            "tables": block_tables(block),
            "distinct_on": any(item is not None for item in stmt.distinctClause),
        }
        yield tree.match(f"DISTINCT over a join of {', '.join(r.name for r in rels)}", extra)
