"""The authors' threshold variants and the acceptance ablations, beside the paper's rule.

Per-path history (each node's bar from its own ancestors' expansions), the aggregate over all of
a step's children, the initial scale, the half split and the log-probability rule: on a
hand-made tree with numbers worked out by hand, then on whole runs recomputed from the tree.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from test_search_correctness import PathGenerator, hash_scorer, path_of

from langgraph_specsearch import SpecSearchConfig, create_specsearch_graph
from langgraph_specsearch.search.thoughts import ROOT_ID
from langgraph_specsearch.search.threshold import (
    drafts_per_node,
    estimates,
    judge_drafts,
    next_threshold,
    path_estimate,
    path_history,
)

QUESTION = "How many ways are there to tile a 2x10 board with dominoes?"
Nodes = dict[str, dict[str, Any]]


def thought(node_id: str, parent: str, score: float, model: str, status: str) -> dict[str, Any]:
    depth = 1 if parent == ROOT_ID else 2
    return {
        "id": node_id, "parent": parent, "depth": depth, "text": node_id, "score": score,
        "model": model, "status": status, "tokens": 1, "selected": False, "terminal": False,
        "answer": None, "finish_reason": "delimiter",
    }  # fmt: skip


def hand_tree() -> Nodes:
    """The root's warm-up: T1 0.6, T2 0.8 (target). T1's step: draft D1 0.9 accepted, D2 0.2
    rejected, correction T3 0.5. T2's step: correction T4 0.4, draft D3 0.85 accepted."""
    root = thought(ROOT_ID, None, None, "root", "root")  # type: ignore[arg-type]
    root.update(parent=None, depth=0)
    return {
        ROOT_ID: root,
        "T1": thought("T1", ROOT_ID, 0.6, "target", "corrected"),
        "T2": thought("T2", ROOT_ID, 0.8, "target", "corrected"),
        "D1": thought("D1", "T1", 0.9, "drafter", "accepted"),
        "D2": thought("D2", "T1", 0.2, "drafter", "rejected"),
        "T3": thought("T3", "T1", 0.5, "target", "corrected"),
        "T4": thought("T4", "T2", 0.4, "target", "corrected"),
        "D3": thought("D3", "T2", 0.85, "drafter", "accepted"),
    }


def test_per_path_history_on_a_hand_made_tree() -> None:
    """The paper's rule per path: theta 0.9, mean of the target's scores, scale 1.

    T1 and T2 inherit the root's step: mean(0.6, 0.8) = 0.7. Below T1: 0.9 * 0.7 + 0.1 * 0.5
    = 0.68; below T2: 0.9 * 0.7 + 0.1 * 0.4 = 0.67. One value per depth would give both
    0.9 * 0.7 + 0.1 * mean(0.5, 0.4) = 0.675.
    """
    nodes = hand_tree()
    config = SpecSearchConfig(threshold_scope="path")
    assert path_history(nodes, ROOT_ID, config) == []
    assert path_estimate(nodes, ROOT_ID, config) is None  # the root's step is the warm-up
    assert path_history(nodes, "T3", config) == pytest.approx([0.7, 0.5])
    assert path_estimate(nodes, "T1", config) == pytest.approx(0.7)
    assert path_estimate(nodes, "T3", config) == pytest.approx(0.68)
    assert path_estimate(nodes, "D1", config) == pytest.approx(0.68)  # siblings share it
    assert path_estimate(nodes, "T4", config) == pytest.approx(0.67)
    assert estimates(nodes, ["T3", "T4"], None, config) == pytest.approx([0.68, 0.67])
    depth = SpecSearchConfig(threshold_scope="depth")
    assert estimates(nodes, ["T3", "T4"], 0.675, depth) == [0.675, 0.675]


def test_the_authors_rule_on_the_hand_made_tree() -> None:
    """Per path, max over all children (accepted drafts included), first bar 0.9 x the first
    aggregate. T1: 0.9 * max(0.6, 0.8) = 0.72. Below T1: max(0.9 accepted, 0.5) = 0.9 (the
    rejected 0.2 never counts): 0.9 * 0.72 + 0.1 * 0.9 = 0.738. Below T2: max(0.4, 0.85):
    0.9 * 0.72 + 0.1 * 0.85 = 0.733."""
    config = SpecSearchConfig(
        threshold_scope="path",
        aggregator="max",
        include_accepted_in_ema=True,
        threshold_init_scale=0.9,
    )
    nodes = hand_tree()
    assert path_estimate(nodes, "T1", config) == pytest.approx(0.72)
    assert path_estimate(nodes, "T3", config) == pytest.approx(0.738)
    assert path_estimate(nodes, "T4", config) == pytest.approx(0.733)


