"""Monte Carlo tree search over thoughts: PUCT selection, backup, the move, and the answer.

Pure functions of the flat tree, without LangGraph, beside :mod:`beam`. The search is OpenR's
``vanila_mcts`` as the SpecSearch authors run it: PUCT with OpenR's constants, no rollouts (a
thought's value before any visit is its PRM score, OpenR's ``init_critic_value``), and every
expansion is one round of the speculative generator (draft, evaluate, reject, correct), so MCTS
and beam search share those four graph nodes.

- **Selection** (:func:`descend`): from the move's root, take the child with the highest
  ``Q + c * P * sqrt(N_parent) / (1 + N_child)``, where ``c = log((N_parent + c_base + 1) /
  c_base) + c_init``, ``Q`` is the child's backed-up value (its PRM score until visited) and
  ``P = 1 / (number of children)``. OpenR's prior is each action's normalised
  ``exp(mean token log-prob)``, but the authors' code fills every child's entry with the batch's
  first value, so their priors are uniform too (and our generators return no log-probabilities).
  Ties go to the earliest child; siblings that read the same count once (``filter_duplicates``,
  as the authors' code drops repeated actions).
- **Expansion**: the leaf reached, unless finished (an answer, or the depth limit), gets N
  children from the speculative generator.
- **Value and backup** (:func:`backup`): the simulation's leaf is the child PUCT picks among the
  new children (with no visits yet, the best scored), and its PRM score is added to every node
  from it up to the tree's root: a node's ``value`` is the mean of the leaf values below it and
  its ``visits`` their number. A finished leaf backs up its own score.
- **Moves** (``mcts_style="moves"``): after ``mcts_simulations`` simulations the move's root
  commits to one child (:func:`choose_move`: most visited, or highest value), which becomes the
  next move's root, until a committed thought finishes. ``mcts_style="paths"`` is the authors'
  OpenR loop instead: each simulation goes on expanding the child it picks until it reaches a
  finished thought, there are ``mcts_simulations`` of them in all, and no move is made.
- **Answer** (:func:`answer_leaf`): see ``mcts_answer`` in the configuration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.search.beam import SURVIVING
from langgraph_specsearch.search.thoughts import ROOT_ID, ThoughtNode, normal_text
from langgraph_specsearch.search.threshold import children_of

Children = Mapping[str, Sequence[ThoughtNode]]


def visits(node: Mapping[str, Any]) -> int:
    """Simulations that passed through ``node`` (0 for beam-search and 0.1.0 nodes)."""
    return int(node.get("visits", 0) or 0)


def q_value(node: Mapping[str, Any]) -> float:
    """What PUCT reads as the node's worth: its backed-up value once visited, else its PRM score.

    -inf when it has neither (never the case for a child PUCT may choose).
    """
    value = node.get("value")
    if visits(node) > 0 and value is not None:
        return float(value)
    score = node.get("score")
    return -math.inf if score is None else float(score)


def leaf_value(node: Mapping[str, Any]) -> float | None:
    """The value a simulation ending at ``node`` backs up: its PRM score (no rollouts)."""
    score = node.get("score")
    if score is not None:
        return float(score)
    value = node.get("value")
    return None if value is None else float(value)


def eligible(children: Sequence[ThoughtNode], distinct: bool = True) -> list[ThoughtNode]:
    """The children a simulation may enter: accepted or corrected, and scored; with ``distinct``
    (``filter_duplicates``) only the first of siblings that read the same, as the authors' code
    drops repeated actions, so that copies do not split one thought's visits."""
    kept: list[ThoughtNode] = []
    seen: set[str] = set()
    for child in children:
        if child["status"] not in SURVIVING or child["score"] is None:
            continue
        key = normal_text(child["text"])
        if distinct and key in seen:
            continue
        seen.add(key)
        kept.append(child)
    return kept


def exploration(parent_visits: int, config: SpecSearchConfig) -> float:
    """PUCT's ``c``: ``log((N + c_base + 1) / c_base) + c_init`` (AlphaZero's, as in OpenR)."""
    base = config.mcts_c_base
    return math.log((parent_visits + base + 1) / base) + config.mcts_c_init


def puct(
    parent_visits: int, child: Mapping[str, Any], prior: float, config: SpecSearchConfig
) -> float:
    """``Q + c * P * sqrt(N_parent) / (1 + N_child)`` for one child."""
    bonus = exploration(parent_visits, config) * prior * math.sqrt(parent_visits)
    return q_value(child) + bonus / (1 + visits(child))


def puct_scores(
    parent: Mapping[str, Any], children: Sequence[ThoughtNode], config: SpecSearchConfig
) -> list[float]:
    """PUCT of each eligible child of ``parent``, uniform priors."""
    if not children:
        return []
    prior = 1.0 / len(children)
    return [puct(visits(parent), child, prior, config) for child in children]


def select_child(
    nodes: Mapping[str, ThoughtNode],
    node_id: str,
    config: SpecSearchConfig,
    children: Children | None = None,
) -> ThoughtNode | None:
    """The child PUCT picks (the arg-max; the earliest on ties), None without eligible children."""
    index = children_of(nodes) if children is None else children
    kids = eligible(index.get(node_id, []), config.filter_duplicates)
    scores = puct_scores(nodes[node_id], kids, config)
    best: ThoughtNode | None = None
    best_score = -math.inf
    for child, score in zip(kids, scores, strict=True):
        if best is None or score > best_score:
            best, best_score = child, score
    return best


