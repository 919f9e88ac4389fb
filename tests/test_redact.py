"""The redactor on its own: every literal form of a password goes, everything else stays byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgadvisor.redact import (
    UNPARSABLE,
    dsn_secrets,
    password_column,
    redact_conninfo,
    redact_message,
    redact_sql,
    scrub_snapshot,
)
from pgadvisor.snapshot import Snapshot
from pgadvisor.sqltree import parse

# (statement text, the secret as written, the text expected after redaction)
STATEMENTS = [
    ("CREATE ROLE app LOGIN PASSWORD 'pw-plain'", "pw-plain", "CREATE ROLE app LOGIN PASSWORD '***'"),
    ("create user app with encrypted password E'pw\\'e\\x2d1' valid until 'infinity'", "pw\\'e",
     "create user app with encrypted password '***' valid until 'infinity'"),
    ("ALTER ROLE app PASSWORD U&'pw\\0026uni'", "pw\\0026uni", "ALTER ROLE app PASSWORD '***'"),
    ("ALTER ROLE app PASSWORD U&'pw!0026esc' UESCAPE '!' LOGIN", "pw!0026esc",
     "ALTER ROLE app PASSWORD '***' LOGIN"),
    ("ALTER USER app PASSWORD $$pw-dollar$$", "pw-dollar", "ALTER USER app PASSWORD '***'"),
    ("ALTER ROLE app WITH PASSWORD $pw$pw-tag$pw$ CONNECTION LIMIT 3", "pw-tag",
     "ALTER ROLE app WITH PASSWORD '***' CONNECTION LIMIT 3"),
    ("ALTER ROLE app PASSWORD 'pw-cont-a'\n  -- a comment between\n  'pw-cont-b' VALID UNTIL 'infinity'", "pw-cont",
     "ALTER ROLE app PASSWORD '***' VALID UNTIL 'infinity'"),
    ("ALTER ROLE app PASSWORD E'pw\\'ce'\n'pw-ce2' LOGIN", "pw-ce2", "ALTER ROLE app PASSWORD '***' LOGIN"),
    ("ALTER ROLE app PASSWORD U&'pw-cu'\n'pw-cu2' UESCAPE '!' LOGIN", "pw-cu", "ALTER ROLE app PASSWORD '***' LOGIN"),
    ("ALTER ROLE app PASSWORD /* c */ 'pw-cm' /* d */ LOGIN", "pw-cm",
     "ALTER ROLE app PASSWORD /* c */ '***' /* d */ LOGIN"),
    ("/* é */ ALTER ROLE \"rôle\" PASSWORD 'pw-ünïcode'", "pw-ünïcode", "/* é */ ALTER ROLE \"rôle\" PASSWORD '***'"),
    ("CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'a', password 'pw-map')", "pw-map",
     "CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'a', password '***')"),
    ("ALTER USER MAPPING FOR u SERVER s OPTIONS (SET password 'pw-map2')", "pw-map2",
     "ALTER USER MAPPING FOR u SERVER s OPTIONS (SET password '***')"),
    ("CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'h', sslpassword 'pw-srv')", "pw-srv",
     "CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'h', sslpassword '***')"),
    ("SELECT dblink_connect('c', 'host=h password=pw-dblink dbname=d')", "pw-dblink",
     "SELECT dblink_connect('c', '***')"),
    ("SELECT * FROM dblink('postgresql://u:pw-uri@h/db', 'select 1') AS t(x int)", "pw-uri",
     "SELECT * FROM dblink('***', 'select 1') AS t(x int)"),
    ("CREATE SUBSCRIPTION s CONNECTION 'host=h password=pw-sub' PUBLICATION p", "pw-sub",
     "CREATE SUBSCRIPTION s CONNECTION '***' PUBLICATION p"),
    ("ALTER SYSTEM SET primary_conninfo = 'host=h password=pw-sys'", "pw-sys",
     "ALTER SYSTEM SET primary_conninfo = '***'"),
    ("DO $$BEGIN EXECUTE 'ALTER ROLE r PASSWORD ''pw-do'''; END$$", "pw-do", "DO '***'"),
    ("SELECT id FROM users WHERE name = 'bob' AND password = crypt('pw-crypt', password)", "pw-crypt",
     "SELECT id FROM users WHERE name = 'bob' AND password = crypt('***', password)"),
    ("UPDATE users SET password = 'pw-upd' WHERE id = 1", "pw-upd", "UPDATE users SET password = '***' WHERE id = 1"),
    ("INSERT INTO users (name, db_password) VALUES ('bob', 'pw-ins')", "pw-ins",
     "INSERT INTO users (name, db_password) VALUES ('bob', '***')"),
    ("SELECT 1; ALTER ROLE a PASSWORD 'pw-one'; ALTER ROLE b PASSWORD 'pw-two'", "pw-",
     "SELECT 1; ALTER ROLE a PASSWORD '***'; ALTER ROLE b PASSWORD '***'"),
]


@pytest.mark.parametrize(("text", "secret", "expected"), STATEMENTS, ids=[s[1] for s in STATEMENTS])
def test_each_literal_form_is_cut_exactly(text: str, secret: str, expected: str) -> None:
    """The secret literal's exact span becomes '***', the rest is kept byte for byte, and the result parses."""
    out = redact_sql(text)
    assert out == expected
    assert secret not in out
    assert parse(out).error is None