def test_initial_scale() -> None:
    config = SpecSearchConfig(threshold_init_scale=0.9, theta=0.8)
    agg, beta1 = next_threshold(None, [0.4, 0.6], config)
    assert agg == pytest.approx(0.5) and beta1 == pytest.approx(0.45)
    _, beta2 = next_threshold(beta1, [0.9, 0.7], config)
    assert beta2 == pytest.approx(0.8 * 0.45 + 0.2 * 0.8)  # the scale applies once


def test_half_split_drafts_half_and_accepts_them_without_a_bar() -> None:
    config = SpecSearchConfig(acceptance="half_split", width=6, beam_width=2)
    assert drafts_per_node(config, None) == 3  # no warm-up either
    keep = judge_drafts([0.1, -math.inf, 0.9], 6, config, 0.95, random.Random(0)).accepted
    assert keep == [True, False, True]  # an unscorable draft is still refused


def test_logprob_accepts_what_the_target_finds_at_least_as_likely() -> None:
    config = SpecSearchConfig(acceptance="logprob", width=2, beam_width=1)
    scores = [0.9, 0.8, 0.7, 0.95]
    pairs = [(-1.0, -2.0), (-1.0, -1.0), (-1.0, -2.0), (-3.0, -1.0)]  # (target, drafter)
    keep = judge_drafts(scores, 2, config, None, random.Random(0), pairs).accepted
    assert keep == [True, True, False, False]  # the 4th is unlikely under the target; at most N
    with pytest.raises(ValueError, match="log-probs"):
        judge_drafts(scores, 2, config, None, random.Random(0))


# -- whole runs ----------------------------------------------------------------------------------


def run(config: SpecSearchConfig, **graph_options: Any) -> tuple[dict[str, Any], list[dict]]:
    graph = create_specsearch_graph(
        PathGenerator("small", answer_from=None, answer_at=None),
        PathGenerator("large", answer_from=None, answer_at=None),
        hash_scorer,
        config=config,
        **graph_options,
    )
    events: list[dict] = []
    out: dict[str, Any] = {}
    for mode, chunk in graph.stream({"question": QUESTION}, stream_mode=["custom", "values"]):
        if mode == "custom":
            events.append(chunk)
        else:
            out = chunk
    return out, events


def bar_by_hand(nodes: Nodes, node_id: str, config: SpecSearchConfig) -> float | None:
    """The per-path EMA written out again: the node's ancestors' steps, root first."""
    chain = []
    current = nodes[node_id]["parent"]
    while current is not None:
        chain.insert(0, current)
        current = nodes[current]["parent"]
    beta = None
    for ancestor in chain:
        kids = [n for n in nodes.values() if n["parent"] == ancestor and n["score"] is not None]
        scores = [n["score"] for n in kids if n["model"] == "target"]
        if config.include_accepted_in_ema:
            scores += [n["score"] for n in kids if n["status"] == "accepted"]
        if not scores:
            continue
        agg = max(scores) if config.aggregator == "max" else sum(scores) / len(scores)
        if beta is None:
            beta = config.threshold_init_scale * agg
        else:
            beta = config.theta * beta + (1 - config.theta) * agg
    return beta


PER_PATH = [
    SpecSearchConfig(threshold_scope="path", beam_width=2, width=3, n_drafts=2, max_depth=6,
                     theta=0.6, seed=3),
    SpecSearchConfig(threshold_scope="path", beam_width=3, width=3, n_drafts=4, max_depth=5,
                     theta=0.7, aggregator="max", include_accepted_in_ema=True,
                     threshold_init_scale=0.9, seed=8),
    SpecSearchConfig(search="mcts", threshold_scope="path", width=3, n_drafts=2, max_depth=6,
                     theta=0.6, seed=3),
]  # fmt: skip


@pytest.mark.parametrize("config", PER_PATH, ids=["beam", "beam-authors", "mcts"])
def test_per_path_bars_come_from_each_nodes_own_ancestors(config: SpecSearchConfig) -> None:
    """Every expanded node's drafts faced the EMA of its own path, recomputed from the tree;
    accepted drafts clear their own bar; one record per expanded node; and the paths' bars
    really differ from one another (else the test could not tell the variants apart)."""
    out, events = run(config)
    nodes: Nodes = out["nodes"]
    faced: dict[str, float | None] = {}
    for event in events:
        if event["stage"] == "reject":
            faced.update(event["thresholds"])
    assert len(faced) >= 5
    for parent, bar in faced.items():
        assert bar == pytest.approx(bar_by_hand(nodes, parent, config)), parent
        for draft in (n for n in nodes.values() if n["parent"] == parent):
            if draft["status"] == "accepted":
                assert bar is not None and draft["score"] >= bar
    records = out["threshold_history"]
    assert {r["node"] for r in records} == set(faced)
    for record in records:
        assert record["threshold"] == pytest.approx(faced[record["node"]])
    assert out["threshold"] is None  # no search-wide estimate under the per-path history
    by_step: dict[int, set[float]] = {}
    for record in records:
        if record["threshold"] is not None:
            by_step.setdefault(record["step"], set()).add(round(record["threshold"], 12))
    if config.search == "beam":
        assert any(len(bars) > 1 for bars in by_step.values()), "per-path bars should differ"
    else:
        assert len({b for bars in by_step.values() for b in bars}) > 3
    assert out["stats"]["accepted"] > 0 and out["stats"]["rejected"] > 0


