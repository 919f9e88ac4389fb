"""Index candidates from what statements ask of each table, and whether an existing index already covers one.

Rules (CHECKS.md §2.4): equality columns first, the most selective first; then one range column; then, for a
LIMIT query, the ORDER BY columns with their direction; at most `max_width` keys. Each candidate's prefixes
are candidates too, so one index can serve several statements (prefix sharing). Expression keys come from
function-wrapped filters (`lower(email) = $1`), partial indexes from constant predicates that survive
normalization (`deleted_at IS NULL`), and an INCLUDE variant when a few narrow extra columns make the scan
index-only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pgadvisor.advisor.needs import ScanNeed
from pgadvisor.analysis import normalize_expression, split_expressions
from pgadvisor.analysis.quote import ident
from pgadvisor.snapshot import IndexRow

Selectivity = Callable[[str, str, str], float | None]
"""(schema, table, column) -> the fraction of rows one equality matches, when known."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A B-tree index that could be created."""

    schema: str
    table: str
    keys: tuple[str, ...]  # column names, or expressions in parentheses: "(lower(email))"
    directions: tuple[str, ...]  # asc | desc per key
    include: tuple[str, ...] = ()
    predicate: str | None = None

    @property
    def key_text(self) -> str:
        """The key list as in CREATE INDEX: `a, b DESC, (lower(email))`."""
        parts = []
        for key, direction in zip(self.keys, self.directions, strict=True):
            text = key if key.startswith("(") else ident(key)
            parts.append(f"{text} DESC" if direction == "desc" else text)
        return ", ".join(parts)

    def ddl(self, *, concurrently: bool = True) -> str:
        """`CREATE INDEX CONCURRENTLY ON s.t (keys) [INCLUDE (...)] [WHERE ...];`."""
        how = "CONCURRENTLY " if concurrently else ""
        text = f"CREATE INDEX {how}ON {ident(self.schema, self.table)} ({self.key_text})"
        if self.include:
            text += f" INCLUDE ({', '.join(ident(c) for c in self.include)})"
        if self.predicate:
            text += f" WHERE {self.predicate}"
        return text + (";" if concurrently else "")

    @property
    def label(self) -> str:
        """Short display form: `public.orders (customer_id, created_at DESC)`."""
        return f"{self.schema}.{self.table} ({self.key_text})" + (f" WHERE {self.predicate}" if self.predicate else "")

    def is_prefix_of(self, other: Candidate) -> bool:
        """True when `other` serves every lookup this one serves (same table, predicate; leading keys)."""
        n = len(self.keys)
        return (
            (self.schema, self.table, self.predicate) == (other.schema, other.table, other.predicate)
            and n <= len(other.keys)
            and _same_keys(self.keys, self.directions, other.keys[:n], other.directions[:n])
            and set(self.include) <= set(other.keys) | set(other.include)
        )


def _same_keys(a: tuple[str, ...], ad: tuple[str, ...], b: tuple[str, ...], bd: tuple[str, ...]) -> bool:
    if a != b:
        return False
    flipped = tuple("asc" if d == "desc" else "desc" for d in bd)
    return ad in (bd, flipped)


