"""The rejection threshold, whole: the paper's EMA estimate of the large model's thought quality,
the authors' variants of it, and the acceptance ablations.

``beta_1 = scale * Agg(scores of the target's first thoughts)`` (scale 1 in the paper's text, 0.9
in the authors' code); ``beta_{k+1} = theta * beta_k + (1 - theta) * Agg(scores at step k)``,
carried over when a step has no scores. Everything about the threshold lives here: the warm-up
rule, how many drafts a node gets, the bar in force, which drafts clear it, and the update after a
step (:func:`update_threshold`, :func:`path_records`).

Whose history moves the EMA (``config.threshold_scope``):

- ``depth``: one estimate for the whole search, kept in the graph's state and moved once per step
  (the paper's text). A beam step is one depth; under MCTS a step is one expansion, so the
  estimate moves once per expansion, in the order they happen.
- ``path``: each node's bar comes from its own ancestors: the aggregates of the expansions that
  led to it, root first (the authors' code, where the history travels with each path). It is
  read from the tree itself, so it needs no state and survives any checkpoint.

Which scores an expansion contributes: the target's thoughts (the paper), or all of the step's
children, accepted drafts included (``include_accepted_in_ema``; the authors' code, with max).

How drafts are accepted (``config.acceptance``): ``threshold`` (the policy in
``config.threshold``: ema, fixed, random, none), ``half_split`` (ablation: N/2 drafts accepted
without a bar, the target writes the rest) or ``logprob`` (ablation: a draft is accepted when the
target gives it at least the log-probability the drafter gives it, as token-level speculative
decoding would accept it for sure; the best N by score are kept).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.search.thoughts import ThoughtNode, ThresholdRecord


def aggregate(scores: Sequence[float], aggregator: str, ucb_c: float = 1.0) -> float | None:
    """Agg over one step's scores; None when there are no finite scores."""
    finite = [score for score in scores if math.isfinite(score)]
    if not finite:
        return None
    if aggregator == "mean":
        return sum(finite) / len(finite)
    if aggregator == "max":
        return max(finite)
    if aggregator == "ucb":
        mean = sum(finite) / len(finite)
        variance = sum((score - mean) ** 2 for score in finite) / len(finite)
        return mean + ucb_c * math.sqrt(variance)
    raise ValueError(f"unknown aggregator {aggregator!r}")


def ema_step(current: float | None, agg: float | None, config: SpecSearchConfig) -> float | None:
    """One move of the estimate: started at ``scale * agg``, then smoothed; kept if agg is None."""
    if agg is None:
        return current
    if current is None:
        return config.threshold_init_scale * agg
    return config.theta * current + (1.0 - config.theta) * agg


def next_threshold(
    current: float | None, scores: Sequence[float], config: SpecSearchConfig
) -> tuple[float | None, float | None]:
    """Return ``(aggregate, next beta)`` after a step whose thoughts scored ``scores``."""
    agg = aggregate(scores, config.aggregator, config.ucb_c)
    return agg, ema_step(current, agg, config)


# -- per-path history, read from the tree ---------------------------------------------------------


def children_of(nodes: Mapping[str, ThoughtNode]) -> dict[str, list[ThoughtNode]]:
    """Each expanded node's children, in creation order (one pass over the flat tree)."""
    index: dict[str, list[ThoughtNode]] = {}
    for node in nodes.values():
        if node["parent"] is not None:
            index.setdefault(node["parent"], []).append(node)
    return index


def expansion_scores(children: Sequence[ThoughtNode], config: SpecSearchConfig) -> list[float]:
    """The scores one expansion feeds the estimate: the target's thoughts, and with
    ``include_accepted_in_ema`` the accepted drafts too (the target's first)."""
    scores = [c["score"] for c in children if c["model"] == "target" and c["score"] is not None]
    if config.include_accepted_in_ema:
        scores += [
            c["score"] for c in children if c["status"] == "accepted" and c["score"] is not None
        ]
    return scores


def path_history(
    nodes: Mapping[str, ThoughtNode],
    node_id: str,
    config: SpecSearchConfig,
    children: Mapping[str, Sequence[ThoughtNode]] | None = None,
) -> list[float | None]:
    """The aggregates of the expansions that led to ``node_id``: the root's first, its parent's
    last (empty for the root). Those are the only scores its bar may learn from under the
    per-path history."""
    index = children_of(nodes) if children is None else children
    ancestors: list[str] = []
    current = nodes[node_id]["parent"]
    while current is not None:
        ancestors.append(current)
        current = nodes[current]["parent"]
    return [
        aggregate(expansion_scores(index.get(a, []), config), config.aggregator, config.ucb_c)
        for a in reversed(ancestors)
    ]


def path_estimate(
    nodes: Mapping[str, ThoughtNode],
    node_id: str,
    config: SpecSearchConfig,
    children: Mapping[str, Sequence[ThoughtNode]] | None = None,
) -> float | None:
    """The estimate ``node_id``'s expansion faces under the per-path history (None at the root)."""
    beta: float | None = None
    for agg in path_history(nodes, node_id, config, children):
        beta = ema_step(beta, agg, config)
    return beta


def estimates(
    nodes: Mapping[str, ThoughtNode],
    frontier: Sequence[str],
    current: float | None,
    config: SpecSearchConfig,
) -> list[float | None]:
    """The estimate each frontier node's expansion faces: the search-wide one (``depth``) or its
    own path's (``path``)."""
    if config.threshold_scope == "depth":
        return [current] * len(frontier)
    index = children_of(nodes)
    return [path_estimate(nodes, node_id, config, index) for node_id in frontier]


