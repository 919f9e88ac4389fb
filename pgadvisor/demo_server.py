"""The private PostgreSQL server that `pgadvisor demo` starts, stops and deletes.

A `PgServer` is one data directory made from a `PgInstall` with `initdb`, started with `pg_ctl`, and stopped
again. It is private: the server listens on no TCP address at all, its Unix socket lies in a directory only
the server's OS user can enter (and root), and every role needs a generated password, which is kept in a 0600
passfile of the invoking user (`PgServer.passfile`) and sent to the server only as a SCRAM verifier.
When this process is root, the server runs as an unprivileged OS user (see `pgadvisor.pginstall`), which owns
the data directory and its parent.

The test suite's harness (tests/fixtures/cluster.py) builds its trusting TCP servers, standbys and TLS
servers on this class; nothing here is only for tests except the `private=False` hook it uses.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pgadvisor.pginstall import ClusterError, OsUser, PgInstall, run_program, server_os_user

__all__ = [
    "CLUSTER_DIR_ENV",
    "SUPERUSER",
    "ClusterError",
    "OsUser",
    "PgInstall",
    "PgServer",
    "default_parent_dir",
    "server_os_user",
]

CLUSTER_DIR_ENV: Final = "PGADVISOR_CLUSTER_DIR"
"""Where servers without an explicit base_dir are made (default: /dev/shm if roomy, else the temp dir)."""

SUPERUSER: Final = "postgres"

_SHM: Final = Path("/dev/shm")
_SHM_MIN_FREE: Final = 2 << 30  # Docker's default 64 MB /dev/shm is too small for a cluster
_SOCKET_PATH_MAX: Final = 100  # sun_path is 108 bytes; keep room for "/.s.PGSQL.65535.lock"
_PORT_ATTEMPTS: Final = 5

DEFAULT_SETTINGS: Final[Mapping[str, str]] = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "track_io_timing": "on",
    "max_connections": "50",
    "logging_collector": "off",
    # Throwaway servers: durability buys nothing and costs seconds.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
"""Written for every server; `PgServer(settings=...)` overrides any of them."""

_PRIVATE_HBA: Final = """\
# Written by pgadvisor: no TCP (listen_addresses = ''), a Unix socket in a directory only the
# server's OS user can enter, and every role needs the generated password.
local   all          all                              scram-sha-256
local   replication  all                              scram-sha-256
"""

_SCRAM_ITERATIONS: Final = 4096  # PostgreSQL's default scram_iterations


def default_parent_dir() -> Path:
    """Where new clusters go: $PGADVISOR_CLUSTER_DIR, else /dev/shm if roomy, else the temp dir.

    On this machine kind CREATE DATABASE is ~10x faster on /dev/shm (tmpfs) than on ext4, even with fsync=off.
    """
    if env := os.environ.get(CLUSTER_DIR_ENV):
        return Path(env)
    try:
        st = _SHM.stat()
        vfs = os.statvfs(_SHM)
    except OSError:
        return Path(tempfile.gettempdir())
    sticky_public = stat.S_ISDIR(st.st_mode) and st.st_mode & 0o1777 == 0o1777
    if sticky_public and vfs.f_bavail * vfs.f_frsize >= _SHM_MIN_FREE and os.access(_SHM, os.W_OK | os.X_OK):
        return _SHM
    return Path(tempfile.gettempdir())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _scram_verifier(password: str, *, iterations: int = _SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5803 format), with a random salt.

    `CREATE ROLE ... PASSWORD '<verifier>'` and `initdb --pwfile` store such a string as is, so the clear
    password never leaves this process. ASCII passwords only: SASLprep is not applied.
    """
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("ascii"), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _conf_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


_LIVE: set[PgServer] = set()


@atexit.register
def _close_leftovers() -> None:
    for cluster in list(_LIVE):
        with contextlib.suppress(Exception):
            cluster.close()