def test_the_authors_first_bar_is_scaled() -> None:
    config = SpecSearchConfig(
        beam_width=2, width=3, n_drafts=4, max_depth=3, threshold_init_scale=0.9
    )
    out, _ = run(config)
    first, second = out["threshold_history"][:2]
    assert first["threshold"] is None  # the warm-up
    assert first["next_threshold"] == pytest.approx(0.9 * first["aggregate"])
    assert second["threshold"] == pytest.approx(0.9 * first["aggregate"])


@pytest.mark.parametrize("search", ["beam", "mcts"])
def test_half_split_runs_half_and_half(search: str) -> None:
    config = SpecSearchConfig(
        search=search, acceptance="half_split", width=4, n_drafts=8, max_depth=4
    )
    out, _ = run(config)
    nodes: Nodes = out["nodes"]
    expanded = {n["parent"] for n in nodes.values() if n["parent"] is not None}
    assert ROOT_ID in expanded  # no warm-up: the drafter writes from the first step
    for parent in expanded:
        kids = [n for n in nodes.values() if n["parent"] == parent]
        assert [n["model"] for n in kids].count("drafter") == 2
        assert all(n["status"] == "accepted" for n in kids if n["model"] == "drafter")
        assert [n["model"] for n in kids].count("target") == 2


@pytest.mark.parametrize("search", ["beam", "mcts"])
def test_logprob_acceptance_through_the_graph(search: str) -> None:
    """Accepted drafts are exactly the best N (by score) of those the target finds at least as
    likely as the drafter; the log-probs come from the two given scorers and reach the events."""

    def drafter_lp(question: str, steps: list[str]) -> float:
        return -3 * ((hash_scorer(question, steps) * 7) % 1)

    def target_lp(question: str, steps: list[str]) -> float:
        return -3 * ((hash_scorer(question, steps) * 13) % 1)

    config = SpecSearchConfig(search=search, acceptance="logprob", width=3, n_drafts=6, max_depth=4)
    out, events = run(config, draft_likelihoods=(drafter_lp, target_lp))
    nodes: Nodes = out["nodes"]
    decisions = [item for e in events if e["stage"] == "reject" for item in e["items"]]
    assert decisions and all("target_logprob" in d for d in decisions)
    parents = {n["parent"] for n in nodes.values() if n["model"] == "drafter"}
    for parent in parents:
        drafts = [n for n in nodes.values() if n["parent"] == parent and n["model"] == "drafter"]
        clearing = sorted(
            (
                n
                for n in drafts
                if target_lp(QUESTION, path_of(nodes, n["id"]))
                >= drafter_lp(QUESTION, path_of(nodes, n["id"]))
            ),
            key=lambda n: -n["score"],
        )
        accepted = {n["id"] for n in drafts if n["status"] == "accepted"}
        assert accepted == {n["id"] for n in clearing[: config.width]}
    assert out["stats"]["accepted"] > 0 and out["stats"]["rejected"] > 0


def test_the_runnable_takes_the_logprob_pair_and_refuses_to_run_without_it() -> None:
    from langgraph_specsearch import SpecSearch

    def make(**options: Any) -> SpecSearch:
        return SpecSearch(
            PathGenerator("small", answer_from=None, answer_at=None),
            PathGenerator("large", answer_from=None, answer_at=None),
            hash_scorer,
            {"acceptance": "logprob", "width": 3, "n_drafts": 3, "max_depth": 3},
            **options,
        )

    with pytest.raises(ValueError, match="draft_likelihoods"):
        make()
    likes = make(draft_likelihoods=(lambda q, s: -2.0, lambda q, s: -1.0)).invoke(QUESTION)
    dislikes = make(draft_likelihoods=(lambda q, s: -1.0, lambda q, s: -2.0)).invoke(QUESTION)
    assert likes.stats["accepted"] > 0 and likes.stats["rejected"] == 0
    assert dislikes.stats["accepted"] == 0 and dislikes.stats["rejected"] > 0
