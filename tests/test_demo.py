"""`pgadvisor demo`: the README's first command works and finds what it planted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_demo_finds_the_planted_problems() -> None:
    """The demo starts its own server, audits it as pg_monitor and reports each planted problem."""
    res = subprocess.run([sys.executable, "-m", "pgadvisor.cli", "demo", "--format", "json"], capture_output=True,
                         text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    found = {(f["check"], f["object"]) for f in report["findings"]}
    assert {
        ("IX003", "public.orders_status_idx2"),
        ("IX003", "public.orders_created_idx"),
        ("IX004", "public.orders.orders_customer_id_fkey"),
        ("IX005", "public.customers_email_domain_key"),
    } <= found
    assert report["target"].startswith("pgadvisor_demo@127.0.0.1:")
    assert not [c for c in report["checks"] if c["status"] == "errored"]