class PgServer:
    """One throwaway PostgreSQL server, run as an unprivileged OS user when we are root.

    Use it as a context manager (initdb if needed, start; on exit stop and delete its temp dir), or call
    `init()`, `start()`, `stop()` and `close()` yourself. Layout: `<base_dir>/data` is the data directory,
    `<base_dir>/server.log` the server log. Without `base_dir`, a temp dir is made under
    `default_parent_dir()` and `close()` deletes it. Servers still open at interpreter exit are closed then,
    unless `keep()` was called.

    The server is private: it listens on no TCP address, only on a Unix socket in a 0700 directory of the
    server's OS user (`socket_dir`), and every role must give the password generated for this server.
    `dsn()` names the socket directory and `passfile`, a 0600 file of the invoking user holding that
    password; the server only ever sees its SCRAM verifier. Create login roles with `create_role()`.
    `private=False` is the test harness's hook (tests/fixtures/cluster.py): no password, and the harness
    supplies its own pg_hba.conf (`hba()`) and TCP settings.
    """

    def __init__(
        self,
        install: PgInstall,
        *,
        base_dir: Path | None = None,
        port: int | None = None,
        settings: Mapping[str, str] | None = None,
        private: bool = True,
    ) -> None:
        if settings and "port" in settings:
            raise ValueError("pass the port as PgServer(port=...), not in settings")
        if private and settings and {"listen_addresses", "unix_socket_directories"} & settings.keys():
            raise ValueError("a private server listens only on its own socket directory")
        self.private: Final = private
        self.install: Final = install
        self.major: Final = install.major
        self.os_user: Final = server_os_user()
        self.settings: Final[dict[str, str]] = dict(settings or {})
        self._fixed_port = port is not None
        self.port: int = port if port is not None else free_port()
        self._owns_base_dir = base_dir is None
        if base_dir is None:
            parent = default_parent_dir()
            parent.mkdir(parents=True, exist_ok=True)
            base_dir = Path(tempfile.mkdtemp(prefix="pgadvisor-", dir=parent))
        else:
            base_dir.mkdir(parents=True, exist_ok=True)
        self.base_dir: Final = base_dir.absolute()
        self.datadir: Final = self.base_dir / "data"
        self.logfile: Final = self.base_dir / "server.log"
        if self.os_user is not None:
            self.os_user.chown(self.base_dir)
            if not self.os_user.can_search(self.base_dir):
                if self._owns_base_dir:
                    shutil.rmtree(self.base_dir, ignore_errors=True)
                raise ClusterError(
                    f"OS user {self.os_user.name!r} runs the server but cannot reach {self.base_dir}: "
                    "choose a base_dir whose every parent directory is searchable by that user"
                )
        self._own_socket_dir: Path | None = None
        self.socket_dir: Path = self.base_dir
        if len(str(self.base_dir)) > _SOCKET_PATH_MAX - len("/.s.PGSQL.65535.lock"):
            self.socket_dir = self._own_socket_dir = Path(tempfile.mkdtemp(prefix="pga-", dir="/tmp"))
            if self.os_user is not None:
                self.os_user.chown(self._own_socket_dir)
        self._password: str | None = None
        self._own_secret_dir: Path | None = None
        self.passfile: Path | None = None
        if private:
            self._password = secrets.token_urlsafe(24)  # letters, digits, '-' and '_': safe in a passfile
            try:
                self.base_dir.chmod(0o700)  # it holds the socket
                self.passfile = self._make_passfile(self._password)
            except OSError as exc:
                self.close()
                raise ClusterError(f"could not make the private files of {self!r}: {exc}") from exc
        _LIVE.add(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} pg{self.major} port={self.port} datadir={self.datadir}>"

    # ----------------------------------------------------------------------------------- lifecycle

    def __enter__(self) -> Self:
        try:
            if not self.is_initialized():
                self.init()
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def is_initialized(self) -> bool:
        """True once the data directory holds a cluster (from `init()` or a base backup)."""
        return (self.datadir / "PG_VERSION").is_file()

    def init(self) -> None:
        """Run initdb (superuser `postgres`, UTF8, C locale, no fsync) and write pg_hba.conf.

        Authentication is trust, or for a private cluster scram-sha-256 with the generated password (initdb
        reads only its SCRAM verifier, from a file deleted right after).
        """
        if self.is_initialized():
            raise ClusterError(f"{self.datadir} already holds a cluster")
        args: list[str | Path] = [
            self.install.binary("initdb"),
            "-D",
            self.datadir,
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]
        if self.major >= 14:
            args.append("--no-instructions")
        if self._password is None:
            self._run([*args, "--auth=trust"])
            self._write_file(self.datadir / "pg_hba.conf", self.hba())
            return
        pwfile = self.base_dir / "initdb.pw"
        self._write_file(pwfile, _scram_verifier(self._password) + "\n")
        try:
            self._run([*args, "--auth=scram-sha-256", f"--pwfile={pwfile}"])
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_file(self.datadir / "pg_hba.conf", self.hba())

    def hba(self) -> str:
        """What `init()` writes to pg_hba.conf: for a private server, only password logins on the socket."""
        return _PRIVATE_HBA

    def start(self) -> None:
        """Write the settings, then `pg_ctl start -w`; does nothing if already running.

        On a port clash another free port is picked, unless the port was fixed by the caller.
        """
        if not self.is_initialized():
            raise ClusterError(f"{self.datadir} holds no cluster: call init() first")
        if self.is_running():
            return
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self._write_settings()
            log_offset = self.logfile.stat().st_size if self.logfile.exists() else 0
            res = self._pg_ctl("start", "-w", "-t", "60", "-l", self.logfile, check=False)
            if res.returncode == 0:
                _LIVE.add(self)
                return
            tail = self.log_tail(since=log_offset)
            if self.is_running():  # e.g. timed out waiting: do not leave it behind
                self._pg_ctl("stop", "-m", "immediate", "-w", check=False)
            clash = "Address already in use" in tail or "could not create lock file" in tail
            if clash and not self._fixed_port and attempt < _PORT_ATTEMPTS:
                self.port = free_port()
                continue
            raise ClusterError(
                f"PostgreSQL {self.major} did not start on port {self.port} "
                f"(pg_ctl exited with {res.returncode}: {res.stderr.strip()})\n"
                f"--- {self.logfile} ---\n{tail}"
            )

    def stop(self) -> None:
        """`pg_ctl stop -m fast`. Idempotent: does nothing if the cluster is not running."""
        if not (self.datadir / "postmaster.pid").exists():
            return
        res = self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60", check=False)
        if res.returncode != 0 and self.is_running():
            raise ClusterError(f"could not stop {self!r}: {res.stderr.strip()}\n{self.log_tail()}")

    def close(self) -> None:
        """Stop the server, then delete the temp directories this object created (and the passfile)."""
        try:
            self.stop()
        finally:
            _LIVE.discard(self)
            for path in self.own_paths():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    def own_paths(self) -> list[Path]:
        """What `close()` deletes: the temp directories this object made, and the passfile."""
        paths = [self.base_dir] if self._owns_base_dir else []
        paths += [d for d in (self._own_socket_dir, self._own_secret_dir) if d is not None]
        if self.passfile is not None and not any(self.passfile.is_relative_to(d) for d in paths):
            paths.append(self.passfile)
        return paths

    def is_running(self) -> bool:
        """True if `pg_ctl status` finds a live postmaster for the data directory."""
        return self.datadir.is_dir() and self._pg_ctl("status", check=False).returncode == 0

    def log_tail(self, lines: int = 40, *, since: int = 0) -> str:
        """The last lines of the server log, optionally only what was written after byte offset `since`."""
        try:
            with self.logfile.open("rb") as f:
                f.seek(since)
                text = f.read().decode(errors="replace")
        except OSError as exc:
            return f"(no server log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    # ----------------------------------------------------------------------------------- SQL

    def dsn(self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        """A libpq key=value connection string to the Unix socket directory, with the passfile of a private
        server (the password itself is never in it)."""
        return make_conninfo(
            "",
            host=str(self.socket_dir),
            port=self.port,
            dbname=dbname,
            user=user,
            password=password,
            passfile=str(self.passfile) if self.passfile is not None else None,
            connect_timeout=10,
        )

    def create_role(self, name: str, *, member_of: Sequence[str] = ()) -> None:
        """CREATE ROLE name LOGIN, granted `member_of`; in a private cluster it gets the cluster's password.

        The password is sent as a SCRAM verifier, so no statement text or log line ever holds it.
        """
        query = sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name))
        if self._password is not None:
            verifier = _scram_verifier(self._password)
            query = sql.SQL("{} PASSWORD {}").format(query, sql.Literal(verifier))
        self.execute(query)
        for group in member_of:
            self.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name)))

    def connect(
        self, dbname: str = "postgres", user: str = SUPERUSER, *, autocommit: bool = True
    ) -> psycopg.Connection[tuple[Any, ...]]:
        """A new psycopg connection (close it, or use it in a `with` block)."""
        try:
            return psycopg.connect(self.dsn(dbname, user), autocommit=autocommit)
        except psycopg.OperationalError as exc:
            raise ClusterError(f"cannot connect to {self!r} as {user}: {exc}") from exc

    def execute(
        self, query: str | sql.Composable, dbname: str = "postgres", *, autocommit: bool = True
    ) -> list[tuple[Any, ...]]:
        """Run SQL as the superuser and return the rows of the last statement that returned rows, else [].

        With `autocommit` each statement runs on its own (so CREATE DATABASE works); without it they all run
        in one transaction that is committed at the end. `statements()` says how a string is split.
        """
        rows: list[tuple[Any, ...]] = []
        with self.connect(dbname, autocommit=autocommit) as conn:
            for stmt in self.statements(query):
                cur = conn.execute(stmt)  # type: ignore[arg-type]  # scripts are not LiteralString
                while True:
                    if cur.description is not None:
                        rows = cur.fetchall()
                    if not cur.nextset():
                        break
        return rows

    def statements(self, query: str | sql.Composable) -> list[str | sql.Composable]:
        """The statements `execute()` sends one by one: here the query as is (one statement)."""
        return [query]

    def keep(self) -> None:
        """Leave the server running when this process exits (it is closed then otherwise): `stop_command()`."""
        _LIVE.discard(self)

    def stop_command(self) -> str:
        """One shell command that stops the server and deletes everything `close()` would."""
        pg_ctl = [str(self.install.binary("pg_ctl")), "-D", str(self.datadir), "stop", "-m", "fast", "-w"]
        if self.os_user is not None:
            pg_ctl = ["runuser", "-u", self.os_user.name, "--", *pg_ctl]
        remove = ["rm", "-rf", "--", *(str(path) for path in self.own_paths())]
        return f"{shlex.join(pg_ctl)} && {shlex.join(remove)}"

    # ----------------------------------------------------------------------------------- internals

    def server_settings(self) -> dict[str, str]:
        """What `<datadir>/pgadvisor.conf` holds: defaults, then port and socket, then `settings`.

        A private server listens on no TCP address and its socket is for the server's OS user only.
        """
        private = {"listen_addresses": "", "unix_socket_permissions": "0700"} if self.private else {}
        return {
            **DEFAULT_SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            **self.settings,
            **private,
        }

    def _make_passfile(self, password: str) -> Path:
        """Write `*:*:*:*:<password>` to a new 0600 file of this process's user, outside the server's reach.

        Without an OS user switch that is `<base_dir>/pgpass`. As root, `base_dir` belongs to the server's
        OS user, who could swap the file for a link: the passfile then goes to a private dir of root's own,
        next to `base_dir`.
        """
        directory = self.base_dir
        if self.os_user is not None:
            parent = self.base_dir.parent
            directory = self._own_secret_dir = Path(tempfile.mkdtemp(prefix="pgadvisor-pass-", dir=parent))
        path = directory / "pgpass"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"*:*:*:*:{password}\n")
        return path

    def _write_settings(self) -> None:
        body = "".join(f"{k} = {_conf_value(v)}\n" for k, v in self.server_settings().items())
        self._write_file(
            self.datadir / "pgadvisor.conf", "# Written by pgadvisor at each start.\n" + body
        )
        main_conf = self.datadir / "postgresql.conf"
        include = "include = 'pgadvisor.conf'\n"
        text = self._read_file(main_conf)
        if include not in text:
            self._write_file(main_conf, text.rstrip("\n") + "\n\n" + include)

    # As root, files inside the data directory are read and written as the server's OS user: that user owns
    # the directory, so root must not follow whatever links it may hold.

    def _read_file(self, path: Path) -> str:
        if self.os_user is None:
            return path.read_text()
        return self._run(["cat", "--", path]).stdout

    def _write_file(self, path: Path, text: str) -> None:
        if self.os_user is None:
            path.write_text(text)
        else:
            self._run(["/bin/sh", "-c", 'cat > "$1"', "sh", path], stdin_text=text)

    def _run(
        self,
        args: Sequence[str | Path],
        *,
        check: bool = True,
        timeout: float = 120.0,
        stdin_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return run_program(
            args, user=self.os_user, cwd=self.base_dir, check=check, timeout=timeout, stdin_text=stdin_text
        )

    def _pg_ctl(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:

        return self._run([self.install.binary("pg_ctl"), "-D", self.datadir, *args], check=check, timeout=90)
