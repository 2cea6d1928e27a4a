"""The ``prepare`` node: check the question before any model call, and plant a fresh tree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.types import Overwrite

from langgraph_specsearch.graph.deps import SearchDeps
from langgraph_specsearch.graph.state import InputState, initial_state

_FRESH = ("nodes", "threshold_history", "completed")  # keys with reducers, replaced whole


def validate_question(question: object) -> str:
    """The question as a non-empty string, or a ValueError/TypeError that says what is wrong."""
    if not isinstance(question, str):
        raise TypeError(f"question must be a string, got {type(question).__name__}")
    if not question.strip():
        raise ValueError("question is empty: give the problem to solve")
    return question


def make_prepare(deps: SearchDeps) -> Callable[[InputState], dict[str, Any]]:
    """A node that validates the question and resets the state (a thread may be reused)."""

    def prepare(state: InputState) -> dict[str, Any]:
        question = validate_question(state.get("question"))
        for generator in (deps.drafter, deps.target):
            check = getattr(generator, "check_question", None)
            if check is not None:
                check(question)  # e.g. longer than the model's context: a clear ValueError
        fresh = initial_state(question)
        for key in _FRESH:
            fresh[key] = Overwrite(fresh[key])
        return fresh

    return prepare
