"""What every benchmark script records beside its numbers: the machine it ran on, and its load.

These machines are shared, so a result file says how busy the machine was before and after.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine_facts(load_before: tuple[float, float, float]) -> dict[str, Any]:
    """torch version and threads, CPU, and the load average before the run and now."""
    import torch

    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg_before_after": [load_before, os.getloadavg()],
    }


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
