#!/usr/bin/env python
"""How much pgadvisor adds on top of the catalog queries it must run anyway.

Starts a throwaway server, creates a schema of N tables (each with a primary key, a foreign key, three more
indexes, a sequence) and a small pg_stat_statements workload, then times, as a pg_monitor-only role:

  bare     the very queries one collect() sends (recorded), replayed with plain psycopg, fetched as tuples
  collect  pgadvisor's collect(): the same queries plus safe-session setup, typed rows, guards, merging
  audit    collect() + every built-in check + the table and JSON reporters
  checks   every built-in check on a collected snapshot, a fresh copy each run (no server work; part of `audit`)
  json     snapshot to JSON and back

and prints each as a ratio to `bare`. Usage: python benchmarks/bench_collect.py [--tables 500] [--repeat 5]
[--major 18]. The smallest run (the test's): --tables 4 --repeat 1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from machine import facts, load_now

from pgadvisor.config import Config
from pgadvisor.engine import plan, run
from pgadvisor.phases import collect
from pgadvisor.registry import load
from pgadvisor.reporters import REPORTERS, RenderOptions
from pgadvisor.snapshot import Snapshot, Unavailable
from tests.fixtures.cluster import LocalCluster, PgInstall, find_installs


def build_schema(cluster: LocalCluster, tables: int) -> None:
    """N parent/child table pairs with indexes, FKs and sequences, analyzed, plus a few statements."""
    cluster.execute("CREATE ROLE bench_monitor LOGIN; GRANT pg_monitor TO bench_monitor;")
    cluster.execute("CREATE DATABASE bench")
    cluster.execute("CREATE EXTENSION pg_stat_statements", "bench")
    ddl = []
    for i in range(tables // 2):
        ddl.append(f"CREATE TABLE p{i} (id bigserial PRIMARY KEY, name text, created timestamptz DEFAULT now())")
        ddl.append(f"CREATE TABLE c{i} (id bigserial PRIMARY KEY, p_id bigint REFERENCES p{i}, a int, b int, "
                   f"note text)")
        ddl.append(f"CREATE INDEX ON c{i} (a)")
        ddl.append(f"CREATE INDEX ON c{i} (a, b)")
        ddl.append(f"CREATE INDEX ON c{i} (lower(note)) WHERE b > 0")
        ddl.append(f"INSERT INTO p{i} (name) SELECT 'n' || g FROM generate_series(1, 20) g")
    cluster.execute(";\n".join(ddl), "bench")
    cluster.execute("ANALYZE", "bench")
    for i in range(min(200, tables // 2)):
        cluster.execute(f"SELECT count(*) FROM c{i} WHERE a = 1", "bench")


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of `repeat` runs after one warm-up."""
    fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def recorded_queries(dsn: str) -> list[tuple[object, object]]:
    """Every (query, params) one collect() sends, captured by wrapping psycopg's Cursor.execute."""
    sent: list[tuple[object, object]] = []
    original = psycopg.Cursor.execute

    def spy(self: psycopg.Cursor[object], query: object, params: object = None, **kw: object) -> object:
        sent.append((query, params))
        return original(self, query, params, **kw)  # type: ignore[arg-type]

    psycopg.Cursor.execute = spy  # type: ignore[assignment,method-assign]
    try:
        collect(dsn)
    finally:
        psycopg.Cursor.execute = original  # type: ignore[method-assign]
    return sent


def bare_queries(dsn: str) -> Callable[[], None]:
    """The very queries collect() sends, replayed on a plain connection and fetched as tuples: the floor."""
    sent = recorded_queries(dsn)

    def go() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
            for query, params in sent:
                try:
                    cur.execute(query, params)  # type: ignore[arg-type]
                    if cur.description is not None:
                        cur.fetchall()
                except psycopg.Error:
                    pass  # collect() met the same error (an absent extension) and moved on

    return go


def main() -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--major", type=int, default=None, help="server major (default: newest available)")
    args = parser.parse_args()
    installs = find_installs()
    install = installs.get(args.major) if args.major else (PgInstall.embedded() or installs[max(installs)])
    if install is None:
        print(f"no PostgreSQL {args.major} found", file=sys.stderr)
        return 2
    print(facts())
    with LocalCluster(install) as cluster:
        build_schema(cluster, args.tables)
        dsn = cluster.dsn("bench", user="bench_monitor")
        the_plan = plan(load(), Config())
        snap = collect(dsn)
        # A fresh copy for every run of the checks: the engine keeps the parsed workload per snapshot object.
        copies = iter([Snapshot.from_json(snap.to_json()) for _ in range(args.repeat + 1)])

        def audit() -> None:
            report = run(collect(dsn), the_plan)
            for fmt in ("table", "json"):
                REPORTERS[fmt](report, RenderOptions())

        results = {
            "bare": timed(bare_queries(dsn), args.repeat),
            "collect": timed(lambda: collect(dsn), args.repeat),
            "audit": timed(audit, args.repeat),
            "checks": timed(lambda: run(next(copies), the_plan), args.repeat),
            "json": timed(lambda: Snapshot.from_json(snap.to_json()), args.repeat),
        }
        rows = len(snap.tables) if isinstance(snap.tables, tuple) else 0
        indexes = len(snap.indexes) if isinstance(snap.indexes, tuple) else 0
        version = snap.server.version if not isinstance(snap.server, Unavailable) else f"PostgreSQL {install.major}"
        statements = len(snap.statements) if isinstance(snap.statements, tuple) else 0
    print(f"{version.split(' on ')[0]}, {rows} tables, {indexes} indexes, {statements} statements, "
          f"median of {args.repeat} after a warm-up; {load_now()}")
    print(f"{'step':<8} {'seconds':>9} {'x bare':>7}")
    for name, seconds in results.items():
        print(f"{name:<8} {seconds:9.4f} {seconds / results['bare']:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
