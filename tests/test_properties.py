"""Property tests: over random drafts and scores the tree stays well formed and the rules hold."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from langgraph_specsearch import SpecSearch, SpecSearchConfig
from langgraph_specsearch.generators.base import Thought


class RandomGenerator:
    """Random thought texts (some terminal, some empty) drawn from the call's seed."""

    def __init__(self, name: str, p_answer: float, p_empty: float) -> None:
        self.name, self.p_answer, self.p_empty = name, p_answer, p_empty

    def generate(self, question, paths, counts, settings):
        rng = random.Random(f"{self.name}:{settings.seed}")
        groups = []
        for path, count in zip(paths, counts, strict=True):
            group = []
            for _ in range(count):
                roll = rng.random()
                if roll < self.p_empty:
                    group.append(Thought(text="", tokens=0, finish_reason="empty"))
                    continue
                text = f"{self.name} {len(path)} {rng.randrange(10**6)}"
                if roll > 1 - self.p_answer:
                    text += f". The answer is {rng.randrange(100)}"
                group.append(Thought(text=text, tokens=rng.randrange(1, 40)))
            groups.append(group)
        return groups


def random_scorer(seed: int, nan_rate: float):
    def score(question: str, steps: list[str]) -> float:
        rng = random.Random(f"{seed}:{steps[-1]}:{len(steps)}")
        return math.nan if rng.random() < nan_rate else rng.random()

    return score


configs = st.builds(
    lambda b, extra, m, theta, agg, seed: SpecSearchConfig(
        beam_width=b,
        width=b + extra,
        n_drafts=m,
        theta=theta,
        aggregator=agg,
        seed=seed,
        max_depth=6,
    ),
    st.integers(1, 3),
    st.integers(0, 3),
    st.integers(1, 8),
    st.floats(0.0, 1.0),
    st.sampled_from(["mean", "max", "ucb"]),
    st.integers(0, 10**6),
)


@settings(max_examples=60, deadline=None)
@given(
    config=configs,
    p_answer=st.floats(0, 0.5),
    p_empty=st.floats(0, 0.3),
    nan_rate=st.floats(0, 0.2),
)
def test_tree_invariants(
    config: SpecSearchConfig, p_answer: float, p_empty: float, nan_rate: float
) -> None:
    result = SpecSearch(
        RandomGenerator("small", p_answer, p_empty),
        RandomGenerator("large", p_answer, p_empty),
        random_scorer(config.seed, nan_rate),
        config=config,
    ).invoke("Random question?")
    nodes = result.tree.nodes
    history = {record["step"]: record for record in result.threshold_history}
    for node in nodes.values():
        if node["parent"] is None:
            continue
        parent = nodes[node["parent"]]  # every parent exists
        assert node["depth"] == parent["depth"] + 1
        assert parent["selected"] and not parent["terminal"]
        if node["status"] == "accepted":  # accepted drafts clear the threshold in force
            assert node["score"] is not None
            assert node["score"] >= history[node["depth"]]["threshold"]
    for parent_id in {n["parent"] for n in nodes.values() if n["parent"]}:
        kids = [n for n in nodes.values() if n["parent"] == parent_id]
        assert len([n for n in kids if n["status"] in ("accepted", "corrected")]) <= config.width
        assert len([n for n in kids if n["model"] == "drafter"]) in (0, config.drafts_per_node)
    beta = None
    for step in sorted(history):  # the threshold follows its formula
        record = history[step]
        assert record["threshold"] == beta
        finite = record["target_scores"]
        if finite:
            if config.aggregator == "mean":
                agg = sum(finite) / len(finite)
            elif config.aggregator == "max":
                agg = max(finite)
            else:
                mean = sum(finite) / len(finite)
                agg = mean + math.sqrt(sum((s - mean) ** 2 for s in finite) / len(finite))
            beta = agg if beta is None else config.theta * beta + (1 - config.theta) * agg
        assert math.isclose(record["next_threshold"] or 0, beta or 0, abs_tol=1e-12)
    assert result.finished == (result.answer is not None)
    assert result.stop_reason in ("answer", "max_depth", "no_candidates")