@pytest.mark.parametrize(
    "text",
    [
        "CREATE ROLE app PASSWORD 'pw-truncated-by-track_activity_query_s",
        "ALTER ROLE app PASSWORD 'x' garbage garbage",
        "alter role app password",
        "COPY t FROM PROGRAM 'PGPASSWORD=pw-copy psql'",  # the program text has no location in the tree
        "SELECT dblink('postgresql://u:pw@h/db' broken",
    ],
)
def test_unparsable_or_unlocatable_text_is_replaced_whole(text: str) -> None:
    """A text that cannot be redacted precisely and mentions a password is replaced whole."""
    assert redact_sql(text) == UNPARSABLE


@pytest.mark.parametrize(
    "text",
    [
        "SELECT id FROM users WHERE password = $1",
        "SELECT password FROM t",
        "SELECT u.password, u.\"Password\" FROM users u WHERE u.password IS NOT NULL ORDER BY password",
        "UPDATE users SET password = $1 WHERE id = $2",
        "INSERT INTO users (name, password) VALUES ($1, $2)",
        "SELECT count(*) FROM password_resets WHERE created > now() - interval '1 day'",
        "SELECT 'https://example.com/x' AS url",
        "ALTER ROLE app PASSWORD NULL",
        "SELECT 1 /* not a password */",
        "select * from t where password_changed_at < '2020-01-01'",
    ],
)
def test_statements_without_a_secret_stay_intact(text: str) -> None:
    """Reading a column named password (or a word in a comment) changes nothing, byte for byte."""
    assert redact_sql(text) == text


def test_texts_without_the_word_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The short circuit: a text without `password` or `://` never reaches the parser."""
    import pgadvisor.redact as mod

    def boom(*_args: object) -> None:
        raise AssertionError("parsed")

    monkeypatch.setattr(mod, "_redact_sql", boom)
    assert redact_sql("SELECT 'x' FROM t WHERE a = 'secret'") == "SELECT 'x' FROM t WHERE a = 'secret'"
    with pytest.raises(AssertionError):
        redact_sql("SELECT PassWord FROM t")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aPASSWORDpassword '\"$E&U\\!\n-/*;=:@()x0é")), max_size=120))
def test_random_text_never_raises(text: str) -> None:
    """Whatever the text, the redactor returns a string and never raises."""
    assert isinstance(redact_sql(text), str)
    assert isinstance(redact_conninfo(text), str)
    assert isinstance(redact_message(text, [text]), str)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_never_raises(text: str) -> None:
    """Any unicode text (NUL, surrogates, ...) is handled."""
    for fn in (redact_sql, redact_conninfo):
        assert isinstance(fn(text + " password"), str)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00'\\"),
               min_size=1, max_size=30))
def test_any_password_in_a_role_statement_is_cut(secret: str) -> None:
    """Whatever the password, in a plain or dollar-quoted literal it never survives redaction."""
    for text in (f"ALTER ROLE app PASSWORD '{secret}'", f"ALTER ROLE app PASSWORD $q${secret.replace('$', '')}$q$"):
        out = redact_sql(text)
        assert out in ("ALTER ROLE app PASSWORD '***'", UNPARSABLE), (text, out)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("host=10.0.0.1 port=5432 user=rep password=pw1 application_name=sb1",
         "host=10.0.0.1 port=5432 user=rep password=*** application_name=sb1"),
        ("host=h password = 'pw \\' 2' user=u", "host=h password = *** user=u"),
        ("host=h sslpassword=pw3", "host=h sslpassword=***"),
        ("postgresql://rep:pw%204@h:5432/db?application_name=x&password=pw5",
         "postgresql://rep:***@h:5432/db?application_name=x&password=***"),
        ("postgresql://u:pass word@host/db", "postgresql://u:***@host/db"),
        ("postgresql://u:p@ss/w@host/db", "postgresql://u:***@host/db"),
        ("host=h password='unterminated", "host=h password=***"),
        ("host=h port=5432 user=rep", "host=h port=5432 user=rep"),
        ("pg_stat_statements,password_check", "pg_stat_statements,password_check"),
        ("scram-sha-256", "scram-sha-256"),
    ],
)
def test_conninfo_keeps_all_but_the_password(value: str, expected: str) -> None:
    """A setting's connection string keeps host, port, user and name; only the password goes."""
    assert redact_conninfo(value) == expected


