"""A checkpoint saved by release 0.1.0 resumes with the current code to the same result.

0.1.0 wrote the whole tree at every node and had no ``candidates`` key; the current nodes write
deltas through reducers. ``tests/data/make_release_checkpoint.py`` made the fixture with 0.1.0:
a run paused in the middle of its second step.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from extras import require_extra

from langgraph_specsearch import SpecSearchConfig, create_specsearch_graph
from langgraph_specsearch.testing import demo_models

sqlite = require_extra("langgraph.checkpoint.sqlite", "sqlite")
DATA = Path(__file__).resolve().parent / "data"


def test_a_release_0_1_0_checkpoint_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    expected = json.loads((DATA / "checkpoint_0_1_0.json").read_text())
    database = shutil.copy(DATA / "checkpoint_0_1_0.sqlite", tmp_path / "checkpoints.sqlite")
    config = SpecSearchConfig(**expected["config"])
    with sqlite.SqliteSaver.from_conn_string(str(database)) as saver:
        graph = create_specsearch_graph(*demo_models(), config=config, checkpointer=saver)
        thread = {"configurable": {"thread_id": "release-0.1.0"}}
        paused = graph.get_state(thread)
        assert list(paused.next) == expected["paused_before"] == ["reject"]
        assert "candidates" not in paused.values  # the old format, really
        result = graph.invoke(None, thread)
    assert result["answer"] == expected["answer"]
    assert result["steps"] == expected["steps"]
    assert result["best"] == expected["best"]
    assert result["nodes"] == expected["nodes"]
    assert result["threshold_history"] == expected["threshold_history"]


def test_a_resumed_thread_can_start_a_new_question(tmp_path: Path) -> None:
    """``prepare`` replaces the old tree whole (Overwrite), so nothing of the old run leaks in."""
    expected = json.loads((DATA / "checkpoint_0_1_0.json").read_text())
    database = shutil.copy(DATA / "checkpoint_0_1_0.sqlite", tmp_path / "checkpoints.sqlite")
    config = SpecSearchConfig(**expected["config"])
    with sqlite.SqliteSaver.from_conn_string(str(database)) as saver:
        graph = create_specsearch_graph(*demo_models(), config=config, checkpointer=saver)
        thread = {"configurable": {"thread_id": "release-0.1.0"}}
        graph.invoke(None, thread)
        again = graph.invoke({"question": "What is 99^2 + 99 + 1?"}, thread)
    fresh = create_specsearch_graph(*demo_models(), config=config).invoke(
        {"question": "What is 99^2 + 99 + 1?"}
    )
    assert again["nodes"] == fresh["nodes"]
    assert again["threshold_history"] == fresh["threshold_history"]
    assert again["answer"] == fresh["answer"]
