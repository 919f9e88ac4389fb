"""Secrets never leave the server: passwords are cut out of statement texts, settings, DSNs and messages.

Statement texts (pg_stat_statements, pg_stat_activity) are redacted from PostgreSQL's own parse tree, not by
pattern. The tree says which literals are secrets, and the byte location PostgreSQL records for each literal
points at the token the scanner found there; exactly that token is replaced by `'***'`, the rest of the text is
kept byte for byte. Secrets are:

- the value of an option named `password` or `sslpassword` (`CREATE/ALTER ROLE|USER ... [ENCRYPTED] PASSWORD`,
  `CREATE/ALTER USER MAPPING|SERVER ... OPTIONS (password '...')`), in any literal form (`'..'`, `E'..'`,
  `U&'..' [UESCAPE]`, `$$..$$`, `$tag$..$tag$`, a literal continued on the next line, comments between);
- a literal whose value is a connection string or URI with a password (`dblink('... password=...')`,
  `CREATE SUBSCRIPTION ... CONNECTION`, `SET x = 'postgresql://u:pw@h'`, `PGPASSWORD=...`);
- a literal that mentions a password and is itself SQL that needs redacting, or is not SQL at all (`DO` blocks
  and function bodies, which are PL/pgSQL, or a message such as 'reset password');
- a literal compared with, assigned or inserted into a column named like `password` (`WHERE password =
  crypt('...', password)`, `UPDATE ... SET password = '...'`): what pg_stat_activity shows of a login query.

A text that does not parse (cut by track_activity_query_size, a syntax error) and mentions a password, or whose
secret has no location in the tree (`COPY ... PROGRAM 'PGPASSWORD=...'`), is replaced whole by `UNPARSABLE`.
Texts without the word `password` and without `://` are returned at once, without parsing. A statement that only
reads a column named `password` is not changed at all.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final
from urllib.parse import unquote

from pglast import parser

from pgadvisor.snapshot import PART_NAMES, QualStatRow, SettingRow, Snapshot
from pgadvisor.sqltree import SAFE_DIRECT_CHARS

MASK: Final = "***"
UNPARSABLE: Final = "<redacted: unparsable statement mentioning a password>"
PASSWORD_KEYS: Final = frozenset({"password", "sslpassword"})
"""libpq keywords (and foreign-data-wrapper option names) whose value is a secret."""

_STRING_TOKENS: Final = frozenset({"SCONST", "USCONST"})
_NESTING: Final = 3
"""Literals inside literals (a DO body that runs `ALTER ROLE ... PASSWORD`) checked this deep, then redacted."""

_ASSIGNMENT = re.compile(r"password\s*=", re.IGNORECASE)
_USERINFO = re.compile(r"[a-z][a-z0-9+.-]*://[^/?#@\s:]*:[^/?#@]*@", re.IGNORECASE)
_URI_PREFIX = re.compile(r"\s*[a-z][a-z0-9+.-]*://", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------------- SQL


def redact_sql(text: str) -> str:
    """`text` with every secret literal replaced by `'***'`; see the module docstring. Never raises."""
    if "://" not in text and "password" not in text.lower():
        return text
    return _redact_sql(text, 0)


def _redact_sql(text: str, depth: int) -> str:
    try:
        spans = _secret_spans(text, depth)
    except (parser.ParseError, ValueError, UnicodeError, RecursionError, MemoryError):
        spans = None
    if spans is None:
        mentions = "password" in text.lower() or _USERINFO.search(text) is not None
        return UNPARSABLE if mentions else text
    return _mask(text, spans, f"'{MASK}'")


def _mask(text: str, spans: Iterable[tuple[int, int]], mask: str) -> str:
    """`text` with each span (merged where they overlap) replaced by `mask`."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, last = [], 0
    for start, end in merged:
        out += [text[last:start], mask]
        last = end
    out.append(text[last:])
    return "".join(out)


def _secret_spans(text: str, depth: int) -> set[tuple[int, int]] | None:
    """Character spans of the secret literals; None when the text cannot be redacted precisely."""
    if "\x00" in text:
        return None
    if len(text) > SAFE_DIRECT_CHARS:
        parser.parse_sql_protobuf(text)  # refuses trees deep enough to overflow the C stack, cleanly
    tree = json.loads(parser.parse_sql_json(text))
    literals = list(_literals(tree))
    located = [loc for loc, forced, value in literals if forced or _secret_value(value, depth)]
    wanted = [loc for loc in located if loc is not None and loc >= 0]
    if len(wanted) < len(located):
        return None  # a secret with no location: the whole text goes
    if not wanted:
        return set()
    tokens = list(parser.scan(text))
    by_start = {tok.start: i for i, tok in enumerate(tokens)}
    to_char = _char_offsets(text)
    spans = set()
    for loc in wanted:
        i = by_start.get(to_char(loc))
        if i is None or tokens[i].name not in _STRING_TOKENS:
            return None
        end = tokens[i].end
        if tokens[i].name == "USCONST" and i + 2 < len(tokens) and tokens[i + 1].name == "UESCAPE":
            end = tokens[i + 2].end
        spans.add((tokens[i].start, end + 1))
    return spans


