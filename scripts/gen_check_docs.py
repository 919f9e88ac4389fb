#!/usr/bin/env python
"""Write docs/checks.md from the built-in checks' docstrings and thresholds (tests fail when it is stale)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pgadvisor.docs import render_all  # noqa: E402
from pgadvisor.registry import load  # noqa: E402

TARGET = ROOT / "docs" / "checks.md"


def main() -> int:
    """Regenerate the file; exit 1 with --check when it would change."""
    text = render_all(load(entry_points=False))
    if "--check" in sys.argv:
        return 0 if TARGET.exists() and TARGET.read_text() == text else 1
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