def generate(
    need: ScanNeed, selectivity: Selectivity | None = None, *, max_width: int = 3, max_include: int = 2
) -> list[Candidate]:
    """Every candidate for one table scan, longest first, without duplicates."""
    sel = selectivity or (lambda _s, _t, _c: None)

    def rank(col: str) -> float:
        value = sel(need.schema, need.table, col)
        return 1.0 if value is None else value

    partial_cols = {col for col, _ in need.constants}
    eq = sorted(dict.fromkeys(c for c in need.equality if c not in partial_cols), key=rank)
    eq += [c for c in need.joins if c not in eq and c not in partial_cols]
    out: list[Candidate] = []
    for predicate in (None, *dict.fromkeys(p for _, p in need.constants)):
        base = list(eq) if predicate else list(dict.fromkeys([*eq, *[c for c, _ in need.constants]]))
        base = [c for c in base if c not in need.ranges]
        keys: list[str] = base[:max_width]
        dirs = ["asc"] * len(keys)
        sort = [(c, d) for c, d in need.order_by if c not in keys]
        if need.ranges and len(keys) < max_width:
            first_range = need.ranges[0]
            if sort and sort[0][0] == first_range:
                for c, d in sort:
                    if len(keys) < max_width:
                        keys.append(c)
                        dirs.append(d)
            else:
                keys.append(first_range)
                dirs.append("asc")
        elif need.has_limit and sort and len(keys) + len(sort) <= max_width:
            # equality keys pin one value, so only the sort keys' directions matter: all-DESC is a backward scan
            keys += [c for c, _ in sort]
            dirs += _canonical([d for _, d in sort])
        dirs = _canonical(dirs)
        if keys:
            out += _with_prefixes(need, tuple(keys), tuple(dirs), predicate)
            if need.projected is not None:
                extra = [c for c in need.projected if c not in keys]
                if 0 < len(extra) <= max_include:
                    out.append(Candidate(need.schema, need.table, tuple(keys), tuple(dirs), tuple(extra), predicate))
    for expression in need.expressions:
        expr_keys = (f"({expression})", *eq[: max_width - 1])
        out += _with_prefixes(need, expr_keys, ("asc",) * len(expr_keys), None)
    return list(dict.fromkeys(out))


def _canonical(dirs: list[str]) -> list[str]:
    """All-descending keys are served by a backward scan of an ascending index: write them ascending."""
    return ["asc"] * len(dirs) if dirs and all(d == "desc" for d in dirs) else dirs


def _with_prefixes(
    need: ScanNeed, keys: tuple[str, ...], dirs: tuple[str, ...], predicate: str | None
) -> Iterator[Candidate]:
    for n in range(len(keys), 0, -1):
        yield Candidate(need.schema, need.table, keys[:n], tuple(_canonical(list(dirs[:n]))), (), predicate)


# ---------------------------------------------------------------------------------------------- coverage


def _norm(text: str | None) -> str | None:
    if text is None:
        return None
    stripped = text.strip()
    while stripped.startswith("(") and stripped.endswith(")") and _balanced(stripped[1:-1]):
        stripped = stripped[1:-1].strip()
    return normalize_expression(stripped) or stripped


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def _index_keys(ix: IndexRow) -> list[str | None]:
    """Key texts of an existing index: column names, expression texts normalized (None if unknown)."""
    exprs = split_expressions(ix.expressions or "")
    out: list[str | None] = []
    for col in ix.columns:
        if col is not None:
            out.append(col)
        else:
            out.append(_norm(exprs.pop(0)) if exprs else None)
    return out


def covered_by(candidate: Candidate, indexes: Iterable[IndexRow]) -> IndexRow | None:
    """The existing valid B-tree that already serves this candidate's lookups, if any.

    Same table; leading keys equal (expressions compared in normalized form); every key in the same direction,
    or every key reversed; the candidate's INCLUDE columns among the index's columns; and a predicate that is
    absent or the same.
    """
    want = [k if not k.startswith("(") else _norm(k) for k in candidate.keys]
    for ix in indexes:
        if (ix.schema, ix.table) != (candidate.schema, candidate.table):
            continue
        if ix.method != "btree" or not ix.is_valid or ix.build_in_progress:
            continue
        if ix.predicate is not None and _norm(ix.predicate) != _norm(candidate.predicate):
            continue
        keys = _index_keys(ix)
        if len(keys) < len(want) or keys[: len(want)] != want:
            continue
        dirs = tuple("desc" if o & 1 else "asc" for o in ix.options[: len(want)])
        if not _same_keys(tuple(candidate.keys), candidate.directions, tuple(candidate.keys), dirs):
            continue
        have = {k for k in keys if k} | set(ix.include_columns)
        if not set(candidate.include) <= have:
            continue
        return ix
    return None
