#!/usr/bin/env python
"""What reading and writing a large snapshot costs, against parsing the same JSON into plain Python objects.

Builds a synthetic snapshot of about --mb megabytes (many databases of tables, each with indexes, columns,
column statistics, foreign keys and sequences, plus pg_stat_statements rows with long query texts), writes it
to a temporary file, then runs each step in a fresh subprocess under /usr/bin/time -v (best of --repeat):

  json.loads          the file's bytes to dicts and lists with the standard library
  msgspec untyped     the same with msgspec.json.decode and no type: the floor for reading
  Snapshot.from_file  the typed, strict load: frozen dataclasses, every field checked, errors with their path
  msgspec.encode      the untyped objects back to JSON bytes: the floor for writing
  Snapshot.to_bytes   the snapshot to JSON bytes (`collect -o` adds only the indentation)

Time is the step alone, measured inside the child; memory is the child's peak RSS (`Maximum resident set
size` from /usr/bin/time) minus its RSS just before the step, so it counts what the step holds, including the
file's bytes. Cyclic garbage collection is off in every child (the typed reader pauses it, and the floors
should not pay for it either). Ratios are against the floor measured in the same run. Usage:

  python benchmarks/bench_snapshot.py [--mb 200] [--repeat 3]

The smallest run (the test's): --mb 0.5 --repeat 1.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec
from machine import facts, load_now

from pgadvisor.snapshot import (
    ColumnRow,
    ColumnStatsRow,
    ForeignKeyRow,
    IndexRow,
    SequenceRow,
    ServerInfo,
    Snapshot,
    StatementRow,
    TableRow,
    Unavailable,
)

WORDS = ("id", "customer_id", "created_at", "status", "amount", "reference", "note", "updated_at", "region",
         "email", "tenant_id", "payload", "kind", "deleted", "score")


def _table_rows(rnd: random.Random, db: str, t: int) -> tuple[TableRow, list[IndexRow], list[ColumnRow],
                                                              list[ColumnStatsRow]]:
    """One table of `db` with three indexes and ten columns, values drawn like a busy server's."""
    schema, name = f"app_{t % 7}", f"table_{t:06d}_{rnd.choice(WORDS)}"
    big = rnd.randrange(10**9)
    table = TableRow(
        database=db, schema=schema, name=name, oid=16384 + t, relkind="r", reltuples=float(big // 100),
        relpages=big // 8192, size_bytes=big, total_bytes=big * 2, n_live_tup=big // 100, n_dead_tup=big // 10_000,
        n_mod_since_analyze=rnd.randrange(10**6), n_ins_since_vacuum=rnd.randrange(10**6),
        seq_scan=rnd.randrange(10**5), seq_tup_read=rnd.randrange(10**12), idx_scan=rnd.randrange(10**9),
        idx_tup_fetch=rnd.randrange(10**10), n_tup_ins=rnd.randrange(10**9), n_tup_upd=rnd.randrange(10**8),
        n_tup_hot_upd=rnd.randrange(10**7), n_tup_del=rnd.randrange(10**6),
        last_vacuum=None, last_autovacuum=1.7e9 + rnd.random() * 1e6, last_analyze=None,
        last_autoanalyze=1.7e9 + rnd.random() * 1e6, vacuum_count=rnd.randrange(100),
        autovacuum_count=rnd.randrange(10_000), analyze_count=rnd.randrange(100),
        autoanalyze_count=rnd.randrange(10_000), last_seq_scan=1.7e9 + rnd.random() * 1e6,
        reloptions=("fillfactor=90",) if t % 5 == 0 else (), frozenxid_age=rnd.randrange(2 * 10**8),
        minmxid_age=rnd.randrange(10**6), has_primary_key=True, comment="orders placed by customers" if t % 3 else None,
    )
    columns = [ColumnRow(database=db, schema=schema, table=name, name=f"{WORDS[c]}", attnum=c + 1,
                         type=rnd.choice(("bigint", "text", "timestamp with time zone", "numeric(12,2)")),
                         type_oid=20, not_null=c == 0, has_default=c < 2, identity="d" if c == 0 else None,
                         generated=None) for c in range(10)]
    stats = [ColumnStatsRow(database=db, schema=schema, table=name, column=col.name, null_frac=rnd.random() / 10,
                            avg_width=rnd.randrange(4, 64), n_distinct=-rnd.random(),
                            correlation=rnd.uniform(-1, 1), mcv_max_freq=rnd.random() / 3) for col in columns]
    indexes = []
    for i, keys in enumerate(((WORDS[0],), (WORDS[1], WORDS[2]), (WORDS[3],))):
        ix = f"{name}_{'_'.join(keys)}_idx" if i else f"{name}_pkey"
        indexes.append(IndexRow(
            database=db, schema=schema, table=name, name=ix, oid=20_000_000 + t * 3 + i, method="btree",
            columns=keys, include_columns=(), opclasses=("int8_ops",) * len(keys), collations=(None,) * len(keys),
            options=(0,) * len(keys), expressions=None, predicate="(status <> 'done'::text)" if i == 2 else None,
            is_unique=i == 0, is_primary=i == 0, is_exclusion=False, is_valid=True, is_ready=True,
            is_replident=False, is_partitioned=False, constraint_name=ix if i == 0 else None,
            constraint_type="p" if i == 0 else None, build_in_progress=False, idx_scan=rnd.randrange(10**9),
            idx_tup_read=rnd.randrange(10**10), idx_tup_fetch=rnd.randrange(10**10), last_idx_scan=None,
            size_bytes=rnd.randrange(10**9), reltuples=float(big // 100),
            definition=f"CREATE INDEX {ix} ON {schema}.{name} USING btree ({', '.join(keys)})", comment=None,
        ))
    return table, indexes, columns, stats


def _statement(rnd: random.Random, n: int) -> StatementRow:
    """A pg_stat_statements row whose text is a long generated query (about 0.3 to 6 kB)."""
    joins = " ".join(f"JOIN app_{j % 7}.table_{rnd.randrange(10**5):06d}_{WORDS[j % 15]} t{j} ON t{j}.id = t0.id"
                     for j in range(1, rnd.randrange(2, 40)))
    query = (f"SELECT t0.id, t0.status, sum(t0.amount) FROM app_1.table_{n:06d}_orders t0 {joins} "
             f"WHERE t0.tenant_id = $1 AND t0.created_at > $2 GROUP BY 1, 2 ORDER BY 3 DESC LIMIT $3")
    calls = rnd.randrange(1, 10**8)
    return StatementRow(
        queryid=rnd.randrange(-2**63, 2**63), database="shop", user="app", toplevel=True, query=query, calls=calls,
        total_exec_ms=calls * 0.37, mean_exec_ms=0.37, stddev_exec_ms=0.2, min_exec_ms=0.01, max_exec_ms=1234.5,
        plans=0, total_plan_ms=0.0, rows=calls * 3, shared_blks_hit=calls * 40, shared_blks_read=calls,
        shared_blks_dirtied=0, shared_blks_written=0, temp_blks_read=0, temp_blks_written=0, blk_read_ms=0.0,
        blk_write_ms=0.0, temp_blk_write_ms=0.0, wal_records=0, wal_fpi=0, wal_bytes=0.0, jit_ms=None,
    )


def synthetic_snapshot(mb: float, seed: int = 20261202) -> Snapshot:
    """About `mb` megabytes of JSON: tables with their indexes, columns and statistics, and statements."""
    rnd = random.Random(seed)
    per_table = 7_600  # bytes of JSON one table brings with its rows, with its share of foreign keys and sequences
    tables_n = max(10, int(mb * 1e6 * 0.9 / per_table))
    statements_n = max(10, int(mb * 1e6 * 0.1 / 2_500))
    tables, indexes, columns, stats, fks, seqs = [], [], [], [], [], []
    for t in range(tables_n):
        db = f"db{t % 20:02d}"
        table, ixs, cols, sts = _table_rows(rnd, db, t)
        tables.append(table)
        indexes += ixs
        columns += cols
        stats += sts
        if t % 2:
            fks.append(ForeignKeyRow(database=db, schema=table.schema, table=table.name, name=f"{table.name}_fkey",
                                     columns=("customer_id",), ref_schema="app_0", ref_table="customers",
                                     ref_columns=("id",), child_rows=table.reltuples, child_bytes=table.size_bytes,
                                     parent_writes=rnd.randrange(10**6), is_partitioned=False, validated=True))
        if t % 3 == 0:
            seqs.append(SequenceRow(database=db, schema=table.schema, name=f"{table.name}_id_seq", data_type="bigint",
                                    start_value=1, min_value=1, max_value=2**63 - 1, increment_by=1, cycle=False,
                                    last_value=rnd.randrange(10**9), readable=True,
                                    owned_by=f"{table.schema}.{table.name}.id", owner_column_type="bigint"))
    server = ServerInfo(version_num=180001, version="PostgreSQL 18.1", database="postgres", current_user="monitor",
                        is_superuser=False, has_pg_monitor=True, in_recovery=False, start_time=1.7e9, now=1.7e9 + 1e6,
                        system_identifier="7301234567890123456", block_size=8192,
                        databases_collected=tuple(f"db{d:02d}" for d in range(20)))
    return Snapshot(
        target="monitor@db.example:5432/postgres", collected_at=1.7e9 + 1e6, pgadvisor_version="0.1.0",
        server=server, tables=tuple(tables), indexes=tuple(indexes), foreign_keys=tuple(fks), columns=tuple(columns),
        sequences=tuple(seqs), statements=tuple(_statement(rnd, n) for n in range(statements_n)),
        column_stats=tuple(stats), whatif=Unavailable("hypopg is not installed"),
        notes=("synthetic snapshot for benchmarks/bench_snapshot.py",),
    )


# ---------------------------------------------------------------------------------------------------- child steps


def _rss_kb() -> int:
    text = Path("/proc/self/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(match[1]) if match else 0


def child(step: str, path: str) -> None:
    """Run one step in this fresh process; print its seconds and the RSS before it (kB) as JSON."""
    gc.disable()  # for every step alike: Snapshot's reader pauses it anyway, and the floor should not pay for it
    source = Path(path)
    plain: object = None
    snap: Snapshot | None = None
    if step == "msgspec.encode":
        plain = msgspec.json.decode(source.read_bytes())
    elif step == "Snapshot.to_bytes":
        snap = Snapshot.from_file(source)
    before = _rss_kb()
    started = time.perf_counter()
    if step == "json.loads":
        json.loads(source.read_bytes())
    elif step == "msgspec untyped":
        msgspec.json.decode(source.read_bytes())
    elif step == "Snapshot.from_file":
        Snapshot.from_file(source)
    elif step == "msgspec.encode":
        msgspec.json.encode(plain)
    elif step == "Snapshot.to_bytes":
        assert snap is not None
        snap.to_bytes()
    else:
        raise SystemExit(f"unknown step {step}")
    print(json.dumps({"seconds": time.perf_counter() - started, "rss_before_kb": before}))


def run_step(step: str, path: Path) -> tuple[float, float]:
    """(seconds, peak MB above the RSS before the step) of one step in a fresh process under /usr/bin/time -v."""
    proc = subprocess.run(["/usr/bin/time", "-v", sys.executable, __file__, "--child", step, str(path)],
                          capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    assert match is not None, proc.stderr
    return result["seconds"], (int(match[1]) - result["rss_before_kb"]) / 1024


def main() -> int:
    """Build the file, run every step --repeat times, print a table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("STEP", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    print(f"{facts()}, msgspec {msgspec.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snapshot.json"
        snap = synthetic_snapshot(args.mb)
        path.write_bytes(snap.to_bytes())
        assert Snapshot.from_file(path) == snap, "the round trip changed the snapshot"
        size_mb = path.stat().st_size / 2**20
        rows = sum(len(p) for p in (snap.tables, snap.indexes, snap.columns, snap.column_stats, snap.statements,
                                    snap.foreign_keys, snap.sequences) if isinstance(p, tuple))
        assert isinstance(snap.tables, tuple) and isinstance(snap.statements, tuple)
        shape = (f"{len(snap.tables):,} tables over {len({t.database for t in snap.tables})} databases, "
                 f"{len(snap.statements):,} statements of {min(len(s.query) for s in snap.statements):,} to "
                 f"{max(len(s.query) for s in snap.statements):,} characters")
        del snap
        steps = ("json.loads", "msgspec untyped", "Snapshot.from_file", "msgspec.encode", "Snapshot.to_bytes")
        results = {}
        for step in steps:
            samples = [run_step(step, path) for _ in range(args.repeat)]
            results[step] = (min(s for s, _ in samples), min(m for _, m in samples))
    print(f"snapshot of {size_mb:.1f} MiB, {rows:,} rows ({shape}); best of {args.repeat}, each in a fresh process; "
          f"{load_now()}")
    print(f"{'step':<20} {'seconds':>8} {'x floor':>8} {'peak MiB':>9} {'x file':>7}")
    for step, (seconds, peak) in results.items():
        floor = results["msgspec.encode" if "encode" in step or "to_bytes" in step else "msgspec untyped"][0]
        print(f"{step:<20} {seconds:8.2f} {seconds / floor:8.2f} {peak:9.0f} {peak / size_mb:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
