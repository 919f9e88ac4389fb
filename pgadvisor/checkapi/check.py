"""`Check`, `threshold`, `Severity`, `Finding`, `Confidence`, `ident`: the base of every check.

A check is a class with metadata (code, name, default severity, the snapshot parts it requires, a typed
thresholds dataclass) and a docstring that is its documentation. `run(snapshot, thresholds)` yields findings.
Checks never import psycopg or a collector: they work on snapshots, so they run offline and in unit tests.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pgadvisor.analysis.quote import ident
from pgadvisor.snapshot import Snapshot

__all__ = [
    "Check",
    "Confidence",
    "Evidence",
    "Finding",
    "NoThresholds",
    "Scalar",
    "Severity",
    "fmt_bytes",
    "fmt_duration",
    "ident",
    "threshold",
]


class Severity(enum.IntEnum):
    """Ordered severities, so `--fail-on` is a comparison."""

    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        """Lower-case name used in config, JSON and output."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Parse `info`, `warning` or `critical` (any case); ValueError otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (expected info, warning or critical)") from None


class Confidence(enum.Enum):
    """How sure a finding is: low when the evidence window is short or partial."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


Scalar = str | int | float | bool | None
Evidence = Mapping[str, Scalar]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found: what, where, how bad, the numbers behind it and how to fix it."""

    check: str  # code, e.g. IX004
    name: str  # slug, e.g. index.fk_without_index
    severity: Severity
    database: str | None
    object: str
    message: str
    evidence: Mapping[str, Scalar]
    recommendation: str
    fix_sql: str | None = None
    confidence: Confidence = Confidence.HIGH

    @property
    def fingerprint(self) -> str:
        """Stable identity for baselines: code, database and object, never values."""
        key = f"{self.check}:{self.database or ''}:{self.object}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the stable machine format)."""
        return {
            "check": self.check,
            "name": self.name,
            "severity": self.severity.label,
            "confidence": self.confidence.value,
            "database": self.database,
            "object": self.object,
            "message": self.message,
            "evidence": dict(self.evidence),
            "recommendation": self.recommendation,
            "fix_sql": self.fix_sql,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        """Inverse of `to_dict` (used by reporters and baselines)."""
        return cls(
            check=d["check"],
            name=d["name"],
            severity=Severity.parse(d["severity"]),
            database=d.get("database"),
            object=d["object"],
            message=d["message"],
            evidence=dict(d.get("evidence") or {}),
            recommendation=d.get("recommendation", ""),
            fix_sql=d.get("fix_sql"),
            confidence=Confidence(d.get("confidence", "high")),
        )


def threshold(default: Any, *, help: str) -> Any:
    """Declare a threshold field: its default and its help text (shown in docs and `checks show`)."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True, slots=True)
class NoThresholds:
    """This check has no thresholds."""


T = TypeVar("T")

_CODE_RE = re.compile(r"^[A-Z]{2,4}[0-9]{3}$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
DOC_SECTIONS = ("Why it matters", "Evidence", "How to fix", "Thresholds", "False positives", "References")


class Check(Generic[T]):
    """Base class of every check. Subclasses set the class attributes and implement `run`."""

    code: ClassVar[str]
    name: ClassVar[str]
    default_severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[tuple[str, ...]] = ()
    thresholds: ClassVar[type[Any]] = NoThresholds
    since: ClassVar[str] = "0.1"
    message: ClassVar[str] = ""  # str.format template over the evidence (and `object`)
    recommendation: ClassVar[str] = ""  # likewise

    # set by the registry when it loads the check
    origin: ClassVar[str] = ""

    def run(self, snap: Snapshot, t: T) -> Iterator[Finding]:
        """Yield the findings for this snapshot. Must not do I/O."""
        raise NotImplementedError

    # ------------------------------------------------------------------ metadata

    @classmethod
    def title(cls) -> str:
        """The docstring's first line."""
        return (cls.__doc__ or "").strip().splitlines()[0].strip() if cls.__doc__ else cls.__name__

    @classmethod
    def area(cls) -> str:
        """The part of the name before the dot: index, query, replication, ..."""
        return cls.name.split(".", 1)[0]

    @classmethod
    def doc(cls) -> str:
        """The docstring, dedented."""
        import inspect

        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def doc_sections(cls) -> dict[str, str]:
        """The `## Section` blocks of the docstring, by heading."""
        sections: dict[str, str] = {}
        current: str | None = None
        lines: list[str] = []
        for line in cls.doc().splitlines()[1:]:
            if line.startswith("## "):
                if current is not None:
                    sections[current] = "\n".join(lines).strip()
                current, lines = line[3:].strip(), []
            elif current is not None:
                lines.append(line)
        if current is not None:
            sections[current] = "\n".join(lines).strip()
        return sections

    @classmethod
    def threshold_fields(cls) -> list[tuple[str, Any, str]]:
        """(key, default, help) for each threshold."""
        out = []
        for f in dataclasses.fields(cls.thresholds):
            out.append((f.name, f.default, str(f.metadata.get("help", ""))))
        return out

    @classmethod
    def validate(cls) -> list[str]:
        """Problems that make the check unusable; the registry refuses a check with any."""
        problems = []
        code = getattr(cls, "code", None)
        name = getattr(cls, "name", None)
        if not isinstance(code, str) or not _CODE_RE.match(code):
            problems.append(f"code {code!r} must look like IX004")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            problems.append(f"name {name!r} must look like area.slug")
        if not cls.__doc__ or not cls.__doc__.strip():
            problems.append("has no docstring")
        else:
            sections = cls.doc_sections()
            missing = [s for s in DOC_SECTIONS if s not in sections]
            if missing:
                problems.append(f"docstring lacks sections: {', '.join(missing)}")
        if not dataclasses.is_dataclass(cls.thresholds):
            problems.append("thresholds must be a dataclass")
        else:
            for key, default, help_text in cls.threshold_fields():
                if default is dataclasses.MISSING:
                    problems.append(f"threshold {key!r} has no default")
                if not help_text:
                    problems.append(f"threshold {key!r} has no help text")
        from pgadvisor.snapshot import PART_NAMES

        for part in cls.requires:
            if part not in PART_NAMES:
                problems.append(f"requires unknown snapshot part {part!r}")
        if not isinstance(cls.default_severity, Severity):
            problems.append("default_severity must be a Severity")
        return problems

    # ------------------------------------------------------------------ building findings

    def finding(
        self,
        *,
        obj: str,
        evidence: Mapping[str, Scalar],
        database: str | None = None,
        severity: Severity | None = None,
        message: str | None = None,
        recommendation: str | None = None,
        fix_sql: str | None = None,
        confidence: Confidence = Confidence.HIGH,
        context: Mapping[str, Scalar] | None = None,
    ) -> Finding:
        """Build a finding; message and recommendation default to the class templates.

        The templates see the evidence, `object`, `database` and `context` (values only for the wording,
        such as human-readable sizes, which are not stored as evidence).
        """
        fields = {**evidence, **(context or {}), "object": obj, "database": database}
        msg = message if message is not None else self.message.format_map(_Lenient(fields))
        rec = recommendation if recommendation is not None else self.recommendation.format_map(_Lenient(fields))
        return Finding(
            check=self.code,
            name=self.name,
            severity=severity if severity is not None else self.default_severity,
            database=database,
            object=obj,
            message=msg,
            evidence=dict(evidence),
            recommendation=rec,
            fix_sql=fix_sql,
            confidence=confidence,
        )


class _Lenient(dict[str, Any]):
    """Template mapping that leaves unknown keys visible instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# ---------------------------------------------------------------------------------------------------- helpers

def fmt_bytes(n: float | None) -> str:
    """Human size: 1.5 GiB, 120 MiB, 8 kB."""
    if n is None:
        return "unknown"
    size = float(n)
    for unit in ("bytes", "kB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


def fmt_duration(seconds: float | None) -> str:
    """Human duration: 3.2 s, 14 min, 2.5 h, 9.0 d."""
    if seconds is None:
        return "unknown"
    s = float(seconds)
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"
