"""Per-problem records: flushed per line, survive a kill, resume without double counting."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from langgraph_specsearch.bench.data import DataError, Problem
from langgraph_specsearch.bench.records import (
    RecordWriter,
    done_pairs,
    error_record,
    latest_records,
    pending,
    read_records,
    record_from_result,
)

PROBLEMS = [Problem(f"p{i}", f"q{i}", str(i), f"#### {i}") for i in range(3)]
MODES = ["target_only", "target_speculative", "specsearch", "drafter_only"]


@dataclass
class FakeResult:
    answer: str | None
    finished: bool = True
    stats: dict[str, Any] = field(default_factory=dict)


def _rec(problem_id: str, mode: str, **extra: Any) -> dict[str, Any]:
    return {"problem_id": problem_id, "mode": mode, "correct": True, **extra}


def test_writer_flushes_each_line_before_close(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "records.jsonl"
    writer = RecordWriter(path)
    writer.write(_rec("p0", "specsearch"))
    # Read while the writer is still open: the line must already be on disk.
    assert read_records(path) == [_rec("p0", "specsearch")]
    writer.write(_rec("p1", "specsearch"))
    assert len(path.read_text().splitlines()) == 2
    writer.close()


def test_writer_appends_to_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RecordWriter(path) as writer:
        writer.write(_rec("p0", "target_only"))
    with RecordWriter(path, fsync=True) as writer:
        writer.write(_rec("p0", "specsearch"))
    assert [r["mode"] for r in read_records(path)] == ["target_only", "specsearch"]


def test_writer_rejects_records_without_keys(tmp_path: Path) -> None:
    with RecordWriter(tmp_path / "r.jsonl") as writer, pytest.raises(ValueError, match="mode"):
        writer.write({"problem_id": "p0"})


def test_resume_after_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RecordWriter(path) as writer:
        writer.write(_rec("p0", "target_only"))
        writer.write(_rec("p0", "specsearch"))
    with path.open("a") as handle:
        handle.write('{"problem_id": "p1", "mo')  # a write cut short by a kill

    records = read_records(path)
    assert [(r["problem_id"], r["mode"]) for r in records] == [
        ("p0", "target_only"),
        ("p0", "specsearch"),
    ]
    done = done_pairs(records)
    todo = [(p.problem_id, m) for p, m in pending(PROBLEMS[:2], MODES[:3], done)]
    assert todo == [
        ("p0", "target_speculative"),
        ("p1", "target_only"),
        ("p1", "target_speculative"),
        ("p1", "specsearch"),
    ]

    # Reopening cuts the partial line, so the next record is not glued onto it.
    with RecordWriter(path) as writer:
        writer.write(_rec("p1", "target_only"))
    assert path.read_text().endswith('"problem_id": "p1"}\n')
    assert [r["problem_id"] for r in read_records(path)] == ["p0", "p0", "p1"]
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_partial_only_line_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"problem_id": "p0"')
    assert read_records(path) == []
    RecordWriter(path).close()
    assert path.read_text() == ""


def test_missing_file_reads_as_empty(tmp_path: Path) -> None:
    assert read_records(tmp_path / "absent.jsonl") == []


def test_corrupt_middle_line_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    good = json.dumps(_rec("p0", "specsearch"))
    path.write_text(f"{good}\n{{broken\n{good}\n")
    with pytest.raises(DataError, match=r"r\.jsonl:2: invalid JSON"):
        read_records(path)
    path.write_text(f"{good}\n{json.dumps({'problem_id': 'p1'})}\n")
    with pytest.raises(DataError, match=r"r\.jsonl:2: record without"):
        read_records(path)


def test_killed_writer_keeps_finished_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    # The stub parent package skips langgraph_specsearch/__init__.py, which loads LangGraph and
    # takes seconds; the writer needs none of it.
    script = (
        "import os, signal, sys, types\n"
        "pkg = types.ModuleType('langgraph_specsearch')\n"
        "pkg.__path__ = [os.path.join(os.getcwd(), 'langgraph_specsearch')]\n"
        "sys.modules['langgraph_specsearch'] = pkg\n"
        "from langgraph_specsearch.bench.records import RecordWriter\n"
        "w = RecordWriter(sys.argv[1])\n"
        "for i in range(3):\n"
        "    w.write({'problem_id': f'p{i}', 'mode': 'specsearch'})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    completed = subprocess.run(
        [sys.executable, "-c", script, str(path)], cwd=repo, timeout=120, check=False
    )
    assert completed.returncode != 0
    assert [r["problem_id"] for r in read_records(path)] == ["p0", "p1", "p2"]


def test_latest_record_wins_and_errors_can_be_retried() -> None:
    records = [
        _rec("p0", "specsearch", error="OOM", correct=False),
        _rec("p0", "target_only"),
        _rec("p1", "specsearch", error="OOM", correct=False),
        _rec("p0", "specsearch", answer="0"),
    ]
    latest = latest_records(records)
    assert len(latest) == 3
    assert [r for r in latest if r["problem_id"] == "p0" and r["mode"] == "specsearch"] == [
        _rec("p0", "specsearch", answer="0")
    ]
    assert done_pairs(records) == {
        ("p0", "specsearch"),
        ("p0", "target_only"),
        ("p1", "specsearch"),
    }
    assert done_pairs(records, retry_errors=True) == {("p0", "specsearch"), ("p0", "target_only")}


def test_pending_interleaves_modes_problem_by_problem() -> None:
    order = [(p.problem_id, m) for p, m in pending(PROBLEMS[:2], MODES, set())]
    assert order == [(f"p{i}", m) for i in range(2) for m in MODES]


def test_record_from_result_copies_stats_and_checks_answer() -> None:
    stats = {
        "drafted": 12,
        "accepted": 9,
        "rejected": 3,
        "corrected": 3,
        "acceptance_rate": 0.75,
        "tokens": {"drafter": 400, "target": 120},
        "seconds": {"draft": 1.0, "evaluate": 0.5, "reject": 0.0, "correct": 2.0, "select": 0.1},
        "total_seconds": 3.7,
        "steps": 4,
    }
    record = record_from_result(PROBLEMS[2], "specsearch", FakeResult("$2.00", True, stats), 3.9)
    assert record["steps"] == 4
    assert record["correct"] is True
    assert (record["problem_id"], record["mode"], record["gold"]) == ("p2", "specsearch", "2")
    assert (record["wall_seconds"], record["total_seconds"]) == (3.9, 3.7)
    assert (record["drafted"], record["accepted"], record["rejected"], record["corrected"]) == (
        12,
        9,
        3,
        3,
    )
    assert record["tokens"] == {"drafter": 400, "target": 120}
    assert record["seconds"]["correct"] == 2.0
    json.dumps(record)  # must be JSON-serialisable as is

    wrong = record_from_result(PROBLEMS[2], "target_only", FakeResult(None, False), 1.0)
    assert wrong["correct"] is False and wrong["finished"] is False
    assert wrong["drafted"] == 0 and wrong["tokens"] == {} and wrong["total_seconds"] == 1.0


def test_record_counts_the_drafts_a_scorer_reads() -> None:
    """Identical drafts of one node are scored once; the same text under another node is
    another context, read again. The target's thoughts are not drafts."""
    from types import SimpleNamespace

    def node(i: int, parent: int | None, model: str, text: str) -> dict:
        return {"id": i, "parent": parent, "model": model, "text": text}

    nodes = {
        0: node(0, None, "target", ""),
        1: node(1, 0, "drafter", "a"),
        2: node(2, 0, "drafter", "a"),
        3: node(3, 0, "drafter", "b"),
        4: node(4, 0, "target", "a"),
        5: node(5, 1, "drafter", "a"),
        6: node(6, 1, "drafter", "a"),
    }
    result = FakeResult("1", True)
    result.tree = SimpleNamespace(nodes=nodes)  # type: ignore[attr-defined]
    assert record_from_result(PROBLEMS[1], "specsearch", result, 1.0)["distinct_drafts"] == 3
    assert (
        record_from_result(PROBLEMS[1], "specsearch", FakeResult("1", True), 1.0)["distinct_drafts"]
        == 0
    )  # no tree: nothing to count


def test_error_record_counts_as_incorrect() -> None:
    record = error_record(PROBLEMS[0], "specsearch", RuntimeError("boom"), 0.2)
    assert record["correct"] is False
    assert record["error"] == "RuntimeError: boom"
