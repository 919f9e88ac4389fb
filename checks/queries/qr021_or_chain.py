"""QR021 query.or_chain: `col = $1 OR col = $2 OR ...` on one column."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.analysis.workload import workload
from pgadvisor.checkapi import Check, Finding, Severity, ident, threshold
from pgadvisor.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class OrChainThresholds:
    """Keys of [checks.QR021]."""

    min_terms: int = threshold(3, help="OR-ed equalities on one column from which a statement is reported.")
    min_calls: int = threshold(1, help="Ignore statements called fewer times.")


class OrChain(Check[OrChainThresholds]):
    """Statement ORs equalities on one column.

    ## Why it matters
    `status = $1 OR status = $2 OR status = $3` is planned as a BitmapOr of one index probe per term, or a
    sequential scan; each list length is also its own pg_stat_statements entry. `status = ANY($1)` is one
    probe with one plan for every length.

    ## Evidence
    The parse tree: an OR whose arguments include at least `min_terms` equalities between the same column (of
    a user table) and values that read no column. The statistics in the evidence.

    ## How to fix
    ```sql
    SELECT ... FROM orders WHERE status = ANY($1::text[]);
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Generated SQL where the list is always two or three fixed values: harmless but still clearer as `IN`.

    ## References
    https://www.postgresql.org/docs/current/functions-comparisons.html#FUNCTIONS-COMPARISONS-ANY-SOME
    """

    code = "QR021"
    name = "query.or_chain"
    default_severity = Severity.INFO
    requires = ("statements", "tables")
    thresholds = OrChainThresholds
    message = "{terms} OR-ed equalities on {table}.{column}: {query}"
    recommendation = "write {column_sql} = ANY($1) (one array parameter) or IN (...)"

    def run(self, snap: Snapshot, t: OrChainThresholds) -> Iterator[Finding]:
        wl = workload(snap)
        for found in wl.found("QR021"):
            s = found.statement
            if s.calls < t.min_calls:
                continue
            for pattern in found.patterns:
                terms = pattern.extra.get("terms")
                table = wl.table(s.database, pattern.extra.get("table"))
                if table is None or not isinstance(terms, int) or terms < t.min_terms:
                    continue
                column = str(pattern.extra.get("column"))
                yield self.finding(
                    obj=s.object,
                    database=s.database,
                    evidence={**s.evidence(), "table": f"{table.schema}.{table.name}", "column": column,
                              "terms": terms},
                    context={"column_sql": ident(column)},
                )
                break
