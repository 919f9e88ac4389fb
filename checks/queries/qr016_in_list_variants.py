"""QR016 query.in_list_variants: one statement stored many times, once per IN list length."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Check, Finding, Severity, Statement, StatementAnalysis, threshold, workload
from pgadvisor.snapshot import Snapshot

LIST_OPERANDS = frozenset({"list", "array"})
"""Filter operands written as a list of values: `IN ($1, $2)` and `= ANY(ARRAY[$1, $2])`."""

SHOWN_QUERYIDS = 5


@dataclass(frozen=True, slots=True)
class InListVariantsThresholds:
    """Keys of [checks.QR016]."""

    min_variants: int = threshold(10, help="Entries of one statement with different list lengths that are reported.")


class InListVariants(Check[InListVariantsThresholds]):
    """Statement is stored once per length of its IN list.

    ## Why it matters
    Up to PostgreSQL 17, pg_stat_statements keys `WHERE id IN ($1, $2)` and `WHERE id IN ($1, $2, $3)` as
    two statements. An application that builds the list from its data creates one entry per length: they
    fill `pg_stat_statements.max` and evict other statements (QR001 counts evictions), and split the
    statement's statistics, so each variant looks harmless to QR002/QR003 while together they may dominate.
    Each length is also parsed and planned on its own, and fills the prepared-statement caches of drivers.
    PostgreSQL 18 squashes lists of constants into one entry (`IN ($1 /*, ... */)`), so there this check
    only finds lists of other expressions.

    ## Evidence
    Statements of one database whose parse-tree fingerprints are equal (pglast's fingerprint ignores the
    length of IN lists, ARRAY constructors and VALUES lists) and that filter on an `IN (...)` list or
    `= ANY(ARRAY[...])`. Variants are counted by their number of parameters, so entries that differ only
    by something else (the same text against another schema's table) are not counted. The finding's object
    is `fingerprint:<hex>`, since the group has many queryids; the evidence holds a few of them, the number
    of variants, their calls and time added up, and the shortest text.

    ## How to fix
    Pass the list as one array parameter: one entry, one plan, any length.

    ```sql
    SELECT * FROM orders WHERE id = ANY($1::bigint[]);   -- instead of id IN ($1, $2, ..., $n)
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Statements with two IN lists whose lengths trade places are counted once, so the count is a lower
    bound; multi-row INSERT ... VALUES variants are not judged here (no IN list).

    ## References
    https://www.postgresql.org/docs/current/pgstatstatements.html
    https://www.postgresql.org/docs/current/functions-comparisons.html#FUNCTIONS-COMPARISONS-ANY-SOME
    """

    code = "QR016"
    name = "query.in_list_variants"
    default_severity = Severity.INFO
    requires = ("statements",)
    thresholds = InListVariantsThresholds
    message = (
        "{variants} entries of one statement differ only in IN list length ({min_params}..{max_params} "
        "parameters, {calls} calls): {query}"
    )
    recommendation = "pass the list as one array parameter: col = ANY($1::bigint[])"

    def run(self, snap: Snapshot, t: InListVariantsThresholds) -> Iterator[Finding]:
        wl = workload(snap)
        groups: dict[tuple[str, str], list[tuple[Statement, StatementAnalysis]]] = defaultdict(list)
        for s in wl.judged():
            facts = wl.analysis(s)
            if s.database is not None and facts.fingerprint is not None and _has_list(facts):
                groups[(s.database, facts.fingerprint)].append((s, facts))
        for (database, fingerprint), members in sorted(groups.items()):
            lengths = {facts.max_param for _, facts in members}
            if len(lengths) < max(2, t.min_variants):
                continue
            members.sort(key=lambda m: (m[1].max_param, m[0].queryid))
            first = members[0][0]
            calls = sum(s.calls for s, _ in members)
            yield self.finding(
                obj=f"fingerprint:{fingerprint}",
                database=database,
                evidence={
                    "query": first.short_query,
                    "variants": len(lengths),
                    "entries": len(members),
                    "min_params": min(lengths),
                    "max_params": max(lengths),
                    "calls": calls,
                    "total_ms": round(sum(s.total_exec_ms for s, _ in members), 1),
                    "queryids": ", ".join(str(s.queryid) for s, _ in members[:SHOWN_QUERYIDS]),
                },
            )


def _has_list(facts: StatementAnalysis) -> bool:
    """True when a scan filters on a list of values (`IN (...)`, `= ANY(ARRAY[...])`)."""
    return any(f.operand in LIST_OPERANDS for scan in facts.scans for f in scan.filters)
