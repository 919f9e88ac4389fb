"""The snapshot's JSON, read and written by msgspec; the row classes stay plain frozen dataclasses.

The shape (`format_version` 2; version 1 files read too): one object, `format_version` first, then every field
of `Snapshot` in order.
A row is an object of its fields, a tuple is an array, and an `Unavailable` part is `{"unavailable": reason}`
(any further field of `Unavailable` under its own name).

msgspec reads dataclasses directly, but it ignores unknown fields in them and a union may hold only one object
type, so `ServerInfo | Unavailable` cannot be declared. So for each dataclass a `msgspec.Struct` mirror with the
same fields, types and defaults is generated once, with `forbid_unknown_fields`, and the document decodes into
the mirrors: types, required and unknown fields, NaN, UTF-8 and truncation are all checked in C, and an error
names its place (`$.tables[3].name`). Each part is then turned into the dataclasses by `msgspec.convert` (C
again). A part that is one object or `Unavailable` is kept as `msgspec.Raw` and decoded once its keys say which.
Short strings are interned as they are read: every row repeats its database, schema and table, and column
names and types repeat across tables, which halves the memory a large snapshot takes (benchmarks/README.md).
Writing goes straight from the dataclasses, part by part; only `Unavailable` goes through its mirror.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Union

import msgspec

from pgadvisor.snapshot.rows import FORMAT_VERSION, READABLE_VERSIONS, SnapshotFormatError, Unavailable

_ENCODER = msgspec.json.Encoder()
_KEYS = msgspec.json.Decoder(dict[str, msgspec.Raw])  # the top-level keys of an object, values left unparsed
_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>.*)`)?$", re.DOTALL)


# ---------------------------------------------------------------------------------------------------- mirrors


def _is_dataclass(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _contains_dataclass(tp: Any) -> bool:
    return _is_dataclass(tp) or any(_contains_dataclass(a) for a in typing.get_args(tp))


class _TextMeta(type):
    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, str)


class _Text(metaclass=_TextMeta):
    """What a `str` field is in a mirror: msgspec hands it to `_intern`, and then checks the result with
    isinstance, which this class answers for any str, so the hook may return the interned str itself."""


_INTERN_UP_TO = 64  # characters: names and types, not query texts or index definitions


def _intern(tp: Any, value: Any) -> Any:
    """dec_hook: one shared object for each short string read."""
    if tp is _Text and isinstance(value, str):
        return sys.intern(value) if len(value) <= _INTERN_UP_TO else value
    raise TypeError(f"Expected `str`, got `{type(value).__name__}`")


def _wire(tp: Any) -> Any:
    """The msgspec type that decodes what the dataclass-side type `tp` holds."""
    if tp is str:
        return _Text
    if tp is Unavailable:
        raise TypeError("Unavailable is supported only as a part of Snapshot itself")
    if _is_dataclass(tp):
        return _mirror(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return functools.reduce(lambda a, b: a | b, [_wire(a) for a in args])
    if origin is tuple:
        return tuple[tuple(a if a is Ellipsis else _wire(a) for a in args)]  # type: ignore[misc]
    return tp


def _struct(cls: type, **options: Any) -> type[msgspec.Struct]:
    """A Struct with the fields, types and defaults of the dataclass `cls`, rejecting unknown fields. A default is
    kept, so an older file without a newer field still reads."""
    hints = typing.get_type_hints(cls)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for f in dataclasses.fields(cls):
        tp = _wire(hints[f.name])
        if f.default is not dataclasses.MISSING:
            fields.append((f.name, tp, f.default))
        elif f.default_factory is not dataclasses.MISSING:
            fields.append((f.name, tp, msgspec.field(default_factory=f.default_factory)))
        else:
            fields.append((f.name, tp))
    return msgspec.defstruct(f"{cls.__name__}Wire", fields, forbid_unknown_fields=True, gc=False, module=__name__,
                             **options)


@functools.cache
def _mirror(cls: type) -> type[msgspec.Struct]:
    return _struct(cls)


@functools.cache
def _unavailable_mirror() -> type[msgspec.Struct]:
    return _struct(Unavailable, rename={"reason": "unavailable"})


def _to_unavailable(wire: Any) -> Unavailable:
    return msgspec.convert(wire, Unavailable, from_attributes=True)


def _to_wire_unavailable(value: Unavailable) -> Any:
    return _unavailable_mirror()(*(getattr(value, f.name) for f in dataclasses.fields(Unavailable)))


# ---------------------------------------------------------------------------------------------------- plan


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    """How one top-level field of the snapshot is read: `finish` turns its mirror value into the dataclass one."""

    name: str
    key: bytes  # ,"name": as written
    finish: Callable[[Any, str], Any]
    raw: bool  # kept as msgspec.Raw, which points into the document's bytes


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    fields: tuple[_Field, ...]  # in the order of the class, as written
    reading: tuple[_Field, ...]  # the parts that point into the document's bytes first, so they can go early
    decoder: msgspec.json.Decoder[Any]


def _converter(tp: Any) -> Callable[[Any], Any]:
    if not _contains_dataclass(tp):
        return lambda value: value
    return lambda value: msgspec.convert(value, tp, from_attributes=True)


def _finisher(tp: Any) -> tuple[Any, Callable[[Any, str], Any]]:
    """The wire type of one top-level field and the function that finishes its decoded value."""
    args = typing.get_args(tp) if typing.get_origin(tp) in (Union, types.UnionType) else ()
    if Unavailable not in args:
        convert = _converter(tp)
        return _wire(tp), lambda value, _where: convert(value)
    (rest,) = [a for a in args if a is not Unavailable]
    unavailable = _unavailable_mirror()
    convert = _converter(rest)
    if typing.get_origin(rest) is tuple:  # an array or an object: msgspec tells them apart itself

        def rows(value: Any, _where: str) -> Any:
            return _to_unavailable(value) if isinstance(value, unavailable) else convert(value)

        return _wire(rest) | unavailable, rows
    one = msgspec.json.Decoder(_wire(rest), dec_hook=_intern)
    none = msgspec.json.Decoder(unavailable, dec_hook=_intern)

    def single(raw: Any, where: str) -> Any:  # two object types: the keys decide, then the part is decoded
        try:
            if "unavailable" in _KEYS.decode(raw):
                return _to_unavailable(none.decode(raw))
            return convert(one.decode(raw))
        except msgspec.ValidationError as exc:
            raise _PartError(where, str(exc)) from None

    return msgspec.Raw, single


@functools.cache
def _plan(cls: type) -> _Plan:
    hints = typing.get_type_hints(cls)
    fields, wire_fields = [], []
    for f in dataclasses.fields(cls):
        wire, finish = _finisher(hints[f.name])
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        wire_fields.append((f.name, wire) if required else (f.name, wire | msgspec.UnsetType, msgspec.UNSET))
        fields.append(_Field(f.name, b"," + msgspec.json.encode(f.name) + b":", finish, raw=wire is msgspec.Raw))
    mirror = msgspec.defstruct(f"{cls.__name__}Wire", wire_fields, forbid_unknown_fields=True, gc=False,
                               module=__name__)
    reading = sorted(fields, key=lambda f: not f.raw)
    return _Plan(tuple(fields), tuple(reading), msgspec.json.Decoder(mirror, dec_hook=_intern))


class _PartError(Exception):
    """A validation error inside a part decoded on its own; `where` is the part's path."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where, self.message = where, message


