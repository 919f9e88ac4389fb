"""The trigram rule IX013 (per column, from pg_qualstats) and QR010 (per statement) share.

A leading-wildcard LIKE / ILIKE is served only by a trigram index (pg_trgm): a valid, non-partial GIN or GiST
index with `gin_trgm_ops` / `gist_trgm_ops` on the column. A partial one serves only the searches its WHERE
implies, so it does not count.
"""

from __future__ import annotations

from collections.abc import Iterable

from pgadvisor.analysis.quote import ident
from pgadvisor.snapshot import IndexRow, QualStatRow

LIKE_OPERATORS = {"~~": "LIKE", "~~*": "ILIKE"}
"""pg_qualstats / pg_operator names of LIKE and ILIKE."""

TRIGRAM_OPCLASSES = ("gin_trgm_ops", "gist_trgm_ops")


def trigram_columns(indexes: Iterable[IndexRow]) -> set[str]:
    """The columns a trigram index among `indexes` serves."""
    return {
        col
        for ix in indexes if ix.is_valid and ix.method in ("gin", "gist") and not ix.is_partial
        for col, opc in zip(ix.columns, ix.opclasses, strict=False) if col and opc in TRIGRAM_OPCLASSES
    }


def leading_wildcard_qual(q: QualStatRow) -> bool:
    """A pg_qualstats predicate that is a LIKE / ILIKE whose constant starts with `%` (quoted or not)."""
    return q.operator in LIKE_OPERATORS and (q.constvalue or "").lstrip("'").startswith("%")


def trigram_fix_sql(schema: str, table: str, column: str) -> str:
    """The statements that create pg_trgm and a trigram GIN index on the column."""
    return (f"CREATE EXTENSION IF NOT EXISTS pg_trgm;\nCREATE INDEX CONCURRENTLY ON {ident(schema, table)} "
            f"USING gin ({ident(column)} gin_trgm_ops);")
