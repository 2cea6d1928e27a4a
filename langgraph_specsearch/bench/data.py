"""Benchmark problems: load any question/answer JSONL and take seeded subsets of it.

Running ``python -m langgraph_specsearch.bench.data`` regenerates the committed GSM8K subset, so
the problems behind recorded results can be rebuilt exactly from the seed.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

GSM8K_SEED = 1234
GSM8K_SUBSET_SIZE = 100
_REPO = Path(__file__).resolve().parents[2]
GSM8K_SOURCE = _REPO.parent / "shared" / "data" / "gsm8k" / "test.jsonl"
GSM8K_SUBSET = _REPO / "benchmarks" / "data" / "gsm8k_test_subset.jsonl"


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


def write_gsm8k_subset(
    source: str | Path = GSM8K_SOURCE,
    dest: str | Path = GSM8K_SUBSET,
    *,
    n: int = GSM8K_SUBSET_SIZE,
    seed: int = GSM8K_SEED,
) -> Path:
    """Copy a seeded subset of GSM8K test into ``dest`` with ids and the MIT licence beside it.

    Ids are ``gsm8k-test-<0-based row in test.jsonl>`` so each problem traces back to the source.
    """
    source, dest = Path(source), Path(dest)
    problems = load_jsonl(source)
    chosen = seeded_subset(list(enumerate(problems)), n, seed)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", encoding="utf-8") as handle:
        for row, problem in chosen:
            record = {
                "id": f"gsm8k-test-{row}",
                "question": problem.question,
                "answer": problem.solution,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    licence = source.parent / "LICENSE"
    if licence.exists():
        shutil.copyfile(licence, dest.parent / "LICENSE.gsm8k")
    return dest


def main(argv: Sequence[str] | None = None) -> None:
    """Command line for regenerating the committed subset."""
    parser = argparse.ArgumentParser(description=write_gsm8k_subset.__doc__)
    parser.add_argument("--source", default=str(GSM8K_SOURCE))
    parser.add_argument("--dest", default=str(GSM8K_SUBSET))
    parser.add_argument("-n", type=int, default=GSM8K_SUBSET_SIZE)
    parser.add_argument("--seed", type=int, default=GSM8K_SEED)
    args = parser.parse_args(argv)
    print(write_gsm8k_subset(args.source, args.dest, n=args.n, seed=args.seed))


if __name__ == "__main__":
    main()