# ---------------------------------------------------------------------------------------------------- encode, decode


def encode(snap: Any, *, indent: int | None = None) -> bytes:
    """The snapshot as UTF-8 JSON, `format_version` first."""
    cls: type = type(snap)
    buf = bytearray(b'{"format_version":')
    _ENCODER.encode_into(snap.format_version, buf, -1)
    for f in _plan(cls).fields:
        if f.name == "format_version":
            continue
        value = getattr(snap, f.name)
        buf += f.key
        _ENCODER.encode_into(_to_wire_unavailable(value) if isinstance(value, Unavailable) else value, buf, -1)
    buf += b"}"
    return msgspec.json.format(buf, indent=indent) if indent is not None else bytes(buf)


def decode(cls: type, data: str | bytes) -> Any:
    """Read a snapshot of class `cls`; SnapshotFormatError, in one line naming where, on anything else."""
    with _gc_paused():
        return _finish(cls, _wire_of(cls, data))


def read(cls: type, path: Path) -> Any:
    """Read a snapshot file; its bytes are let go once every part that points into them is decoded."""
    with _gc_paused():
        return _finish(cls, _wire_of(cls, path.read_bytes()))


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while millions of acyclic objects are made: it would walk them all, often."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _wire_of(cls: type, data: str | bytes) -> Any:
    """The document decoded into the mirrors: every type, field and value checked."""
    plan = _plan(cls)
    try:
        wire = plan.decoder.decode(data)
    except msgspec.ValidationError as exc:
        _check_header(data)
        raise SnapshotFormatError(_malformed("", str(exc))) from None
    except UnicodeEncodeError as exc:  # a str holding lone surrogates
        raise SnapshotFormatError(f"not a JSON document: {exc.reason} at character {exc.start}") from None
    except RecursionError:
        raise SnapshotFormatError("not a JSON document: nested too deeply") from None
    except msgspec.DecodeError as exc:  # not JSON, truncated, not UTF-8
        raise SnapshotFormatError(f"not a JSON document: {_lower(str(exc))}") from None
    version = getattr(wire, "format_version", msgspec.UNSET)
    if version is msgspec.UNSET:
        raise SnapshotFormatError("not a pgadvisor snapshot (no format_version)")
    _check_version(version)
    return wire


