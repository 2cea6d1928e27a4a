"""A run killed with SIGKILL mid-search resumes from its SQLite checkpoint and finishes the same."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import interrupt_worker as worker

from langgraph_specsearch.runnable import SearchResult


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.sqlite")
    process = subprocess.Popen(
        [sys.executable, worker.__file__, db, "killed"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seen: list[str] = []
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline().strip()
        seen.append(line)
        if seen.count("select") >= 2 and line == "reject":  # mid-step 3, between stages
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert "finalize" not in seen

    config = {"configurable": {"thread_id": "killed"}}
    graph = worker.build(db, slow=False)
    snapshot = graph.get_state(config)
    # the work before the kill was kept; a task whose writes were saved is not listed in `next`
    assert snapshot.values["depth"] >= 2 and snapshot.values["answer"] is None
    assert snapshot.next or any(task.result is not None for task in snapshot.tasks)
    resumed = graph.invoke(None, config)

    fresh = worker.build(str(tmp_path / "fresh.sqlite"), slow=False)
    uninterrupted = fresh.invoke(
        {"question": worker.QUESTION}, {"configurable": {"thread_id": "whole"}}
    )
    assert resumed["answer"] == uninterrupted["answer"] == "42"
    assert resumed["nodes"] == uninterrupted["nodes"]
    assert resumed["steps"] == uninterrupted["steps"]
    result = SearchResult.from_state(worker.QUESTION, resumed)
    assert result.finished
