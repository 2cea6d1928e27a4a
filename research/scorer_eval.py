"""Measure step scorers on the held-out labelled steps: AUROC and seconds per scored step.

Why: SpecSearch's rejection rule trusts the evaluator's scores, so which scorer is the default must
follow from a measurement on steps with known labels, made the same way for every scorer. Each
scorer gets the held-out problems in their stored (random) order, one ``score_last`` call per
problem (its 4-6 steps share the question, like one frontier of the search), and the wall time of
those calls is divided by the steps scored. Slow scorers are measured on a prefix of the problems
(itself a random subset); every row records ``n`` and ``n_problems``, and the head's AUROC on the
same subset is recorded beside it so the comparison is like for like.

``python scripts/eval_scorers.py`` runs it; results merge into ``benchmarks/results/scorers.json``
(scorer name -> ``{"auroc", "seconds_per_step", "n", ...}``; ``_meta`` holds the drafting cost).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from research.prm_data import StepExample, auroc, pair_accuracy

_REPO = Path(__file__).resolve().parents[1]
RESULTS_PATH = _REPO / "benchmarks" / "results" / "scorers.json"


def problem_groups(
    examples: Sequence[StepExample], n_problems: int | None
) -> list[list[StepExample]]:
    """The first ``n_problems`` problems' examples, in stored order (None: all)."""
    groups: dict[str, list[StepExample]] = {}
    for ex in examples:
        groups.setdefault(ex.problem_id, []).append(ex)
    chosen = list(groups.values())
    return chosen if n_problems is None else chosen[:n_problems]


@dataclass
class ScorerResult:
    """One scorer's measurement (scores kept so other subsets can be compared)."""

    name: str
    scores: list[float]
    examples: list[StepExample]
    seconds: float

    @property
    def labels(self) -> list[int]:
        return [e.label for e in self.examples]

    def summary(self) -> dict[str, Any]:
        n = len(self.examples)
        by_kind = {}
        for kind in sorted({e.kind for e in self.examples} - {"gold"}):
            keep = [i for i, e in enumerate(self.examples) if e.kind in (kind, "gold")]
            labels = [self.labels[i] for i in keep]
            if 0 < sum(labels) < len(labels):
                by_kind[kind] = round(auroc(labels, [self.scores[i] for i in keep]), 4)
        return {
            "auroc": round(auroc(self.labels, self.scores), 4),
            "seconds_per_step": round(self.seconds / n, 4),
            "n": n,
            "n_problems": len({e.problem_id for e in self.examples}),
            "pair_accuracy": round(pair_accuracy(self.examples, self.scores), 4),
            "auroc_by_kind": by_kind,
        }


def evaluate(
    name: str,
    score_last: Callable[[list[str], list[list[str]]], list[float]],
    examples: Sequence[StepExample],
    n_problems: int | None = None,
    *,
    progress: bool = True,
) -> ScorerResult:
    """Score every example, one ``score_last`` call per problem, timing only those calls."""
    scores: list[float] = []
    seen: list[StepExample] = []
    seconds = 0.0
    groups = problem_groups(examples, n_problems)
    for done, group in enumerate(groups, 1):
        questions = [e.question for e in group]
        paths = [[*e.previous, e.step] for e in group]
        start = time.perf_counter()
        values = score_last(questions, paths)
        seconds += time.perf_counter() - start
        scores.extend(float(v) for v in values)
        seen.extend(group)
        if progress and (done % 10 == 0 or done == len(groups)):
            print(
                f"  {name}: {done}/{len(groups)} problems, {seconds / len(seen):.3f} s/step",
                flush=True,
            )
    return ScorerResult(name, scores, seen, seconds)


def subset_auroc(reference: ScorerResult, examples: Sequence[StepExample]) -> float:
    """The reference scorer's AUROC restricted to ``examples`` (matched by problem and text)."""
    index = {
        (e.problem_id, e.position, e.step, e.label): s
        for e, s in zip(reference.examples, reference.scores, strict=True)
    }
    keys = [(e.problem_id, e.position, e.step, e.label) for e in examples]
    return auroc([k[3] for k in keys], [index[k] for k in keys])


def merge_results(entries: dict[str, dict[str, Any]], path: str | Path = RESULTS_PATH) -> Path:
    """Merge entries into the results file (other scorers' rows are kept)."""
    path = Path(path)
    data = json.loads(path.read_text()) if path.exists() else {}
    for key, value in entries.items():
        if key == "_meta" and isinstance(data.get("_meta"), dict):
            data["_meta"].update(value)
        else:
            data[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path
