"""The thought-evaluator interface (a process reward model, PRM) and adapters to it.

The interface is search-and-learn's: ``score(questions, step_lists) -> score_lists``, one score per
step. The search only needs the score of each path's *last* step, so scorers may also offer
``score_last(questions, step_lists) -> scores``, which skips the earlier steps' scores.
A plain callable ``(question, steps) -> float`` (the last step's score) is accepted too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

ScoreFn = Callable[[str, list[str]], float]


@runtime_checkable
class StepScorer(Protocol):
    """Scores every step of every path: ``result[i][j]`` scores ``step_lists[i][: j + 1]``."""

    def score(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[list[float]]: ...


@runtime_checkable
class LastStepScorer(Protocol):
    """Scores only the last step of every path; cheaper when the search needs nothing else."""

    def score_last(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[float]: ...


Scorer = StepScorer | LastStepScorer | ScoreFn


class ScorerError(ValueError):
    """A scorer returned something the search cannot use."""


def every_step_from_last(
    score_last: Callable[[Sequence[str], Sequence[Sequence[str]]], list[float]],
    questions: Sequence[str],
    step_lists: Sequence[Sequence[str]],
) -> list[list[float]]:
    """Every step's score from a last-step scorer, in one call over every prefix of every path,
    so a step scores the same inside a longer path as when it is the last."""
    prefixes = [
        (question, list(steps[: k + 1]))
        for question, steps in zip(questions, step_lists, strict=True)
        for k in range(len(steps))
    ]
    flat = score_last([q for q, _ in prefixes], [p for _, p in prefixes]) if prefixes else []
    results, start = [], 0
    for steps in step_lists:
        results.append(list(flat[start : start + len(steps)]))
        start += len(steps)
    return results


def check_scorer(scorer: object) -> None:
    """Fail early, naming the problem, when ``scorer`` has none of the accepted shapes."""
    if isinstance(scorer, (LastStepScorer, StepScorer)) or callable(scorer):
        return
    raise TypeError(
        "scorer must be a callable (question, steps) -> float, or an object with "
        "score(questions, step_lists) -> list of score lists, or score_last(questions, step_lists) "
        f"-> list of scores; got {type(scorer).__name__}"
    )


def score_last_steps(
    scorer: Scorer, question: str, step_lists: Sequence[Sequence[str]]
) -> list[float]:
    """Score the last step of each path with whatever interface ``scorer`` offers.

    Non-finite scores (NaN, infinities) become ``-inf`` so the rejection rule never accepts them;
    a wrong number of scores raises :class:`ScorerError`.
    """
    if not step_lists:
        return []
    questions = [question] * len(step_lists)
    lists = [list(steps) for steps in step_lists]
    if isinstance(scorer, LastStepScorer):
        raw = list(scorer.score_last(questions, lists))
    elif isinstance(scorer, StepScorer):
        score_lists = scorer.score(questions, lists)
        if len(score_lists) != len(lists):
            raise ScorerError(
                f"scorer.score returned {len(score_lists)} score lists for {len(lists)} paths"
            )
        raw = []
        for steps, scores in zip(lists, score_lists, strict=True):
            if len(scores) != len(steps):
                raise ScorerError(
                    f"scorer.score returned {len(scores)} scores for a path of {len(steps)} steps"
                )
            raw.append(scores[-1])
    else:
        raw = [scorer(question, steps) for steps in lists]  # type: ignore[operator]
    if len(raw) != len(lists):
        raise ScorerError(f"scorer returned {len(raw)} scores for {len(lists)} thoughts")
    return [_finite(value) for value in raw]


def _finite(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        raise ScorerError(f"scorer returned a non-number: {value!r}") from error
    return number if math.isfinite(number) else -math.inf
