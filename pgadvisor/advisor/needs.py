"""What a workload asks of each table: statements from pg_stat_statements, parsed into per-table needs.

`ScanNeed` is the advisor's own small interface; `needs_of()` fills it from `pgadvisor.analysis`, which resolves
aliases, CTEs, subqueries and unqualified columns against a schema built from the snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pglast
from pglast import ast

from pgadvisor.analysis import Schema, StatementAnalysis, TableScan, analyze
from pgadvisor.snapshot import StatementRow


@dataclass(frozen=True, slots=True)
class ScanNeed:
    """What one statement asks of one table: the raw material of index candidates."""

    schema: str
    table: str
    equality: tuple[str, ...] = ()  # =, IN, = ANY, IS NULL
    ranges: tuple[str, ...] = ()  # <, >=, BETWEEN, prefix LIKE
    order_by: tuple[tuple[str, str], ...] = ()  # (column, asc|desc)
    has_limit: bool = False
    projected: tuple[str, ...] | None = None  # None: SELECT * or unknown
    expressions: tuple[str, ...] = ()  # equality filters on an expression: lower(email)
    constants: tuple[tuple[str, str], ...] = ()  # (column, predicate text) usable as a partial index WHERE
    joins: tuple[str, ...] = ()
    role: str = "read"

    @property
    def indexable(self) -> bool:
        """True when some filter, join, expression or LIMIT sort could use an index."""
        return bool(self.equality or self.ranges or self.expressions or self.joins or self.constants
                    or (self.has_limit and self.order_by))


@dataclass(frozen=True, slots=True)
class WorkloadStatement:
    """A statement of the workload with its parsed needs."""

    row: StatementRow
    kind: str
    needs: tuple[ScanNeed, ...]
    max_param: int
    rows_are_matches: bool = False  # pss `rows` counts the rows its filter matched (no aggregate, LIMIT ...)


def need_of(scan: TableScan) -> ScanNeed | None:
    """The advisor's view of one analysed table scan; None when the table is not resolved."""
    if scan.table.schema is None:
        return None
    exprs = tuple(dict.fromkeys(
        f.expression for f in scan.expression_filters if f.kind == "equality" and f.expression
    ))
    constants = tuple(dict.fromkeys(
        (f.column, f.constant) for f in scan.filters if f.usable and f.constant and f.column
    ))
    return ScanNeed(
        schema=scan.table.schema,
        table=scan.table.name,
        equality=scan.equality_columns,
        ranges=scan.range_columns,
        order_by=tuple((o.column, o.direction) for o in scan.order_by),
        has_limit=scan.has_limit,
        projected=None if scan.star else scan.projected,
        expressions=exprs,
        constants=constants,
        joins=scan.join_columns,
        role=scan.role,
    )


def analyse(row: StatementRow, schema: Schema) -> WorkloadStatement | None:
    """Parse one statement; None when it is not a single SELECT, UPDATE or DELETE."""
    facts: StatementAnalysis = analyze(row.query, schema)
    if facts.parse_error or facts.statement_count != 1 or facts.kind not in ("select", "update", "delete"):
        return None
    needs = tuple(n for n in (need_of(s) for s in facts.scans) if n is not None and n.indexable)
    return WorkloadStatement(row, facts.kind, needs, facts.max_param, _rows_are_matches(row.query))


def _rows_are_matches(text: str) -> bool:
    """True when the statement returns (or changes) exactly the rows its WHERE matched.

    UPDATE and DELETE count the rows they change. A SELECT only when it has no aggregate or other function in
    its select list, no GROUP BY, DISTINCT, LIMIT, set operation or join: then rows per call over the table's
    rows is the filter's selectivity.
    """
    try:
        stmts = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return False
    if len(stmts) != 1:
        return False
    stmt = stmts[0].stmt
    if isinstance(stmt, ast.UpdateStmt | ast.DeleteStmt):
        returning = getattr(stmt, "returningList", None) or getattr(stmt, "returningClause", None)
        return not returning and stmt.withClause is None
    if not isinstance(stmt, ast.SelectStmt) or stmt.op != pglast.enums.SetOperation.SETOP_NONE:
        return False
    if stmt.groupClause or stmt.distinctClause or stmt.limitCount or stmt.havingClause or stmt.withClause:
        return False
    if not stmt.fromClause or len(stmt.fromClause) != 1 or not isinstance(stmt.fromClause[0], ast.RangeVar):
        return False
    for target in stmt.targetList or ():
        if any(isinstance(n, ast.FuncCall | ast.SubLink) for n in _nodes(target)):
            return False
    return True


def _nodes(node: object) -> Iterator[object]:
    """Every node below `node`, itself included (pglast AST)."""
    yield node
    if isinstance(node, ast.Node):
        for attr in node:
            yield from _nodes(getattr(node, attr))
    elif isinstance(node, tuple):
        for item in node:
            yield from _nodes(item)


def workload(statements: Iterable[StatementRow], database: str, *, min_calls: int, min_mean_ms: float,
             coverage: float, limit: int) -> list[StatementRow]:
    """Top statements of one database by total time that cover `coverage` of it, with the call/mean filters."""
    rows = sorted((s for s in statements if s.database == database and s.calls > 0),
                  key=lambda s: -s.total_exec_ms)
    total = sum(s.total_exec_ms for s in rows) or 1.0
    out: list[StatementRow] = []
    running = 0.0
    for s in rows:
        if running / total >= coverage or len(out) >= limit:
            break
        running += s.total_exec_ms
        if s.calls >= min_calls and s.mean_exec_ms >= min_mean_ms:
            out.append(s)
    return out
