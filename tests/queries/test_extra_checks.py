"""QR007, QR008, QR016 and QR018 on synthetic snapshots: what the shared test servers cannot show (older
extension versions without the columns, entries that must not be counted twice or at all)."""

from __future__ import annotations

from pgadvisor.checkapi import Finding
from pgadvisor.snapshot import StatementRow
from tests.queries.test_pure import audit, snapshot, stmt


def found(code: str, *rows: StatementRow) -> list[tuple[str, str]]:
    """(object, severity) of one check's findings on a snapshot of these statement rows."""
    findings: list[Finding] = audit(snapshot(rows), [code])
    return [(f.object, f.severity.label) for f in findings]


def test_qr007_reports_planning_per_call_not_per_plan() -> None:
    """Planned on every call: reported; planned once for 1,000 calls (a cached plan): not reported."""
    every = stmt(
        "SELECT 1 FROM orders", 1, calls=100, plans=100, total_plan_ms=2000.0, total_exec_ms=100.0, mean_exec_ms=1.0
    )
    cached = stmt(
        "SELECT 2 FROM orders", 2, calls=1000, plans=1, total_plan_ms=50.0, total_exec_ms=1000.0, mean_exec_ms=1.0
    )
    assert found("QR007", every, cached) == [("queryid:1", "info")]


def test_qr007_without_planning_statistics() -> None:
    """track_planning off (plans = 0) or a pss without the columns (None): nothing is judged."""
    off = stmt("SELECT 1 FROM orders", 1, plans=0, total_plan_ms=0.0)
    absent = stmt("SELECT 2 FROM orders", 2, plans=None, total_plan_ms=None)
    assert found("QR007", off, absent) == []


def test_qr008_share_and_missing_columns() -> None:
    """JIT at 40 % of the time is reported; pss before 1.10 (jit_ms None) and few calls are not."""
    heavy = stmt("SELECT 1 FROM orders", 1, calls=200, total_exec_ms=1000.0, jit_ms=400.0)
    old = stmt("SELECT 2 FROM orders", 2, calls=200, total_exec_ms=1000.0, jit_ms=None)
    rare = stmt("SELECT 3 FROM orders", 3, calls=10, total_exec_ms=1000.0, jit_ms=900.0)
    assert found("QR008", heavy, old, rare) == [("queryid:1", "info")]


def test_qr016_counts_list_lengths_not_queryids() -> None:
    """Twelve lengths are twelve variants; twelve queryids of one text (another schema's table) are one."""
    lengths = [
        stmt("SELECT id FROM orders WHERE id IN (" + ", ".join(f"${i}" for i in range(1, n + 1)) + ")", n)
        for n in range(1, 13)
    ]
    same = [stmt("SELECT id FROM customers WHERE id IN ($1, $2)", 100 + n) for n in range(12)]
    got = found("QR016", *lengths, *same)
    assert len(got) == 1 and got[0][0].startswith("fingerprint:")


def test_qr018_nested_wal_is_not_counted_twice() -> None:
    """A DO block's WAL contains its nested UPDATE's: the UPDATE is 100 % of the WAL, not 50 %, and the DO
    block itself (a utility statement) is not judged."""
    gib = float(1024**3) * 10
    block = stmt("DO $$ BEGIN UPDATE orders SET status = 'x'; END $$", 1, wal_bytes=gib, wal_records=10**6, wal_fpi=0)
    nested = stmt("UPDATE orders SET status = $1", 2, toplevel=False, wal_bytes=gib, wal_records=10**6, wal_fpi=0)
    small = stmt("UPDATE customers SET name = $1 WHERE id = $2", 3, wal_bytes=gib / 1000, wal_records=1000, wal_fpi=900)
    assert found("QR018", block, nested, small) == [("queryid:2", "info")]


def test_qr018_full_page_images() -> None:
    """Mostly full-page images: reported, even when the statement's share of the WAL is small."""
    gib = float(1024**3) * 10
    bulk = [
        stmt(f"UPDATE orders SET status = ${i}", i, wal_bytes=gib, wal_records=10**6, wal_fpi=0) for i in range(1, 5)
    ]
    fpi = stmt("UPDATE customers SET name = $1", 9, wal_bytes=gib, wal_records=1000, wal_fpi=800)
    assert found("QR018", *bulk, fpi) == [("queryid:9", "info")]
