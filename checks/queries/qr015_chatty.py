"""QR015 query.chatty: one single-row lookup executed far more often than anything else (N+1 loops)."""

from __future__ import annotations

from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, ident, threshold


@dataclass(frozen=True, slots=True)
class ChattyThresholds:
    """Keys of [checks.QR015]."""

    min_call_share: float = threshold(
        0.20, help="Report a lookup making at least this share of the database's calls ...")
    min_calls_per_day: float = threshold(
        1_000_000, help="... and called this often per day (over at least one day of statistics).")
    max_mean_ms: float = threshold(1.0, help="Only cheap lookups: mean time below this (ms).")
    max_rows_per_call: float = threshold(1.0, help="Only single-row lookups: rows per call at most this.")


class Chatty(StatementCheck[ChattyThresholds]):
    """Single-row lookup by key runs so often it looks like an N+1 loop.

    ## Why it matters
    An application that loads a list and then fetches each item's details with its own query sends one round
    trip per row. Each lookup is fast, but the network and per-statement overhead add up to more than the
    work, and the page gets slower as the list grows.

    ## Evidence
    The parse tree: a SELECT whose filter is an equality on every column of the table's primary key or of a
    unique index (`WHERE id = $1`). The statistics: its share of all calls in the database, calls per day
    (over at least one day, so a young window is not extrapolated), rows per call at most one and a mean under
    a millisecond.

    ## How to fix
    Fetch the batch in one statement, or join it to the query that produced the list:

    ```sql
    SELECT * FROM customers WHERE id = ANY($1::bigint[]);
    ```
    ORMs call this eager loading (`select_related`/`prefetch_related`, `includes`, `JOIN FETCH`).

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    A key-value lookup that is the application's real workload (a session store), called once per request.

    ## References
    https://www.postgresql.org/docs/current/functions-comparisons.html#FUNCTIONS-COMPARISONS-ANY-SOME
    https://docs.djangoproject.com/en/stable/ref/models/querysets/#prefetch-related
    """

    code = "QR015"
    name = "query.chatty"
    default_severity = Severity.INFO
    requires = ("statements", "tables", "indexes")
    thresholds = ChattyThresholds
    message = "{calls} single-row lookups on {table} by ({key}), {share_pct}% of all calls: {query}"
    recommendation = "batch them (`WHERE {key_first} = ANY($1)`) or join them to the query that lists the keys"

    def judge(self, wl: Workload, s: Statement, t: ChattyThresholds) -> Verdict | None:
        if s.mean_exec_ms >= t.max_mean_ms or s.rows_per_call > t.max_rows_per_call:
            return None
        total = wl.total_calls(s.database)
        share = s.calls / total if total else 0.0
        per_day = wl.per_day(s.calls, s.database)
        if share < t.min_call_share or per_day < t.min_calls_per_day:
            return None
        facts = wl.analysis(s)
        if facts.kind != "select" or facts.parse_error or len(facts.scans) != 1:
            return None
        scan = facts.scans[0]
        table = wl.table(s.database, scan.table.qualified)
        if table is None:
            return None
        equal = set(scan.equality_columns)
        key = next((ix.columns for ix in wl.indexes(table)
                    if (ix.is_unique or ix.is_primary) and not ix.is_partial and ix.columns
                    and None not in ix.columns and set(ix.columns) <= equal), None)
        if key is None:
            return None
        names = [c for c in key if c is not None]
        return Verdict(
            evidence={"table": f"{table.schema}.{table.name}", "key": ", ".join(names),
                      "share_pct": round(100 * share, 1), "calls_per_day": round(per_day)},
            context={"key_first": ident(names[0])},
        )
