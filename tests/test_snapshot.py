"""The snapshot's JSON: what was written reads back equal, version-1 files written by the first codec still read,
and anything else is one SnapshotFormatError line naming where in the document it went wrong. No server needed:
real collected snapshots are round-tripped in tests/cli/test_audit.py."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgadvisor.snapshot import FORMAT_VERSION, PART_NAMES, Snapshot, SnapshotFormatError, Unavailable

V1 = Path(__file__).parent / "data" / "snapshot_v1.json"  # written by the hand-written codec of format_version 1


def strategy(tp: Any) -> st.SearchStrategy[Any]:
    """Values of a snapshot type: JSON-safe floats (no NaN or infinity) and strings (no lone surrogates)."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        fields = {f.name: strategy(hints[f.name]) for f in dataclasses.fields(tp)}
        if tp is Snapshot:
            fields["format_version"] = st.just(FORMAT_VERSION)
        return st.builds(tp, **fields)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return st.one_of(*(strategy(a) for a in args))
    if origin is tuple:
        return st.lists(strategy(args[0]), max_size=3).map(tuple)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=20),
        int: st.integers(min_value=-(2**63), max_value=2**64 - 1),
        float: st.floats(allow_nan=False, allow_infinity=False),
        bool: st.booleans(),
        type(None): st.none(),
    }
    return simple[tp]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(strategy(Snapshot))
def test_any_snapshot_round_trips(snap: Snapshot) -> None:
    """Every part in every shape (rows or Unavailable) reads back equal, from str and from bytes."""
    assert Snapshot.from_json(snap.to_json()) == snap
    assert Snapshot.from_json(snap.to_bytes(indent=1)) == snap


def test_version_1_file_of_the_first_codec_reads_and_keeps_its_shape(tmp_path: Path) -> None:
    """The shape did not change: an old file reads, and writing it again gives the same JSON value."""
    snap = Snapshot.from_file(V1)
    assert snap.format_version == FORMAT_VERSION == 2  # read, it is a snapshot of this version
    assert snap.sequences == Unavailable("permission denied for sequence orders_id_seq")
    assert not isinstance(snap.whatif, Unavailable) and snap.whatif.plans[1].used == (1,)
    assert not isinstance(snap.tables, Unavailable) and snap.tables[0].reloptions == ("fillfactor=90",)
    again, old = json.loads(snap.to_json()), json.loads(V1.read_text())
    added = {"activity_info": {"unavailable": "not collected", "failed": False}}  # what version 2 added
    assert {k: v for k, v in again.items() if k not in added and k != "format_version"} == _v2(
        {k: v for k, v in old.items() if k != "format_version"})
    assert {k: again[k] for k in added} == added
    out = tmp_path / "again.json"
    out.write_bytes(snap.to_bytes(indent=1))
    assert Snapshot.from_file(out) == snap
    assert snap.to_json().startswith('{"format_version":2,')


def _v2(value: Any) -> Any:
    """A version-1 JSON value as version 2 writes it: Unavailable parts gain `failed`, statements `userid`,
    statements_info `hidden` and `hidden_calls` (all at their defaults)."""
    if isinstance(value, dict):
        out = {k: _v2(v) for k, v in value.items()}
        if "unavailable" in out:
            out.setdefault("failed", False)
        if "queryid" in out and "calls" in out and "query" in out:
            out.setdefault("userid", None)
        if "max_entries" in out and "track" in out:
            out.setdefault("hidden", None)
            out.setdefault("hidden_calls", None)
        return out
    if isinstance(value, list):
        return [_v2(v) for v in value]
    return value


def test_unavailable_parts_are_written_as_unavailable_objects() -> None:
    """An Unavailable part is {"unavailable": reason, "failed": bool}, for a part of rows and for one row."""
    snap = Snapshot(target="t", collected_at=1.0, pgadvisor_version="0", server=Unavailable("timeout"))
    data = json.loads(snap.to_json())
    assert data["server"] == {"unavailable": "timeout", "failed": False}
    assert data["tables"] == {"unavailable": "not collected", "failed": False}
    assert set(data) == PART_NAMES | {"target", "collected_at", "pgadvisor_version", "notes", "collector_stats",
                                      "format_version"}


