"""QR010 query.leading_wildcard: LIKE/ILIKE with a proven leading `%`, which no B-tree can serve."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, threshold
from pgadvisor.checkapi.tree import (
    Match,
    PlainValue,
    Tree,
    ast,
    bare_column,
    const_value,
    enums,
    label,
    matches_in,
    operator,
    pattern_start,
)
from pgadvisor.checkapi.trigram import LIKE_OPERATORS, leading_wildcard_qual, trigram_columns, trigram_fix_sql
from pgadvisor.snapshot import Unavailable


@dataclass(frozen=True, slots=True)
class LeadingWildcardThresholds:
    """Keys of [checks.QR010]."""

    min_rows: int = threshold(10_000, help="Only tables with at least this many estimated rows.")
    min_calls: int = threshold(1, help="Ignore statements called fewer times.")


class LeadingWildcard(StatementCheck[LeadingWildcardThresholds]):
    """Statement searches with a leading-wildcard LIKE/ILIKE and no trigram index serves it.

    ## Why it matters
    `name LIKE '%smith%'` cannot use a B-tree: every call reads the whole table. A trigram index (pg_trgm)
    answers the same search from the index.

    ## Evidence
    The parse tree: a LIKE / ILIKE on a column of a user table. pg_stat_statements replaces the pattern (its
    `%` too) with `$n`, so the leading `%` must be proven: a `'%' || $n` left in the text, a pg_qualstats
    constant of this queryid starting with `%`, or a literal text of the same statement (same fingerprint)
    sampled from `pg_stat_activity`. Unproven patterns are not reported. Tables with a trigram index on the
    column, or fewer than `min_rows` rows, are not reported.

    ## How to fix
    ```sql
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX CONCURRENTLY ON public.customers USING gin (name gin_trgm_ops);
    ```
    Prefix-only searches (`'smith%'`) need no trigram: a B-tree with `text_pattern_ops` serves them.

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Rare admin searches on tables that are fine to scan.

    ## References
    https://www.postgresql.org/docs/current/pgtrgm.html#PGTRGM-INDEX
    https://github.com/powa-team/pg_qualstats
    """

    code = "QR010"
    name = "query.leading_wildcard"
    default_severity = Severity.WARNING
    requires = ("statements", "tables", "indexes")
    thresholds = LeadingWildcardThresholds
    message = "{operator} with a leading % on {table}.{column} ({rows} rows, proven by {proof}): {query}"
    recommendation = "create a trigram GIN index on {column} (pg_trgm)"

    def judge(self, wl: Workload, s: Statement, t: LeadingWildcardThresholds) -> Verdict | None:
        for match in wl.matches(s, leading_wildcard):
            table = wl.table(s.database, match.extra.get("table"))
            column = match.extra.get("column")
            if table is None or not isinstance(column, str) or (table.reltuples or 0) < t.min_rows:
                continue
            if column in trigram_columns(wl.indexes(table)):
                continue
            proof = _proof(wl, s, match, column)
            if proof is None:
                continue
            return Verdict(
                evidence={"table": f"{table.schema}.{table.name}", "column": column,
                          "operator": str(match.extra.get("operator")), "proof": proof[0], "example": proof[1],
                          "rows": int(table.reltuples or 0)},
                fix_sql=trigram_fix_sql(table.schema, table.name, column),
            )
        return None


_LIKE_KINDS = {enums.A_Expr_Kind.AEXPR_LIKE: "LIKE", enums.A_Expr_Kind.AEXPR_ILIKE: "ILIKE"}


def leading_wildcard(tree: Tree) -> Iterator[Match]:
    """LIKE / ILIKE whose pattern starts with `%` (`confirmed`), or may (a bare parameter: unconfirmed)."""
    for node in tree.all_nodes():
        if not isinstance(node, ast.A_Expr) or node.kind not in _LIKE_KINDS or operator(node) not in LIKE_OPERATORS:
            continue
        if not isinstance(node.rexpr, ast.Node):
            continue
        start = pattern_start(node.rexpr)
        if start == "prefix":
            continue
        column = bare_column(tree.scope, node.lexpr)
        base = tree.scope.origin(*column) if column else None
        literal = const_value(node.rexpr)
        extra: dict[str, PlainValue] = {
            "operator": _LIKE_KINDS[node.kind],
            "confirmed": start == "wildcard",
            "pattern": literal if isinstance(literal, str) else None,
            "column": base[1] if base else (column[1] if column else None),
            "table": label(base[0]) if base else None,
            "expression": None if column or node.lexpr is None else tree.scope.text(node.lexpr),
        }
        what = "a leading %" if start == "wildcard" else "a pattern that may start with %"
        yield tree.match(f"{_LIKE_KINDS[node.kind]} with {what}", extra, node)


def _proof(wl: Workload, s: Statement, match: Match, column: str) -> tuple[str, str | None] | None:
    """How the leading % is known: (source, example) or None."""
    if match.extra.get("confirmed"):
        return "parse tree", None
    if not isinstance(wl.snap.qual_stats, Unavailable):
        for q in wl.snap.qual_stats:
            if q.queryid == s.queryid and q.column == column and leading_wildcard_qual(q):
                return "pg_qualstats", q.constvalue
    for text in wl.samples(s):
        for p in matches_in(text, leading_wildcard):
            if p.extra.get("confirmed") and p.extra.get("column") == column:
                return "pg_stat_activity", str(p.extra.get("pattern"))
    return None
