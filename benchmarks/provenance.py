"""Where and when a benchmark ran: the commit, the date and the machine, for its JSON record."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path
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


def write_results(path: Path, summary: dict[str, Any]) -> None:
    """Write a benchmark's record (with its provenance) and print it without its rows."""
    summary = {**summary, "provenance": provenance()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=2))
