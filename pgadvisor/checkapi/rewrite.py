"""Statement rewrites a check can offer as its fix: OFFSET pagination into keyset pagination.

`keyset(text, schema)` returns the keyset form of a statement, or None whenever the rewrite could change its
result; `key_columns(text, schema)` the sort keys (primary key tiebreaker appended) the new parameters carry.
`schema` is `Workload.schema(database)`.
"""

from pgadvisor.analysis.rewrite import first_page, key_columns, keyset, keyset_with_values

__all__ = ["first_page", "key_columns", "keyset", "keyset_with_values"]