def _char_offsets(text: str) -> Callable[[int], int]:
    """Byte offset (PostgreSQL's locations) -> character offset (pglast's scanner)."""
    if text.isascii():
        return lambda loc: loc
    raw = text.encode("utf-8")
    return lambda loc: len(raw[:loc].decode("utf-8", errors="replace"))


def _literals(node: Any) -> Iterator[tuple[int | None, bool, str]]:
    """(byte location, secret whatever its value, value) of every string literal in a JSON parse tree.

    A string that is not a literal (identifiers, names) is yielded with location None only when its value looks
    like a credential, which then makes the whole text unredactable rather than leak it.
    """
    stack: list[tuple[Any, bool]] = [(node, False)]
    while stack:
        current, forced = stack.pop()
        if isinstance(current, list):
            stack.extend((item, forced) for item in current)
            continue
        if not isinstance(current, dict):
            continue
        for key, value in current.items():
            if key == "A_Const" and isinstance(value, dict):
                sval = value.get("sval")
                if isinstance(sval, dict) and isinstance(sval.get("sval"), str):
                    yield value.get("location"), forced, sval["sval"]
            elif key == "DefElem" and isinstance(value, dict):
                secret = str(value.get("defname", "")).lower() in PASSWORD_KEYS
                arg = _only_string(value.get("arg"))
                if arg is not None:
                    yield value.get("arg_location"), forced or secret, arg
                else:
                    stack.append((value.get("arg"), forced or secret))
            elif key == "A_Expr" and isinstance(value, dict):
                left, right = value.get("lexpr"), value.get("rexpr")
                stack += [(left, forced or _is_password_column(right)), (right, forced or _is_password_column(left))]
                stack += [(v, forced) for k, v in value.items() if k not in ("lexpr", "rexpr")]
            elif key == "ResTarget" and isinstance(value, dict):
                stack.append((value.get("val"), forced or password_column(value.get("name"))))
                stack += [(v, forced) for k, v in value.items() if k != "val"]
            elif key == "InsertStmt" and isinstance(value, dict):
                stack += _insert_values(value, forced)
            elif isinstance(value, str):
                located = current.get(f"{key}_location")
                if isinstance(located, int):
                    yield located, forced, value
                elif _credential(value):
                    yield None, True, value
            else:
                stack.append((value, forced))


def _only_string(arg: Any) -> str | None:
    """The value of a DefElem argument that is one string (`'..'`, or a one-item list as in `AS '..'`)."""
    if isinstance(arg, dict) and "List" in arg:
        items = arg["List"].get("items") or []
        arg = items[0] if len(items) == 1 else None
    if isinstance(arg, dict) and isinstance(arg.get("String"), dict):
        sval = arg["String"].get("sval")
        return sval if isinstance(sval, str) else None
    return None


def password_column(name: Any) -> bool:
    """A column name that holds passwords (`password`, `passwd`, `pwd`, `db_password`, `password_hash`), not one
    about them (`password_changed_at`, `password_reset_count`)."""
    if not isinstance(name, str):
        return False
    low = name.lower()
    if low == "pwd":
        return True
    return ("password" in low or "passwd" in low) and not low.endswith(_ABOUT_PASSWORDS)


_ABOUT_PASSWORDS: Final = ("_at", "_on", "_date", "_time", "_until", "_count", "_id", "_required", "_changed")


def _is_password_column(node: Any) -> bool:
    if not isinstance(node, dict) or not isinstance(node.get("ColumnRef"), dict):
        return False
    fields = node["ColumnRef"].get("fields") or []
    last = fields[-1] if fields else None
    name = last.get("String") if isinstance(last, dict) else None
    return isinstance(name, dict) and password_column(name.get("sval"))


