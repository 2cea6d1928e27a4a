"""The interval, ratio, bound and share arithmetic, pinned to hand-computed values."""

from __future__ import annotations

import math

import pytest

from langgraph_specsearch.bench.stats import (
    Z_95,
    bootstrap_median_ci,
    ideal_speedup,
    mcnemar_exact,
    median,
    paired_ratios,
    quantile,
    ratio_summary,
    stage_share,
    wilson_interval,
)


def test_wilson_interval_8_of_10() -> None:
    # p = 0.8, z^2/n = 0.384146: centre = (0.8 + 0.192073) / 1.384146 = 0.716740,
    # half = 1.959964 * sqrt(0.016 + 0.0096037) / 1.384146 = 0.226578.
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.490162, abs=1e-6)
    assert high == pytest.approx(0.943318, abs=1e-6)


def test_wilson_interval_edges_are_exact_and_symmetric() -> None:
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    # At p = 0 the upper bound reduces to (z^2/n) / (1 + z^2/n).
    assert high == pytest.approx((Z_95**2 / 10) / (1 + Z_95**2 / 10))
    assert high == pytest.approx(0.277533, abs=1e-6)
    assert wilson_interval(10, 10) == (pytest.approx(1 - high), 1.0)
    low8, high8 = wilson_interval(8, 10)
    assert wilson_interval(2, 10) == (pytest.approx(1 - high8), pytest.approx(1 - low8))
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_interval_narrows_with_n_and_rejects_bad_counts() -> None:
    assert wilson_interval(50, 100)[1] - wilson_interval(50, 100)[0] == pytest.approx(
        2 * Z_95 * math.sqrt(0.25 / 100 + Z_95**2 / 40000) / (1 + Z_95**2 / 100)
    )
    with pytest.raises(ValueError):
        wilson_interval(11, 10)
    with pytest.raises(ValueError):
        wilson_interval(-1, 10)


def test_quantile_and_median_interpolate_like_numpy() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert median(values) == 2.5
    assert quantile(values, 0.25) == 1.75  # position 0.75 between 1 and 2
    assert quantile(values, 0.75) == 3.25
    assert quantile(values, 0.0) == 1.0 and quantile(values, 1.0) == 4.0
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([5.0]) == 5.0
    with pytest.raises(ValueError):
        median([])
    with pytest.raises(ValueError):
        quantile(values, 1.5)


def test_paired_ratios_use_only_problems_timed_on_both_sides() -> None:
    baseline = {"a": 10.0, "b": 6.0, "c": 4.0, "d": 1.0}
    method = {"a": 5.0, "b": 3.0, "c": 0.0, "e": 2.0}
    assert paired_ratios(baseline, method) == [2.0, 2.0]
    assert paired_ratios({}, method) == []


def test_median_of_ratios_is_not_ratio_of_totals() -> None:
    # One long problem dominates the totals (110 / 55 = 2.0) but the typical ratio is 3.
    baseline = {"a": 3.0, "b": 3.0, "c": 104.0}
    method = {"a": 1.0, "b": 1.0, "c": 53.0}
    assert median(paired_ratios(baseline, method)) == 3.0


def test_ratio_summary_reports_median_iqr_and_seeded_ci() -> None:
    summary = ratio_summary([1.0, 2.0, 3.0, 4.0], seed=0)
    assert summary is not None
    assert (summary["median"], summary["q1"], summary["q3"], summary["n"]) == (2.5, 1.75, 3.25, 4)
    assert 1.0 <= summary["ci_low"] <= summary["median"] <= summary["ci_high"] <= 4.0
    assert ratio_summary([1.0, 2.0, 3.0, 4.0], seed=0) == summary
    assert ratio_summary([]) is None


def test_bootstrap_ci_of_constant_is_the_constant_and_is_seeded() -> None:
    assert bootstrap_median_ci([2.0] * 7, seed=3) == (2.0, 2.0)
    values = [1.1, 1.9, 2.3, 2.4, 3.0, 0.7, 1.6]
    assert bootstrap_median_ci(values, seed=1) == bootstrap_median_ci(values, seed=1)
    low, high = bootstrap_median_ci(values, seed=1)
    assert min(values) <= low <= median(values) <= high <= max(values)


def test_mcnemar_exact_is_the_two_sided_binomial_of_the_discordant_pairs() -> None:
    # 5 against 5 is the middle of Binomial(10, 1/2): p = 1 (capped).
    assert mcnemar_exact(5, 5) == 1.0
    # 0 against 6: 2 * (1/2)^6 = 1/32, either way round.
    assert mcnemar_exact(0, 6) == mcnemar_exact(6, 0) == pytest.approx(1 / 32)
    # 2 against 8: 2 * (1 + 10 + 45) / 1024 = 112 / 1024.
    assert mcnemar_exact(2, 8) == pytest.approx(112 / 1024)
    # 3 against 4: 2 * (1 + 7 + 21 + 35) / 128 = 1.
    assert mcnemar_exact(3, 4) == 1.0
    assert mcnemar_exact(0, 0) == 1.0
    with pytest.raises(ValueError, match="non-negative"):
        mcnemar_exact(-1, 2)


def test_ideal_speedup_is_paired_ar_over_drafter_only() -> None:
    ar = {"p1": 30.0, "p2": 20.0, "p3": 12.0}
    drafter_only = {"p1": 10.0, "p2": 5.0, "p3": 6.0, "p4": 1.0}
    summary = ideal_speedup(ar, drafter_only)
    assert summary is not None
    # Ratios 3, 4, 2 (p4 has no AR run): median 3, IQR 2.5 to 3.5.
    assert (summary["median"], summary["q1"], summary["q3"], summary["n"]) == (3.0, 2.5, 3.5, 3)
    assert ideal_speedup({}, drafter_only) is None


def test_stage_share_of_staged_time() -> None:
    runs = [{"draft": 2.0, "evaluate": 1.0}, {"draft": 4.0, "correct": 3.0, "unknown": 9.0}]
    share = stage_share(runs)
    assert share == pytest.approx(
        {"draft": 0.6, "evaluate": 0.1, "reject": 0.0, "correct": 0.3, "select": 0.0}
    )


def test_stage_share_of_wall_time_reports_other() -> None:
    runs = [{"draft": 2.0, "evaluate": 1.0}, {"draft": 4.0, "correct": 3.0}]
    share = stage_share(runs, total_seconds=20.0)
    assert share == pytest.approx(
        {
            "draft": 0.3,
            "evaluate": 0.05,
            "reject": 0.0,
            "correct": 0.15,
            "select": 0.0,
            "other": 0.5,
        }
    )
    assert sum(share.values()) == pytest.approx(1.0)
    assert stage_share([]) == dict.fromkeys(
        ("draft", "evaluate", "reject", "correct", "select"), 0.0
    )
