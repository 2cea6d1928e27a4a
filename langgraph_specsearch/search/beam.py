"""Beam search over thoughts: which children survive a step, when to stop, which path wins.

Pure functions of the flat tree, without LangGraph: the graph's ``select`` and ``finalize`` nodes
call them. The second search algorithm, MCTS, is beside this module (:mod:`mcts`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.search.thoughts import ThoughtNode, normal_text
from langgraph_specsearch.search.tree import path_steps

SURVIVING = ("accepted", "corrected")


def select_beams(
    nodes: Mapping[str, ThoughtNode],
    candidates: Sequence[str],
    beam_width: int,
    filter_duplicates: bool = True,
) -> list[ThoughtNode]:
    """The best ``beam_width`` scored children among ``candidates`` (accepted or corrected).

    Ties keep creation order. With ``filter_duplicates`` only the best of children whose whole
    paths read the same is eligible (search-and-learn's ``filter_duplicates``).
    """
    children = [
        nodes[i]
        for i in candidates
        if nodes[i]["status"] in SURVIVING and nodes[i]["score"] is not None
    ]
    children.sort(key=lambda node: -_score(node))
    if filter_duplicates:
        children = distinct_paths(nodes, children)
    return children[:beam_width]


def distinct_paths(
    nodes: Mapping[str, ThoughtNode], ranked: Sequence[ThoughtNode]
) -> list[ThoughtNode]:
    """The first (best) of every group of nodes whose whole paths read the same."""
    seen: set[tuple[str, ...]] = set()
    distinct = []
    for node in ranked:
        key = tuple(normal_text(step) for step in path_steps(nodes, node["id"]))
        if key not in seen:
            seen.add(key)
            distinct.append(node)
    return distinct


def stop_reason(
    frontier: Sequence[str],
    completed: Sequence[str],
    step: int,
    tokens_used: int,
    seconds_used: float,
    config: SpecSearchConfig,
) -> str:
    """Why the search stops after ``step``, or "" to go on."""
    if not frontier:
        return "answer" if completed else "no_candidates"
    if step >= config.max_depth:
        return "max_depth"
    return budget_reason(tokens_used, seconds_used, config)


def budget_reason(tokens_used: int, seconds_used: float, config: SpecSearchConfig) -> str:
    """The spent budget ("max_tokens" or "time_budget"), else "" (any search)."""
    if config.max_total_tokens is not None and tokens_used >= config.max_total_tokens:
        return "max_tokens"
    if config.time_budget_s is not None and seconds_used >= config.time_budget_s:
        return "time_budget"
    return ""


def best_leaf(
    nodes: Mapping[str, ThoughtNode], completed: Sequence[str], frontier: Sequence[str]
) -> str | None:
    """The best finished path's leaf; the best partial one when no path finished.

    Best means highest scored; among equal scores the earliest created.
    """
    pool = list(completed) or list(frontier)
    if not pool:
        pool = [n["id"] for n in nodes.values() if n["selected"] and n["parent"] is not None]
    if not pool:
        return None
    order = {node_id: index for index, node_id in enumerate(nodes)}
    return max(pool, key=lambda i: (_score(nodes[i]), -order[i]))


def _score(node: ThoughtNode) -> float:
    score = node["score"]
    return -math.inf if score is None else score