def _insert_values(stmt: dict[str, Any], forced: bool) -> list[tuple[Any, bool]]:  # noqa: FBT001
    """INSERT's parts, with the VALUES items that go into a password column marked secret."""
    names = [c.get("ResTarget", {}).get("name") for c in stmt.get("cols") or [] if isinstance(c, dict)]
    secret_at = {i for i, name in enumerate(names) if password_column(name)}
    out: list[tuple[Any, bool]] = []
    for key, value in stmt.items():
        select = value.get("SelectStmt") if key == "selectStmt" and isinstance(value, dict) else None
        if secret_at and isinstance(select, dict) and select.get("valuesLists"):
            for row in select["valuesLists"]:
                items = row.get("List", {}).get("items", []) if isinstance(row, dict) else []
                out += [(item, forced or i in secret_at) for i, item in enumerate(items)]
            out += [(v, forced) for k, v in select.items() if k != "valuesLists"]
        else:
            out.append((value, forced))
    return out


def _secret_value(value: str, depth: int) -> bool:
    """A literal that holds a credential, or SQL (or PL/pgSQL) that mentions a password."""
    if _credential(value):
        return True
    if "password" not in value.lower():
        return False
    return depth + 1 >= _NESTING or _redact_sql(value, depth + 1) != value


def _credential(value: str) -> bool:
    """A `password=` assignment (conninfo, URI query, PGPASSWORD=) or a URI with a password in its userinfo."""
    return _ASSIGNMENT.search(value) is not None or _USERINFO.search(value) is not None


# ---------------------------------------------------------------------------------------------------- conninfo


def redact_conninfo(value: str) -> str:
    """A connection string or URI with its password values replaced by `***`; the rest (host, user, ...) kept.

    Follows libpq's syntax (quoted values with backslash escapes, URI userinfo and query parameters), and still
    redacts what libpq would refuse to parse (a password with spaces or `@`, an unterminated quote).
    """
    if "://" not in value and "password" not in value.lower():
        return value
    return _mask(value, (span for _, span in _conninfo_secrets(value)), MASK)


def _conninfo_secrets(value: str) -> list[tuple[str, tuple[int, int]]]:
    """(raw secret text, its span) for each password in a conninfo or URI, or in text that embeds them."""
    if _URI_PREFIX.match(value):
        return _uri_secrets(value, value.index("://") + 3)
    found = _kv_secrets(value)
    if found is None:
        found = [(m.group(2), m.span(2)) for m in _KV_LOOSE.finditer(value)]
    for m in re.finditer(r"[a-z][a-z0-9+.-]*://", value, re.IGNORECASE):
        end = len(value)
        space = re.compile(r"\s").search(value, m.end())
        if space is not None and "@" not in value[space.start():]:
            end = space.start()
        found += [(s, (a, b)) for s, (a, b) in _uri_secrets(value[:end], m.end())]
    return found


_KV_LOOSE = re.compile(r"((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)", re.IGNORECASE)


def _kv_secrets(value: str) -> list[tuple[str, tuple[int, int]]] | None:
    """libpq's `key = value` syntax; None when `value` is not in it (a word without `=`)."""
    found = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i].isspace():
            i += 1
        if i >= n:
            break
        key_start = i
        while i < n and value[i] != "=" and not value[i].isspace():
            i += 1
        key = value[key_start:i]
        while i < n and value[i].isspace():
            i += 1
        if i >= n or value[i] != "=" or not key:
            return None
        i += 1
        while i < n and value[i].isspace():
            i += 1
        start = i
        if i < n and value[i] == "'":
            i += 1
            while i < n and value[i] != "'":
                i += 2 if value[i] == "\\" else 1
            i = min(i + 1, n)
        else:
            while i < n and not value[i].isspace():
                i += 2 if value[i] == "\\" else 1
            i = min(i, n)
        if key.lower() in PASSWORD_KEYS:
            found.append((value[start:i], (start, i)))
    return found


def _uri_secrets(value: str, after_scheme: int) -> list[tuple[str, tuple[int, int]]]:
    """The userinfo password (up to the last `@` before the query) and `password=` query parameters."""
    found = []
    query = value.find("?", after_scheme)
    authority_end = len(value) if query < 0 else query
    at = value.rfind("@", after_scheme, authority_end)
    if at >= 0:
        colon = value.find(":", after_scheme, at)
        if colon >= 0:
            found.append((value[colon + 1:at], (colon + 1, at)))
    if query >= 0:
        for m in re.finditer(r"[?&]((?:ssl)?password)=([^&]*)", value[query:], re.IGNORECASE):
            found.append((m.group(2), (query + m.start(2), query + m.end(2))))
    return found


# ---------------------------------------------------------------------------------------------------- messages


