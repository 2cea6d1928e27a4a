"""Shared fixtures: deterministic fake models and scorers for the graph's logic."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from fakes import AuthorScorer, ScriptedGenerator


@pytest.fixture
def drafter() -> ScriptedGenerator:
    return ScriptedGenerator("small")


@pytest.fixture
def target() -> ScriptedGenerator:
    return ScriptedGenerator("large")


@pytest.fixture
def mixed_scorer() -> AuthorScorer:
    """Drafts a little worse than the target on average, with overlap, as in the paper."""
    return AuthorScorer({"small": 0.55, "large": 0.6}, jitter=0.2)
