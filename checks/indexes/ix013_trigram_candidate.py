"""IX013 index.trigram_candidate: leading-wildcard LIKE/ILIKE filters that only a trigram index can serve."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Check, Finding, Severity, threshold
from pgadvisor.checkapi.trigram import LIKE_OPERATORS, leading_wildcard_qual, trigram_columns, trigram_fix_sql
from pgadvisor.snapshot import IndexRow, QualStatRow, Snapshot, TableRow


@dataclass(frozen=True, slots=True)
class TrigramThresholds:
    """Keys of [checks.IX013]."""

    min_rows: int = threshold(10_000, help="Only tables with at least this many estimated rows.")
    min_executions: int = threshold(1, help="Only predicates pg_qualstats saw evaluated at least this often.")


class TrigramCandidate(Check[TrigramThresholds]):
    """Column is searched with a leading-wildcard LIKE/ILIKE and has no trigram index.

    ## Why it matters
    `col LIKE '%term%'` and `ILIKE '%term'` cannot use a B-tree: every such search reads the whole table. A
    trigram index (pg_trgm) serves them, usually in milliseconds.

    ## Evidence
    pg_qualstats' sampled predicates: a LIKE (`~~`) or ILIKE (`~~*`) filter on the column whose constant
    starts with `%`, how often it was evaluated and how many rows it removed, and the table's estimated rows.
    pg_stat_statements replaces every constant (the `%` too) with `$n`, so the statement text alone never
    proves a leading wildcard; without pg_qualstats the check is skipped. QR010 `query.leading_wildcard`
    reports the statements; this check reports the column and the index once.

    ## How to fix
    ```sql
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX CONCURRENTLY ON public.customers USING gin (name gin_trgm_ops);
    ```
    Patterns of fewer than three characters still scan; prefix-only searches (`'term%'`) are better served by
    a B-tree with `text_pattern_ops`.

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    A rare admin search on a table that is fine to scan. pg_qualstats samples (`pg_qualstats.sample_rate`), so
    evidence may lag on low-traffic statements.

    ## References
    https://www.postgresql.org/docs/current/pgtrgm.html#PGTRGM-INDEX
    https://github.com/powa-team/pg_qualstats
    """

    code = "IX013"
    name = "index.trigram_candidate"
    default_severity = Severity.WARNING
    requires = ("tables", "indexes", "qual_stats")
    thresholds = TrigramThresholds
    message = "{operator} '{example}' filters {table} ({rows} rows) by a sequential scan: no trigram index on {column}"
    recommendation = "create a trigram GIN index on {column} (pg_trgm)"

    def run(self, snap: Snapshot, t: TrigramThresholds) -> Iterator[Finding]:
        assert isinstance(snap.tables, tuple) and isinstance(snap.indexes, tuple)
        assert isinstance(snap.qual_stats, tuple)
        tables: dict[tuple[str, str, str], TableRow] = {(r.database, r.schema, r.name): r for r in snap.tables}
        by_table: dict[tuple[str, str, str], list[IndexRow]] = defaultdict(list)
        for ix in snap.indexes:
            by_table[(ix.database, ix.schema, ix.table)].append(ix)
        seen: dict[tuple[str, str, str, str], list[QualStatRow]] = defaultdict(list)
        for q in snap.qual_stats:
            if leading_wildcard_qual(q) and q.execution_count >= t.min_executions:
                seen[(q.database, q.schema, q.table, q.column)].append(q)
        for (database, schema, table_name, column), quals in sorted(seen.items()):
            table = tables.get((database, schema, table_name))
            if table is None or (table.reltuples or 0) < t.min_rows:
                continue
            if column in trigram_columns(by_table[(database, schema, table_name)]):
                continue
            top = max(quals, key=lambda q: q.execution_count)
            yield self.finding(
                obj=f"{schema}.{table_name}.{column}",
                database=database,
                evidence={
                    "table": f"{schema}.{table_name}",
                    "column": column,
                    "operator": LIKE_OPERATORS[top.operator],
                    "example": top.constvalue,
                    "executions": sum(q.execution_count for q in quals),
                    "rows_filtered": sum(q.nbfiltered for q in quals),
                    "rows": int(table.reltuples or 0),
                    "queryid": top.queryid,
                },
                fix_sql=trigram_fix_sql(schema, table_name, column),
            )

