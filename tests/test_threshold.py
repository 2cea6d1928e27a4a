"""The threshold policy pinned to the paper's formulas."""

from __future__ import annotations

import math
import random

import pytest

from langgraph_specsearch import SpecSearchConfig
from langgraph_specsearch.search.threshold import aggregate, judge_drafts, next_threshold


def test_aggregators() -> None:
    scores = [0.2, 0.4, 0.9]
    assert aggregate(scores, "mean") == pytest.approx(0.5)
    assert aggregate(scores, "max") == 0.9
    std = math.sqrt(((0.2 - 0.5) ** 2 + (0.4 - 0.5) ** 2 + (0.9 - 0.5) ** 2) / 3)
    assert aggregate(scores, "ucb", ucb_c=2.0) == pytest.approx(0.5 + 2 * std)
    assert aggregate([], "mean") is None
    assert aggregate([-math.inf], "mean") is None


def test_ema_initialises_then_smooths_then_carries_over() -> None:
    config = SpecSearchConfig(theta=0.8)
    agg, beta1 = next_threshold(None, [0.4, 0.6], config)
    assert agg == pytest.approx(0.5) and beta1 == pytest.approx(0.5)
    agg, beta2 = next_threshold(beta1, [0.9, 0.7], config)
    assert beta2 == pytest.approx(0.8 * 0.5 + 0.2 * 0.8)
    agg, beta3 = next_threshold(beta2, [], config)
    assert agg is None and beta3 == beta2


def test_decide_keeps_at_most_width_best_first() -> None:
    config = SpecSearchConfig(width=2, beam_width=1)
    keep, cleared = judge_drafts([0.9, 0.1, 0.95, 0.8, 0.7], 2, config, 0.5, random.Random(0))
    assert keep == [True, False, True, False, False]
    # the two best take the slots; 0.8 and 0.7 cleared the bar too, with no slot left
    assert cleared == [True, False, True, True, True]


def test_decide_never_accepts_invalid_scores() -> None:
    config = SpecSearchConfig(threshold="none")
    keep, cleared = judge_drafts([-math.inf, 0.3], 6, config, None, random.Random(0))
    assert keep == cleared == [False, True]


def test_random_rejection_is_seeded() -> None:
    config = SpecSearchConfig(threshold="random", random_accept_prob=0.5, width=6)
    scores = [0.5] * 12
    first = judge_drafts(scores, 6, config, None, random.Random(7)).accepted
    assert first == judge_drafts(scores, 6, config, None, random.Random(7)).accepted
    assert 0 < sum(first) <= 6
