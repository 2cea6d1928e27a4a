"""The ``draft`` node: the drafter writes M thoughts from every frontier node, in one call.

If the drafter still fails after its retries, the target takes the step: drafting nothing leaves
every slot to ``correct``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig

from langgraph_specsearch.generators.base import Thought
from langgraph_specsearch.graph.deps import SearchDeps
from langgraph_specsearch.graph.events import brief, emit
from langgraph_specsearch.graph.retry import call_with_retry
from langgraph_specsearch.graph.state import SpecSearchState
from langgraph_specsearch.graph.stats import RunStats, copy_stats, count_tokens, timed
from langgraph_specsearch.search.speculation import Decision, decide
from langgraph_specsearch.search.thoughts import ThoughtNode, new_children
from langgraph_specsearch.search.threshold import drafts_per_node, estimates
from langgraph_specsearch.search.tree import path_steps

__all__ = ["drafts_per_node", "make_draft"]  # drafts_per_node lives with the threshold now


def make_draft(outer: SearchDeps) -> Callable[[SpecSearchState, RunnableConfig], dict[str, Any]]:
    """A node that drafts this step's thoughts; they become the step's candidates."""

    def draft(state: SpecSearchState, config: RunnableConfig) -> dict[str, Any]:
        deps = outer.for_state(state)
        stats, nodes = copy_stats(state["stats"]), state["nodes"]
        step = state["depth"] + 1
        frontier = state["frontier"]
        created: dict[str, ThoughtNode] = {}
        decisions: list[Decision] = []
        with timed(stats, "draft"):
            bars = estimates(nodes, frontier, state["threshold"], deps.config)
            counts = [drafts_per_node(deps.config, estimate) for estimate in bars]
            if sum(counts) and deps.config.mode == "auto":
                records, acceptance = deps.memory.snapshot()
                decisions.append(decide(records, acceptance, len(frontier), step, deps.config))
                counts = counts if decisions[0]["draft"] else [0] * len(counts)
                kind = "drafted" if decisions[0]["draft"] else "target"
                stats["speculation_steps"][kind] = stats["speculation_steps"].get(kind, 0) + 1
            if sum(counts):
                paths = [path_steps(nodes, f) for f in frontier]
                start = time.perf_counter()
                groups = _draft_or_fall_back(
                    deps, state["question"], paths, counts, step, config, stats
                )
                deps.measure("draft", sum(counts), time.perf_counter() - start)
                created = new_children(nodes, frontier, paths, groups, "drafter", "drafted")
                for group in groups:
                    for thought in group:
                        count_tokens(stats, "drafter", thought)
        stats["drafted"] += len(created)
        extra = {"decision": decisions[0]} if decisions else {}
        emit("draft", step, [brief(n) for n in created.values()], config, **extra)
        update = {"nodes": created, "candidates": list(created), "stats": stats}
        return {**update, "speculation": decisions} if decisions else update

    return draft


def _draft_or_fall_back(
    deps: SearchDeps,
    question: str,
    paths: list[list[str]],
    counts: list[int],
    step: int,
    config: RunnableConfig,
    stats: RunStats,
) -> list[list[Thought]]:
    """The drafter's thoughts under its retry policy; none if it still fails and may fall back."""
    settings = deps.settings(step, "draft")

    def attempt() -> list[list[Thought]]:
        return deps.generate(deps.drafter, "drafter", question, paths, counts, settings, config)

    try:
        return call_with_retry(attempt, deps.drafter_retry, deps.config.draft_timeout_s)
    except Exception as error:
        if not deps.config.drafter_fallback or deps.config.mode == "drafter_only":
            raise
        failure = {"stage": "draft", "step": step, "error": f"{type(error).__name__}: {error}"}
        stats["failures"].append({**failure, "fallback": "target"})
        return [[] for _ in paths]
