"""Graph state: the search tree, the frontier, the threshold and its history, the statistics.

All plain data, so any checkpointer can save it. The tree and the histories have reducers, as
LangGraph's ``add_messages``: a node returns only what it changed (new thoughts, status changes,
one threshold record), never a copy of the tree. ``prepare`` starts a fresh tree with
``Overwrite``, so a thread can be reused for another question.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from typing_extensions import TypedDict  # pydantic needs it for JSON schemas on Python < 3.12

from langgraph_specsearch.graph.stats import RunStats, empty_stats
from langgraph_specsearch.search.speculation import Decision
from langgraph_specsearch.search.thoughts import ROOT_ID, ThoughtNode, ThresholdRecord, root_node


def merge_nodes(
    current: Mapping[str, ThoughtNode], update: Mapping[str, Mapping[str, Any]]
) -> dict[str, ThoughtNode]:
    """Reducer of the tree: add new thoughts, and patch existing ones field by field.

    ``{"n7": {...a whole ThoughtNode...}}`` adds a thought; ``{"n3": {"status": "accepted"}}``
    changes one field of an existing one. Existing nodes are replaced, never mutated, so earlier
    checkpoints keep their values.
    """
    merged = dict(current)
    for node_id, patch in update.items():
        old = merged.get(node_id)
        if old is None:
            missing = set(ThoughtNode.__required_keys__) - set(patch)
            if missing:
                raise ValueError(f"new thought {node_id!r} lacks {sorted(missing)}")
            merged[node_id] = patch  # type: ignore[assignment]
        else:
            merged[node_id] = {**old, **patch}  # type: ignore[typeddict-item]
    return merged


class InputState(TypedDict, total=False):
    """What a caller gives the graph: a question, or a chat whose last user message is one."""

    question: str
    messages: list[AnyMessage]  # no reducer: the last value wins, and prepare clears it


class OutputState(TypedDict):
    """What a caller gets back from the graph: the answer, its path, and the tree behind it."""

    answer: str | None
    steps: list[str]
    finished: bool
    stop_reason: str
    stats: RunStats
    nodes: Annotated[dict[str, ThoughtNode], merge_nodes]
    threshold_history: Annotated[list[ThresholdRecord], operator.add]
    best: str | None
    speculation: Annotated[list[Decision], operator.add]


class MctsState(TypedDict):
    """Where an MCTS run is: the move's root, the simulation under way, the counts so far.

    ``cursor`` is where the next selection starts when it is not the move's root: under
    ``mcts_style="paths"`` a simulation goes on down from the node it just expanded.
    """

    root: str
    cursor: str | None
    leaf: str | None
    expanding: bool
    simulation: int
    simulations: int
    moves: int


def new_mcts_state() -> MctsState:
    """An MCTS run before its first simulation: the question is the move's root."""
    return MctsState(
        root=ROOT_ID, cursor=None, leaf=None, expanding=False, simulation=0, simulations=0, moves=0
    )


class SpecSearchState(InputState, OutputState):
    """The full state: the tree, this step's candidates, the frontier, the threshold, the stats.

    A *step* is one round of draft, evaluate, reject and correct; ``depth`` counts the rounds done
    (beam search: the depth of the frontier; MCTS: the expansions so far), and the sampling seeds
    follow it. ``threshold`` is the search-wide EMA estimate (``threshold_scope="depth"``); it
    stays None under the per-path history, whose bars are read from the tree. ``mcts`` is
    MCTS's bookkeeping (None in beam search). ``settings`` is the run's SpecSearchConfig (the
    graph's, with the run's overrides), fixed by ``prepare`` so a resumed run keeps the settings
    it started with.
    """

    frontier: list[str]
    candidates: list[str]
    completed: Annotated[list[str], operator.add]
    depth: int
    threshold: float | None
    settings: dict[str, Any] | None
    mcts: MctsState | None


def initial_state(question: str) -> dict[str, object]:
    """Every key a run starts from, as plain values (see ``prepare`` for the graph's update)."""
    return {
        "question": question,
        "nodes": {ROOT_ID: root_node(question)},
        "frontier": [ROOT_ID],
        "candidates": [],
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
        "settings": None,
        "mcts": None,
        "speculation": [],
    }
