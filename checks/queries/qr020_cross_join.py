"""QR020 query.cross_join: relations in FROM that nothing links (an implicit cross join)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.analysis.workload import seq, workload
from pgadvisor.checkapi import Check, Finding, Severity, threshold
from pgadvisor.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class CrossJoinThresholds:
    """Keys of [checks.QR020]."""

    min_calls: int = threshold(1, help="Ignore statements called fewer times.")


class CrossJoin(Check[CrossJoinThresholds]):
    """Statement joins relations with no condition between them.

    ## Why it matters
    `FROM a, b WHERE a.x = $1` without a condition linking `b` returns every row of `a` paired with every row of
    `b`: the row count multiplies, and usually so does the answer's wrongness. It is almost always a forgotten
    join condition.

    ## Evidence
    The parse tree: relations listed in FROM with commas (not `CROSS JOIN`, which says it is intended) that no
    WHERE condition, LATERAL reference or sub-query links, resolved with PostgreSQL's own parser (pglast) and
    the catalog's columns; at least one side is a user table. Functions in FROM (`generate_series`) are not
    counted as row sources.

    ## How to fix
    ```sql
    SELECT ... FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1;
    SELECT ... FROM sizes CROSS JOIN colors;    -- when the product is what you want, say so
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    A deliberate product of a one-row relation (a settings row) written with a comma.

    ## References
    https://www.postgresql.org/docs/current/queries-table-expressions.html#QUERIES-JOIN
    """

    code = "QR020"
    name = "query.cross_join"
    default_severity = Severity.WARNING
    requires = ("statements", "tables")
    thresholds = CrossJoinThresholds
    message = "implicit cross join, nothing links {groups}: {query}"
    recommendation = "add the missing join condition, or write CROSS JOIN when the product is intended"

    def run(self, snap: Snapshot, t: CrossJoinThresholds) -> Iterator[Finding]:
        wl = workload(snap)
        for found in wl.found("QR020"):
            s = found.statement
            if s.calls < t.min_calls:
                continue
            pattern = found.patterns[0]
            tables = wl.pattern_tables(found)
            if not tables:
                continue
            groups = " x ".join(
                "(" + ", ".join(str(n) for n in seq(g)) + ")" for g in seq(pattern.extra.get("groups")))
            yield self.finding(
                obj=s.object,
                database=s.database,
                evidence={**s.evidence(), "groups": groups,
                          "tables": ", ".join(f"{tb.schema}.{tb.name}" for tb in tables)},
            )

