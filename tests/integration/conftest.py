"""Fixtures for the tests that load the real default model pair (marker ``real_models``)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "real_models: integration tests that load the real default model pair "
        "(slow; need the [models] extra)",
    )


def _require_parts() -> None:
    from langgraph_specsearch.presets.assets import EXTRA_HINT, parts_installed

    for role in ("drafter", "target"):
        if not parts_installed(role):
            pytest.skip(f"the default {role} model's part packages are missing ({EXTRA_HINT})")


@pytest.fixture(scope="session")
def real_pair():
    """``(drafter, target)`` loaded once per session (converted into the cache on first use)."""
    _require_parts()
    from langgraph_specsearch.presets.assets import load_default_pair

    return load_default_pair()
