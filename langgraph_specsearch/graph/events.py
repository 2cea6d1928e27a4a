"""Stage events: what each node decided, for ``stream_mode="custom"`` and callback handlers.

Every event is ``{"stage", "step", "items", ...}``. It goes to LangGraph's stream writer and, as
a LangChain custom event named ``specsearch.<stage>``, to callback handlers and
``astream_events(version="v2")``, so LangSmith and callback users see every decision too. MCTS
adds the stages ``select_leaf``, ``backup`` and ``choose_move``, whose items carry each thought's
``visits`` and ``value``.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.callbacks import dispatch_custom_event
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer

from langgraph_specsearch.graph.stats import Stage
from langgraph_specsearch.search.thoughts import ThoughtNode

EVENT_PREFIX = "specsearch."
EventStage = Stage | Literal["select_leaf", "backup", "choose_move"]


def emit(
    stage: EventStage,
    step: int,
    items: list[dict[str, Any]],
    config: RunnableConfig | None = None,
    **extra: Any,
) -> None:
    """Write one stage event to the stream and to the run's callback handlers."""
    event = {"stage": stage, "step": step, "items": items, **extra}
    get_stream_writer()(event)
    if config is not None and config.get("callbacks"):
        dispatch_custom_event(EVENT_PREFIX + stage, event, config=config)


def brief(node: ThoughtNode) -> dict[str, Any]:
    """The fields of a new thought that an event carries."""
    keys = ("id", "parent", "model", "text", "score", "tokens", "terminal")
    return {key: node[key] for key in keys}  # type: ignore[literal-required]
