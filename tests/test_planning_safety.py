"""Planning is execution: a low-privilege role's planted function never runs as the auditing superuser.

The attacker is a role with LOGIN and CREATE on one schema, nothing else. It plants an IMMUTABLE zero-argument
plpgsql function that the planner would fold: it logs `pgadvisor-canary <current_user>`, tries to terminate a
canary session (swallowing the error it gets as itself), and in its second form first runs
`set_config('role', 'none', true)`, which would undo a `SET ROLE` and make it the auditing user again. It runs a
statement calling it until pg_stat_statements keeps it; then a superuser runs `pgadvisor audit` (HypoPG
installed where it exists), `collect` and `explain --queryid` through the CLI. The server log is the proof.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgadvisor.cli import run_cli
from pgadvisor.config import Config
from pgadvisor.engine import plan, run
from pgadvisor.registry import load
from pgadvisor.snapshot import Snapshot, Unavailable, WhatIf
from tests.fixtures.clusters import TestDb

CANARY_APP = "pgadvisor-canary-session"

_BODY = """BEGIN
  {first}RAISE LOG 'pgadvisor-canary %', current_user;
  BEGIN
    PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{app}';
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  RETURN 1;
END"""
ATTACKER_OBJECTS = (
    "CREATE TABLE att.t (id int PRIMARY KEY, v int NOT NULL, owner name NOT NULL DEFAULT current_user)",
    "INSERT INTO att.t (id, v) SELECT g, g FROM generate_series(1, 20000) g",
    "ANALYZE att.t",
    "CREATE FUNCTION att.f() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$"
    + _BODY.format(first="", app=CANARY_APP) + "$$",
    # set_config('role', 'none') would undo a SET ROLE: SET ROLE alone does not contain foreign code
    "CREATE FUNCTION att.g() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$"
    + _BODY.format(first="PERFORM set_config('role', 'none', true);\n  ", app=CANARY_APP) + "$$",
    "CREATE VIEW att.v AS SELECT id, v FROM att.t",
)
ATTACK = ("SELECT id FROM att.t WHERE v = att.f()", "SELECT id FROM att.t WHERE v = att.g()")


@dataclass(frozen=True)
class Attacker:
    """The attacker role of one test database."""

    db: TestDb
    role: str

    @property
    def dsn(self) -> str:
        """Connection string of the attacker (trusted local login)."""
        return self.db.server.dsn(self.db.name, user=self.role)

    def run(self, query: str, times: int, params: tuple[Any, ...] = ()) -> None:
        """Run a statement `times` times as the attacker (extended protocol when there are params)."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for _ in range(times):
                conn.execute(query, params or None).fetchall()


@pytest.fixture
def attacker(fresh_db: TestDb) -> Iterator[Attacker]:
    """A role with LOGIN and CREATE on schema att only, its objects, and its search_path set to att."""
    role = f"attacker_{fresh_db.name}"
    ident = sql.Identifier(role)
    fresh_db.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
    fresh_db.execute(sql.SQL("CREATE SCHEMA att; GRANT USAGE, CREATE ON SCHEMA att TO {}").format(ident))
    fresh_db.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} SET search_path = att")
                     .format(ident, sql.Identifier(fresh_db.name)))
    with psycopg.connect(fresh_db.server.dsn(fresh_db.name, user=role), autocommit=True) as conn:
        for statement in ATTACKER_OBJECTS:
            conn.execute(statement)
    fresh_db.reset_statements()
    yield Attacker(fresh_db, role)
    fresh_db.execute("DROP SCHEMA att CASCADE")
    fresh_db.server.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))


def _log_since(db: TestDb, offset: int) -> str:
    return db.server.log_tail(100_000, since=offset)


def _log_offset(db: TestDb) -> int:
    return db.server.logfile.stat().st_size


def _canary_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "pgadvisor-canary " in line and "RAISE" not in line]


