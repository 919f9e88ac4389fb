"""QR013 query.order_by_random: `ORDER BY random()`, a full scan and sort on every call."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, seq, threshold
from pgadvisor.checkapi.tree import Match, PlainValue, Tree, ast, block_tables, func_name, has_limit, sort_target


@dataclass(frozen=True, slots=True)
class RandomThresholds:
    """Keys of [checks.QR013]."""

    min_calls: int = threshold(1, help="Ignore statements called fewer times.")
    warning_blocks_per_call: float = threshold(1000, help="Shared blocks touched per call that make a warning.")


class OrderByRandom(StatementCheck[RandomThresholds]):
    """Statement picks random rows with ORDER BY random().

    ## Why it matters
    To return a few random rows, `ORDER BY random() LIMIT n` reads every row, draws a number for each and sorts
    them all: the cost grows with the table, on every call.

    ## Evidence
    The parse tree: a sort key that is `random()` (pglast), over a user table. The statistics: shared blocks
    touched per call; from `warning_blocks_per_call` the finding is a warning, else info.

    ## How to fix
    ```sql
    SELECT * FROM products TABLESAMPLE SYSTEM (1) LIMIT 10;            -- about 1 % of the pages
    SELECT * FROM products WHERE id >= (SELECT floor(random() * max(id)) FROM products) ORDER BY id LIMIT 1;
    ```
    `tsm_system_rows` gives an exact row count (`TABLESAMPLE SYSTEM_ROWS(10)`).

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    Tiny tables (a few pages), where the sort costs nothing.

    ## References
    https://www.postgresql.org/docs/current/sql-select.html#SQL-FROM
    https://www.postgresql.org/docs/current/tsm-system-rows.html
    """

    code = "QR013"
    name = "query.order_by_random"
    default_severity = Severity.INFO
    requires = ("statements", "tables")
    thresholds = RandomThresholds
    message = "ORDER BY random() over {table} ({blocks_per_call} blocks per call): {query}"
    recommendation = "sample with TABLESAMPLE, or probe a random key range through the primary key"

    def judge(self, wl: Workload, s: Statement, t: RandomThresholds) -> Verdict | None:
        labels = [lab for m in wl.matches(s, order_by_random) for lab in seq(m.extra.get("tables"))]
        tables = wl.user_tables(s.database, labels)
        if not tables:
            return None
        return Verdict(
            severity=Severity.WARNING if s.blocks_per_call >= t.warning_blocks_per_call else Severity.INFO,
            evidence={"table": f"{tables[0].schema}.{tables[0].name}", "blocks_per_call": round(s.blocks_per_call, 1)},
        )


def order_by_random(tree: Tree) -> Iterator[Match]:
    """`ORDER BY random()`, which reads and sorts every row to return a few."""
    for block in tree.scope.blocks:
        stmt = block.node
        if not isinstance(stmt, ast.SelectStmt):
            continue
        for sort in stmt.sortClause or ():
            node = sort_target(stmt, sort.node) if isinstance(sort, ast.SortBy) else None
            if isinstance(node, ast.FuncCall) and func_name(node) == "random" and not node.args:
                extra: dict[str, PlainValue] = {"has_limit": has_limit(stmt), "tables": block_tables(block)}
                yield tree.match("ORDER BY random() sorts every row", extra, node)
