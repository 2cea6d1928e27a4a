"""Skipping a test whose optional extra is missing, honestly: with the reason, and never in CI.

CI's test command installs every extra (README), so there a missing one is a broken install and
fails the run instead of skipping it.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def in_ci() -> bool:
    """Whether the run is CI's, where the test command installs everything a test needs."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_extra(module: str, extra: str) -> ModuleType:
    """Import ``module``; without it skip, naming the extra to install, or fail under CI."""
    if in_ci():
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"the [{extra}] extra is not installed ({module})")


def skip_unless_ci(reason: str) -> None:
    """Skip for a missing local prerequisite, saying which; under CI a missing one fails."""
    if in_ci():
        pytest.fail(f"{reason}; CI installs it, so its absence is a broken setup")
    pytest.skip(reason)