def _queryid(db: TestDb, text: str) -> int:
    rows = db.execute(sql.SQL("SELECT queryid FROM pg_stat_statements WHERE dbid = {} AND query = {}")
                      .format(sql.Literal(db.dbid), sql.Literal(text)))
    assert len(rows) == 1, rows
    return int(rows[0][0])


def _has_hypopg(db: TestDb) -> bool:
    return db.server.install.has_extension("hypopg")


def test_planted_function_never_runs_as_the_auditor(attacker: Attacker, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """audit, collect and explain --queryid as a superuser never run the attacker's function as the superuser
    (not even through set_config('role', 'none')), the canary session survives, and the what-if notes and
    explain say why the statements were not planned."""
    db = attacker.db
    if _has_hypopg(db):
        db.execute("CREATE EXTENSION hypopg")
    offset = _log_offset(db)
    for text in ATTACK:
        attacker.run(text, 30)
    own = _canary_lines(_log_since(db, offset))
    assert own and all(attacker.role in line for line in own), "the attacker's own calls are logged (the proof works)"
    superuser = db.server.execute("SELECT current_user")[0][0]
    canary = psycopg.connect(db.dsn, autocommit=True, application_name=CANARY_APP)
    try:
        offset = _log_offset(db)
        assert run_cli(["audit", db.dsn, "--format", "json"]) in (0, 1)
        capsys.readouterr()
        assert run_cli(["collect", db.dsn, "-o", str(tmp_path / "snap.json")]) == 0
        log = _log_since(db, offset)
        assert not [line for line in _canary_lines(log) if superuser in line], log
        assert canary.execute("SELECT 1").fetchone() == (1,), "the canary session survives"
        for text in ATTACK:
            qid = str(_queryid(db, text))
            assert run_cli(["explain", db.dsn, "--queryid", qid]) == 2
            err = capsys.readouterr().err
            assert "not planned" in err and "att." in err and "which is not trusted" in err
            assert run_cli(["explain", db.dsn, "--queryid", qid, "--analyze"]) == 2
            assert "refused" in capsys.readouterr().err
        log = _log_since(db, offset)
        assert not [line for line in _canary_lines(log) if superuser in line], log
        assert _canary_lines(log) == [], "the planted function did not run at all while auditing"
        assert canary.execute("SELECT 1").fetchone() == (1,), "the canary session survives"
    finally:
        canary.close()
    snap = Snapshot.from_json((tmp_path / "snap.json").read_text())
    assert isinstance(snap.statements, tuple)
    rows = [s for s in snap.statements if s.query in ATTACK]
    assert {(s.user, s.userid is not None) for s in rows} == {(attacker.role, True)}
    if _has_hypopg(db):
        assert isinstance(snap.whatif, WhatIf | Unavailable)
        text = " ".join(snap.whatif.notes) if isinstance(snap.whatif, WhatIf) else snap.whatif.reason
        assert "att.f()" in text and "att.g()" in text, text


def test_statements_are_planned_as_their_role_with_its_search_path(attacker: Attacker,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """explain --queryid plans (and with --analyze runs) the statement as the role that ran it: its
    search_path (`att`, from ALTER ROLE ... IN DATABASE) finds the table, and the row-level security policy
    that applies to that role, not to the superuser, shows in the plan."""
    db = attacker.db
    with psycopg.connect(attacker.dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE t ENABLE ROW LEVEL SECURITY")
        conn.execute("ALTER TABLE t FORCE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY mine ON t USING (owner = current_user)")
    attacker.run("SELECT id FROM t WHERE v = %s", 3, (5,))
    attacker.run("SELECT count(*) FROM t", 3)
    qid = _queryid(db, "SELECT id FROM t WHERE v = $1")
    assert run_cli(["explain", db.dsn, "--queryid", str(qid), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert '"att"' in json.dumps(out["plan"]) and "CURRENT_USER" in json.dumps(out["plan"]), out["plan"]
    qid = _queryid(db, "SELECT count(*) FROM t")
    assert run_cli(["explain", db.dsn, "--queryid", str(qid), "--analyze", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "analyze" and "CURRENT_USER" in json.dumps(out["plan"])
    # the superuser's own text is planned as the superuser: RLS does not apply to it
    assert run_cli(["explain", db.dsn, "--query", "SELECT count(*) FROM att.t", "--format", "json"]) == 0
    assert "CURRENT_USER" not in json.dumps(json.loads(capsys.readouterr().out)["plan"])


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "volatile"),
        ("SELECT att.f()", "not a built-in function"),
        ("SELECT * FROM att.t WHERE id = 1 FOR UPDATE", "locks rows"),
        ("WITH d AS (DELETE FROM att.t WHERE id = 1 RETURNING id) SELECT * FROM d", "data-modifying"),
        ("SELECT * FROM att.v WHERE id = 1", "view"),
        ("SELECT id INTO TEMP x FROM att.t", "SELECT INTO"),
        ("SELECT random() FROM att.t", "volatile"),
    ],
    ids=["terminate", "user-function", "for-update", "cte-delete", "view", "select-into", "random"],
)
def test_analyze_refuses_what_could_act(attacker: Attacker, capsys: pytest.CaptureFixture[str], query: str,
                                        reason: str) -> None:
    """--analyze executes: a volatile or non-built-in function, row locks, writes, SELECT INTO and views are
    refused (exit 2, one line) before anything runs; the canary session survives."""
    db = attacker.db
    offset = _log_offset(db)
    with psycopg.connect(db.dsn, autocommit=True, application_name=CANARY_APP) as canary:
        code = run_cli(["explain", db.dsn, "--analyze", "--query", query])
        err = capsys.readouterr().err.strip()
        assert code == 2 and reason in err and len(err.splitlines()) == 1, err
        assert canary.execute("SELECT 1").fetchone() == (1,)
    assert _canary_lines(_log_since(db, offset)) == []


def test_analyze_accepts_a_plain_select_with_built_in_functions(attacker: Attacker,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A SELECT on a table with built-in immutable and stable functions runs, read-only, rolled back."""
    query = ("SELECT count(*), max(lower(v::text)), now() - interval '1 day' FROM att.t "
             "WHERE v BETWEEN 10 AND 20 AND owner::text LIKE 'a%' AND coalesce(v, 0) IN (11, 12)")
    code = run_cli(["explain", attacker.db.dsn, "--analyze", "--query", query, "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["method"] == "analyze" and "Actual Rows" in out["plan"]


def test_dropped_role_is_not_planned(attacker: Attacker, capsys: pytest.CaptureFixture[str]) -> None:
    """A statement whose role was dropped since is not planned (explain: exit 3; what-if: a note)."""
    db = attacker.db
    gone = f"gone_{db.name}"
    db.execute(sql.SQL("CREATE ROLE {} LOGIN; GRANT USAGE ON SCHEMA att TO {}; GRANT SELECT ON att.t TO {}")
               .format(*[sql.Identifier(gone)] * 3))
    with psycopg.connect(db.server.dsn(db.name, user=gone), autocommit=True) as conn:
        for _ in range(3):
            conn.execute("SELECT id FROM att.t WHERE v = 42 /* gone */").fetchall()
    db.execute(sql.SQL("DROP OWNED BY {}; DROP ROLE {}").format(*[sql.Identifier(gone)] * 2))
    qid = _queryid(db, "SELECT id FROM att.t WHERE v = $1 /* gone */")
    assert run_cli(["explain", db.dsn, "--queryid", str(qid)]) == 3
    err = capsys.readouterr().err
    assert "not planned" in err and "no longer exists" in err


def test_dropped_role_is_a_whatif_note(attacker: Attacker, tmp_path: Path) -> None:
    """The what-if collector lists a statement of a dropped role as not planned, with the reason and a count,
    and still plans the statements of roles it may become."""
    db = attacker.db
    if not _has_hypopg(db):
        pytest.skip(f"HypoPG is not installed for PostgreSQL {db.server.major} here (only for 15)")
    db.execute("CREATE EXTENSION hypopg")
    gone = f"gone_{db.name}"
    db.execute(sql.SQL("CREATE ROLE {} LOGIN; GRANT USAGE ON SCHEMA att TO {}; GRANT SELECT ON att.t TO {}")
               .format(*[sql.Identifier(gone)] * 3))
    with psycopg.connect(db.server.dsn(db.name, user=gone), autocommit=True) as conn:
        for _ in range(3):
            conn.execute("SELECT id FROM att.t WHERE v = %s /* gone */", (42,)).fetchall()
    db.execute(sql.SQL("DROP OWNED BY {}; DROP ROLE {}").format(*[sql.Identifier(gone)] * 2))
    attacker.run("SELECT id FROM att.t WHERE v = %s", 5, (7,))
    assert run_cli(["collect", db.dsn, "-o", str(tmp_path / "snap.json")]) == 0
    snap = Snapshot.from_json((tmp_path / "snap.json").read_text())
    assert isinstance(snap.whatif, WhatIf), snap.whatif
    assert any(n.startswith("1 statement(s) not planned: the role that ran it (oid") and "no longer exists" in n
               for n in snap.whatif.notes), snap.whatif.notes
    planned = [p for p in snap.whatif.plans if p.cost is not None]
    assert planned and any(c.table == "t" and c.keys == ("v",) for c in snap.whatif.candidates)


REGISTRY = load(entry_points=False)
THRESHOLDS = {"min_mean_ms": 0, "warning_saved_s_per_day": 0.001, "min_saved_s_per_day": 0.001}


def test_pg_monitor_auditor_falls_back_to_the_estimate_and_says_why(attacker: Attacker, tmp_path: Path) -> None:
    """A pg_monitor auditor is a member of no application role: no statement is planned, the what-if part is
    Unavailable naming the role rule, and IX011 recommends from its estimate (tier B) saying why. The
    superuser, who may act as the attacker role, gets the HypoPG tier for the same workload."""
    db = attacker.db
    if not _has_hypopg(db):
        pytest.skip(f"HypoPG is not installed for PostgreSQL {db.server.major} here (only for 15)")
    db.execute("CREATE EXTENSION hypopg")
    with psycopg.connect(attacker.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, customer_email text NOT NULL, total numeric NOT NULL)")
        conn.execute("INSERT INTO orders SELECT g, 'c' || (g % 5000) || '@example.com', g % 100"
                     " FROM generate_series(1, 100000) g")
        conn.execute("ANALYZE orders")
    db.reset_statements()
    with psycopg.connect(attacker.dsn, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN FOR i IN 1..100 LOOP EXECUTE format('SELECT id, total FROM att.orders WHERE "
                     "customer_email = %L', 'c' || i || '@example.com'); END LOOP; END $$")
        conn.execute("SELECT pg_stat_force_next_flush()")
    findings: dict[str, Any] = {}
    for who, dsn in (("monitor", db.monitor_dsn), ("superuser", db.dsn)):
        path = tmp_path / f"{who}.json"
        assert run_cli(["collect", dsn, "-o", str(path)]) == 0
        snap = Snapshot.from_json(path.read_text())
        report = run(snap, plan(REGISTRY, Config(source="test", thresholds={"IX011": THRESHOLDS}), only=["IX011"]))
        assert report.outcomes[0].status == "ran", report.outcomes[0].reason
        findings[who] = (snap, [f for f in report.findings if f.database == db.name])
    snap, monitor = findings["monitor"]
    assert isinstance(snap.whatif, Unavailable) and "as the role that ran them" in snap.whatif.reason
    assert attacker.role in snap.whatif.reason
    assert [(f.object, f.evidence["tier"]) for f in monitor] == [("att.orders (customer_email)", "estimate")]
    assert "as the role that ran them" in str(monitor[0].evidence["estimate_because"])
    snap, superuser = findings["superuser"]
    assert isinstance(snap.whatif, WhatIf)
    assert [(f.object, f.evidence["tier"]) for f in superuser] == [("att.orders (customer_email)", "hypopg")]


def test_set_role_alone_does_not_contain_foreign_code(attacker: Attacker) -> None:
    """Why pgadvisor also checks what a statement reaches: PostgreSQL itself, after SET LOCAL ROLE attacker in a
    read-only transaction, lets the planted function's set_config('role', 'none') make it the superuser again
    while EXPLAIN folds it. (Raw psycopg here, not pgadvisor: this pins the server behaviour the rule is
    built on.)"""
    db = attacker.db
    superuser = db.server.execute("SELECT current_user")[0][0]
    offset = _log_offset(db)
    with psycopg.connect(db.dsn) as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(attacker.role)))
        conn.execute("EXPLAIN SELECT id FROM att.t WHERE v = att.g()").fetchall()
        conn.rollback()
    assert any(superuser in line for line in _canary_lines(_log_since(db, offset)))


def test_code_hidden_in_a_table_definition_is_not_planned(attacker: Attacker,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A statement that calls nothing itself, on a table whose partial index predicate calls the planted
    function (which the planner would fold when it opens the table), is not planned."""
    db = attacker.db
    with psycopg.connect(attacker.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE hidden (id int, v int)")
        conn.execute("CREATE INDEX ON hidden (id) WHERE v > att.f()")
    attacker.run("SELECT id FROM hidden WHERE id = %s", 3, (1,))
    offset = _log_offset(db)
    qid = _queryid(db, "SELECT id FROM hidden WHERE id = $1")
    assert run_cli(["explain", db.dsn, "--queryid", str(qid)]) == 2
    err = capsys.readouterr().err
    assert "not planned" in err and "att.f()" in err and "index" in err, err
    assert _canary_lines(_log_since(db, offset)) == []


def test_candidates_with_foreign_expressions_are_not_created(attacker: Attacker, tmp_path: Path) -> None:
    """hypopg_create_index runs as the auditor: a candidate whose expression calls the attacker's function
    (proposed from a statement that was itself not planned) is not created, and the notes say so; a plain
    candidate on the same table still is."""
    db = attacker.db
    if not _has_hypopg(db):
        pytest.skip(f"HypoPG is not installed for PostgreSQL {db.server.major} here (only for 15)")
    db.execute("CREATE EXTENSION hypopg")
    with psycopg.connect(attacker.dsn, autocommit=True) as conn:
        # called once per row by the attacker's own statement: it acts only when it is not the attacker
        conn.execute("CREATE FUNCTION att.h(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN"
                     f" IF current_user <> '{attacker.role}' THEN PERFORM att.f(); END IF; RETURN $1; END$$")
    attacker.run("SELECT id FROM att.t WHERE att.h(v) = %s", 3, (7,))
    attacker.run("SELECT id FROM att.t WHERE v = %s", 50, (7,))
    superuser = db.server.execute("SELECT current_user")[0][0]
    offset = _log_offset(db)
    assert run_cli(["collect", db.dsn, "-o", str(tmp_path / "snap.json")]) == 0
    assert not [line for line in _canary_lines(_log_since(db, offset)) if superuser in line]
    snap = Snapshot.from_json((tmp_path / "snap.json").read_text())
    assert isinstance(snap.whatif, WhatIf), snap.whatif
    notes = " ".join(snap.whatif.notes)
    assert "candidate(s) not created" in notes and "att.h(integer)" in notes, notes
    assert "1 statement(s) not planned: it calls att.h(integer)" in notes, notes
    assert {c.keys for c in snap.whatif.candidates} == {("v",)}, snap.whatif.candidates
