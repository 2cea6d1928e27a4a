"""When speculation pays: ``mode="auto"`` drafts a step only when that is expected to be cheaper.

The expected cost of a drafted step is the drafter's call and the scoring of its drafts, plus the
expected corrections: each draft clears the bar at the rate drafts have cleared it so far (slots
or not), and the target writes (and the scorer scores) the slots left. The target's own step is
the target writing every slot. Both come from costs measured during the search (and earlier
searches of the same graph): each model call is fitted as ``fixed + per_row * rows``, since
under static batching a call's cost is far from proportional to its rows. The quality rule (the
threshold) is unchanged: this only decides whether to draft at all.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from itertools import product
from threading import Lock

from typing_extensions import TypedDict

from langgraph_specsearch.config import SpecSearchConfig

PRIOR_FIXED_SHARE = 0.7  # of one measured call, when every call had the same rows (measured: a
# one-row correction cost 69% of a six-row target step on the default pair, docs/benchmarks.md)


class CostRecord(TypedDict):
    """One measured call: ``kind`` is "draft" (the drafter's call), "draft_score" (scoring the
    drafts) or "target" (the target writing corrections, and their scoring)."""

    kind: str
    rows: int
    seconds: float


class Decision(TypedDict):
    """Whether ``auto`` drafted at a step, why, and the estimates behind it."""

    step: int
    draft: bool
    reason: str
    expected_draft_step_seconds: float | None
    target_step_seconds: float | None
    acceptance: float | None


def fit_cost(records: Sequence[CostRecord], kind: str) -> tuple[float, float] | None:
    """``(fixed, per_row)`` seconds of one ``kind`` call, by least squares; None if unmeasured."""
    points = [(r["rows"], r["seconds"]) for r in records if r["kind"] == kind and r["rows"] > 0]
    if not points:
        return None
    rows = [x for x, _ in points]
    mean_x = sum(rows) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x in rows)
    if spread == 0:
        return PRIOR_FIXED_SHARE * mean_y, (1 - PRIOR_FIXED_SHARE) * mean_y / mean_x
    per_row = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    per_row = max(per_row, 0.0)
    return max(mean_y - per_row * mean_x, 0.0), per_row


def _call(cost: tuple[float, float], rows: int) -> float:
    return cost[0] + cost[1] * rows if rows > 0 else 0.0


def expected_draft_step(
    draft: tuple[float, float],
    target: tuple[float, float],
    nodes: int,
    n_drafts: int,
    width: int,
    acceptance: float,
) -> float:
    """Expected seconds of a drafted step over ``nodes`` frontier nodes."""
    per_node = {}
    for accepted in range(n_drafts + 1):
        share = math.comb(n_drafts, accepted) * acceptance**accepted
        share *= (1 - acceptance) ** (n_drafts - accepted)
        left = width - min(width, accepted)
        per_node[left] = per_node.get(left, 0.0) + share
    expected = _call(draft, nodes * n_drafts)
    for combo in product(per_node.items(), repeat=nodes):
        probability = math.prod(share for _, share in combo)
        expected += probability * _call(target, sum(left for left, _ in combo))
    return expected


def decide(
    records: Sequence[CostRecord],
    acceptance: float | None,
    nodes: int,
    step: int,
    config: SpecSearchConfig,
) -> Decision:
    """Draft this step only if its expected cost is below the target writing it alone.

    With no drafted step measured yet it drafts once, to measure (the only step that may cost
    more than the target's; later searches of the same graph start from what was measured).
    """
    target = fit_cost(records, "target")
    drafting, scoring = fit_cost(records, "draft"), fit_cost(records, "draft_score")
    draft = (drafting[0] + scoring[0], drafting[1] + scoring[1]) if drafting and scoring else None
    m, n = config.drafts_per_node, config.width
    own = _call(target, nodes * n) if target else None
    if target is None:
        reason, go, expected = "no target step measured yet: the target writes it", False, None
    elif draft is None or acceptance is None:
        reason, go, expected = "no drafted step measured yet: draft once to measure", True, None
    else:
        expected = expected_draft_step(draft, target, nodes, m, n, acceptance)
        go = expected < own
        reason = f"drafting is expected to cost {expected:.2f} s against the target's {own:.2f} s"
    return Decision(
        step=step,
        draft=go,
        reason=reason,
        expected_draft_step_seconds=expected,
        target_step_seconds=own,
        acceptance=acceptance,
    )


class SpeculationMemory:
    """Costs and acceptance measured by the searches of one graph, shared by its runs.

    A compiled graph keeps one, so a batch of problems measures the drafted step once, not once
    per problem. It keeps the last ``size`` calls of every kind together, so once a pair that
    does not pay has stopped drafting, its drafting costs age out after ``size`` target calls and
    ``decide`` drafts one step again to re-measure (on the default pair about every 13
    problems: problems 12 and 27 of the ``gsm8k-30-auto`` run). Costs that drift, or a pair that
    starts to pay, are seen again. Thread-safe: concurrent runs add to it.
    """

    def __init__(self, size: int = 64) -> None:
        self._records: deque[CostRecord] = deque(maxlen=size)
        self._lock = Lock()
        self.drafted = 0
        self.cleared = 0  # drafts that cleared the bar, slots or not: each draft's own chance

    def add(self, kind: str, rows: int, seconds: float) -> None:
        with self._lock:
            self._records.append(CostRecord(kind=kind, rows=rows, seconds=seconds))

    def judged(self, drafted: int, cleared: int) -> None:
        with self._lock:
            self.drafted += drafted
            self.cleared += cleared

    def snapshot(self) -> tuple[list[CostRecord], float | None]:
        """The measured calls and the acceptance rate so far (None before any draft)."""
        with self._lock:
            rate = self.cleared / self.drafted if self.drafted else None
            return list(self._records), rate
