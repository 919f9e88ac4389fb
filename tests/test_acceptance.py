"""The foundation's acceptance scenario, through the CLI with default thresholds, on PostgreSQL 15:
an unused, a duplicate and an invalid index, an unindexed foreign key and a paused standby are each reported
with the right object, and the audit exits 1 with --fail-on warning; a healthy database exits 0; all as a
role granted only pg_monitor."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from pgadvisor.cli import run_cli

pytestmark = pytest.mark.slow

PLANTED = """
CREATE TABLE customers (id int PRIMARY KEY, region int);
INSERT INTO customers SELECT g, g % 10 FROM generate_series(1, 1000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, status text);
INSERT INTO orders SELECT g, g % 1000 + 1, 'new' FROM generate_series(1, 30000) g;
CREATE INDEX customers_region_idx ON customers (region);
CREATE INDEX orders_status_idx ON orders (status);
CREATE INDEX orders_status_copy ON orders (status);
CREATE UNIQUE INDEX CONCURRENTLY orders_status_key ON orders (status);
ANALYZE;
"""


def audit(dsn: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    """`pgadvisor audit DSN --format json ...` -> (exit code, report)."""
    code = run_cli(["audit", dsn, "--format", "json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_planted_problems_and_paused_standby(standby_pair: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Every planted problem is reported with its object; exit 1 with --fail-on warning."""
    primary, standby = standby_pair.primary, standby_pair.standby
    primary.execute("DROP DATABASE IF EXISTS accept WITH (FORCE)")
    primary.execute("CREATE DATABASE accept")
    for statement in PLANTED.strip().split(";\n"):
        with contextlib.suppress(Exception):  # the failed unique build is the planted invalid index
            primary.execute(statement, "accept")
    standby_pair.wait_for_replay()
    standby.execute("SELECT pg_wal_replay_pause()")
    try:
        # more than 100 MiB of WAL the paused standby has received but not replayed
        primary.execute("CREATE TABLE wal_burst AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 500000) g",
                        "accept")
        dsn = primary.dsn("accept", user="pgadvisor_monitor")
        code, report = audit(dsn, capsys, "--fail-on", "warning")
        found = {(f["check"], f["object"]): f["severity"] for f in report["findings"]}
        (standby_name,) = primary.execute("SELECT application_name FROM pg_stat_replication")[0]
        assert found.get(("IX001", "public.customers_region_idx")) == "info"  # young statistics: info, low confidence
        assert found.get(("IX003", "public.orders_status_copy")) == "warning"
        assert found.get(("IX005", "public.orders_status_key")) == "critical"
        assert found.get(("IX004", "public.orders.orders_customer_id_fkey")) == "warning"
        assert found.get(("RP001", f"standby {standby_name}")) == "warning"
        assert code == 1
        _, standby_report = audit(standby.dsn("accept", user="pgadvisor_monitor"), capsys)
        lag = [f for f in standby_report["findings"] if f["check"] == "RP001"]
        assert [(f["object"], f["evidence"]["replay_paused"]) for f in lag] == [("this standby", True)]
    finally:
        standby.execute("SELECT pg_wal_replay_resume()")
        standby_pair.wait_for_replay(timeout=120)
        primary.execute("DROP DATABASE IF EXISTS accept WITH (FORCE)")


def test_healthy_server_exits_0(standby_pair: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A healthy database on a primary whose standby is caught up: no finding at all, exit 0."""
    primary = standby_pair.primary
    primary.execute("DROP DATABASE IF EXISTS healthy WITH (FORCE)")
    primary.execute("CREATE DATABASE healthy")
    try:
        primary.execute("""
            CREATE EXTENSION pg_stat_statements;  -- without it QR001 reports that the query checks cannot run
            CREATE TABLE customers (id int PRIMARY KEY);
            CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers);
            CREATE INDEX orders_customer_id_idx ON orders (customer_id);
            ANALYZE;
        """, "healthy")
        standby_pair.wait_for_replay()
        code, report = audit(primary.dsn("healthy", user="pgadvisor_monitor"), capsys, "--fail-on", "info")
        assert report["findings"] == []
        assert code == 0
        assert not [c for c in report["checks"] if c["status"] == "errored"]
        ran = {c["code"] for c in report["checks"] if c["status"] == "ran"}
        assert {"IX001", "IX003", "IX004", "IX005", "RP001"} <= ran
    finally:
        primary.execute("DROP DATABASE IF EXISTS healthy WITH (FORCE)")
