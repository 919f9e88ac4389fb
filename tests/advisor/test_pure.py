"""The advisor's pure logic, without a server: candidates, coverage, selection and the tier B estimate."""

from __future__ import annotations

from pgadvisor.advisor import Candidate, Option, ScanNeed, SelectOptions, StatementCosts, covered_by, generate, select
from pgadvisor.advisor.estimate import CostGucs, TableFacts, index_cost, seq_cost
from pgadvisor.snapshot import ColumnStatsRow, IndexRow, TableRow


def _index(name: str, columns: tuple[str | None, ...], *, options: tuple[int, ...] | None = None,
           include: tuple[str, ...] = (), predicate: str | None = None, expressions: str | None = None,
           method: str = "btree") -> IndexRow:
    n = len(columns)
    return IndexRow(
        database="db", schema="public", table="orders", name=name, oid=1, method=method, columns=columns,
        include_columns=include, opclasses=("x",) * n, collations=(None,) * n, options=options or (0,) * n,
        expressions=expressions, predicate=predicate, is_unique=False, is_primary=False, is_exclusion=False,
        is_valid=True, is_ready=True, is_replident=False, is_partitioned=False, constraint_name=None,
        constraint_type=None, build_in_progress=False, idx_scan=0, idx_tup_read=0, idx_tup_fetch=0,
        last_idx_scan=None, size_bytes=8192, reltuples=None, definition=None, comment=None,
    )


def test_equality_columns_most_selective_first_then_range() -> None:
    """(status, customer_id) equality + created_at range -> customer_id, status, created_at."""
    need = ScanNeed("public", "orders", equality=("status", "customer_id"), ranges=("created_at",))
    sel = {"status": 0.5, "customer_id": 0.001}
    cands = generate(need, lambda _s, _t, c: sel.get(c))
    assert cands[0].keys == ("customer_id", "status", "created_at")
    assert Candidate("public", "orders", ("customer_id",), ("asc",)) in cands  # prefixes for sharing


def test_limit_sort_columns_keep_direction() -> None:
    """ORDER BY a DESC, b ASC LIMIT n after an equality column keeps the mixed directions."""
    need = ScanNeed("public", "orders", equality=("shop_id",), order_by=(("a", "desc"), ("b", "asc")),
                    has_limit=True)
    assert generate(need)[0].key_text == "shop_id, a DESC, b"
    all_desc = ScanNeed("public", "orders", equality=("shop_id",), order_by=(("a", "desc"),), has_limit=True)
    assert generate(all_desc)[0].key_text == "shop_id, a"  # a backward scan serves DESC


def test_include_expression_and_partial_variants() -> None:
    """A narrow projection adds INCLUDE; lower(email) an expression key; IS NULL a partial index."""
    need = ScanNeed("public", "orders", equality=("customer_id", "deleted_at"), projected=("total",),
                    expressions=("lower(email)",), constants=(("deleted_at", "deleted_at IS NULL"),))
    ddls = {c.ddl() for c in generate(need)}
    assert "CREATE INDEX CONCURRENTLY ON public.orders (customer_id, deleted_at) INCLUDE (total);" in ddls
    assert "CREATE INDEX CONCURRENTLY ON public.orders (customer_id) INCLUDE (total) WHERE deleted_at IS NULL;" in ddls
    assert "CREATE INDEX CONCURRENTLY ON public.orders ((lower(email)), customer_id);" in ddls
    assert "CREATE INDEX CONCURRENTLY ON public.orders (customer_id) WHERE deleted_at IS NULL;" in ddls


