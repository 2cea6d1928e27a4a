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
from langgraph_specsearch.inputs import (
    check_question_length,
    question_from_input,
)

# keys with reducers, replaced whole
_FRESH = ("nodes", "threshold_history", "completed", "speculation")


def make_prepare(outer: SearchDeps) -> Callable[[InputState, RunnableConfig], dict[str, Any]]:
    """A node that validates the question and the run's settings, and resets the state."""

    def prepare(state: InputState, config: RunnableConfig) -> dict[str, Any]:
        settings = run_config(outer.config, get_runtime().context, config.get("configurable"))
        outer.for_run(settings)  # e.g. target_speculative without a speculative target: refused
        question = question_from_input(state)
        check_question_length(question, settings)
        for generator in (outer.drafter, outer.target):
            check = getattr(generator, "check_question", None)
            if check is not None:
                check(question)  # e.g. longer than the model's context: a clear ValueError
        fresh = initial_state(question)
        for key in _FRESH:
            fresh[key] = Overwrite(fresh[key])
        fresh["settings"] = settings.model_dump()
        fresh["messages"] = []  # read once: a reused thread never answers old messages again
        return fresh

    return prepare
