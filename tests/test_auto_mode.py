"""``mode="auto"``: SpecSearch that drafts a step only when measured costs say it pays.

The policy is checked by hand on its pure functions; the graph is checked with simulated models
that advance a fake clock by known costs (the nodes read ``perf_counter`` from their modules), so
no test depends on this machine's speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from langgraph_specsearch import (
    GenerationSettings,
    SpecSearchConfig,
    Thought,
    create_specsearch_graph,
)
from langgraph_specsearch.search.speculation import (
    PRIOR_FIXED_SHARE,
    CostRecord,
    SpeculationMemory,
    decide,
    expected_draft_step,
    fit_cost,
)

CONFIG = SpecSearchConfig(mode="auto", beam_width=2, width=3, n_drafts=3, max_depth=6, seed=2)


def _rec(kind: str, rows: int, seconds: float) -> CostRecord:
    return CostRecord(kind=kind, rows=rows, seconds=seconds)


def test_fit_is_least_squares_and_splits_a_single_size_by_the_prior() -> None:
    assert fit_cost([_rec("target", 2, 3.0), _rec("target", 6, 5.0)], "target") == (2.0, 0.5)
    fixed, per_row = fit_cost([_rec("target", 4, 2.0)], "target")
    assert fixed == pytest.approx(PRIOR_FIXED_SHARE * 2.0)
    assert fixed + 4 * per_row == pytest.approx(2.0)
    assert fit_cost([_rec("draft", 4, 2.0)], "target") is None


def test_expected_draft_step_by_hand() -> None:
    draft, target = (1.0, 0.1), (2.0, 0.5)
    # one node, M = N = 1: accepted with p -> no correction; else one target row
    assert expected_draft_step(draft, target, 1, 1, 1, 0.25) == pytest.approx(1.1 + 0.75 * 2.5)
    assert expected_draft_step(draft, target, 2, 3, 3, 1.0) == pytest.approx(1.6)
    assert expected_draft_step(draft, target, 2, 3, 3, 0.0) == pytest.approx(1.6 + 2.0 + 3.0)


def test_decisions() -> None:
    target = [_rec("target", 3, 3.0), _rec("target", 6, 4.5)]  # 1.5 s + 0.5 s per row
    first = decide([], None, 1, 1, CONFIG)
    assert not first["draft"] and "no target step" in first["reason"]
    explore = decide(target, None, 2, 2, CONFIG)
    assert explore["draft"] and "draft once" in explore["reason"]
    cheap = [*target, _rec("draft", 6, 0.6), _rec("draft", 3, 0.45), _rec("draft_score", 6, 0.3)]
    assert decide(cheap, 0.9, 2, 3, CONFIG)["draft"]
    assert not decide(cheap, 0.0, 2, 3, CONFIG)["draft"]  # nothing accepted: pure overhead
    dear = [*target, _rec("draft", 6, 4.0), _rec("draft_score", 6, 0.3)]
    decision = decide(dear, 0.9, 2, 3, CONFIG)
    assert not decision["draft"]
    assert decision["expected_draft_step_seconds"] > decision["target_step_seconds"] == 4.5


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


class Simulated:
    """Each call costs ``fixed + per_row * rows`` seconds of the fake clock."""

    def __init__(self, name: str, clock: Clock, fixed: float, per_row: float) -> None:
        self.name, self.clock, self.fixed, self.per_row = name, clock, fixed, per_row

    def generate(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        counts: Sequence[int],
        settings: GenerationSettings,
    ) -> list[list[Thought]]:
        self.clock.now += self.fixed + self.per_row * sum(counts)
        return [
            [Thought(f"{self.name} {len(path) + 1} {i} {settings.seed}", 5) for i in range(count)]
            for path, count in zip(paths, counts, strict=True)
        ]


class SpeculativeSimulated(Simulated):
    """A target that can also write with token-level speculation (and says when it did)."""

    def supports_assistant(self, assistant: object) -> bool:
        return True

    def generate_speculative(self, question, paths, counts, settings, assistant, strategy="auto"):
        return self.generate(question, paths, counts, settings), "speculative"


def _score(question: str, steps: list[str]) -> float:
    return 0.9 if steps[-1].startswith("small") else 0.5  # drafts always clear the bar


def _auto_graph(
    monkeypatch: pytest.MonkeyPatch,
    drafter_cost: tuple[float, float],
    config: SpecSearchConfig = CONFIG,
    target_class: type[Simulated] = Simulated,
    score: Any = _score,
) -> Any:
    clock = Clock()
    for module in ("draft", "evaluate", "correct"):
        monkeypatch.setattr(f"langgraph_specsearch.graph.{module}.time.perf_counter", clock)
    drafter = Simulated("small", clock, *drafter_cost)
    target = target_class("big", clock, 2.0, 0.5)
    return create_specsearch_graph(drafter, target, score, config=config)


def test_auto_keeps_drafting_when_the_drafter_is_cheap(monkeypatch: pytest.MonkeyPatch) -> None:
    result = _auto_graph(monkeypatch, (0.2, 0.05)).invoke({"question": "What is 2 + 2?"})
    decisions = result["speculation"]
    assert [d["draft"] for d in decisions] == [True] * len(decisions)
    assert len(decisions) == CONFIG.max_depth - 1  # every step after the target's warm-up
    assert result["stats"]["speculation_steps"] == {"drafted": len(decisions)}


def test_auto_prices_corrections_by_the_drafts_that_cleared_not_the_slots_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At M = 2N every draft clears, but only N per node take a slot: the acceptance rate is
    1/2, and ``auto`` must still expect no corrections (each draft cleared: rate 1)."""
    config = CONFIG.model_copy(update={"n_drafts": 6})
    result = _auto_graph(monkeypatch, (0.2, 0.05), config).invoke({"question": "What is 2 + 2?"})
    stats = result["stats"]
    assert stats["acceptance_rate"] == 0.5 and stats["clear_rate"] == 1.0
    assert stats["cleared"] == stats["drafted"] == 2 * stats["accepted"] > 0
    measured = [d["acceptance"] for d in result["speculation"] if d["acceptance"] is not None]
    assert measured and set(measured) == {1.0}


