"""Missing-index advisor benchmark: pgadvisor IX011 vs pg_qualstats_index_advisor() on the same workload.

A generated schema and workload where the right indexes are known. One PostgreSQL 15 server (HypoPG and
pg_qualstats installed, pg_qualstats preloaded) runs the workload once; then each advisor proposes indexes:

- pgadvisor tier A: `collect()` as superuser with HypoPG (EXPLAIN needs SELECT), IX011 with `min_mean_ms = 0`
  and `min_calls = 10` (the rest its defaults)
- pgadvisor tier B: `collect()` as a pg_monitor-only role (no EXPLAIN, no pg_stats), the unverified estimate
- pg_qualstats: `pg_qualstats_index_advisor(min_filter => 1000, min_selectivity => 30, forbidden_am => '{}')`
  (its defaults, passed explicitly)

The script prints the thresholds each side ran with: IX011's (after the overrides above), the selection
options IX011 derives from them, the what-if collector's limits, and pg_qualstats' parameters.

For each: found (a proposal whose leading keys serve a known-needed index), exact (same key list), useless
(a proposal serving no known need), and the workload's time (sum of EXPLAIN ANALYZE execution times of a fixed
parameter set, best of 3; `--timed-calls`, `--best-of`) before and after creating its proposals.

    python benchmarks/bench_advisor.py
    # the smallest run, the test's:
    python benchmarks/bench_advisor.py --customers 100 --orders 400 --events 400 --calls 12 --timed-calls 1 --best-of 1
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from machine import facts, load_now

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fixtures.cluster

from pgadvisor import phases
from pgadvisor.config import Config
from pgadvisor.engine import Plan, plan, run
from pgadvisor.phases import collect
from pgadvisor.registry import load
from tests.fixtures.cluster import LocalCluster, debian_install

IX011_OVERRIDES: dict[str, object] = {"min_mean_ms": 0, "min_calls": 10}
QUALSTATS_PARAMETERS = "min_filter => 1000, min_selectivity => 30, forbidden_am => '{}'"

SCHEMA = """
CREATE EXTENSION hypopg; CREATE EXTENSION pg_qualstats;
CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL, country int NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO customers SELECT g, 'User' || g || '@example.com', g % 50, '2024-01-01'::timestamptz + g * interval '1 min'
  FROM generate_series(1, {customers}) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, reference text NOT NULL, status text NOT NULL,
                     total numeric NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO orders SELECT g, g % {customers} + 1, 'R' || g, CASE WHEN g % 2 = 0 THEN 'done' ELSE 'open' END, g % 500,
  '2024-01-01'::timestamptz + g * interval '1 min' FROM generate_series(1, {orders}) g;
