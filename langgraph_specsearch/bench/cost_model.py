"""What a SpecSearch step costs against the target's own step, as a function of acceptance.

A beam-search step over ``nodes`` frontier paths: the drafter writes ``n_drafts`` drafts per node
in one call and the scorer scores them; each draft passes the threshold with probability ``p``
(independently, the simplest model that matches a measured acceptance rate); a node keeps at most
``width`` of them, and the target rewrites the remaining slots of every node in one call, which
are scored in turn. Under static batching a call's cost is not proportional to its rows (each
distinct prompt is read once, and decode is bound by reading the weights), so the correction
cost is measured per outcome (rejected slots per node) rather than scaled per row.

With measured costs this gives the speedup SpecSearch can reach on a model pair and machine
before running a whole benchmark, and the acceptance rate a target speedup would need.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from itertools import product

Outcome = tuple[int, ...]
"""Slots left for the target on each node of a step, largest first; all zero means no call."""


def rejected_slots_distribution(p: float, n_drafts: int, width: int) -> dict[int, float]:
    """P(a node leaves ``r`` of its ``width`` slots to the target), for each ``r``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"acceptance probability must be in [0, 1], got {p}")
    if n_drafts < 1 or width < 1:
        raise ValueError(f"need n_drafts >= 1 and width >= 1, got {n_drafts} and {width}")
    distribution: dict[int, float] = {}
    for accepted in range(n_drafts + 1):
        probability = math.comb(n_drafts, accepted) * p**accepted * (1 - p) ** (n_drafts - accepted)
        left = width - min(width, accepted)
        distribution[left] = distribution.get(left, 0.0) + probability
    return distribution


def outcomes(nodes: int, width: int) -> list[Outcome]:
    """Every outcome that needs a correction call (at least one slot left), largest first."""
    found = {
        tuple(sorted(combo, reverse=True)) for combo in product(range(width + 1), repeat=nodes)
    }
    return sorted((outcome for outcome in found if any(outcome)), reverse=True)


def expected_step_seconds(
    p: float,
    draft_seconds: float,
    correction_seconds: Mapping[Outcome, float],
    *,
    nodes: int,
    n_drafts: int,
    width: int,
) -> float:
    """Expected seconds of one SpecSearch step: drafting (and scoring) plus the correction call."""
    per_node = rejected_slots_distribution(p, n_drafts, width)
    expected = draft_seconds
    for combo in product(per_node.items(), repeat=nodes):
        probability = math.prod(share for _, share in combo)
        outcome = tuple(sorted((left for left, _ in combo), reverse=True))
        if not any(outcome) or probability == 0.0:
            continue
        if outcome not in correction_seconds:
            raise KeyError(f"no measured cost for a correction call with outcome {outcome}")
        expected += probability * correction_seconds[outcome]
    return expected


def problem_speedup(target_step_seconds: float, spec_step_seconds: float, steps: int) -> float:
    """Speedup over a ``steps``-step target search, SpecSearch's first step written by the target.

    Under the EMA threshold the first step has no threshold yet, so the target writes it (the
    warm-up that initialises beta); the other ``steps - 1`` steps are SpecSearch steps.
    """
    if steps < 1:
        raise ValueError(f"a search has at least one step, got {steps}")
    return steps * target_step_seconds / (target_step_seconds + (steps - 1) * spec_step_seconds)


def acceptance_needed(
    speedup_at: Callable[[float], float], wanted: float, tolerance: float = 1e-4
) -> float | None:
    """The smallest acceptance probability reaching ``wanted``; None if even p = 1 falls short.

    Assumes ``speedup_at`` grows with p (fewer slots to correct), and bisects.
    """
    if speedup_at(1.0) < wanted:
        return None
    if speedup_at(0.0) >= wanted:
        return 0.0
    low, high = 0.0, 1.0
    while high - low > tolerance:
        middle = (low + high) / 2
        if speedup_at(middle) >= wanted:
            high = middle
        else:
            low = middle
    return high
