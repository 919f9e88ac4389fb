"""Finding checks: the built-in folder, `--checks-dir` folders and installed packages (entry points).

Built-in checks are loaded by the very loader that loads a user's: they are a folder of modules (`checks/` in
the repository, `pgadvisor/_builtin_checks` in the wheel). A plugin that fails to import or declares a broken
check becomes a `LoadError` that names it; the other checks load and run.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib
import importlib.util
import inspect
import pkgutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from pgadvisor.checkapi import Check
from pgadvisor.retired import RETIRED

ENTRY_POINT_GROUP = "pgadvisor.checks"

CheckClass = type[Check[Any]]


@dataclass(frozen=True, slots=True)
class LoadError:
    """A plugin, module or check that could not be loaded, and why."""

    origin: str
    message: str


@dataclass
class Registry:
    """Every loaded check by code, plus what failed to load."""

    checks: dict[str, CheckClass] = field(default_factory=dict)
    errors: list[LoadError] = field(default_factory=list)

    def add(self, cls: CheckClass, origin: str) -> None:
        """Register one check class after validating it."""
        problems = cls.validate()
        code = getattr(cls, "code", "?")
        if code in RETIRED:
            problems.append(f"code {code} is retired ({RETIRED[code]}) and may not be reused")
        for other in self.checks.values():
            if other is cls:
                return
            if other.code == code:
                problems.append(f"code {code} is already used by {other.origin}")
            elif other.name == getattr(cls, "name", None):
                problems.append(f"name {other.name} is already used by {other.origin}")
        if problems:
            self.errors.append(LoadError(origin, f"check {code}: " + "; ".join(problems)))
            return
        cls.origin = origin
        self.checks[cls.code] = cls

    def get(self, key: str) -> CheckClass | None:
        """A check by code (IX004) or name (index.fk_without_index)."""
        key_up = key.upper()
        if key_up in self.checks:
            return self.checks[key_up]
        for cls in self.checks.values():
            if cls.name == key:
                return cls
        return None

    def match(self, pattern: str) -> list[CheckClass]:
        """Checks whose code or name matches a pattern: exact, or a glob such as `IX*` or `index.*`."""
        return [
            cls
            for cls in self.sorted()
            if fnmatch.fnmatchcase(cls.code, pattern.upper()) or fnmatch.fnmatchcase(cls.name, pattern)
        ]

    def sorted(self) -> list[CheckClass]:
        """All checks in code order."""
        return [self.checks[c] for c in sorted(self.checks)]


def builtin_checks_dir() -> Path:
    """The built-in checks: inside the installed package, or `checks/` beside it in a source checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "_builtin_checks"
    if packaged.is_dir():
        return packaged
    return here.parent / "checks"


def load(checks_dirs: Sequence[Path] = (), *, entry_points: bool = True, builtin: bool = True) -> Registry:
    """Load the built-in checks, then each folder, then installed plugins."""
    reg = Registry()
    folders = ([builtin_checks_dir()] if builtin else []) + [Path(p) for p in checks_dirs]
    for folder in folders:
        _load_folder(reg, folder)
    if entry_points:
        _load_entry_points(reg)
    return reg


def _load_folder(reg: Registry, folder: Path) -> None:
    if not folder.is_dir():
        reg.errors.append(LoadError(str(folder), "not a directory"))
        return
    prefix = "pgadvisor_checks_" + hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:10]
    for path in sorted(folder.rglob("*.py")):
        if any(part.startswith(("_", ".")) for part in path.relative_to(folder).parts):
            continue
        rel = path.relative_to(folder).with_suffix("")
        mod_name = prefix + "." + ".".join(rel.parts)
        module = sys.modules.get(mod_name)
        if module is None:
            try:
                spec = importlib.util.spec_from_file_location(mod_name, path)
                if spec is None or spec.loader is None:
                    raise ImportError("cannot build an import spec")
                module = importlib.util.module_from_spec(spec)
                sys.modules[mod_name] = module
                spec.loader.exec_module(module)
            except Exception as exc:  # a broken plugin must not stop the others
                sys.modules.pop(mod_name, None)
                reg.errors.append(LoadError(str(path), f"failed to import: {type(exc).__name__}: {exc}"))
                continue
        for cls in _check_classes(module):
            reg.add(cls, f"{path}")


def _load_entry_points(reg: Registry) -> None:
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "unknown distribution"
        origin = f"plugin {ep.name} ({dist})"
        try:
            obj = ep.load()
            classes = list(_classes_from(obj))
        except Exception as exc:  # a broken plugin must not stop the others
            reg.errors.append(LoadError(origin, f"failed to load: {type(exc).__name__}: {exc}"))
            continue
        for cls in classes:
            reg.add(cls, origin)


def _classes_from(obj: Any) -> Iterable[CheckClass]:
    if isinstance(obj, ModuleType):
        yield from _check_classes(obj)
        if hasattr(obj, "__path__"):
            for info in pkgutil.walk_packages(obj.__path__, obj.__name__ + "."):
                yield from _check_classes(importlib.import_module(info.name))
    elif inspect.isclass(obj) and issubclass(obj, Check):
        yield obj
    elif isinstance(obj, list | tuple):
        for item in obj:
            yield from _classes_from(item)


def _check_classes(module: ModuleType) -> Iterable[CheckClass]:
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if issubclass(obj, Check) and obj is not Check and obj.__module__ == module.__name__ and "code" in vars(obj):
            yield obj
