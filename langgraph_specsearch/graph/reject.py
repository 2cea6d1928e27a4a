"""The ``reject`` node: drafts that clear the threshold are accepted (at most N per node).

The rule is :func:`judge_drafts`; each frontier node's bar is the search-wide estimate or, under
the per-path history, its own path's. The log-probability ablation scores the drafts under both
models here, the only stage that needs those numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig

from langgraph_specsearch.graph.deps import SearchDeps, step_candidates
from langgraph_specsearch.graph.events import emit
from langgraph_specsearch.graph.retry import call_with_retry
from langgraph_specsearch.graph.state import SpecSearchState
from langgraph_specsearch.graph.stats import copy_stats, timed
from langgraph_specsearch.search.seeding import step_seed
from langgraph_specsearch.search.thoughts import scorable
from langgraph_specsearch.search.threshold import estimates, judge_drafts, threshold_in_force


def make_reject(outer: SearchDeps) -> Callable[[SpecSearchState, RunnableConfig], dict[str, Any]]:
    """A node that marks each draft of this step accepted or rejected."""

    def reject(state: SpecSearchState, config: RunnableConfig) -> dict[str, Any]:
        deps = outer.for_state(state)
        settings = deps.config
        stats, nodes = copy_stats(state["stats"]), state["nodes"]
        step = state["depth"] + 1
        frontier = state["frontier"]
        rng = random.Random(step_seed(settings.seed, step, "reject"))
        drafts = [nodes[i] for i in step_candidates(state) if nodes[i]["model"] == "drafter"]
        by_logprob = settings.acceptance == "logprob" and settings.speculates
        decisions = []
        with timed(stats, "reject"):
            bars = [
                threshold_in_force(e, settings)
                for e in estimates(nodes, frontier, state["threshold"], settings)
            ]
            likelihoods = {}
            if by_logprob:
                rated = [n["id"] for n in drafts if scorable(n) and n["score"] is not None]
                likelihoods = call_with_retry(
                    lambda: deps.likelihoods(state["question"], nodes, rated), deps.retry_policy
                )
            for parent, beta in zip(frontier, bars, strict=True):
                siblings = [n for n in drafts if n["parent"] == parent]
                scores = [-math.inf if n["score"] is None else n["score"] for n in siblings]
                pairs = (
                    [likelihoods.get(n["id"], (-math.inf, -math.inf)) for n in siblings]
                    if by_logprob
                    else None
                )
                keep, cleared = judge_drafts(scores, settings.width, settings, beta, rng, pairs)
                for index, (node, accepted) in enumerate(zip(siblings, keep, strict=True)):
                    decision = {
                        "id": node["id"],
                        "accepted": accepted,
                        "cleared": cleared[index],
                        "score": node["score"],
                    }
                    if pairs is not None:
                        target_lp, drafter_lp = (
                            v if math.isfinite(v) else None for v in pairs[index]
                        )
                        decision["target_logprob"], decision["drafter_logprob"] = (
                            target_lp,
                            drafter_lp,
                        )
                    decisions.append(decision)
        accepted_now = sum(1 for d in decisions if d["accepted"])
        cleared_now = sum(1 for d in decisions if d["cleared"])
        stats["accepted"] += accepted_now
        stats["cleared"] += cleared_now
        stats["rejected"] += len(decisions) - accepted_now
        if deps.config.mode == "auto":
            deps.memory.judged(len(decisions), cleared_now)
        extra: dict[str, Any] = {"threshold": threshold_in_force(state["threshold"], settings)}
        if settings.threshold_scope == "path":
            extra["threshold"] = bars[0] if len(bars) == 1 else None
            extra["thresholds"] = dict(zip(frontier, bars, strict=True))
        emit("reject", step, decisions, config, **extra)
        statuses = {
            d["id"]: {"status": "accepted" if d["accepted"] else "rejected"} for d in decisions
        }
        return {"nodes": statuses, "stats": stats}

    return reject
