"""The workload as statement checks see it: pg_stat_statements rows of a snapshot, merged per statement, with
the parse-tree analysis of each text, its parse trees, and the catalog facts around it.

pg_stat_statements keys its entries by (user, database, queryid, toplevel): one statement run by two roles, or
both at top level and from inside a function (`toplevel`, pss 1.9+), has several rows. The checks judge a
statement once per database, so `Statement` adds those rows up (the standard deviation is pooled, not
summed). Top-level time is the workload's total; nested rows are counted inside the time of the top-level
statement that ran them, so shares use top-level rows only.

Pure: reads a `Snapshot`, never a server. `workload(snap)` is memoised per snapshot object, so the statement
checks of one audit parse each text once.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pgadvisor.analysis import (
    Match,
    Schema,
    StatementAnalysis,
    StatementTree,
    analyze,
    analyze_trees,
    build_schema,
)
from pgadvisor.snapshot import (
    ActivityRow,
    ColumnRow,
    IndexRow,
    Snapshot,
    StatementRow,
    StatementsInfo,
    TableRow,
    Unavailable,
    is_own,
)

SHORT_TEXT = 200
"""Characters of a statement's text kept in a finding's evidence."""

DAY = 86_400.0

Walker = Callable[[StatementTree], Iterator[Match]]
"""A function that walks one statement tree and yields what it finds."""


@dataclass(frozen=True, slots=True)
class Statement(StatementRow):
    """One statement of one database: its pg_stat_statements rows (every role, top level and nested) added up.

    The row fields are the sums (`toplevel`: at least one row ran at top level; `user` and `userid`: the role when
    one role ran it, else None), plus what only the merge knows.
    """

    top_exec_ms: float = 0.0  # the part of total_exec_ms spent at top level
    entries: int = 1  # pss rows merged

    @property
    def object(self) -> str:
        """The finding object of this statement: `queryid:<n>` (what pg_stat_statements and
        `pg_stat_activity.query_id` call it)."""
        return f"queryid:{self.queryid}"

    @property
    def short_query(self) -> str:
        """The text on one line, cut to `SHORT_TEXT` characters."""
        return short(self.query)

    @property
    def blocks_per_call(self) -> float:
        """Shared blocks hit or read per call."""
        return (self.shared_blks_hit + self.shared_blks_read) / self.calls if self.calls else 0.0

    @property
    def rows_per_call(self) -> float:
        """Rows returned or changed per call."""
        return self.rows / self.calls if self.calls else 0.0

    @property
    def mean_plan_ms(self) -> float | None:
        """Mean planning time, when planning is tracked (`pg_stat_statements.track_planning`)."""
        if not self.plans or self.total_plan_ms is None:
            return None
        return self.total_plan_ms / self.plans

    @property
    def is_own(self) -> bool:
        """A statement pgadvisor itself ran (`snapshot.is_own`): it is never judged."""
        return is_own(self.query)

    def evidence(self) -> dict[str, str | int | float | None]:
        """The statistics every statement finding carries."""
        return {
            "queryid": self.queryid,
            "query": self.short_query,
            "calls": self.calls,
            "mean_ms": round(self.mean_exec_ms, 3),
            "total_ms": round(self.total_exec_ms, 1),
            "rows_per_call": round(self.rows_per_call, 2),
        }


def short(text: str, limit: int = SHORT_TEXT) -> str:
    """A statement text on one line, cut to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def merge(rows: Iterable[StatementRow]) -> tuple[Statement, ...]:
    """Add up the pss rows of each (database, queryid)."""
    groups: dict[tuple[str | None, int], list[StatementRow]] = defaultdict(list)
    for row in rows:
        groups[(row.database, row.queryid)].append(row)
    return tuple(_merged(group) for group in groups.values())


