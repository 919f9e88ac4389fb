"""The analysis `Schema` of one database of a snapshot: the one builder the advisor and the check API share."""

from __future__ import annotations

from collections.abc import Iterable

from pgadvisor.analysis.model import ColumnDef, IndexDef, Schema, TableDef
from pgadvisor.snapshot import ColumnRow, IndexRow, TableRow


def build_schema(database: str, tables: Iterable[TableRow], columns: Iterable[ColumnRow],
                 indexes: Iterable[IndexRow]) -> Schema:
    """Tables of `database` with their columns (NOT NULL), primary key and valid indexes.

    Invalid indexes are left out (the planner does not use them). The search path is `public`, then every other
    schema that holds a table, in name order: unqualified names resolve as on a server whose search path lists
    them all.
    """
    cols: dict[tuple[str, str], list[ColumnRow]] = {}
    for c in columns:
        if c.database == database:
            cols.setdefault((c.schema, c.table), []).append(c)
    idx: dict[tuple[str, str], list[IndexRow]] = {}
    for ix in indexes:
        if ix.database == database and ix.is_valid:
            idx.setdefault((ix.schema, ix.table), []).append(ix)
    defs = []
    for t in tables:
        if t.database != database:
            continue
        own = idx.get((t.schema, t.name), [])
        pk = next((ix for ix in own if ix.is_primary and None not in ix.columns), None)
        defs.append(TableDef(
            t.name,
            tuple(ColumnDef(c.name, c.type, c.not_null) for c in sorted(cols.get((t.schema, t.name), ()),
                                                                          key=lambda c: c.attnum)),
            t.schema,
            tuple(c for c in pk.columns if c is not None) if pk is not None else (),
            tuple(index_def(ix) for ix in own),
        ))
    schemas = {d.schema for d in defs}
    return Schema(tables=tuple(defs), search_path=("public", *sorted(schemas - {"public"})))


def index_def(ix: IndexRow) -> IndexDef:
    """The analysis view of an index (expression texts split at top-level commas)."""
    return IndexDef(ix.name, ix.columns, ix.method, tuple(split_expressions(ix.expressions or "")), ix.predicate,
                    ix.is_unique)


def split_expressions(text: str) -> list[str]:
    """pg_get_expr(indexprs) joins expressions with ', ': split at top-level commas."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, False
    for ch in text:
        if ch == "'":
            quote = not quote
        if not quote:
            depth += ch == "("
            depth -= ch == ")"
            if ch == "," and depth == 0:
                parts.append("".join(current).strip())
                current = []
                continue
        current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts
