"""The facts every benchmark prints beside its figures: when, on what, and how loaded the machine was.

Load matters on a shared machine: a step that waits on the server's processes slows differently from an
in-process step, so each script prints the load average when it starts and when it ends, and its figures are
ratios against a floor measured in the same run.
"""

from __future__ import annotations

import datetime as dt
import os
import platform


def facts() -> str:
    """One line: UTC time, cores, load average (1, 5, 15 min), Python and platform."""
    one, five, fifteen = os.getloadavg()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{now}, {os.cpu_count()} cores, load average {one:.2f} {five:.2f} {fifteen:.2f}, "
            f"Python {platform.python_version()} on {platform.system()} {platform.machine()}")


def load_now() -> str:
    """The load average now, for the end of a run."""
    one, five, fifteen = os.getloadavg()
    return f"load average at the end {one:.2f} {five:.2f} {fifteen:.2f}"