def finished(node: Mapping[str, Any], config: SpecSearchConfig) -> bool:
    """A thought no simulation expands: it states an answer, or it is at the depth limit."""
    return bool(node["terminal"]) or node["depth"] >= config.max_depth


def needs_expansion(
    nodes: Mapping[str, ThoughtNode], node_id: str, config: SpecSearchConfig, children: Children
) -> bool:
    """Whether the simulation that reached ``node_id`` should expand it: unfinished, no children."""
    return not finished(nodes[node_id], config) and not children.get(node_id)


def descend(
    nodes: Mapping[str, ThoughtNode],
    start: str,
    config: SpecSearchConfig,
    children: Children | None = None,
) -> list[str]:
    """The selection phase: ``start``, then PUCT's child at every expanded node, to a leaf.

    The leaf is a node to expand, a finished thought, or a dead end (expanded, but none of its
    children could be scored).
    """
    index = children_of(nodes) if children is None else children
    path = [start]
    node = nodes[start]
    while not finished(node, config) and index.get(node["id"]):
        child = select_child(nodes, node["id"], config, index)
        if child is None:
            break
        path.append(child["id"])
        node = child
    return path


def backup(
    nodes: Mapping[str, ThoughtNode], leaf_id: str, value: float | None
) -> dict[str, dict[str, Any]]:
    """Patches adding one visit and the leaf's ``value`` to the leaf and every ancestor.

    ``value`` stays the running mean of the leaf values backed up through the node; a simulation
    with no value (a dead-end root) counts a visit only.
    """
    patches: dict[str, dict[str, Any]] = {}
    current: str | None = leaf_id
    while current is not None:
        node = nodes[current]
        count = visits(node)
        old = node.get("value")
        if value is None:
            new = old
        elif old is None or count == 0:
            new = value
        else:
            new = old + (value - old) / (count + 1)
        patches[current] = {"visits": count + 1, "value": new}
        current = node["parent"]
    return patches


def move_rule(config: SpecSearchConfig) -> str:
    """How a move is chosen: by value for ``max_value``, else by visits (robust child)."""
    return "max_value" if config.mcts_answer == "max_value" else "most_visited"


def choose_move(
    nodes: Mapping[str, ThoughtNode],
    root_id: str,
    rule: str,
    children: Children | None = None,
    distinct: bool = True,
) -> ThoughtNode | None:
    """The child of ``root_id`` a move commits to, None when it has no eligible child.

    ``most_visited``: the most visited (ties: higher value, then the earlier child), AlphaZero's
    and OpenR's deterministic move. ``max_value``: the visited child with the highest backed-up
    value (ties: more visits, then the earlier child); the best-scored when none was visited.
    """
    index = children_of(nodes) if children is None else children
    kids = eligible(index.get(root_id, []), distinct)
    if not kids:
        return None
    order = {node["id"]: i for i, node in enumerate(kids)}
    if rule == "max_value":
        visited = [k for k in kids if visits(k) > 0] or kids
        return max(visited, key=lambda k: (q_value(k), visits(k), -order[k["id"]]))
    return max(kids, key=lambda k: (visits(k), q_value(k), -order[k["id"]]))


def principal_path(
    nodes: Mapping[str, ThoughtNode],
    start: str,
    rule: str,
    children: Children | None = None,
    distinct: bool = True,
) -> list[str]:
    """``start`` and the moves ``rule`` would make from it, down to a node with no child."""
    index = children_of(nodes) if children is None else children
    path = [start]
    while (child := choose_move(nodes, path[-1], rule, index, distinct)) is not None:
        path.append(child["id"])
    return path


def answer_leaf(
    nodes: Mapping[str, ThoughtNode],
    move_root: str,
    completed: Sequence[str],
    config: SpecSearchConfig,
) -> str | None:
    """The thought whose path the search returns.

    ``completed`` are the finished thoughts simulations reached. ``best_score``: the best scored
    of them. ``most_visited`` / ``max_value``: where the moves (and, below the last move, the
    same rule) lead; if that path has no answer (a budget ran out), the best scored finished
    thought instead, if any; else that unfinished path.
    """
    order = {node_id: i for i, node_id in enumerate(nodes)}
    pool = [i for i in dict.fromkeys(completed) if nodes[i]["terminal"]]
    best = max(pool, key=lambda i: (q_score(nodes[i]), -order[i])) if pool else None
    if config.mcts_answer == "best_score" and best is not None:
        return best
    rule = move_rule(config)
    end = principal_path(nodes, move_root, rule, distinct=config.filter_duplicates)[-1]
    if nodes[end]["terminal"] or best is None:
        return None if end == ROOT_ID else end
    return best


def q_score(node: Mapping[str, Any]) -> float:
    """A thought's PRM score, -inf when unscored (for ranking finished thoughts)."""
    score = node.get("score")
    return -math.inf if score is None else float(score)
