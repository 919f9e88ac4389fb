"""QR020 query.cross_join: relations in FROM that nothing links (an implicit cross join)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pgadvisor.checkapi import Severity, Statement, StatementCheck, Verdict, Workload, seq, threshold
from pgadvisor.checkapi.tree import Block, Match, PlainValue, Relation, Scope, Tree, block_tables, conjuncts


@dataclass(frozen=True, slots=True)
class CrossJoinThresholds:
    """Keys of [checks.QR020]."""

    min_calls: int = threshold(1, help="Ignore statements called fewer times.")


class CrossJoin(StatementCheck[CrossJoinThresholds]):
    """Statement joins relations with no condition between them.

    ## Why it matters
    `FROM a, b WHERE a.x = $1` without a condition linking `b` returns every row of `a` paired with every row of
    `b`: the row count multiplies, and usually so does the answer's wrongness. It is almost always a forgotten
    join condition.

    ## Evidence
    The parse tree: relations listed in FROM with commas (not `CROSS JOIN`, which says it is intended) that no
    WHERE condition, LATERAL reference or sub-query links, resolved with PostgreSQL's own parser (pglast) and
    the catalog's columns; at least one side is a user table. Functions in FROM (`generate_series`) are not
    counted as row sources.

    ## How to fix
    ```sql
    SELECT ... FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1;
    SELECT ... FROM sizes CROSS JOIN colors;    -- when the product is what you want, say so
    ```

    ## Thresholds
    Generated from the thresholds class.

    ## False positives
    A deliberate product of a one-row relation (a settings row) written with a comma.

    ## References
    https://www.postgresql.org/docs/current/queries-table-expressions.html#QUERIES-JOIN
    """

    code = "QR020"
    name = "query.cross_join"
    default_severity = Severity.WARNING
    requires = ("statements", "tables")
    thresholds = CrossJoinThresholds
    message = "implicit cross join, nothing links {groups}: {query}"
    recommendation = "add the missing join condition, or write CROSS JOIN when the product is intended"

    def judge(self, wl: Workload, s: Statement, t: CrossJoinThresholds) -> Verdict | None:
        match = next(iter(wl.matches(s, cross_join)), None)
        tables = wl.user_tables(s.database, seq(match.extra.get("tables"))) if match is not None else []
        if match is None or not tables:
            return None
        groups = " x ".join("(" + ", ".join(str(n) for n in seq(g)) + ")" for g in seq(match.extra.get("groups")))
        return Verdict(evidence={"groups": groups, "tables": ", ".join(f"{tb.schema}.{tb.name}" for tb in tables)})


def cross_join(tree: Tree) -> Iterator[Match]:
    """Relations listed in FROM with commas and no WHERE condition linking them."""
    for block in tree.scope.blocks:
        if block.role not in ("select", "update", "delete"):
            continue
        groups = _linked_groups(tree.scope, block)
        if len(groups) < 2:
            continue
        extra: dict[str, PlainValue] = {
            "groups": tuple(tuple(r.name for r in g) for g in groups),
            "tables": block_tables(block),
        }
        shown = " x ".join("(" + ", ".join(r.name for r in g) + ")" for g in groups)
        yield tree.match(f"implicit cross join: nothing links {shown}", extra)


def _linked_groups(scope: Scope, block: Block) -> list[list[Relation]]:
    """Union-find over FROM components: a WHERE term or LATERAL reference naming two of them links them.
    Only tables, sub-queries and CTEs count as row sources; a function in FROM multiplies rows on purpose."""
    components = {r.component for r in block.data_relations()}
    if len(components) < 2:
        return []
    parent = {c: c for c in {r.component for r in block.relations}}

    def find(c: int) -> int:
        while parent[c] != c:
            c = parent[c]
        return c

    def link(rels: set[Relation]) -> None:
        roots = sorted({find(r.component) for r in rels})
        for other in roots[1:]:
            parent[other] = roots[0]

    for term in conjuncts(getattr(block.node, "whereClause", None)):
        link(scope.relations_in(term, block))
    for rel in block.relations:
        if rel.source is not None:  # a function in FROM, linked to what its arguments read
            link({rel, *scope.relations_in(rel.source, block)})
        elif rel.kind == "subquery" and rel.inner is not None and rel.inner.parent is block:
            link({rel, *scope.relations_in(rel.inner.node, block)})
    grouped: dict[int, list[Relation]] = {}
    for rel in block.data_relations():
        grouped.setdefault(find(rel.component), []).append(rel)
    return list(grouped.values()) if len(grouped) > 1 else []