CREATE TABLE events (id bigint PRIMARY KEY, device_id int NOT NULL, kind int NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO events SELECT g, g % 200, g % 7, '2024-01-01'::timestamptz + g * interval '1 s'
  FROM generate_series(1, {events}) g;
ANALYZE;
CREATE ROLE bench_monitor LOGIN; GRANT pg_monitor TO bench_monitor;
"""

# (name, SQL template with %s params for format(), parameter expression over i, the index it needs or None)
QUERIES: list[tuple[str, str, str, tuple[str, tuple[str, ...]] | None]] = [
    ("orders by customer", "SELECT id, total FROM orders WHERE customer_id = %s", "i * 37 % {customers} + 1",
     ("orders", ("customer_id",))),
    ("order by reference", "SELECT * FROM orders WHERE reference = %L", "'R' || (i * 101)", ("orders", ("reference",))),
    ("customer by email", "SELECT id FROM customers WHERE lower(email) = %L", "'user' || i || '@example.com'",
     ("customers", ("(lower(email))",))),
    ("latest events of a device",
     "SELECT id, kind FROM events WHERE device_id = %s ORDER BY created_at DESC LIMIT 10", "i % 200",
     ("events", ("device_id", "created_at"))),
    ("customer by id (served by the primary key)", "SELECT email FROM customers WHERE id = %s", "i", None),
    ("open orders count (unselective: no index helps)", "SELECT count(*) FROM orders WHERE status = %L",
     "CASE WHEN i % 2 = 0 THEN 'open' ELSE 'done' END", None),
]


@dataclass
class Result:
    tool: str
    proposals: list[tuple[str, tuple[str, ...], str]]  # (table, keys, ddl)
    seconds: float


def workload(server: LocalCluster, db: str, calls: int, counts: dict[str, int]) -> None:
    for _, template, param, _need in QUERIES:
        text = template.replace("'", "''")
        server.execute(
            f"SET pg_qualstats.sample_rate = 1; DO $$ BEGIN FOR i IN 1..{calls} LOOP "
            f"EXECUTE format('{text}', {param.format(**counts)}); END LOOP; END $$", db)
    server.execute("SELECT pg_stat_force_next_flush()", db)


def workload_ms(server: LocalCluster, db: str, counts: dict[str, int], calls: int = 20, best_of: int = 3) -> float:
    """Sum of EXPLAIN ANALYZE execution times of `calls` calls of each statement, best of `best_of`."""
    best = float("inf")
    for _ in range(best_of):
        total = 0.0
        for _, template, param, _need in QUERIES:
            for i in range(1, calls + 1):
                (value,) = server.execute(f"SELECT ({param.format(**counts)})::text FROM (SELECT {i} AS i) s", db)[0]
                literal = value if "%s" in template else "'" + value.replace("'", "''") + "'"
                query = template.replace("%L", literal).replace("%s", literal)
                (doc,) = server.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}", db)[0]
                total += float((json.loads(doc) if isinstance(doc, str) else doc)[0]["Execution Time"])
        best = min(best, total)
    return best


def ix011_plan() -> Plan:
    """IX011 alone, with the benchmark's overrides on top of its defaults."""
    config = Config(source="bench", thresholds={"IX011": IX011_OVERRIDES})
    return plan(load(entry_points=False), config, only=["IX011"])


def thresholds_text() -> str:
    """What each advisor ran with, as printed beside the results."""
    ((_cls, t),) = ix011_plan().checks
    return "\n".join([
        f"pgadvisor IX011 thresholds ({', '.join(f'{k}={v}' for k, v in IX011_OVERRIDES.items())} set by the "
        f"benchmark, the rest defaults): " + ", ".join(f"{k}={v}" for k, v in asdict(t).items()),
        f"pgadvisor IX011 selection: SelectOptions(min_cost_drop={t.min_cost_drop}, "
        f"min_saved_s_per_day={t.min_saved_s_per_day}, max_indexes={t.max_indexes}, "
        f"budget_bytes=max({t.budget_min_bytes}, database size x {t.budget_fraction}), "
        f"write_ms_per_entry={t.write_ms_per_entry})",
        f"pgadvisor what-if phase (tier A): at most {phases.MAX_STATEMENTS} statements and "
        f"{phases.MAX_CANDIDATES} hypothetical indexes, measured alone and together; IX011 selects from them",
        f"pg_qualstats_index_advisor({QUALSTATS_PARAMETERS})",
    ])


def pgadvisor_proposals(dsn: str, tool: str) -> Result:
    started = time.perf_counter()
    snap = collect(dsn)
    report = run(snap, ix011_plan())
    seconds = time.perf_counter() - started
    out = []
    for f in report.findings:
        m = re.match(r"\S+\.(\w+) \((.*)\)", f.object)
        assert m and f.fix_sql
        keys = tuple(k.strip().removesuffix(" DESC") for k in _split(m.group(2)))
        out.append((m.group(1), keys, f.fix_sql))
    return Result(tool, out, seconds)


def _split(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def qualstats_proposals(server: LocalCluster, db: str) -> Result:
    started = time.perf_counter()
    (doc,) = server.execute(f"SELECT pg_qualstats_index_advisor({QUALSTATS_PARAMETERS})::text", db)[0]
    seconds = time.perf_counter() - started
    data = json.loads(doc)
    out = []
    for entry in data.get("indexes") or []:
        ddl = entry["ddl"] if isinstance(entry, dict) else str(entry)
        m = re.match(r"CREATE INDEX ON (?:\w+\.)?(\w+) USING (\w+) \((.*)\)", ddl)
        if m:
            keys = tuple(k.strip() for k in _split(m.group(3)))
            out.append((m.group(1), keys, ddl.replace("CREATE INDEX ON", "CREATE INDEX CONCURRENTLY ON")))
    return Result("pg_qualstats_index_advisor", out, seconds)


def score(result: Result) -> tuple[int, int, int]:
    needs = [n for *_, n in QUERIES if n is not None]
    found = exact = 0
    matched: set[int] = set()
    for table, keys in needs:
        hits = [i for i, (t, k, _) in enumerate(result.proposals) if t == table and k[: 1] == keys[:1]]
        if hits:
            found += 1
            matched.update(hits)
            exact += any(result.proposals[i][1] == keys for i in hits)
    useless = len(result.proposals) - len(matched)
    return found, exact, useless


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=100, help="calls of each statement in the workload")
    parser.add_argument("--timed-calls", type=int, default=20, help="calls of each statement timed by EXPLAIN")
    parser.add_argument("--best-of", type=int, default=3, help="timed passes, the best kept")
    args = parser.parse_args()
    counts = {"customers": args.customers, "orders": args.orders, "events": args.events}
    install = debian_install(15)
    assert install is not None, "needs PostgreSQL 15 with hypopg and pg_qualstats"
    print(facts())
    settings = {"shared_preload_libraries": "pg_stat_statements,pg_qualstats"}
    with LocalCluster(install, settings=settings) as server:
        server.execute("CREATE DATABASE bench")
        server.execute("CREATE EXTENSION pg_stat_statements", "bench")
        server.execute(SCHEMA.format(**counts), "bench")
        workload(server, "bench", args.calls, counts)
        results = [
            pgadvisor_proposals(server.dsn("bench"), "pgadvisor IX011 tier A (HypoPG)"),
            pgadvisor_proposals(server.dsn("bench", user="bench_monitor"), "pgadvisor IX011 tier B (pg_monitor)"),
            qualstats_proposals(server, "bench"),
        ]
        base = workload_ms(server, "bench", counts, args.timed_calls, args.best_of)
        needs = len([n for *_, n in QUERIES if n is not None])
        versions = dict(server.execute("SELECT extname::text, extversion::text FROM pg_extension "
                                       "WHERE extname IN ('hypopg', 'pg_qualstats')", "bench"))
        (pg_version,) = server.execute("SHOW server_version", "bench")[0]
        print(f"PostgreSQL {pg_version}, hypopg {versions.get('hypopg')}, pg_qualstats {versions.get('pg_qualstats')}")
        print(f"data: {args.customers:,} customers, {args.orders:,} orders, {args.events:,} events")
        print(thresholds_text())
        print(f"workload: {len(QUERIES)} statements x {args.calls} calls; {needs} indexes needed; "
              f"baseline {base:.1f} ms ({args.timed_calls} calls each, EXPLAIN ANALYZE, best of {args.best_of})\n")
        print("| advisor | proposals | found | exact | useless | workload after | advisor time |")
        print("|---|---|---|---|---|---|---|")
        for r in results:
            made = []
            for i, (_t, _k, ddl) in enumerate(r.proposals):
                name = f"bench_ix_{i}"
                stmt = ddl.rstrip(";").replace("CREATE INDEX CONCURRENTLY ON", f"CREATE INDEX {name} ON", 1)
                server.execute(stmt, "bench")
                made.append(name)
            server.execute("ANALYZE", "bench")
            after = workload_ms(server, "bench", counts, args.timed_calls, args.best_of)
            for name in made:
                server.execute(f"DROP INDEX {name}", "bench")
            found, exact, useless = score(r)
            print(f"| {r.tool} | {len(r.proposals)} | {found}/{needs} | {exact}/{needs} | {useless} | "
                  f"{after:.1f} ms ({after / base:.0%}) | {r.seconds:.2f} s |")
        print()
        for r in results:
            for _t, _k, ddl in r.proposals:
                print(f"{r.tool}: {ddl}")
        print(load_now())


if __name__ == "__main__":
    main()