# -- the bar, and the drafts that clear it ---------------------------------------------------------


def threshold_in_force(current: float | None, config: SpecSearchConfig) -> float | None:
    """The bar drafts must clear, given the estimate, under the configured policy (None: no bar)."""
    if config.acceptance != "threshold":
        return None
    if config.threshold == "fixed":
        return config.fixed_threshold
    if config.threshold == "ema":
        return current
    return None


def needs_target_warmup(current: float | None, config: SpecSearchConfig) -> bool:
    """Under the EMA policy an expansion with no estimate yet is written by the target, to start
    one (the first step; under the per-path history, any node whose path has no target scores)."""
    return (
        config.speculates
        and config.acceptance == "threshold"
        and config.threshold == "ema"
        and current is None
    )


def drafts_per_node(config: SpecSearchConfig, current: float | None) -> int:
    """M for one expansion: N for drafter-only, none for the target-only modes and the warm-up,
    N // 2 for the half-split ablation (as the authors' 3 of 6), else M."""
    if config.mode == "drafter_only":
        return config.width
    if not config.speculates or needs_target_warmup(current, config):
        return 0
    if config.acceptance == "half_split":
        return config.width // 2
    return config.drafts_per_node


def likelihood_clears(target_logprob: float, drafter_logprob: float) -> bool:
    """The log-probability rule: the target finds the draft at least as likely as the drafter did.

    Token-level speculative decoding accepts a draft with probability min(1, p/q); this keeps the
    drafts it would accept for sure. (The authors' mode 10 compares the other way round; see
    docs/concepts.md.)
    """
    return (
        math.isfinite(target_logprob)
        and math.isfinite(drafter_logprob)
        and target_logprob >= drafter_logprob
    )


class Verdicts(NamedTuple):
    """One node's drafts judged: which take a slot, and which cleared the bar at all.

    They differ when M > N: a draft that clears the bar after N others did gets no slot. The
    cost model and ``auto`` need the share that cleared (each draft's own chance), not the
    share that got a slot, which M > N caps at N / M.
    """

    accepted: list[bool]
    cleared: list[bool]


def judge_drafts(
    scores: Sequence[float],
    width: int,
    config: SpecSearchConfig,
    threshold: float | None,
    rng: random.Random,
    likelihoods: Sequence[tuple[float, float]] | None = None,
) -> Verdicts:
    """Judge each draft of one node; at most ``width`` that clear the bar are accepted, the best
    first.

    A draft without a finite score (empty, repeated, or failed by the scorer) never clears.
    ``likelihoods`` are ``(target log-prob, drafter log-prob)`` per draft, for ``logprob``.
    """
    if config.acceptance == "logprob" and config.mode != "drafter_only" and likelihoods is None:
        raise ValueError("acceptance='logprob' needs each draft's (target, drafter) log-probs")
    order = sorted(range(len(scores)), key=lambda index: (-_sortable(scores[index]), index))
    accepted = [False] * len(scores)
    cleared = [False] * len(scores)
    taken = 0
    for index in order:
        score = scores[index]
        if not math.isfinite(score):
            continue
        if config.mode == "drafter_only" or config.acceptance == "half_split":
            keep = True
        elif config.acceptance == "logprob":
            keep = likelihood_clears(*likelihoods[index])  # type: ignore[index]
        elif config.threshold == "none":
            keep = True
        elif config.threshold == "random":
            keep = rng.random() < config.random_accept_prob
        else:
            keep = threshold is not None and score >= threshold
        cleared[index] = keep
        if keep and taken < width:
            accepted[index] = True
            taken += 1
    return Verdicts(accepted, cleared)


# -- the record of a step ------------------------------------------------------------------------


def update_threshold(
    current: float | None,
    step: int,
    target_scores: Sequence[float],
    accepted_scores: Sequence[float],
    config: SpecSearchConfig,
    node: str | None = None,
) -> ThresholdRecord:
    """The record of step ``step`` under the search-wide history: the bar that was in force, and
    the next beta.

    ``target_scores`` are the scores of the target's thoughts at this step; with
    ``config.include_accepted_in_ema`` the accepted drafts' scores join them. ``node`` names the
    expanded node when a step expands one node (MCTS).
    """
    scores = list(target_scores)
    if config.include_accepted_in_ema:
        scores += accepted_scores
    agg, upcoming = next_threshold(current, scores, config)
    record = ThresholdRecord(
        step=step,
        threshold=threshold_in_force(current, config),
        target_scores=scores,
        aggregate=agg,
        next_threshold=upcoming,
    )
    if node is not None:
        record["node"] = node
    return record


def path_records(
    nodes: Mapping[str, ThoughtNode], frontier: Sequence[str], step: int, config: SpecSearchConfig
) -> list[ThresholdRecord]:
    """One record per node expanded at ``step`` under the per-path history.

    ``nodes`` must hold the step's children with their scores. ``threshold`` is the bar the
    node's drafts faced; ``next_threshold`` the estimate its children's expansions start from.
    """
    index = children_of(nodes)
    records = []
    for node_id in frontier:
        estimate = path_estimate(nodes, node_id, config, index)
        scores = expansion_scores(index.get(node_id, []), config)
        agg, upcoming = next_threshold(estimate, scores, config)
        records.append(
            ThresholdRecord(
                step=step,
                threshold=threshold_in_force(estimate, config),
                target_scores=scores,
                aggregate=agg,
                next_threshold=upcoming,
                node=node_id,
            )
        )
    return records


def _sortable(score: float) -> float:
    return score if math.isfinite(score) else -math.inf