def test_auto_writes_the_steps_it_does_not_draft_as_ar_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A target that can speculate corrects a drafted step's rejections that way, but the steps
    ``auto`` leaves to the target (the warm-up, and every step once drafting stopped paying)
    are AR's steps: plain batches, as ``target_only`` writes them."""

    def rejects_drafts(question: str, steps: list[str]) -> float:
        return 0.1 if steps[-1].startswith("small") else 0.5

    graph = _auto_graph(monkeypatch, (0.2, 0.05), CONFIG, SpeculativeSimulated, rejects_drafts)
    result = graph.invoke({"question": "What is 2 + 2?"})
    drafted = [d["draft"] for d in result["speculation"]]
    assert drafted[0] and not any(drafted[1:]) and len(drafted) > 1
    assert result["stats"]["correction_strategies"] == {
        "speculative": 1,  # the one drafted step, all of its drafts rejected
        "batched": result["stats"]["steps"] - 1,
    }


def test_auto_stops_drafting_after_one_measured_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = _auto_graph(monkeypatch, (2.0, 0.5))  # as dear as the target
    events = list(graph.stream({"question": "What is 2 + 2?"}, stream_mode="custom"))
    drafts = [e for e in events if e["stage"] == "draft" and "decision" in e]
    assert [e["decision"]["draft"] for e in drafts] == [True] + [False] * (len(drafts) - 1)
    assert len(drafts) > 2
    # the next problem on the same graph starts from what was measured: no exploration
    result = graph.invoke({"question": "What is 3 + 3?"})
    assert not any(d["draft"] for d in result["speculation"])
    assert result["stats"]["drafted"] == 0


def test_the_fit_ignores_empty_calls_and_clamps_negative_costs() -> None:
    # a call of 0 rows costs nothing to model; one row is a real point
    assert fit_cost([_rec("t", 0, 5.0), _rec("t", 1, 1.5), _rec("t", 3, 3.5)], "t") == (
        pytest.approx(0.5),
        pytest.approx(1.0),
    )
    assert fit_cost([_rec("t", 1, 5.0), _rec("t", 3, 3.0)], "t") == (4.0, 0.0)  # no negative slope
    assert fit_cost([_rec("t", 1, 1.0), _rec("t", 3, 5.0)], "t") == (0.0, 2.0)  # no negative fixed


def test_decide_adds_drafting_and_scoring_and_measures_before_it_estimates() -> None:
    config = SpecSearchConfig(mode="auto", width=2, n_drafts=2)
    target = [_rec("target", 1, 2.0), _rec("target", 3, 4.0)]  # 1 + 1 * rows
    drafting = [_rec("draft", 2, 1.0), _rec("draft", 4, 1.4)]  # 0.6 + 0.2 * rows
    scoring = [_rec("draft_score", 2, 0.5), _rec("draft_score", 4, 0.9)]  # 0.1 + 0.2 * rows
    nothing = decide([], None, 1, 0, config)
    assert (nothing["draft"], nothing["expected_draft_step_seconds"]) == (False, None)
    assert nothing["target_step_seconds"] is None
    half = decide(target + drafting, 0.5, 1, 0, config)  # drafting measured, scoring not
    assert (half["draft"], half["expected_draft_step_seconds"]) == (True, None)
    unjudged = decide(target + drafting + scoring, None, 1, 0, config)
    assert (unjudged["draft"], unjudged["expected_draft_step_seconds"]) == (True, None)
    full = decide(target + drafting + scoring, 0.5, 1, 0, config)
    # draft call (0.6 + 0.1) + (0.2 + 0.2) * 2 rows = 1.5; corrections: 2 left with p 1/4,
    # 1 left with p 1/2: (1 + 2) / 4 + (1 + 1) / 2 = 1.75; the target alone: 1 + 1 * 2 = 3
    assert full["expected_draft_step_seconds"] == pytest.approx(1.5 + 1.75)
    assert full["target_step_seconds"] == pytest.approx(3.0) and full["draft"] is False


def test_memory_keeps_the_last_64_calls_and_no_rate_before_a_draft() -> None:
    memory = SpeculationMemory()
    assert memory.snapshot() == ([], None)
    for index in range(70):
        memory.add("target", 1, float(index))
    records, rate = memory.snapshot()
    assert len(records) == 64 and records[0]["seconds"] == 6.0 and rate is None
    memory.judged(4, 1)
    assert memory.snapshot()[1] == 0.25