def _finish(cls: type, wire: Any) -> Any:
    """The dataclasses from the mirrors, part by part, each mirror part dropped once converted."""
    kwargs = {}
    try:
        for f in _plan(cls).reading:
            value = getattr(wire, f.name)
            setattr(wire, f.name, None)
            if value is not msgspec.UNSET:
                kwargs[f.name] = f.finish(value, f"$.{f.name}")
            del value
    except _PartError as exc:
        raise SnapshotFormatError(_malformed(exc.where[1:], exc.message)) from None
    except RecursionError:
        raise SnapshotFormatError("not a JSON document: nested too deeply") from None
    if "format_version" in kwargs:  # an older file, once read, is a snapshot of this version
        kwargs["format_version"] = FORMAT_VERSION
    return cls(**kwargs)


def _check_version(version: object) -> None:
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise SnapshotFormatError(f"snapshot format_version {version!r} is not supported "
                                  f"(this pgadvisor reads versions {', '.join(map(str, READABLE_VERSIONS))})")


def _check_header(data: str | bytes) -> None:
    """After a validation error: say so first if the document is not a snapshot of this version at all."""
    try:
        keys = _KEYS.decode(data)
    except msgspec.ValidationError:
        raise SnapshotFormatError("not a pgadvisor snapshot (the top level is not an object)") from None
    except (msgspec.DecodeError, RecursionError):  # DecodeError after ValidationError, its subclass
        return  # the validation error came first in the document: it is the one to report
    if "format_version" not in keys:
        raise SnapshotFormatError("not a pgadvisor snapshot (no format_version)")
    try:
        version = msgspec.json.decode(keys["format_version"])
    except (msgspec.DecodeError, RecursionError):
        return
    _check_version(version)


def _malformed(prefix: str, error: str) -> str:
    """One line: `malformed snapshot at $.tables[3].name: expected `int`, got `str``."""
    match = _AT.match(error)
    assert match is not None  # the pattern matches any text
    message, path = match["message"], match["path"] or ""
    return f"malformed snapshot at ${prefix}{path}: {_lower(message)}"


def _lower(message: str) -> str:
    """`Expected ...` -> `expected ...` after a colon; `JSON ...` stays."""
    return message if message[1:2].isupper() else message[:1].lower() + message[1:]
