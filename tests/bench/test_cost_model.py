"""The step-cost model: acceptance -> expected SpecSearch step -> speedup over the target."""

from __future__ import annotations

import math

import pytest

from langgraph_specsearch.bench.cost_model import (
    acceptance_needed,
    expected_step_seconds,
    outcomes,
    problem_speedup,
    rejected_slots_distribution,
)


def test_rejected_slots_follow_the_binomial_and_cap_at_width() -> None:
    assert rejected_slots_distribution(0.5, 3, 3) == pytest.approx(
        {3: 0.125, 2: 0.375, 1: 0.375, 0: 0.125}
    )
    # M = 6 drafts for N = 3 slots: any 3 or more accepted fill the node
    six = rejected_slots_distribution(0.5, 6, 3)
    assert six[0] == pytest.approx(sum(math.comb(6, k) for k in range(3, 7)) / 64)
    assert sum(six.values()) == pytest.approx(1.0)
    assert set(six) == {0, 1, 2, 3}


def test_rejected_slots_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="acceptance probability"):
        rejected_slots_distribution(1.5, 3, 3)
    with pytest.raises(ValueError, match="n_drafts"):
        rejected_slots_distribution(0.5, 0, 3)


def test_outcomes_are_sorted_and_skip_the_no_call_case() -> None:
    found = outcomes(2, 2)
    assert found == [(2, 2), (2, 1), (2, 0), (1, 1), (1, 0)]
    assert (0, 0) not in found


def _costs(value_per_row: float = 1.0) -> dict[tuple[int, ...], float]:
    return {o: 10.0 + value_per_row * sum(o) for o in outcomes(2, 3)}


def test_expected_step_at_the_extremes() -> None:
    costs = _costs()
    full = expected_step_seconds(0.0, 4.0, costs, nodes=2, n_drafts=3, width=3)
    assert full == pytest.approx(4.0 + costs[(3, 3)])
    assert expected_step_seconds(1.0, 4.0, costs, nodes=2, n_drafts=3, width=3) == 4.0


def test_expected_step_weights_each_outcome_by_its_probability() -> None:
    # one node, one draft, one slot: correction happens with probability 1 - p
    value = expected_step_seconds(0.25, 2.0, {(1,): 8.0}, nodes=1, n_drafts=1, width=1)
    assert value == pytest.approx(2.0 + 0.75 * 8.0)


def test_expected_step_names_a_missing_outcome() -> None:
    with pytest.raises(KeyError, match=r"\(3, 1\)"):
        costs = _costs()
        del costs[(3, 1)]
        expected_step_seconds(0.5, 4.0, costs, nodes=2, n_drafts=3, width=3)


def test_problem_speedup_counts_the_target_warmup_step() -> None:
    # four steps of 20 s against 20 s + three of 10 s
    assert problem_speedup(20.0, 10.0, 4) == pytest.approx(80 / 50)
    assert problem_speedup(20.0, 10.0, 1) == 1.0
    with pytest.raises(ValueError, match="at least one step"):
        problem_speedup(20.0, 10.0, 0)


def test_acceptance_needed_bisects_and_says_when_unreachable() -> None:
    def speedup(p: float) -> float:
        return 0.5 + p

    assert acceptance_needed(speedup, 1.2) == pytest.approx(0.7, abs=1e-3)
    assert acceptance_needed(speedup, 0.4) == 0.0
    assert acceptance_needed(speedup, 1.8) is None


def test_pairs_measured_at_both_ends_of_a_run_are_averaged() -> None:
    """Every cost is the mean of the measurements; a batch size only one of them measured is
    read from the other's interpolation, and pairs of different engines are refused."""
    from dataclasses import replace

    from langgraph_specsearch.bench.cost_model import CallProfile, PairProfile, mean_pair

    slow = PairProfile(
        CallProfile({1: 0.02, 6: 0.08}, 0.1, 0.01, rows_leave=True, cold_seconds=0.6),
        CallProfile({1: 0.04, 6: 0.14}, 0.2, 0.02, rows_leave=True, cold_seconds=1.2),
        score_fixed=0.06,
        score_row=0.0,
        engine="llamacpp",
        score_token=0.008,
        context_token=0.007,
        prompt_token=0.004,
    )
    fast = replace(
        slow,
        drafter=CallProfile({1: 0.01, 12: 0.12}, 0.05, 0.0, rows_leave=True, cold_seconds=0.4),
        score_fixed=0.04,
        score_token=0.006,
        prompt_token=0.002,
    )
    both = mean_pair([slow, fast])
    assert both.drafter.decode_seconds == pytest.approx(
        {1: 0.015, 6: (0.08 + 0.06) / 2, 12: (0.08 + 6 * 0.012 + 0.12) / 2}
    )
    assert (both.drafter.prompt_seconds, both.drafter.fixed, both.drafter.cold_seconds) == (
        pytest.approx((0.075, 0.005, 0.5))
    )
    assert both.target == slow.target
    assert (both.score_fixed, both.score_token, both.context_token, both.prompt_token) == (
        pytest.approx((0.05, 0.007, 0.007, 0.003))
    )
    assert both.drafter.rows_leave and both.engine == "llamacpp"
    with pytest.raises(ValueError, match="engine"):
        mean_pair([slow, replace(fast, engine="transformers")])
    with pytest.raises(ValueError, match="at least one"):
        mean_pair([])
