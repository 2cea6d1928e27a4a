"""Where and when a benchmark ran: the commit, the date and the machine, for its JSON record."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from typing import Any


def provenance() -> dict[str, Any]:
    """The commit checked out (short hash), the UTC date and the machine's CPUs and Python."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
    }