def _merged(group: list[StatementRow]) -> Statement:
    """One statement from its rows; the top-level row's text wins (the texts are the same statement)."""
    first = max(group, key=lambda r: (r.toplevel, r.calls))
    calls = sum(r.calls for r in group)
    total = sum(r.total_exec_ms for r in group)
    mean = total / calls if calls else 0.0
    # pooled population variance: E[x^2] - E[x]^2 over every call of every row
    second = sum(r.calls * (r.stddev_exec_ms**2 + r.mean_exec_ms**2) for r in group)
    variance = max(0.0, second / calls - mean**2) if calls else 0.0
    return Statement(
        queryid=first.queryid,
        database=first.database,
        user=first.user if len({r.user for r in group}) == 1 else None,
        userid=first.userid if len({r.userid for r in group}) == 1 else None,
        query=first.query,
        toplevel=any(r.toplevel for r in group),
        calls=calls,
        total_exec_ms=total,
        mean_exec_ms=mean,
        stddev_exec_ms=math.sqrt(variance),
        min_exec_ms=min(r.min_exec_ms for r in group),
        max_exec_ms=max(r.max_exec_ms for r in group),
        plans=_sum_int(r.plans for r in group),
        total_plan_ms=_sum_opt(r.total_plan_ms for r in group),
        rows=sum(r.rows for r in group),
        shared_blks_hit=sum(r.shared_blks_hit for r in group),
        shared_blks_read=sum(r.shared_blks_read for r in group),
        shared_blks_dirtied=sum(r.shared_blks_dirtied for r in group),
        shared_blks_written=sum(r.shared_blks_written for r in group),
        temp_blks_read=sum(r.temp_blks_read for r in group),
        temp_blks_written=sum(r.temp_blks_written for r in group),
        blk_read_ms=sum(r.blk_read_ms for r in group),
        blk_write_ms=sum(r.blk_write_ms for r in group),
        temp_blk_write_ms=_sum_opt(r.temp_blk_write_ms for r in group),
        wal_records=_sum_int(r.wal_records for r in group),
        wal_fpi=_sum_int(r.wal_fpi for r in group),
        wal_bytes=_sum_opt(r.wal_bytes for r in group),
        jit_ms=_sum_opt(r.jit_ms for r in group),
        top_exec_ms=sum(r.total_exec_ms for r in group if r.toplevel),
        entries=len(group),
    )


def _sum_opt(values: Iterable[float | None]) -> float | None:
    """The sum of the known values; None when none is known (a column the extension version lacks)."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _sum_int(values: Iterable[int | None]) -> int | None:
    """`_sum_opt` for integer counters."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def seq(value: object) -> tuple[object, ...]:
    """A match's `extra` value as a tuple; empty when it is absent or not a sequence."""
    return value if isinstance(value, tuple) else ()


