"""The arithmetic behind the reported numbers: intervals, paired ratios, bounds, time shares.

Speedups are medians of per-problem paired ratios (not ratios of means) because problems differ
in length by an order of magnitude and the runs are interleaved so drift cancels within a pair.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence

Z_95 = 1.959963984540054  # two-sided 95% normal quantile
STAGES = ("draft", "evaluate", "reject", "correct", "select")


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Chosen over the normal approximation because it stays inside [0, 1] and is sensible at the
    small n and near-0/1 accuracies of a quick run. With no trials it is the whole of [0, 1].
    """
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default), without needing numpy."""
    if not values:
        raise ValueError("quantile of no values")
    if not 0 <= q <= 1:
        raise ValueError(f"q must be in [0, 1], got {q}")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    """The median: the middle value, or the mean of the two middle values."""
    return quantile(values, 0.5)


def paired_ratios(numerator: Mapping[str, float], denominator: Mapping[str, float]) -> list[float]:
    """Per-problem ratios numerator[k] / denominator[k] over the keys both have.

    Problems missing from either side, or with a non-positive time, are left out: a ratio is
    only meaningful for a pair measured back to back.
    """
    keys = sorted(numerator.keys() & denominator.keys())
    return [numerator[k] / denominator[k] for k in keys if numerator[k] > 0 and denominator[k] > 0]


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value for paired right/wrong outcomes.

    Only the discordant problems (right under one mode, wrong under the other) carry evidence of
    a difference; under "no difference" each is a fair coin. On a few dozen problems a gap of a
    few points is usually noise, and this says how likely.
    """
    if only_first < 0 or only_second < 0:
        raise ValueError(f"need non-negative counts, got {only_first} and {only_second}")
    n = only_first + only_second
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_first, only_second) + 1))
    return min(1.0, 2 * tail / 2**n)


def bootstrap_median_ci(
    values: Sequence[float], *, seed: int = 0, n_boot: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the median, seeded so reports are reproducible."""
    if not values:
        raise ValueError("bootstrap of no values")
    rng = random.Random(seed)
    medians = sorted(median(rng.choices(values, k=len(values))) for _ in range(n_boot))
    tail = (1 - level) / 2
    return quantile(medians, tail), quantile(medians, 1 - tail)


def ratio_summary(
    ratios: Sequence[float], *, seed: int = 0, n_boot: int = 2000
) -> dict[str, float | int] | None:
    """Median of paired ratios with its spread (IQR and bootstrap 95% CI), or None if empty."""
    if not ratios:
        return None
    ci_low, ci_high = bootstrap_median_ci(ratios, seed=seed, n_boot=n_boot)
    return {
        "median": median(ratios),
        "q1": quantile(ratios, 0.25),
        "q3": quantile(ratios, 0.75),
        "ci_low": ci_low,
        "ci_high": ci_high,
        "n": len(ratios),
    }


def ideal_speedup(
    ar_seconds: Mapping[str, float],
    drafter_only_seconds: Mapping[str, float],
    *,
    seed: int = 0,
) -> dict[str, float | int] | None:
    """Speedup over AR if every draft were accepted: AR time / drafter_only time, paired.

    The drafter_only run does what SpecSearch would do with a 100% acceptance rate (draft,
    score, select; never call the target), so its wall time, scoring included, is the floor
    for SpecSearch's time and this ratio the ceiling for its speedup on this model pair.
    """
    return ratio_summary(paired_ratios(ar_seconds, drafter_only_seconds), seed=seed)


def stage_share(
    stage_seconds: Iterable[Mapping[str, float]],
    total_seconds: float | None = None,
    stages: Sequence[str] = STAGES,
) -> dict[str, float]:
    """Fraction of the time spent in each stage, summed over runs.

    With ``total_seconds`` (summed wall time) the remainder not in any stage is reported as
    "other", so the shares sum to 1 of wall time; without it they sum to 1 of staged time.
    """
    sums = dict.fromkeys(stages, 0.0)
    for seconds in stage_seconds:
        for stage in stages:
            sums[stage] += float(seconds.get(stage, 0.0) or 0.0)
    staged = sum(sums.values())
    if total_seconds is not None:
        sums["other"] = max(0.0, total_seconds - staged)
        whole = max(total_seconds, staged)
    else:
        whole = staged
    if whole <= 0:
        return dict.fromkeys(sums, 0.0)
    return {stage: value / whole for stage, value in sums.items()}
