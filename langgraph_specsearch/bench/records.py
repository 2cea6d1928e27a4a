"""Per-problem benchmark records: append-only JSONL, flushed per line, resumable.

A real-model run takes hours; a killed run must keep every finished (problem, mode) pair and a
restart must pick up where it stopped, without double-counting and without choking on the half
line the kill may have left behind.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from langgraph_specsearch.bench.data import DataError, Problem
from langgraph_specsearch.bench.grading import answers_match

Record = dict[str, Any]


class _Result(Protocol):
    answer: str | None
    finished: bool
    stats: Mapping[str, Any]


def record_from_result(problem: Problem, mode: str, result: _Result, wall_seconds: float) -> Record:
    """One JSONL record for ``result`` of running ``mode`` on ``problem``.

    ``wall_seconds`` is measured by the runner around invoke(), so it covers everything the mode
    costs; the stats' own stage seconds say where that time went.
    """
    stats = dict(result.stats)
    return {
        "problem_id": problem.problem_id,
        "mode": mode,
        "gold": problem.answer,
        "answer": result.answer,
        "correct": answers_match(result.answer, problem.answer),
        "finished": bool(result.finished),
        "wall_seconds": float(wall_seconds),
        "total_seconds": float(stats.get("total_seconds", wall_seconds)),
        "tokens": dict(stats.get("tokens", {})),
        "seconds": dict(stats.get("seconds", {})),
        **{k: stats.get(k, 0) for k in ("drafted", "accepted", "cleared", "rejected", "corrected")},
        "acceptance_rate": stats.get("acceptance_rate"),
        "clear_rate": stats.get("clear_rate"),
        "steps": int(stats.get("steps", 0)),  # the search's depth: what the cost model needs
        # the drafts a scorer reads: a node's identical drafts are scored once (the cost model)
        "distinct_drafts": distinct_drafts(getattr(getattr(result, "tree", None), "nodes", {})),
        "time": time.time(),
    }


def distinct_drafts(nodes: Mapping[Any, Mapping[str, Any]]) -> int:
    """How many of the tree's drafts differ from their siblings' (a scorer reads one of each)."""
    return len(
        {
            (node["parent"], node["text"])
            for node in nodes.values()
            if node.get("model") == "drafter" and node.get("parent") is not None
        }
    )


def error_record(problem: Problem, mode: str, error: BaseException, wall_seconds: float) -> Record:
    """A record for a run that raised: it counts as incorrect, never as fast."""
    return {
        "problem_id": problem.problem_id,
        "mode": mode,
        "gold": problem.answer,
        "answer": None,
        "correct": False,
        "finished": False,
        "wall_seconds": float(wall_seconds),
        "error": f"{type(error).__name__}: {error}",
        "time": time.time(),
    }


def _drop_partial_tail(path: Path) -> None:
    """Cut a last line that has no newline (a write interrupted by a kill)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    with path.open("r+b") as handle:
        handle.truncate(data.rfind(b"\n") + 1)


class RecordWriter:
    """Appends records to a JSONL file, one flushed line each, so a kill loses at most one.

    Opening repairs a partial last line first; otherwise the next record would be glued to it.
    """

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _drop_partial_tail(self.path)
        self._fsync = fsync
        self._handle = self.path.open("a", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record and flush it (and fsync, if asked) before returning."""
        if "problem_id" not in record or "mode" not in record:
            raise ValueError("a record needs 'problem_id' and 'mode'")
        self._handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self._handle.flush()
        if self._fsync:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file; further writes raise."""
        self._handle.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_records(path: str | Path) -> list[Record]:
    """All records in ``path`` ([] if it does not exist).

    A final line without a newline that does not parse is a write cut short and is skipped;
    any other bad line raises DataError naming the file and line, since it means corruption.
    """
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    records: list[Record] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        is_unterminated_tail = lineno == len(lines)
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if is_unterminated_tail:
                break
            raise DataError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
        if not isinstance(record, dict) or "problem_id" not in record or "mode" not in record:
            raise DataError(f"{path}:{lineno}: record without 'problem_id' and 'mode'")
        records.append(record)
    return records


def latest_records(records: Iterable[Record]) -> list[Record]:
    """One record per (problem_id, mode), the last written: a retried pair replaces its error."""
    latest: dict[tuple[str, str], Record] = {}
    for record in records:
        key = (str(record["problem_id"]), str(record["mode"]))
        latest.pop(key, None)
        latest[key] = record
    return list(latest.values())


def done_pairs(records: Iterable[Record], *, retry_errors: bool = False) -> set[tuple[str, str]]:
    """The (problem_id, mode) pairs a resumed run can skip.

    With ``retry_errors`` a pair whose latest record is an error is run again.
    """
    return {
        (str(r["problem_id"]), str(r["mode"]))
        for r in latest_records(records)
        if not (retry_errors and r.get("error"))
    }


def pending(
    problems: Sequence[Problem], modes: Sequence[str], done: set[tuple[str, str]]
) -> Iterator[tuple[Problem, str]]:
    """The (problem, mode) runs still to do, interleaved problem by problem.

    Running every mode of one problem back to back (A, B, C, D, then the next problem) makes slow
    machine drift hit all modes alike, so it cancels in the per-problem ratios.
    """
    for problem in problems:
        for mode in modes:
            if (problem.problem_id, mode) not in done:
                yield problem, mode
