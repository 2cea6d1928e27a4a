"""The ``correct`` node: the target fills every slot the accepted drafts left, then is scored.

The target writes with token-level speculative decoding (the drafter as its assistant) when it
can; its scores at this step move the threshold (:func:`update_threshold`, or one record per
expanded node under the per-path history, :func:`path_records`). The target's writing
is a LangGraph ``task`` and the scoring is retried on its own (both under the graph's
``retry_policy``): with a checkpointer the thoughts are saved before they are scored, so neither
a retried nor a resumed scorer failure pays for the most expensive work of the step twice.
"""

from __future__ import annotations

import time
from collections import ChainMap, Counter
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config
from langgraph.func import task

from langgraph_specsearch.generators.base import GenerationSettings, Thought
from langgraph_specsearch.graph.deps import SearchDeps, checked, step_candidates
from langgraph_specsearch.graph.events import brief, emit
from langgraph_specsearch.graph.retry import call_with_retry
from langgraph_specsearch.graph.state import SpecSearchState
from langgraph_specsearch.graph.stats import copy_stats, count_tokens, timed
from langgraph_specsearch.search.thoughts import ThoughtNode, new_children
from langgraph_specsearch.search.threshold import path_records, update_threshold
from langgraph_specsearch.search.tree import path_steps


def make_correct(outer: SearchDeps) -> Callable[[SpecSearchState, RunnableConfig], dict[str, Any]]:
    """A node that writes the target's thoughts, scores them and records the threshold."""

    @task(name="write_corrections", retry_policy=outer.retry_policy)
    def write_corrections(
        deps: SearchDeps,
        question: str,
        paths: list[list[str]],
        counts: list[int],
        step: int,
        plain: bool,
    ) -> dict[str, Any]:
        """The target's thoughts as plain data, so the checkpointer can save them."""
        settings = deps.settings(step, "correct")
        groups, strategy = _write(deps, question, paths, counts, settings, get_config(), plain)
        return {"strategy": strategy, "groups": [[asdict(t) for t in g] for g in groups]}

    def correct(state: SpecSearchState, config: RunnableConfig) -> dict[str, Any]:
        deps = outer.for_state(state)
        stats, nodes = copy_stats(state["stats"]), state["nodes"]
        step = state["depth"] + 1
        frontier, candidates = state["frontier"], step_candidates(state)
        accepted = [nodes[i] for i in candidates if nodes[i]["status"] == "accepted"]
        taken = Counter(node["parent"] for node in accepted)
        drafter_only = deps.config.mode == "drafter_only"
        counts = [0 if drafter_only else deps.config.width - taken[p] for p in frontier]
        # a step ``auto`` did not draft is AR's step, written as AR writes it: plain batches,
        # whose thoughts the scorer reuses for free (a speculative call would need a pass)
        plain = deps.config.mode == "auto" and not any(
            nodes[i]["model"] == "drafter" for i in candidates
        )
        created: dict[str, ThoughtNode] = {}
        start = time.perf_counter()
        with timed(stats, "correct"):
            if sum(counts):
                paths = [path_steps(nodes, f) for f in frontier]
                written = write_corrections(
                    deps, state["question"], paths, counts, step, plain
                ).result()
                strategy = written["strategy"]
                groups = [[Thought(**t) for t in group] for group in written["groups"]]
                strategies = stats["correction_strategies"]
                strategies[strategy] = strategies.get(strategy, 0) + 1
                created = new_children(nodes, frontier, paths, groups, "target", "corrected")
                for group in groups:
                    for thought in group:
                        count_tokens(stats, "target", thought)
        with timed(stats, "evaluate"):
            view = ChainMap(created, nodes)
            scores, invalid = call_with_retry(
                lambda: deps.score(state["question"], view, list(created)), deps.retry_policy
            )
        deps.measure("target", len(created), time.perf_counter() - start)
        for node_id, score in scores.items():
            created[node_id]["score"] = score
        stats["invalid_scores"] += invalid
        stats["corrected"] += len(created)
        if deps.config.threshold_scope == "path":
            records = path_records(ChainMap(created, nodes), frontier, step, deps.config)
            threshold = None
        else:
            record = update_threshold(
                state["threshold"],
                step,
                target_scores=list(scores.values()),
                accepted_scores=[n["score"] for n in accepted if n["score"] is not None],
                config=deps.config,
                node=frontier[0] if deps.config.search == "mcts" and frontier else None,
            )
            records, threshold = [record], record["next_threshold"]
        emit("correct", step, [brief(n) for n in created.values()], config)
        return {
            "nodes": created,
            "candidates": [*candidates, *created],
            "stats": stats,
            "threshold": threshold,
            "threshold_history": records,
        }

    return correct


def _write(
    deps: SearchDeps,
    question: str,
    paths: list[list[str]],
    counts: list[int],
    settings: GenerationSettings,
    config: RunnableConfig,
    plain: bool,
) -> tuple[list[list[Thought]], str]:
    """The target's thoughts and how they were written ("speculative" or "batched"); ``plain``
    asks for plain batches whatever the correction setting."""
    mode, choice = deps.config.mode, deps.config.correction
    wants_speculative = mode == "target_speculative" or (
        deps.config.speculates and choice != "batched" and not plain
    )
    if wants_speculative and deps.speculative:
        groups, strategy = deps.target.generate_speculative(  # type: ignore[attr-defined]
            question, paths, counts, settings, assistant=deps.drafter, strategy=choice
        )
        return checked(groups, counts, "target"), strategy
    return deps.generate(
        deps.target, "target", question, paths, counts, settings, config
    ), "batched"
