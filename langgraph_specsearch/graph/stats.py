"""Run statistics: counters a user reads in ``result.stats``, and how nodes update them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from typing_extensions import TypedDict  # pydantic needs it for JSON schemas on Python < 3.12

from langgraph_specsearch.generators.base import Thought

Stage = Literal["draft", "evaluate", "reject", "correct", "select"]


class MctsCounters(TypedDict, total=False):
    """What MCTS adds to the counters (absent in beam search): simulations run, moves made."""

    simulations: int
    moves: int


class RunStats(MctsCounters):
    """Counters a user reads in ``result.stats``; ``steps`` counts the rounds of the generator
    (beam search: depths; MCTS: expansions)."""

    drafted: int
    accepted: int
    # drafts that cleared the bar, a slot left for them or not: more than ``accepted`` when
    # M > N and more than N of a node's drafts clear
    cleared: int
    rejected: int
    corrected: int
    acceptance_rate: float
    clear_rate: float
    draft_share: float
    tokens: dict[str, int]
    tokens_estimated: bool
    seconds: dict[str, float]
    total_seconds: float
    correction_strategies: dict[str, int]
    invalid_scores: int
    failures: list[dict[str, object]]
    steps: int
    speculation_steps: dict[str, int]


def empty_stats() -> RunStats:
    """Fresh counters for a run."""
    return RunStats(
        drafted=0,
        accepted=0,
        cleared=0,
        rejected=0,
        corrected=0,
        acceptance_rate=0.0,
        clear_rate=0.0,
        draft_share=0.0,
        tokens={"drafter": 0, "target": 0},
        tokens_estimated=False,
        seconds={stage: 0.0 for stage in ("draft", "evaluate", "reject", "correct", "select")},
        total_seconds=0.0,
        correction_strategies={},
        invalid_scores=0,
        failures=[],
        steps=0,
        speculation_steps={},
    )


def copy_stats(stats: RunStats) -> RunStats:
    """A copy a node may change: the counters' nested dicts and lists are copied too."""
    copied = dict(stats)
    for key in ("tokens", "seconds", "correction_strategies"):
        copied[key] = dict(stats[key])  # type: ignore[literal-required]
    copied["failures"] = list(stats["failures"])
    copied["speculation_steps"] = dict(stats.get("speculation_steps", {}))  # absent in 0.1.0
    # absent in 0.1.0, which counted only the accepted (the same count at M = N, the default)
    copied.setdefault("cleared", stats["accepted"])
    return copied  # type: ignore[return-value]


@contextmanager
def timed(stats: RunStats, stage: Stage) -> Iterator[None]:
    """Add the wall-clock time of the block to ``stage`` and to the total."""
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        stats["seconds"][stage] += elapsed
        stats["total_seconds"] += elapsed


def count_tokens(stats: RunStats, role: str, thought: Thought) -> None:
    """Count a thought's tokens against the model that wrote it."""
    stats["tokens"][role] += thought.tokens
    stats["tokens_estimated"] = stats["tokens_estimated"] or thought.tokens_estimated


def refresh_rates(stats: RunStats) -> None:
    """Acceptance rate (accepted / drafted), clear rate (cleared / drafted: each draft's chance
    of clearing the bar, which the cost model and ``auto`` need; at M > N the acceptance rate
    is capped at N / M) and draft share (accepted / children kept)."""
    drafted, accepted, corrected = stats["drafted"], stats["accepted"], stats["corrected"]
    stats["acceptance_rate"] = accepted / drafted if drafted else 0.0
    stats["clear_rate"] = stats["cleared"] / drafted if drafted else 0.0
    children = accepted + corrected
    stats["draft_share"] = accepted / children if children else 0.0
