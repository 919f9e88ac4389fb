"""The trigram rule IX013 and QR010 share (`pgadvisor.checkapi.trigram`)."""

from __future__ import annotations

import dataclasses

import pytest

from pgadvisor.checkapi.trigram import leading_wildcard_qual, trigram_columns, trigram_fix_sql
from pgadvisor.snapshot import QualStatRow
from tests.queries.test_pure import pkey


def test_only_a_valid_full_trigram_index_serves_a_column() -> None:
    """GIN/GiST with a trgm opclass counts; a partial, invalid or B-tree index does not."""
    trgm = dataclasses.replace(pkey("customers"), name="trgm", method="gin", columns=("name", "email"),
                               opclasses=("gin_trgm_ops", "jsonb_ops"), is_unique=False, is_primary=False)
    assert trigram_columns([trgm]) == {"name"}
    assert trigram_columns([dataclasses.replace(trgm, predicate="active")]) == set()
    assert trigram_columns([dataclasses.replace(trgm, is_valid=False)]) == set()
    assert trigram_columns([dataclasses.replace(trgm, method="btree")]) == set()
    assert trigram_columns([pkey("customers")]) == set()


@pytest.mark.parametrize(("operator", "constant", "leading"), [
    ("~~", "%abc%", "yes"), ("~~*", "'%abc'", "yes"), ("~~", "abc%", "no"), ("=", "%abc", "no"), ("~~", None, "no"),
])
def test_leading_wildcard_qual(operator: str, constant: str | None, leading: str) -> None:
    """A LIKE / ILIKE constant starting with %, quoted (older snapshots) or not."""
    q = QualStatRow("db", "public", "customers", "name", operator, constant, "f", 1, 1, 1)
    assert leading_wildcard_qual(q) is (leading == "yes")


def test_fix_sql_quotes_identifiers() -> None:
    """The index statement names the table and column as identifiers."""
    assert trigram_fix_sql("public", "Customers", "name") == (
        'CREATE EXTENSION IF NOT EXISTS pg_trgm;\nCREATE INDEX CONCURRENTLY ON public."Customers" '
        "USING gin (name gin_trgm_ops);")