def edited(path: tuple[str | int, ...], value: Any) -> str:
    """The version-1 document with one value replaced (or a key removed, when value is ...)."""
    doc = json.loads(V1.read_text())
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (edited(("tables", 0, "name"), 5), "malformed snapshot at $.tables[0].name: expected `str`, got `int`"),
        (edited(("tables", 0, "colour"), "red"), "malformed snapshot at $.tables[0]: object contains unknown field "
                                                 "`colour`"),
        (edited(("indexes", 0, "columns"), ...), "malformed snapshot at $.indexes[0]: object missing required field "
                                                 "`columns`"),
        (edited(("server", "version_num"), "15"), "malformed snapshot at $.server.version_num: expected `int`, "
                                                  "got `str`"),
        (edited(("server", "surprise"), 1), "malformed snapshot at $.server: object contains unknown field "
                                            "`surprise`"),
        (edited(("sequences", "unavailable"), 3), "malformed snapshot at $.sequences.unavailable: expected `str`"),
        (edited(("whatif", "plans", 1, "cost"), "cheap"), "malformed snapshot at $.whatif.plans[1].cost: expected "
                                                          "`float | null`, got `str`"),
        (edited(("roles", 0, "superuser"), 1), "malformed snapshot at $.roles[0].superuser: expected `bool`"),
        (edited(("statements", 0, "calls"), 1.5), "malformed snapshot at $.statements[0].calls: expected `int`"),
        (edited(("collector_stats",), {"tables": 1}), "malformed snapshot at $.collector_stats: expected `array`"),
        (edited(("target",), ...), "malformed snapshot at $: object missing required field `target`"),
        (edited(("extra",), 1), "malformed snapshot at $: object contains unknown field `extra`"),
        (edited(("format_version",), 3), "snapshot format_version 3 is not supported (this pgadvisor reads versions "
                                         "1, 2)"),
        (edited(("format_version",), value=True), "format_version True is not supported"),
        (edited(("format_version",), ...), "not a pgadvisor snapshot (no format_version)"),
        ('{"format_version": 3, "target": 5}', "snapshot format_version 3 is not supported"),
        ('{"a": 1}', "not a pgadvisor snapshot (no format_version)"),
        ("[1, 2]", "not a pgadvisor snapshot (the top level is not an object)"),
        ('"text"', "not a pgadvisor snapshot (the top level is not an object)"),
        ("", "not a JSON document: input data was truncated"),
        ("not json", "not a JSON document: JSON is malformed"),
        (V1.read_text()[:3000], "not a JSON document: input data was truncated"),
        (V1.read_text().replace("20000.0", "NaN", 1), "not a JSON document: JSON is malformed: invalid character"),
        (V1.read_text().replace("20000.0", "Infinity", 1), "not a JSON document: JSON is malformed"),
        (V1.read_text().replace("20000.0", "1e999", 1), "malformed snapshot at $.tables[0].reltuples: number out of "
                                                        "range"),
        (edited(("server",), json.loads("[" * 100 + "]" * 100)), "malformed snapshot at $.server: expected `object`"),
        (edited(("notes",), json.loads("[" * 100 + "]" * 100)), "malformed snapshot at $.notes[0]: expected `str`"),
        (V1.read_text().replace('"server": {', '"server": ' + "[" * 100_000 + "]" * 100_000 + ', "x": {'),
         "not a JSON document: nested too deeply"),
        ('{"unknown": ' + "[" * 100_000 + "]" * 100_000 + ", " + V1.read_text()[1:],
         "malformed snapshot at $: object contains unknown field `unknown`"),
        ('{"format_version": 1, "target": "\ud800"}', "not a JSON document: surrogates not allowed at character"),
    ],
)
def test_anything_else_is_one_line_naming_where(text: str, message: str) -> None:
    """Wrong types, unknown and missing fields, other versions, NaN and infinities, truncation, deep nesting: one
    SnapshotFormatError line that says what and where."""
    with pytest.raises(SnapshotFormatError) as caught:
        Snapshot.from_json(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bytes_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    """A file in another encoding is not read as garbage text."""
    path = tmp_path / "latin1.json"
    path.write_bytes(V1.read_text().replace("orders", "bestellungen_\u00e4").encode("latin-1"))
    with pytest.raises(SnapshotFormatError, match="not a JSON document: invalid UTF-8"):
        Snapshot.from_file(path)
    path.write_bytes(V1.read_text().replace("orders", "bestellungen_\u00e4").encode())
    assert Snapshot.from_file(path).target == "monitor@db.example:5432/shop"


def test_a_default_field_missing_from_the_file_takes_its_default() -> None:
    """Parts absent from an older file are `Unavailable("not collected")`, as when a collector never ran."""
    snap = Snapshot.from_json(edited(("standby",), ...))
    assert snap.standby == Unavailable("not collected")
    assert Snapshot.from_json(edited(("notes",), ...)).notes == ()
