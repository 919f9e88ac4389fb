"""Walking a statement's parse tree: what a check needs to find a pattern in SQL.

A statement check that looks at the SQL writes a *walker*: a function that takes one `Tree` (a top-level
statement parsed by PostgreSQL's own parser through pglast, with its names resolved against the catalog) and
yields `Match`es built with `tree.match(detail, extra, at=node)`. `Workload.matches(stmt, walker)` runs it on a
statement of the workload; `matches_in(text, walker)` on any text (a sample from pg_stat_activity, a test).

```python
from pgadvisor.checkapi.tree import Match, Tree, ast, func_name, has_limit, block_tables, sort_target

def order_by_random(tree: Tree) -> Iterator[Match]:
    for block in tree.scope.blocks:  # every SELECT / UPDATE / DELETE block, sub-queries and CTEs included
        stmt = block.node
        if isinstance(stmt, ast.SelectStmt):
            for sort in stmt.sortClause or ():
                node = sort_target(stmt, sort.node)
                if isinstance(node, ast.FuncCall) and func_name(node) == "random" and not node.args:
                    yield tree.match("ORDER BY random()", {"tables": block_tables(block)}, node)
```

The node classes are pglast's (`ast`, `enums`), re-exported here so a check imports only the check API. The
helpers are stable names; what they resolve (scopes, relations, bindings) is described on each.
"""

from __future__ import annotations

from pglast import ast, enums

from pgadvisor.analysis.blocks import Block, Relation, Scope, sort_target, star_relations
from pgadvisor.analysis.model import Match, PlainValue, Schema, TableDef
from pgadvisor.analysis.predicates import (
    COMPARISONS,
    bare_column,
    block_columns,
    block_quals,
    block_tables,
    conjuncts,
    has_limit,
    label,
    pattern_start,
    reads,
    sort_direction,
    sort_nulls,
)
from pgadvisor.analysis.tree import StatementTree as Tree
from pgadvisor.analysis.tree import parse_trees
from pgadvisor.checkapi.workload import Walker
from pgadvisor.sqltree import (
    const_value,
    func_name,
    int_const,
    is_star,
    is_subquery,
    names,
    normalize_expression,
    operator,
    walk,
)

__all__ = [
    "COMPARISONS",
    "Block",
    "Match",
    "PlainValue",
    "Relation",
    "Schema",
    "Scope",
    "TableDef",
    "Tree",
    "Walker",
    "ast",
    "bare_column",
    "block_columns",
    "block_quals",
    "block_tables",
    "conjuncts",
    "const_value",
    "enums",
    "func_name",
    "has_limit",
    "int_const",
    "is_star",
    "is_subquery",
    "label",
    "matches_in",
    "names",
    "normalize_expression",
    "operator",
    "parse_trees",
    "pattern_start",
    "reads",
    "sort_direction",
    "sort_nulls",
    "sort_target",
    "star_relations",
    "walk",
]


def matches_in(text: str, walker: Walker, schema: Schema | None = None) -> list[Match]:
    """What `walker` finds in a statement text (resolved against `schema` when given); empty if it does not
    parse."""
    return [m for tree in parse_trees(text, schema) for m in walker(tree)]
