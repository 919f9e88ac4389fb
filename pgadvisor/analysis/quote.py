"""Quoting identifiers for SQL text shown to people (fix SQL in findings), the way PostgreSQL's quote_ident does.

SQL sent to a server is composed with `psycopg.sql.Identifier`; this is for text that is printed, where psycopg is
not at hand (checks never import it).
"""

from __future__ import annotations

import re

from pglast.keywords import COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

_SIMPLE_IDENT = re.compile(r"^[a-z_][a-z0-9_$]*$")
_QUOTE_WORDS = frozenset(RESERVED_KEYWORDS) | frozenset(TYPE_FUNC_NAME_KEYWORDS) | frozenset(COL_NAME_KEYWORDS)


def ident(*parts: str) -> str:
    """Quote and join identifiers the way PostgreSQL's quote_ident does: `ident("public", "Order")`."""
    out = []
    for p in parts:
        if _SIMPLE_IDENT.match(p) and p not in _QUOTE_WORDS:
            out.append(p)
        else:
            out.append('"' + p.replace('"', '""') + '"')
    return ".".join(out)
