"""Benchmark problems: load any question/answer JSONL and take seeded subsets of it.

The package ships a seeded 100-problem subset of GSM8K test (MIT), read through
``importlib.resources`` so it is found in a wheel as in a checkout;
``benchmarks/make_gsm8k_subset.py`` rebuilds it exactly from the seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

GSM8K_SEED = 1234
GSM8K_SUBSET_SIZE = 100
GSM8K_SUBSET_NAME = "gsm8k_test_subset.jsonl"


def default_problems_path() -> Path:
    """The shipped GSM8K subset (a real file: the data is installed unzipped with the package)."""
    return Path(str(files("langgraph_specsearch.bench.datasets") / GSM8K_SUBSET_NAME))


class DataError(ValueError):
    """A benchmark data file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: ``answer`` is the final answer, ``solution`` the raw gold field."""

    problem_id: str
    question: str
    answer: str
    solution: str


def extract_gsm8k_answer(solution: str) -> str | None:
    """The final answer after GSM8K's "#### " marker, or None when the marker is absent."""
    if "####" not in solution:
        return None
    answer = solution.rsplit("####", 1)[1].strip()
    return answer or None


def load_jsonl(
    path: str | Path,
    *,
    question_field: str = "question",
    answer_field: str = "answer",
    id_field: str = "id",
) -> list[Problem]:
    """Load problems from a JSONL file with question and answer fields.

    An answer holding a GSM8K solution ("... #### 18") is reduced to its final answer. Rows without
    ``id_field`` get ``<file stem>-<0-based row>`` so ids stay stable across runs for resume.
    Blank lines are skipped; anything else malformed raises DataError naming file and line.
    """
    path = Path(path)
    problems: list[Problem] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: invalid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
            missing = [f for f in (question_field, answer_field) if row.get(f) in (None, "")]
            if missing:
                raise DataError(f"{where}: missing field(s) {', '.join(map(repr, missing))}")
            solution = str(row[answer_field])
            answer = extract_gsm8k_answer(solution) if "####" in solution else solution.strip()
            if answer is None:
                raise DataError(f"{where}: empty final answer after '####'")
            problem_id = str(row.get(id_field, f"{path.stem}-{len(problems)}"))
            if problem_id in seen:
                raise DataError(f"{where}: duplicate id {problem_id!r}")
            seen.add(problem_id)
            problems.append(Problem(problem_id, str(row[question_field]), answer, solution))
    return problems


def seeded_subset(items: Sequence[T], n: int, seed: int) -> list[T]:
    """``n`` items drawn without replacement, reproducible from ``seed``.

    The sampled order is kept (not re-sorted), so any prefix of the subset is itself a random
    subset: a quick run over the first k problems is still unbiased.
    """
    if n < 0:
        raise ValueError(f"subset size must be >= 0, got {n}")
    if n > len(items):
        raise ValueError(f"subset size {n} exceeds the {len(items)} available items")
    return [items[i] for i in random.Random(seed).sample(range(len(items)), n)]
