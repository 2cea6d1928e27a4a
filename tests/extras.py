"""Skipping a test whose optional extra is missing, honestly: with the reason, and never in CI.

CI's test command installs every extra (README), so there a missing one is a broken install and
fails the run instead of skipping it.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def require_extra(module: str, extra: str) -> ModuleType:
    """Import ``module``; without it skip, naming the extra to install, or fail under CI."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"the [{extra}] extra is not installed ({module})")