def dsn_secrets(dsn: str | None) -> set[str]:
    """Every form in which a DSN's passwords could be echoed: as written, unquoted, percent-decoded, as libpq
    reads them; and PGPASSWORD's value."""
    out: set[str] = set()
    env = os.environ.get("PGPASSWORD")
    if env:
        out.add(env)
    if not dsn:
        return out
    for raw, _ in _conninfo_secrets(dsn):
        out.add(raw)
        if raw.startswith("'"):
            inner = raw[1:-1] if raw.endswith("'") and len(raw) > 1 else raw[1:]
            out.add(inner)
            out.add(re.sub(r"\\(.)", r"\1", inner))
        else:
            out.add(re.sub(r"\\(.)", r"\1", raw))
        out.add(unquote(raw))
        out.update(re.split(r"[\s@/]+", unquote(raw)))  # what libpq may quote of a password it misread
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(dsn)
    except ProgrammingError:
        params = {}
    out.update(str(params[k]) for k in PASSWORD_KEYS if params.get(k))
    return {s for s in out if s}


def redact_message(text: str, dsns: Iterable[str | None] = ()) -> str:
    """A message safe to print: URI userinfo and `password=` values cut, and every known password replaced.

    Passwords come from the DSNs given and PGPASSWORD. When a DSN that holds a password cannot be parsed by
    libpq, the fragments libpq quotes from it (`"..."`) are not echoed at all.
    """
    given = [d for d in dsns if d]
    out = redact_conninfo(text) if ("://" in text or "password" in text.lower()) else text
    secrets = set().union(*(dsn_secrets(d) for d in given)) if given else dsn_secrets(None)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            out = out.replace(secret, MASK)
        elif secret.strip():  # too short to cut out of words: only where it stands alone
            out = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", MASK, out)
    if any(_unparsable_with_secret(d) for d in given):
        out = re.sub(r'"[^"]*"', f'"{MASK}"', out)
    return out


def _unparsable_with_secret(dsn: str) -> bool:
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(dsn)
    except ProgrammingError:
        return bool(_conninfo_secrets(dsn)) or "password" in dsn.lower() or "@" in dsn
    return False


# ---------------------------------------------------------------------------------------------------- snapshots

SECRET_FIELDS: dict[str, Callable[[str], str]] = {"query": redact_sql, "conninfo": redact_conninfo}
"""Row fields that can carry a password: statement texts (pg_stat_activity, pg_stat_statements) and connection
strings. Setting values are scrubbed by name (`scrub_setting`), pg_qualstats' constants by their column."""


def scrub_setting(row: SettingRow) -> SettingRow:
    """The setting with the password cut out of every value that is a connection string or URI holding one."""
    values = (row.setting, row.reset_val, row.boot_val)
    setting, reset_val, boot_val = (None if v is None else redact_conninfo(v) for v in values)
    if (setting, reset_val, boot_val) == values:
        return row
    return dataclasses.replace(row, setting=setting or "", reset_val=reset_val, boot_val=boot_val)


def scrub_snapshot(snap: Snapshot) -> Snapshot:
    """A snapshot read from a file, scrubbed the way the collectors scrub what they read, so a file written by an
    older pgadvisor, or edited by hand, cannot carry a secret into a report. Only parts whose rows have such
    fields are walked; a snapshot with nothing to cut is returned as it is."""
    changes: dict[str, tuple[Any, ...]] = {}
    for name in sorted(PART_NAMES):
        part = getattr(snap, name)
        if not isinstance(part, tuple) or not part or not dataclasses.is_dataclass(part[0]):
            continue
        names = {f.name for f in dataclasses.fields(part[0])}
        if not (names & SECRET_FIELDS.keys() or isinstance(part[0], SettingRow | QualStatRow)):
            continue
        rows = tuple(_scrub_row(row, names) for row in part)
        if any(new is not old for new, old in zip(rows, part, strict=True)):
            changes[name] = rows
    return dataclasses.replace(snap, **changes) if changes else snap  # type: ignore[arg-type]


def _scrub_row(row: Any, names: set[str]) -> Any:
    if isinstance(row, SettingRow):
        return scrub_setting(row)
    updates: dict[str, str] = {}
    for name in names & SECRET_FIELDS.keys():
        value = getattr(row, name)
        if isinstance(value, str) and (cut := SECRET_FIELDS[name](value)) != value:
            updates[name] = cut
    if isinstance(row, QualStatRow) and row.constvalue is not None and password_column(row.column):
        updates["constvalue"] = MASK
    return dataclasses.replace(row, **updates) if updates else row
