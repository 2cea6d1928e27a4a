"""Graph state: the whole search tree as plain data, so any checkpointer can save it.

The tree is flat: ``nodes`` maps an id to a :class:`ThoughtNode`, each naming its parent. No tensors
or model objects live here; models sit in the graph's closures.
"""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict  # pydantic needs it for JSON schemas on Python < 3.12

Author = Literal["root", "drafter", "target"]
Status = Literal["root", "drafted", "accepted", "rejected", "corrected"]

ROOT_ID = "root"


class ThoughtNode(TypedDict):
    """One thought (reasoning step) and what became of it."""

    id: str
    parent: str | None
    depth: int
    text: str
    score: float | None
    model: Author
    status: Status
    tokens: int
    selected: bool
    terminal: bool
    answer: str | None
    finish_reason: str


class ThresholdRecord(TypedDict):
    """The threshold in force at one step, and what the step's target scores made of it."""

    step: int
    threshold: float | None
    target_scores: list[float]
    aggregate: float | None
    next_threshold: float | None


class RunStats(TypedDict):
    """Counters a user reads in ``result.stats``."""

    drafted: int
    accepted: int
    rejected: int
    corrected: int
    acceptance_rate: float
    draft_share: float
    tokens: dict[str, int]
    tokens_estimated: bool
    seconds: dict[str, float]
    total_seconds: float
    correction_strategies: dict[str, int]
    invalid_scores: int
    failures: list[dict[str, object]]
    steps: int


class InputState(TypedDict):
    """What a caller gives the graph."""

    question: str


class OutputState(TypedDict):
    """What a caller gets back from the graph: the answer, its path, and the tree behind it."""

    answer: str | None
    steps: list[str]
    finished: bool
    stop_reason: str
    stats: RunStats
    nodes: dict[str, ThoughtNode]
    threshold_history: list[ThresholdRecord]
    best: str | None


class SpecSearchState(InputState, OutputState):
    """The full state: the tree, the frontier, the threshold and its history, the statistics."""

    frontier: list[str]
    completed: list[str]
    depth: int
    threshold: float | None


def empty_stats() -> RunStats:
    """Fresh counters for a run."""
    return RunStats(
        drafted=0,
        accepted=0,
        rejected=0,
        corrected=0,
        acceptance_rate=0.0,
        draft_share=0.0,
        tokens={"drafter": 0, "target": 0},
        tokens_estimated=False,
        seconds={stage: 0.0 for stage in ("draft", "evaluate", "reject", "correct", "select")},
        total_seconds=0.0,
        correction_strategies={},
        invalid_scores=0,
        failures=[],
        steps=0,
    )


def root_node(question: str) -> ThoughtNode:
    """The tree's root: the question, with no step written yet."""
    return ThoughtNode(
        id=ROOT_ID,
        parent=None,
        depth=0,
        text=question,
        score=None,
        model="root",
        status="root",
        tokens=0,
        selected=True,
        terminal=False,
        answer=None,
        finish_reason="",
    )


def initial_state(question: str) -> dict[str, object]:
    """Every key a run starts from; the graph's ``start`` node fills these in."""
    return {
        "question": question,
        "nodes": {ROOT_ID: root_node(question)},
        "frontier": [ROOT_ID],
        "completed": [],
        "depth": 0,
        "threshold": None,
        "threshold_history": [],
        "stats": empty_stats(),
        "answer": None,
        "steps": [],
        "finished": False,
        "stop_reason": "",
        "best": None,
    }
