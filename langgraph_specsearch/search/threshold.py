"""The rejection threshold, whole: the paper's EMA estimate of the large model's thought quality.

``beta_1 = Agg(scores of the target's first thoughts)``;
``beta_{k+1} = theta * beta_k + (1 - theta) * Agg(target scores at step k)``, carried over when a
step has no target thoughts. Everything about the threshold lives here: the warm-up rule, the bar
in force, which drafts clear it, and the update after a step (:func:`update_threshold`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.search.thoughts import ThresholdRecord


def aggregate(scores: Sequence[float], aggregator: str, ucb_c: float = 1.0) -> float | None:
    """Agg over one step's scores; None when there are no finite scores."""
    finite = [score for score in scores if math.isfinite(score)]
    if not finite:
        return None
    if aggregator == "mean":
        return sum(finite) / len(finite)
    if aggregator == "max":
        return max(finite)
    if aggregator == "ucb":
        mean = sum(finite) / len(finite)
        variance = sum((score - mean) ** 2 for score in finite) / len(finite)
        return mean + ucb_c * math.sqrt(variance)
    raise ValueError(f"unknown aggregator {aggregator!r}")


def next_threshold(
    current: float | None, scores: Sequence[float], config: SpecSearchConfig
) -> tuple[float | None, float | None]:
    """Return ``(aggregate, next beta)`` after a step whose target thoughts scored ``scores``."""
    agg = aggregate(scores, config.aggregator, config.ucb_c)
    if agg is None:
        return None, current
    if current is None:
        return agg, agg
    return agg, config.theta * current + (1.0 - config.theta) * agg


def threshold_in_force(current: float | None, config: SpecSearchConfig) -> float | None:
    """The bar drafts must clear at this step under the configured policy."""
    if config.threshold == "fixed":
        return config.fixed_threshold
    if config.threshold == "ema":
        return current
    return None


def needs_target_warmup(current: float | None, config: SpecSearchConfig) -> bool:
    """Under the EMA policy the first step is written by the target, to initialise beta."""
    return config.mode == "specsearch" and config.threshold == "ema" and current is None


def accept_drafts(
    scores: Sequence[float],
    width: int,
    config: SpecSearchConfig,
    threshold: float | None,
    rng: random.Random,
) -> list[bool]:
    """Accept or reject each draft of one node; at most ``width`` are accepted, the best first."""
    order = sorted(range(len(scores)), key=lambda index: (-_sortable(scores[index]), index))
    accepted = [False] * len(scores)
    taken = 0
    for index in order:
        if taken >= width:
            break
        score = scores[index]
        if not math.isfinite(score):
            continue
        if config.mode == "drafter_only" or config.threshold == "none":
            keep = True
        elif config.threshold == "random":
            keep = rng.random() < config.random_accept_prob
        else:
            keep = threshold is not None and score >= threshold
        if keep:
            accepted[index] = True
            taken += 1
    return accepted


def update_threshold(
    current: float | None,
    step: int,
    target_scores: Sequence[float],
    accepted_scores: Sequence[float],
    config: SpecSearchConfig,
) -> ThresholdRecord:
    """The record of step ``step``: the bar that was in force, and the next beta.

    ``target_scores`` are the scores of the target's thoughts at this step; with
    ``config.include_accepted_in_ema`` the accepted drafts' scores join them.
    """
    scores = list(target_scores)
    if config.include_accepted_in_ema:
        scores += accepted_scores
    agg, upcoming = next_threshold(current, scores, config)
    return ThresholdRecord(
        step=step,
        threshold=threshold_in_force(current, config),
        target_scores=scores,
        aggregate=agg,
        next_threshold=upcoming,
    )


def _sortable(score: float) -> float:
    return score if math.isfinite(score) else -math.inf
