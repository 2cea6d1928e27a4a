"""The ``prepare`` node: check the question and the run's settings before any model call, and
plant a fresh tree.

A run's settings are the graph's ``SpecSearchConfig`` with the run's overrides (LangGraph's
runtime ``context``, or ``configurable`` keys), validated whole and kept in the state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import get_runtime
from langgraph.types import Overwrite

from langgraph_specsearch.config import run_config
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


def make_prepare(outer: SearchDeps) -> Callable[[InputState, RunnableConfig], dict[str, Any]]:
    """A node that validates the question and the run's settings, and resets the state."""

    def prepare(state: InputState, config: RunnableConfig) -> dict[str, Any]:
        settings = run_config(outer.config, get_runtime().context, config.get("configurable"))
        outer.for_run(settings)  # e.g. target_speculative without a speculative target: refused
        question = validate_question(state.get("question"))
        for generator in (outer.drafter, outer.target):
            check = getattr(generator, "check_question", None)
            if check is not None:
                check(question)  # e.g. longer than the model's context: a clear ValueError
        fresh = initial_state(question)
        for key in _FRESH:
            fresh[key] = Overwrite(fresh[key])
        fresh["settings"] = settings.model_dump()
        return fresh

    return prepare