@dataclass
class Workload:
    """The statements of a snapshot with their analyses, and the catalog facts the query checks look up."""

    snap: Snapshot
    statements: tuple[Statement, ...]
    _analyses: dict[tuple[str | None, str], tuple[StatementAnalysis, tuple[StatementTree, ...]]] = field(
        default_factory=dict)
    _figures: dict[tuple[str, str | None], float] = field(default_factory=dict)
    _schemas: dict[str, Schema] = field(default_factory=dict)
    _tables: dict[tuple[str, str], TableRow] = field(default_factory=dict)
    _indexes: dict[tuple[str, str], list[IndexRow]] = field(default_factory=dict)
    _columns: dict[tuple[str, str], list[ColumnRow]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Index the catalog parts by (database, schema.table)."""
        if isinstance(self.snap.tables, tuple):
            for t in self.snap.tables:
                self._tables[(t.database, f"{t.schema}.{t.name}")] = t
        if isinstance(self.snap.indexes, tuple):
            for ix in self.snap.indexes:
                self._indexes.setdefault((ix.database, f"{ix.schema}.{ix.table}"), []).append(ix)
        if isinstance(self.snap.columns, tuple):
            for c in self.snap.columns:
                self._columns.setdefault((c.database, f"{c.schema}.{c.table}"), []).append(c)

    # ------------------------------------------------------------------ analysis

    @property
    def parse_errors(self) -> int:
        """Statements analysed so far whose text did not parse (truncated, not SQL): counted and skipped."""
        return sum(1 for a, _ in self._analyses.values() if a.parse_error is not None)

    def analysis(self, stmt: Statement) -> StatementAnalysis:
        """The parse-tree analysis of a statement, resolved against its database's catalog (memoised)."""
        return self._analysed(stmt)[0]

    def trees(self, stmt: Statement) -> tuple[StatementTree, ...]:
        """The parse trees of a statement's text with their resolved scopes; empty when it does not parse."""
        return self._analysed(stmt)[1]

    def matches(self, stmt: Statement, walker: Walker) -> list[Match]:
        """What `walker` finds in each tree of a statement, in order."""
        return [m for tree in self.trees(stmt) for m in walker(tree)]

    def _analysed(self, stmt: Statement) -> tuple[StatementAnalysis, tuple[StatementTree, ...]]:
        key = (stmt.database, stmt.query)
        found = self._analyses.get(key)
        if found is None:
            schema = self.schema(stmt.database) if stmt.database is not None else None
            found = analyze_trees(stmt.query, schema)
            self._analyses[key] = found
        return found

    def judged(self, *, utility: bool = False) -> Iterator[Statement]:
        """The statements a statement check judges: called at least once, not pgadvisor's own, and not utility
        statements (VACUUM, CREATE INDEX, SET ...) unless `utility` is set."""
        for stmt in self.statements:
            if stmt.calls <= 0 or stmt.database is None or stmt.is_own:
                continue
            if not utility and self.analysis(stmt).kind == "utility":
                continue
            yield stmt

    # ------------------------------------------------------------------ catalog

    def schema(self, database: str) -> Schema:
        """An analysis `Schema` of one database: columns (NOT NULL), primary keys and indexes."""
        if database not in self._schemas:
            self._schemas[database] = self._build_schema(database)
        return self._schemas[database]

    def _build_schema(self, database: str) -> Schema:
        return build_schema(database, self._tables.values(), (c for cs in self._columns.values() for c in cs),
                            (ix for ixs in self._indexes.values() for ix in ixs))

    def table(self, database: str | None, qualified: object) -> TableRow | None:
        """A user table by `schema.name` label (as tree helpers name tables); None for catalogs and unknowns."""
        if database is None or not isinstance(qualified, str):
            return None
        return self._tables.get((database, qualified))

    def user_tables(self, database: str | None, labels: Iterable[object]) -> list[TableRow]:
        """The user tables among `schema.name` labels, in order, without repeats."""
        out: list[TableRow] = []
        for lab in labels:
            t = self.table(database, lab)
            if t is not None and t not in out:
                out.append(t)
        return out

    def indexes(self, table: TableRow) -> list[IndexRow]:
        """The valid indexes of a table."""
        return [ix for ix in self._indexes.get((table.database, f"{table.schema}.{table.name}"), ()) if ix.is_valid]

    def column_count(self, table: TableRow) -> int:
        """Columns of a table (not dropped)."""
        return len(self._columns.get((table.database, f"{table.schema}.{table.name}"), ()))

    def column(self, table: TableRow, name: str) -> ColumnRow | None:
        """A column of a table by name."""
        return next((c for c in self._columns.get((table.database, f"{table.schema}.{table.name}"), ())
                     if c.name == name), None)

    # ------------------------------------------------------------------ workload figures

    def top_total_ms(self, database: str | None) -> float:
        """Execution time of the top-level statements of a database: the workload's total (memoised)."""
        return self._figure("top_ms", database, lambda: sum(s.top_exec_ms for s in self.statements
                                                            if s.database == database))

    def total_calls(self, database: str | None) -> int:
        """Calls of every statement of a database (memoised)."""
        return int(self._figure("calls", database, lambda: sum(s.calls for s in self.statements
                                                               if s.database == database)))

    def top_wal_bytes(self, database: str | None) -> float:
        """WAL bytes written by the top-level statements of a database (memoised; 0 when not tracked)."""
        rows = self.snap.statements if isinstance(self.snap.statements, tuple) else ()
        return self._figure("wal", database, lambda: sum(r.wal_bytes or 0.0 for r in rows
                                                         if r.toplevel and r.database == database))

    def _figure(self, what: str, database: str | None, compute: Callable[[], float]) -> float:
        key = (what, database)
        if key not in self._figures:
            self._figures[key] = compute()
        return self._figures[key]

    def age_seconds(self, database: str | None) -> float | None:
        """How long pg_stat_statements has been counting: `pg_stat_statements_info.stats_reset` (pss 1.9+),
        else the database's statistics age (the server's start when it was never reset)."""
        info = self.snap.statements_info
        if isinstance(info, StatementsInfo) and info.stats_reset is not None:
            return max(0.0, self.snap.collected_at - info.stats_reset)
        if database is None:
            return None
        return self.snap.stats_age_seconds(database)

    def per_day(self, count: float, database: str | None) -> float:
        """A counter as a daily rate, over at least one day: a younger window is never extrapolated."""
        age = self.age_seconds(database)
        days = max(1.0, (age or 0.0) / DAY)
        return count / days

    def samples(self, stmt: Statement) -> list[str]:
        """Literal texts of this statement seen in pg_stat_activity (same database and parse-tree fingerprint)."""
        activity = self.snap.activity
        if isinstance(activity, Unavailable) or stmt.database is None:
            return []
        want = self.analysis(stmt).fingerprint
        if want is None:
            return []
        out = []
        for row in activity:
            if _sample_text(row, stmt.database) and row.query is not None:
                facts = analyze(row.query)
                if facts.fingerprint == want:
                    out.append(row.query)
        return out


def _sample_text(row: ActivityRow, database: str) -> bool:
    """A client backend's text in this database that may be a literal statement."""
    return row.database == database and row.backend_type == "client backend" and bool(row.query)


_CACHE: list[tuple[Snapshot, Workload]] = []
_CACHE_SIZE = 4


def workload(snap: Snapshot) -> Workload:
    """The workload of a snapshot (memoised for the last few snapshots, so each check of an audit shares it)."""
    for held, wl in _CACHE:
        if held is snap:
            return wl
    rows = snap.statements if isinstance(snap.statements, tuple) else ()
    # entries of a dropped database (no name any more) describe no workload that can be tuned
    wl = Workload(snap, merge(r for r in rows if r.database is not None))
    _CACHE.append((snap, wl))
    del _CACHE[:-_CACHE_SIZE]
    return wl
