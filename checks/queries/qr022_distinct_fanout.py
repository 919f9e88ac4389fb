"""QR022 query.distinct_fanout: DISTINCT over a join, often hiding the duplicates the join made."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.analysis.workload import seq, workload
from pgadvisor.checkapi import Check, Finding, Severity, threshold
from pgadvisor.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class DistinctThresholds:
    """Keys of [checks.QR022]."""

    min_calls: int = threshold(1, help="Ignore statements called fewer times.")
    warning_blocks_per_row: float = threshold(100, help="Blocks touched per returned row that make a warning.")


class DistinctFanout(Check[DistinctThresholds]):
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

    def run(self, snap: Snapshot, t: DistinctThresholds) -> Iterator[Finding]:
        wl = workload(snap)
        for found in wl.found("QR022"):
            s = found.statement
            if s.calls < t.min_calls:
                continue
            pattern = found.patterns[0]
            tables = wl.pattern_tables(found)
            if not tables:
                continue
            per_row = s.blocks_per_call / max(s.rows_per_call, 1.0)
            heavy = per_row >= t.warning_blocks_per_row and not pattern.extra.get("distinct_on")
            yield self.finding(
                obj=s.object,
                database=s.database,
                severity=Severity.WARNING if heavy else Severity.INFO,
                evidence={**s.evidence(), "relations": ", ".join(str(r) for r in seq(pattern.extra.get("relations"))),
                          "blocks_per_row": round(per_row, 1),
                          "distinct_on": bool(pattern.extra.get("distinct_on"))},
            )