def test_covered_by_existing_index() -> None:
    """Prefix of an existing index, reversed directions and expressions are covered; other shapes are not."""
    cand = Candidate("public", "orders", ("customer_id",), ("asc",))
    assert covered_by(cand, [_index("i", ("customer_id", "created_at"))]) is not None
    assert covered_by(cand, [_index("i", ("created_at", "customer_id"))]) is None
    assert covered_by(cand, [_index("i", ("customer_id",), predicate="(status = 'x'::text)")]) is None
    assert covered_by(cand, [_index("i", ("customer_id",), method="hash")]) is None
    mixed = Candidate("public", "orders", ("a", "b"), ("asc", "desc"))
    assert covered_by(mixed, [_index("i", ("a", "b"), options=(1, 0))]) is not None  # all reversed
    assert covered_by(mixed, [_index("i", ("a", "b"))]) is None
    expr = Candidate("public", "orders", ("(lower(email))",), ("asc",))
    assert covered_by(expr, [_index("i", (None,), expressions="lower((email)::text)")]) is not None
    inc = Candidate("public", "orders", ("a",), ("asc",), include=("total",))
    assert covered_by(inc, [_index("i", ("a",), include=("total",))]) is not None
    assert covered_by(inc, [_index("i", ("a",))]) is None


def test_greedy_prefers_shared_index_and_merges_prefix() -> None:
    """(a, b) serves both statements: it is chosen alone, its prefix (a) is not added."""
    stmts = [StatementCosts(1, 100_000.0, 1000.0, {0: 10.0, 1: 12.0}),
             StatementCosts(2, 100_000.0, 1000.0, {1: 10.0})]
    options = [Option(0, 1e6, 0.0), Option(1, 1.2e6, 0.0)]
    sel = select(stmts, options, SelectOptions(), {0: frozenset({1})})
    assert sel.chosen == (1,)
    assert sel.serves == {1: 1, 2: 1}


def test_guardrails_budget_and_write_overhead() -> None:
    """A small cost drop, a blown budget, or writes costing more than the gain yield nothing."""
    small_drop = [StatementCosts(1, 100_000.0, 1000.0, {0: 800.0})]
    assert select(small_drop, [Option(0, 1e6, 0.0)], SelectOptions()).chosen == ()
    good = [StatementCosts(1, 100_000.0, 1000.0, {0: 10.0})]
    assert select(good, [Option(0, 1e6, 0.0)], SelectOptions(budget_bytes=5e5)).chosen == ()
    assert select(good, [Option(0, 1e6, 1e9)], SelectOptions()).chosen == ()
    assert select(good, [Option(0, 1e6, 0.0)], SelectOptions()).chosen == (0,)


def _table(rows: float, pages: int) -> TableRow:
    return TableRow(
        database="db", schema="public", name="orders", oid=1, relkind="r", reltuples=rows, relpages=pages,
        size_bytes=pages * 8192, total_bytes=pages * 8192, n_live_tup=int(rows), n_dead_tup=0,
        n_mod_since_analyze=0, n_ins_since_vacuum=0, seq_scan=0, seq_tup_read=0, idx_scan=None,
        idx_tup_fetch=None, n_tup_ins=0, n_tup_upd=0, n_tup_hot_upd=0, n_tup_del=0, last_vacuum=None,
        last_autovacuum=None, last_analyze=None, last_autoanalyze=None, vacuum_count=0, autovacuum_count=0,
        analyze_count=0, autoanalyze_count=0, last_seq_scan=None, reloptions=(), frozenxid_age=None,
        minmxid_age=None, has_primary_key=True, comment=None,
    )


def _stats(column: str, n_distinct: float) -> ColumnStatsRow:
    return ColumnStatsRow("db", "public", "orders", column, 0.0, 8, n_distinct, 0.0, None)


def test_estimate_selective_beats_seq_scan_unselective_does_not() -> None:
    """Tier B: 1 row in 5,000 makes the index far cheaper; 1 in 2 keeps the sequential scan cheaper."""
    facts = TableFacts(_table(100_000, 1000), {"email": _stats("email", 5000), "status": _stats("status", 2)}, {})
    g = CostGucs()
    base = seq_cost(facts, 1, g)
    email = index_cost(ScanNeed("public", "orders", equality=("email",)),
                       Candidate("public", "orders", ("email",), ("asc",)), facts, g)
    status = index_cost(ScanNeed("public", "orders", equality=("status",)),
                        Candidate("public", "orders", ("status",), ("asc",)), facts, g)
    assert email is not None and email < 0.1 * base
    assert status is not None and status > base
