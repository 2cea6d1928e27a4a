"""The ``select`` and ``finalize`` nodes: beam search's choice of beams, and the answer.

The choice itself is :mod:`langgraph_specsearch.search.beam`; these nodes apply it to the state
and route the graph: another step, or the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from langgraph_specsearch.graph.deps import SearchDeps, step_candidates
from langgraph_specsearch.graph.events import emit
from langgraph_specsearch.graph.state import SpecSearchState
from langgraph_specsearch.graph.stats import copy_stats, refresh_rates, timed
from langgraph_specsearch.search.beam import best_leaf, select_beams, stop_reason
from langgraph_specsearch.search.tree import path_steps

SelectNode = Callable[[SpecSearchState, RunnableConfig], Command[Literal["draft", "finalize"]]]


def make_select(outer: SearchDeps) -> SelectNode:
    """A node that keeps the best B children; finished beams leave the frontier."""

    def select(
        state: SpecSearchState, config: RunnableConfig
    ) -> Command[Literal["draft", "finalize"]]:
        deps = outer.for_state(state)
        stats, nodes = copy_stats(state["stats"]), state["nodes"]
        step = state["depth"] + 1
        with timed(stats, "select"):
            chosen = select_beams(
                nodes, step_candidates(state), deps.config.beam_width, deps.config.filter_duplicates
            )
            finished = [n["id"] for n in chosen if n["terminal"]]
            frontier = [n["id"] for n in chosen if not n["terminal"]]
        refresh_rates(stats)
        stats["steps"] = step
        items = [{"id": n["id"], "score": n["score"], "terminal": n["terminal"]} for n in chosen]
        emit("select", step, items, config)
        tokens = sum(stats["tokens"].values())
        completed = [*state["completed"], *finished]
        reason = stop_reason(frontier, completed, step, tokens, stats["total_seconds"], deps.config)
        update = {
            "nodes": {n["id"]: {"selected": True} for n in chosen},
            "stats": stats,
            "depth": step,
            "frontier": frontier,
            "completed": finished,
            "stop_reason": reason,
        }
        return Command(update=update, goto="finalize" if reason else "draft")

    return select


def finalize(state: SpecSearchState) -> dict[str, Any]:
    """Return the best finished path, or the best partial one when a budget ran out."""
    nodes = state["nodes"]
    best = best_leaf(nodes, state["completed"], state["frontier"])
    finished = bool(state["completed"])
    return {
        "best": best,
        "answer": nodes[best]["answer"] if best and finished else None,
        "steps": path_steps(nodes, best) if best else [],
        "finished": finished,
        "stop_reason": state["stop_reason"] or "answer",
    }