@pytest.mark.parametrize(
    ("dsn", "secrets"),
    [
        ("postgresql://u:pass word@host/db", ["pass word"]),
        ("postgresql://u:p%20w%40x@host/db", ["p%20w%40x", "p w@x"]),
        ("host=h password='a\\'b c'", ["a'b c", "a\\'b c"]),
        ("postgresql://u@h/db?password=q%2Fp&bogus=1", ["q%2Fp", "q/p"]),
    ],
)
def test_dsn_secrets_in_every_form(dsn: str, secrets: list[str]) -> None:
    """The password is known as written, unquoted and percent-decoded, even when libpq cannot parse the DSN."""
    assert set(secrets) <= dsn_secrets(dsn)
    message = f"error near {' and '.join(secrets)} in {dsn}"
    out = redact_message(message, [dsn])
    assert not any(s in out for s in secrets), out


def test_pgpassword_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    """PGPASSWORD's value is cut from messages even without a DSN."""
    monkeypatch.setenv("PGPASSWORD", "env-pw-123")
    assert "env-pw-123" not in redact_message("oops env-pw-123")


def test_password_column_names() -> None:
    """Column names that hold passwords, and some that do not."""
    assert all(map(password_column, ["password", "PASSWORD", "db_password", "passwd", "pwd", "password_hash"]))
    assert not any(map(password_column, ["password_changed_at", "password_reset_count", "pass", "name", None]))


def test_a_snapshot_file_with_secrets_is_scrubbed_when_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A snapshot written before redaction existed (or edited by hand) still prints no secret: `audit
    --snapshot` and `top --snapshot` scrub statement texts and conninfo settings as the collectors do."""
    from pgadvisor.cli import run_cli

    data = json.loads((Path(__file__).parent / "data" / "snapshot_v1.json").read_text())
    data["statements"][0]["query"] = "ALTER ROLE app PASSWORD 'Sn4pSecret1'"
    setting = dict(data["settings"][0], name="primary_conninfo", setting="host=db1 password=Sn4pSecret2 user=r",
                   unit=None, vartype="string", boot_val="", reset_val="host=db1 password=Sn4pSecret2 user=r",
                   value=None)
    data["settings"].append(setting)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    for argv in (["audit", "--snapshot", str(path), "--format", "json"], ["audit", "--snapshot", str(path)],
                 ["top", "--snapshot", str(path), "--format", "json"], ["top", "--snapshot", str(path)]):
        run_cli(argv)
        out, err = capsys.readouterr()
        assert "Sn4pSecret" not in out + err, argv
    snap = Snapshot.from_file(path)
    scrubbed = scrub_snapshot(snap)
    assert isinstance(scrubbed.statements, tuple) and scrubbed.statements[0].query == "ALTER ROLE app PASSWORD '***'"
    conninfo = next(s for s in scrubbed.settings if s.name == "primary_conninfo")  # type: ignore[union-attr]
    assert "Sn4pSecret2" not in f"{conninfo.setting} {conninfo.reset_val}" and "host=db1" in conninfo.setting
    assert scrub_snapshot(scrubbed) is scrubbed  # nothing left to cut: the same object back
