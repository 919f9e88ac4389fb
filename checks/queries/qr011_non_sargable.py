"""QR011 query.non_sargable: a function, cast or operator around a filtered column hides it from plain indexes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.analysis.workload import workload
from pgadvisor.checkapi import Check, Finding, Severity, ident, threshold
from pgadvisor.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class NonSargableThresholds:
    """Keys of [checks.QR011]."""

    min_calls: int = threshold(1, help="Ignore statements called fewer times.")
    warning_rows: int = threshold(10_000, help="Tables this large (estimated rows) ...")
    warning_scan_fraction: float = threshold(
        0.5, help="... that the statement reads at least this fraction of per call (a full scan) make a warning.")


class NonSargable(Check[NonSargableThresholds]):
    """Statement filters on an expression of a column that no index matches.

    ## Why it matters
    `WHERE lower(email) = $1`, `WHERE created_at::date = $1` or `WHERE id + 0 = $1` compare an expression, not
    the column: an index on `email` cannot serve it and the table is read in full on every call.

    ## Evidence
    The parse tree: a column wrapped in a function, cast or operator on one side of a comparison in WHERE or
    JOIN ... ON. The catalog: no index whose leading key is that expression (an index on the bare column is
    named when there is one). The statistics: shared blocks touched per call against the table's pages. A
    table of `warning_rows` rows read nearly in full per call is a warning; the pattern alone is info.

    ## How to fix
    Index the expression, or move the work to the other side of the comparison:

    ```sql
    CREATE INDEX CONCURRENTLY ON public.customers ((lower(email)));
    -- date(ts) = $1  ->  ts >= $1 AND ts < $1 + interval '1 day'
    -- id + 0 = $1    ->  id = $1 - 0
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Small tables, and filters that another, selective condition of the same statement already narrows down.

    ## References
    https://www.postgresql.org/docs/current/indexes-expressional.html
    https://use-the-index-luke.com/sql/where-clause/functions
    """

    code = "QR011"
    name = "query.non_sargable"
    default_severity = Severity.INFO
    requires = ("statements", "tables", "indexes", "columns")
    thresholds = NonSargableThresholds
    message = "{expression} hides {table}.{column} from its indexes ({blocks_per_call} blocks per call): {query}"
    recommendation = "{advice}"

    def run(self, snap: Snapshot, t: NonSargableThresholds) -> Iterator[Finding]:
        wl = workload(snap)
        for found in wl.found("QR011"):
            s = found.statement
            if s.calls < t.min_calls:
                continue
            for pattern in found.patterns:
                extra = pattern.extra
                table = wl.table(s.database, extra.get("table"))
                expression = extra.get("expression")
                if table is None or extra.get("expression_index") or not isinstance(expression, str):
                    continue
                full_scan = table.relpages > 0 and s.blocks_per_call >= t.warning_scan_fraction * table.relpages
                big = (table.reltuples or 0) >= t.warning_rows
                target = ident(table.schema, table.name)
                if extra.get("wrapper") == "operator":
                    advice = f"rewrite the comparison so {extra.get('column')} stands alone on one side"
                    fix = None
                else:
                    advice = (f"index the expression {expression} (or rewrite the comparison so the column stands "
                              "alone, e.g. a range for a date cast)")
                    fix = f"CREATE INDEX CONCURRENTLY ON {target} (({expression}));"
                yield self.finding(
                    obj=s.object,
                    database=s.database,
                    severity=Severity.WARNING if big and full_scan else Severity.INFO,
                    evidence={**s.evidence(), "table": f"{table.schema}.{table.name}",
                              "column": str(extra.get("column")), "expression": expression,
                              "wrapper": str(extra.get("wrapper")), "column_index": _opt(extra.get("column_index")),
                              "rows": int(table.reltuples or 0), "relpages": table.relpages,
                              "blocks_per_call": round(s.blocks_per_call, 1)},
                    context={"advice": advice},
                    fix_sql=fix,
                )
                break  # one finding per statement


def _opt(value: object) -> str | None:
    return value if isinstance(value, str) else None
