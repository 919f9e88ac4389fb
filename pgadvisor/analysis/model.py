"""Frozen facts produced by the statement analysis, and the catalog description callers pass in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from pgadvisor.sqltree import StatementKind

PlainValue: TypeAlias = "str | int | float | bool | tuple[PlainValue, ...] | Mapping[str, PlainValue] | None"
"""A JSON-like value: what a `Match` carries in `extra`."""

Direction = Literal["asc", "desc"]
Nulls = Literal["first", "last"]
FilterKind = Literal["equality", "range", "other"]
Operand = Literal["param", "const", "null", "list", "array", "subquery", "column", "expr", "none"]
ScanRole = Literal["read", "update", "delete"]


# --- the catalog the caller describes ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnDef:
    """One column of a table, as the catalog describes it."""

    name: str
    type_name: str = "text"
    not_null: bool = False


@dataclass(frozen=True, slots=True)
class IndexDef:
    """An existing index.

    `columns` holds one entry per key column, `None` where the key is an expression; the expression texts
    (as `pg_get_indexdef` prints them) are in `expressions`, in key order.
    """

    name: str
    columns: tuple[str | None, ...]
    method: str = "btree"
    expressions: tuple[str, ...] = ()
    predicate: str | None = None
    unique: bool = False


@dataclass(frozen=True, slots=True)
class TableDef:
    """A table (or view, or anything with columns) of the catalog."""

    name: str
    columns: tuple[ColumnDef, ...]
    schema: str = "public"
    primary_key: tuple[str, ...] = ()
    indexes: tuple[IndexDef, ...] = ()

    def column(self, name: str) -> ColumnDef | None:
        """The column called `name`, if the table has one."""
        return next((c for c in self.columns if c.name == name), None)

    def column_names(self) -> tuple[str, ...]:
        """Every column name, in catalog order."""
        return tuple(c.name for c in self.columns)

    def is_not_null(self, name: str) -> bool:
        """True when the column cannot hold NULL (declared NOT NULL, or part of the primary key)."""
        col = self.column(name)
        return name in self.primary_key or (col is not None and col.not_null)


@dataclass(frozen=True)
class Schema:
    """A small frozen description of the catalog, used to resolve names.

    Unqualified table names are looked up in `search_path` order, as PostgreSQL does.
    """

    tables: tuple[TableDef, ...] = ()
    search_path: tuple[str, ...] = ("public",)
    _by_name: Mapping[tuple[str, str], TableDef] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        """Index the tables by (schema, name)."""
        object.__setattr__(self, "_by_name", {(t.schema, t.name): t for t in self.tables})

    def table(self, schema: str, name: str) -> TableDef | None:
        """The table `schema.name`, if described."""
        return self._by_name.get((schema, name))

    def lookup(self, name: str, schema: str | None = None) -> TableDef | None:
        """Resolve a possibly unqualified table name through the search path."""
        if schema is not None:
            return self._by_name.get((schema, name))
        for candidate in self.search_path:
            found = self._by_name.get((candidate, name))
            if found is not None:
                return found
        return None


# --- facts about a statement ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TableRef:
    """A reference to a base table. `schema` is None when the name is unqualified and not resolvable."""

    schema: str | None
    name: str
    alias: str | None = None

    @property
    def qualified(self) -> str:
        """`schema.name`, or just `name` when the schema is unknown."""
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class Match:
    """Something a tree walker found in one statement: what it is, its facts, and where.

    `extra` holds plain values only (str, int, float, bool, None, tuples and mappings of them), so a check can
    put them into a finding's evidence as they are. `statement` is the index of the statement in its text and
    `location` the character offset of the node, when the parser recorded one.
    """

    detail: str
    extra: Mapping[str, PlainValue] = field(default_factory=dict, hash=False)
    statement: int = 0
    location: int | None = None


@dataclass(frozen=True, slots=True)
class Filter:
    """One predicate on one table of a scan.

    A plain column filter has `column` set and `expression` None. An expression filter
    (`lower(email) = $1`) has `expression` set to the deparsed expression with unqualified column names,
    and `column` None. `columns` always lists the table's columns the filtered side reads. `constant` is
    the predicate text when it only compares with a literal (`deleted_at IS NULL`, `status = 'active'`):
    usable as a partial-index predicate. `usable` is False for predicates under OR or NOT, which an index
    cannot serve directly.
    """

    op: str
    kind: FilterKind
    operand: Operand
    columns: tuple[str, ...]
    column: str | None = None
    expression: str | None = None
    constant: str | None = None
    usable: bool = True


@dataclass(frozen=True, slots=True)
class JoinKey:
    """An equality between a column of this table and a column of another table."""

    column: str
    other: TableRef | None
    other_column: str
    usable: bool = True


@dataclass(frozen=True, slots=True)
class OrderItem:
    """One ORDER BY key. `nulls` is None for the default placement."""

    column: str
    direction: Direction = "asc"
    nulls: Nulls | None = None


@dataclass(frozen=True, slots=True)
class TableScan:
    """What one query block asks of one base table: the raw material for index candidates."""

    table: TableRef
    filters: tuple[Filter, ...] = ()
    join_keys: tuple[JoinKey, ...] = ()
    order_by: tuple[OrderItem, ...] = ()
    has_limit: bool = False
    projected: tuple[str, ...] = ()
    star: bool = False
    referenced: tuple[str, ...] = ()
    role: ScanRole = "read"
    block: int = 0
    statement: int = 0

    @property
    def equality_columns(self) -> tuple[str, ...]:
        """Plain columns under usable equality predicates (`=`, `IN`, `= ANY`, `IS NULL`), first use order."""
        return _unique(f.column for f in self.filters if f.usable and f.kind == "equality" and f.column)

    @property
    def range_columns(self) -> tuple[str, ...]:
        """Plain columns under usable range predicates (`<`, `>=`, BETWEEN, prefix LIKE), first use order."""
        return _unique(f.column for f in self.filters if f.usable and f.kind == "range" and f.column)

    @property
    def join_columns(self) -> tuple[str, ...]:
        """Columns joined by usable equalities to another table."""
        return _unique(k.column for k in self.join_keys if k.usable)

    @property
    def expression_filters(self) -> tuple[Filter, ...]:
        """Usable filters on an expression of the table's columns (`lower(email) = $1`)."""
        return tuple(f for f in self.filters if f.usable and f.expression is not None)

    @property
    def constant_predicates(self) -> tuple[str, ...]:
        """Usable predicate texts against literals: candidates for a partial index's WHERE."""
        return _unique(f.constant for f in self.filters if f.usable and f.constant)


@dataclass(frozen=True)
class StatementAnalysis:
    """Everything the analysis learned about one statement text.

    When `parse_error` is set, the text was not analysed (it is not SQL, is truncated, or nests too deeply)
    and the collections are empty. A text with several statements is analysed as a whole: `kind` is their
    common kind ("other" if they differ) and every fact carries the index of its statement.
    """

    kind: StatementKind
    parse_error: str | None = None
    fingerprint: str | None = None
    statement_count: int = 0
    tables: tuple[TableRef, ...] = ()
    scans: tuple[TableScan, ...] = ()
    max_param: int = 0
    error_position: int | None = None

    def scans_of(self, name: str, schema: str | None = None) -> tuple[TableScan, ...]:
        """The scans of the table `name` (optionally in `schema`)."""
        return tuple(s for s in self.scans if s.table.name == name and (schema is None or s.table.schema == schema))


def _unique(items: Iterable[str | None]) -> tuple[str, ...]:
    """Distinct non-empty strings in first-seen order."""
    return tuple(dict.fromkeys(item for item in items if item))
