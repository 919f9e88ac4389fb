"""The proof of issue 4 on real servers: one database runs a workload holding every parse-tree anti-pattern and
its healthy form. Each anti-pattern is reported once, by the right queryid, and no healthy form is. Values that
pg_stat_statements hides (a deep OFFSET, a leading %) are proven from literal texts sampled in pg_stat_activity."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import psycopg
import pytest

from pgadvisor.analysis import analyze
from pgadvisor.config import Config
from pgadvisor.engine import plan, run
from pgadvisor.phases import collect
from pgadvisor.registry import load
from pgadvisor.snapshot import Snapshot

REGISTRY = load(entry_points=False)

WIDE_COLUMNS = ", ".join(f"c{i} int" for i in range(1, 35))
SETUP = f"""
CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL, name text NOT NULL, region int NOT NULL);
INSERT INTO customers SELECT g, 'c' || g || '@example.com', 'name ' || g, g % 50 FROM generate_series(1, 20000) g;
CREATE INDEX ON customers (email);
CREATE TABLE posts (id int PRIMARY KEY, created_at timestamptz NOT NULL, title text NOT NULL);
INSERT INTO posts SELECT g, '2024-01-01'::timestamptz + g * interval '1 minute', 'post ' || g
FROM generate_series(1, 20000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, product int NOT NULL);
INSERT INTO orders SELECT g, g % 20000 + 1, 's' || (g % 10), g % 7 FROM generate_series(1, 5000) g;
CREATE TABLE refunds (order_id int);
INSERT INTO refunds SELECT g FROM generate_series(1, 50) g;
CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL);
INSERT INTO items SELECT g, 1 FROM generate_series(1, 100) g;
CREATE TABLE wide (id int PRIMARY KEY, {WIDE_COLUMNS});
INSERT INTO wide (id) SELECT g FROM generate_series(1, 100) g;
ANALYZE;
"""

# code -> (anti-pattern, healthy form), both run by the application
WORKLOAD: dict[str, tuple[str, str]] = {
    "QR011": ("SELECT id FROM customers WHERE lower(email) = 'c5@example.com'",
              "SELECT id FROM customers WHERE email = 'c5@example.com'"),
    "QR012": ("SELECT count(*) FROM orders WHERE id NOT IN (SELECT order_id FROM refunds)",
              "SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM refunds r WHERE r.order_id = o.id)"),
    "QR013": ("SELECT id, title FROM posts ORDER BY random() LIMIT 5",
              "SELECT id, title FROM posts TABLESAMPLE SYSTEM (5) LIMIT 5"),
    "QR014": ("SELECT * FROM wide WHERE id = 3", "SELECT id, c1 FROM wide WHERE id = 3"),
    "QR017": ("SELECT count(*) FROM customers", "SELECT count(*) FROM customers WHERE region = 3"),
    "QR019": ("UPDATE items SET qty = 0", "UPDATE items SET qty = 1 WHERE id = 5"),
    "QR020": ("SELECT o.id, c.name FROM orders o, customers c WHERE o.id = 1",
              "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = 1"),
    "QR021": ("SELECT id FROM orders WHERE status = 's1' OR status = 's2' OR status = 's3'",
              "SELECT id FROM orders WHERE status = ANY(ARRAY['s1', 's2', 's3'])"),
    "QR022": ("SELECT DISTINCT c.id, c.name FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.product = 3",
              "SELECT c.id, c.name FROM customers c WHERE EXISTS "
              "(SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.product = 3)"),
}
# run from sessions left open, so pg_stat_activity shows their literal text at collection time
SAMPLED: dict[str, tuple[str, str]] = {
    "QR009": ("SELECT id, title FROM posts ORDER BY created_at DESC LIMIT 10 OFFSET 5000",
              "SELECT id, title FROM posts WHERE created_at < '2024-01-05' ORDER BY created_at DESC LIMIT 10"),
    "QR010": ("SELECT id FROM customers WHERE name LIKE '%123%'",
              "SELECT id FROM customers WHERE name LIKE 'name 1%'"),
}
THRESHOLDS = {"QR014": {"min_calls": 1}, "QR017": {"min_rows": 10_000, "min_calls_per_day": 1}}
CODES = sorted({*WORKLOAD, *SAMPLED})


def _queryid(snap: Snapshot, database: str, text: str) -> int:
    want = analyze(text).fingerprint
    rows = snap.statements if isinstance(snap.statements, tuple) else ()
    ids = {r.queryid for r in rows if r.database == database and analyze(r.query).fingerprint == want}
    assert len(ids) == 1, (text, ids)
    return ids.pop()


@pytest.fixture
def workload_snapshot(fresh_db: Any) -> Iterator[Snapshot]:
    """Run the workload (held-open sessions for the sampled statements) and collect as pg_monitor."""
    fresh_db.execute(SETUP)
    fresh_db.reset_statements()
    with ExitStack() as stack:
        for bad, good in WORKLOAD.values():
            fresh_db.execute(f"{bad};\n{good};")
        for bad, good in SAMPLED.values():
            fresh_db.execute(good)
            conn = stack.enter_context(psycopg.connect(fresh_db.dsn, autocommit=True))
            conn.execute(bad).fetchall()  # the session stays idle with this text
        fresh_db.execute("SELECT pg_stat_force_next_flush()")
        yield collect(fresh_db.monitor_dsn)


def test_each_anti_pattern_flagged_once_by_queryid(workload_snapshot: Snapshot, fresh_db: Any) -> None:
    """Every parse-tree check reports exactly its anti-pattern's queryid in this database, and no healthy form."""
    snap = workload_snapshot
    report = run(snap, plan(REGISTRY, Config(source="test", thresholds=THRESHOLDS), only=CODES))
    assert all(o.status == "ran" for o in report.outcomes), [(o.code, o.reason) for o in report.outcomes]
    got = sorted((f.check, f.object) for f in report.findings if f.database == fresh_db.name)
    every = {**WORKLOAD, **SAMPLED}
    want = sorted((code, f"queryid:{_queryid(snap, fresh_db.name, every[code][0])}") for code in CODES)
    assert got == want, "\n".join(f"{f.check} {f.object}: {f.message}" for f in report.findings)
    for f in report.findings:
        assert f.evidence["queryid"] == int(f.object.split(":")[1])
        assert isinstance(f.evidence["query"], str) and f.evidence["query"]


def test_sampled_literals_prove_what_pss_hides(workload_snapshot: Snapshot, fresh_db: Any) -> None:
    """The deep OFFSET seen in pg_stat_activity makes QR009 a warning; the leading % proves QR010."""
    report = run(workload_snapshot, plan(REGISTRY, Config(source="test"), only=["QR009", "QR010"]))
    found = {f.check: f for f in report.findings if f.database == fresh_db.name}
    assert found["QR009"].severity.label == "warning"
    assert found["QR009"].evidence["sampled_offset_max"] == 5000
    assert found["QR009"].fix_sql is not None and "(posts.created_at, posts.id) < ($3, $4)" in found["QR009"].fix_sql
    assert found["QR010"].evidence["proof"] == "pg_stat_activity"
    assert found["QR010"].evidence["example"] == "%123%"
    assert found["QR010"].fix_sql is not None and "gin_trgm_ops" in found["QR010"].fix_sql
