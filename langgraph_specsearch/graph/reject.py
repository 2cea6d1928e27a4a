"""The ``reject`` node: drafts that clear the threshold are accepted (at most N per node)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig

from langgraph_specsearch.graph.deps import SearchDeps, step_candidates
from langgraph_specsearch.graph.events import emit
from langgraph_specsearch.graph.state import SpecSearchState
from langgraph_specsearch.graph.stats import copy_stats, timed
from langgraph_specsearch.search.seeding import step_seed
from langgraph_specsearch.search.threshold import accept_drafts, threshold_in_force


def make_reject(outer: SearchDeps) -> Callable[[SpecSearchState, RunnableConfig], dict[str, Any]]:
    """A node that marks each draft of this step accepted or rejected."""

    def reject(state: SpecSearchState, config: RunnableConfig) -> dict[str, Any]:
        deps = outer.for_state(state)
        stats, nodes = copy_stats(state["stats"]), state["nodes"]
        step = state["depth"] + 1
        beta = threshold_in_force(state["threshold"], deps.config)
        rng = random.Random(step_seed(deps.config.seed, step, "reject"))
        drafts = [nodes[i] for i in step_candidates(state) if nodes[i]["model"] == "drafter"]
        decisions = []
        with timed(stats, "reject"):
            for parent in state["frontier"]:
                siblings = [n for n in drafts if n["parent"] == parent]
                scores = [-math.inf if n["score"] is None else n["score"] for n in siblings]
                keep = accept_drafts(scores, deps.config.width, deps.config, beta, rng)
                for node, accepted in zip(siblings, keep, strict=True):
                    decisions.append(
                        {"id": node["id"], "accepted": accepted, "score": node["score"]}
                    )
        accepted_now = sum(1 for d in decisions if d["accepted"])
        stats["accepted"] += accepted_now
        stats["rejected"] += len(decisions) - accepted_now
        emit("reject", step, decisions, config, threshold=beta)
        statuses = {
            d["id"]: {"status": "accepted" if d["accepted"] else "rejected"} for d in decisions
        }
        return {"nodes": statuses, "stats": stats}

    return reject
