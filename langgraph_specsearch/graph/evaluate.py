"""The ``evaluate`` node: the scorer rates every draft of this step, in one batched call."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig

from langgraph_specsearch.graph.deps import SearchDeps, step_candidates
from langgraph_specsearch.graph.events import emit
from langgraph_specsearch.graph.state import SpecSearchState
from langgraph_specsearch.graph.stats import copy_stats, timed


def make_evaluate(
    outer: SearchDeps,
) -> Callable[[SpecSearchState, RunnableConfig], dict[str, Any]]:
    """A node that scores this step's drafts; the tree gets one score per draft."""

    def evaluate(state: SpecSearchState, config: RunnableConfig) -> dict[str, Any]:
        deps = outer.for_state(state)
        stats, nodes = copy_stats(state["stats"]), state["nodes"]
        step = state["depth"] + 1
        drafts = [i for i in step_candidates(state) if nodes[i]["model"] == "drafter"]
        start = time.perf_counter()
        with timed(stats, "evaluate"):
            scores, invalid = deps.score(state["question"], nodes, drafts)
        deps.measure("draft_score", len(drafts), time.perf_counter() - start)
        stats["invalid_scores"] += invalid
        emit("evaluate", step, [{"id": i, "score": scores.get(i)} for i in drafts], config)
        return {"nodes": {i: {"score": score} for i, score in scores.items()}, "stats": stats}

    return evaluate
