"""Fixtures shared by the benchmark tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langgraph_specsearch.testing import DEMO_PROBLEMS


@pytest.fixture
def demo_data(tmp_path: Path) -> Path:
    """The demo problems as a GSM8K-style JSONL file (answers after "####")."""
    data = tmp_path / "problems.jsonl"
    data.write_text(
        "".join(
            json.dumps({"question": p.question, "answer": f"#### {p.answer}"}) + "\n"
            for p in DEMO_PROBLEMS
        )
    )
    return data
