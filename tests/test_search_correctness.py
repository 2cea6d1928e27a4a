"""The search picks what it claims to pick: the best beams, the best answer, the right threshold.

The shared fakes end every path with the same answer and score by author, so a search that keeps
the worst beams or returns the worst path still passes the other tests. Here every thought's text,
answer and score depend on its whole path (scores come from a hash, so they are distinct), and the
search's choices are recomputed from the returned tree. Only the public API is used.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langgraph_specsearch import (
    GenerationSettings,
    SpecSearch,
    SpecSearchConfig,
    Thought,
    create_specsearch_graph,
)

QUESTION = "How many ways are there to tile a 2x10 board with dominoes?"
ELIGIBLE = ("accepted", "corrected")

Node = dict[str, Any]
Nodes = dict[str, Node]


# -- fakes ---------------------------------------------------------------------------------------


def path_score(steps: Sequence[str]) -> float:
    """A score in [0, 1) fixed by the whole path: distinct, and unrelated to the author."""
    digest = hashlib.sha256("\x1f".join(steps).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hash_scorer(question: str, steps: list[str]) -> float:
    """The plain-callable scorer shape: the last step's score."""
    return path_score(steps)


class RecordingPRM:
    """A search-and-learn style PRM (every step of every path) that records each batch."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, ...]]] = []

    def score(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        assert set(questions) == {QUESTION}
        self.batches.append([tuple(steps) for steps in step_lists])
        return [[path_score(steps[: j + 1]) for j in range(len(steps))] for steps in step_lists]


class PathGenerator:
    """Writes thoughts whose text and final answer depend on the path, the index and the seed.

    From depth ``answer_from`` a thought states an answer with probability ``p_answer``; from
    ``answer_at`` every thought does. The answer is drawn per thought, so different paths end with
    different answers. With ``echo`` every third thought repeats its sibling in capitals: the same
    step up to case, which the search must count as one path.
    """

    def __init__(
        self,
        name: str,
        *,
        answer_from: int | None = 2,
        answer_at: int | None = 4,
        p_answer: float = 0.35,
        echo: bool = False,
    ) -> None:
        self.name = name
        self.answer_from = answer_from
        self.answer_at = answer_at
        self.p_answer = p_answer
        self.echo = echo
        self.calls: list[tuple[int, int]] = []  # (step, settings.seed) per call

    def generate(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        counts: Sequence[int],
        settings: GenerationSettings,
    ) -> list[list[Thought]]:
        steps = {len(path) + 1 for path in paths}
        assert len(steps) == 1, "one call covers one step of the search"
        self.calls.append((steps.pop(), settings.seed))
        return [
            self._group(question, list(path), count, settings.seed)
            for path, count in zip(paths, counts, strict=True)
        ]

    def _group(self, question: str, path: list[str], count: int, seed: int) -> list[Thought]:
        rng = random.Random("\x1f".join([self.name, str(seed), question, *path]))
        depth = len(path) + 1
        group: list[Thought] = []
        for index in range(count):
            if self.echo and index % 3 == 1:
                text = group[-1].text.upper()
            else:
                text = f"{self.name} step {depth}: idea {rng.randrange(10**6)}"
                if self._answers(depth, rng):
                    text += f". The answer is {rng.randrange(10**4)}"
            group.append(Thought(text=text, tokens=len(text.split())))
        return group

    def _answers(self, depth: int, rng: random.Random) -> bool:
        if self.answer_at is not None and depth >= self.answer_at:
            return True
        return (
            self.answer_from is not None
            and depth >= self.answer_from
            and (rng.random() < self.p_answer)
        )


# -- helpers -------------------------------------------------------------------------------------


def run(
    config: SpecSearchConfig,
    *,
    drafter: PathGenerator | None = None,
    target: PathGenerator | None = None,
    scorer: object = hash_scorer,
) -> dict[str, Any]:
    """One search through the compiled graph; returns its output state."""
    graph = create_specsearch_graph(
        drafter or PathGenerator("small"),
        target or PathGenerator("large"),
        scorer,  # type: ignore[arg-type]
        config=config,
    )
    return graph.invoke({"question": QUESTION})


def open_models() -> tuple[PathGenerator, PathGenerator]:
    """A drafter and a target that never answer, so every run takes max_depth steps."""
    return (
        PathGenerator("small", answer_from=None, answer_at=None),
        PathGenerator("large", answer_from=None, answer_at=None),
    )


def path_of(nodes: Nodes, node_id: str) -> list[str]:
    """Step texts from the root (excluded) down to ``node_id``."""
    steps: list[str] = []
    current: str | None = node_id
    while current is not None and nodes[current]["parent"] is not None:
        steps.append(nodes[current]["text"])
        current = nodes[current]["parent"]
    return steps[::-1]


def normal_path(nodes: Nodes, node_id: str) -> tuple[str, ...]:
    """A path as the search compares paths: case and spacing ignored."""
    return tuple(" ".join(step.split()).lower() for step in path_of(nodes, node_id))


def root_id(nodes: Nodes) -> str:
    return next(i for i, n in nodes.items() if n["parent"] is None)


def frontier_at(nodes: Nodes, step: int) -> list[str]:
    """The nodes expanded at ``step``: the selected, unfinished beams of the step before."""
    if step == 1:
        return [root_id(nodes)]
    return [
        i
        for i, n in nodes.items()
        if n["depth"] == step - 1 and n["selected"] and not n["terminal"]
    ]


def score_of(node: Node) -> float:
    return -math.inf if node["score"] is None else node["score"]


def aggregate(scores: Sequence[float], config: SpecSearchConfig) -> float | None:
    """The paper's Agg, written out again so the test does not trust the package's copy."""
    if not scores:
        return None
    mean = sum(scores) / len(scores)
    if config.aggregator == "mean":
        return mean
    if config.aggregator == "max":
        return max(scores)
    spread = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    return mean + config.ucb_c * spread


# -- beam selection ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_select_keeps_the_best_scored_distinct_children(seed: int) -> None:
    """Kept beams are exactly the B best eligible children, one per distinct path."""
    config = SpecSearchConfig(beam_width=2, width=4, n_drafts=5, max_depth=6, seed=seed)
    drafter = PathGenerator("small", answer_from=None, answer_at=5)
    target = PathGenerator("large", answer_from=None, answer_at=5, echo=True)
    out = run(config, drafter=drafter, target=target)
    nodes: Nodes = out["nodes"]
    assert out["stats"]["steps"] >= 3
    saw_duplicate = False
    for step in range(1, out["stats"]["steps"] + 1):
        frontier = set(frontier_at(nodes, step))
        eligible = [
            n
            for n in nodes.values()
            if n["parent"] in frontier and n["status"] in ELIGIBLE and n["score"] is not None
        ]
        ranked = sorted(eligible, key=lambda n: -n["score"])
        distinct: dict[tuple[str, ...], Node] = {}
        for node in ranked:
            distinct.setdefault(normal_path(nodes, node["id"]), node)
        saw_duplicate |= len(distinct) < len(ranked)
        assert len(distinct) > config.beam_width, "the choice must matter"
        expected = {n["id"] for n in list(distinct.values())[: config.beam_width]}
        kept = {i for i, n in nodes.items() if n["depth"] == step and n["selected"]}
        assert kept == expected, f"step {step}"
    assert saw_duplicate, "the echoing target should have produced same-path siblings"


# -- the final answer ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_answer_comes_from_the_best_finished_path(seed: int) -> None:
    """``best`` is the highest-scored finished path, and its answer is the one returned."""
    config = SpecSearchConfig(beam_width=3, width=4, n_drafts=4, max_depth=8, seed=seed)
    out = run(config)
    nodes: Nodes = out["nodes"]
    finished = [n for n in nodes.values() if n["selected"] and n["terminal"]]
    assert len({n["answer"] for n in finished}) >= 2, "the answer must depend on the path"
    best = max(finished, key=score_of)
    assert out["finished"] and out["stop_reason"] == "answer"
    assert out["best"] == best["id"]
    assert out["answer"] == best["answer"]
    assert out["steps"] == path_of(nodes, best["id"])


def test_runnable_returns_the_graphs_best_answer() -> None:
    """``SpecSearch`` reports the same best path as the graph it wraps."""
    config = SpecSearchConfig(beam_width=3, width=4, n_drafts=4, max_depth=8, seed=11)
    result = SpecSearch(PathGenerator("small"), PathGenerator("large"), hash_scorer, config=config)
    found = result.invoke(QUESTION)
    nodes: Nodes = found.tree.nodes
    best = max((n for n in nodes.values() if n["selected"] and n["terminal"]), key=score_of)
    assert found.answer == best["answer"] and found.steps == path_of(nodes, best["id"])


def test_unfinished_search_returns_the_best_partial_path() -> None:
    """With no answer by the depth budget, the best-scored open beam is returned, unanswered."""
    config = SpecSearchConfig(beam_width=3, width=4, n_drafts=4, max_depth=4, seed=2)
    drafter, target = open_models()
    out = run(config, drafter=drafter, target=target)
    nodes: Nodes = out["nodes"]
    beams = [n for n in nodes.values() if n["depth"] == 4 and n["selected"]]
    assert len(beams) == config.beam_width
    best = max(beams, key=score_of)
    assert not out["finished"] and out["stop_reason"] == "max_depth" and out["answer"] is None
    assert out["best"] == best["id"] and out["steps"] == path_of(nodes, best["id"])


# -- the EMA threshold ---------------------------------------------------------------------------


@pytest.mark.parametrize("aggregator", ["mean", "ucb"])
@pytest.mark.parametrize("include_accepted", [False, True])
def test_threshold_history_follows_the_ema_formula(include_accepted: bool, aggregator: str) -> None:
    """beta_{k+1} = theta * beta_k + (1 - theta) * Agg(scores at step k), recomputed from the tree.

    The scores are the target's corrections at step k, plus the accepted drafts when
    ``include_accepted_in_ema`` is on; a step with no scores carries beta over.
    """
    config = SpecSearchConfig(
        beam_width=2,
        width=3,
        n_drafts=5,
        max_depth=7,
        theta=0.6,
        aggregator=aggregator,  # type: ignore[arg-type]
        include_accepted_in_ema=include_accepted,
        seed=3,
    )
    drafter, target = open_models()
    out = run(config, drafter=drafter, target=target)
    nodes: Nodes = out["nodes"]
    history = out["threshold_history"]
    assert [r["step"] for r in history] == list(range(1, config.max_depth + 1))
    accepted_steps = 0
    beta: float | None = None
    for record in history:
        step = record["step"]
        scores = [
            n["score"]
            for n in nodes.values()
            if n["depth"] == step and n["model"] == "target" and n["score"] is not None
        ]
        accepted = [
            n["score"]
            for n in nodes.values()
            if n["depth"] == step and n["status"] == "accepted" and n["score"] is not None
        ]
        accepted_steps += bool(accepted)
        if include_accepted:
            scores += accepted
        agg = aggregate(scores, config)
        if agg is None:
            upcoming = beta
        elif beta is None:
            upcoming = agg
        else:
            upcoming = config.theta * beta + (1 - config.theta) * agg
        assert record["threshold"] == pytest.approx(beta), f"step {step}"
        assert sorted(record["target_scores"]) == pytest.approx(sorted(scores)), f"step {step}"
        assert record["aggregate"] == pytest.approx(agg), f"step {step}"
        assert record["next_threshold"] == pytest.approx(upcoming), f"step {step}"
        beta = upcoming
    assert accepted_steps >= 2, "accepted drafts must exist for the flag to matter"


# -- seeds ---------------------------------------------------------------------------------------


def seed_config(seed: int) -> SpecSearchConfig:
    return SpecSearchConfig(beam_width=2, width=3, n_drafts=4, max_depth=5, seed=seed)


def test_every_step_and_role_samples_with_its_own_seed() -> None:
    """Reusing one seed across steps or roles would correlate samples that should be independent."""
    drafter, target = open_models()
    run(seed_config(5), drafter=drafter, target=target)
    assert [step for step, _ in drafter.calls] == [2, 3, 4, 5]  # step 1 is the target's warm-up
    target_steps = [step for step, _ in target.calls]  # only steps with drafts to correct
    assert target_steps[0] == 1 and len(target_steps) >= 2
    seeds = [seed for _, seed in drafter.calls + target.calls]
    assert len(set(seeds)) == len(seeds), seeds


def test_run_seed_controls_the_samples() -> None:
    """The same ``config.seed`` repeats a run exactly; another seed samples other thoughts."""

    def sample(seed: int) -> tuple[dict[str, Any], list[int]]:
        drafter, target = open_models()
        out = run(seed_config(seed), drafter=drafter, target=target)
        return out, [s for _, s in drafter.calls + target.calls]

    (first, first_seeds), (again, again_seeds), (other, other_seeds) = (
        sample(1),
        sample(1),
        sample(2),
    )
    assert first_seeds == again_seeds
    for key in ("nodes", "threshold_history", "best", "steps", "answer"):
        assert first[key] == again[key], key
    assert set(first_seeds).isdisjoint(other_seeds)
    texts = {n["text"] for n in first["nodes"].values() if n["parent"] is not None}
    other_texts = {n["text"] for n in other["nodes"].values() if n["parent"] is not None}
    assert texts.isdisjoint(other_texts)


# -- batched scoring -----------------------------------------------------------------------------


def test_batched_prm_is_called_once_per_scoring_stage() -> None:
    """Each step makes one PRM call for its drafts and one for its corrections, nothing more."""
    prm = RecordingPRM()
    config = SpecSearchConfig(beam_width=2, width=3, n_drafts=4, max_depth=5, seed=7)
    drafter, target = open_models()
    out = run(config, drafter=drafter, target=target, scorer=prm)
    nodes: Nodes = out["nodes"]
    expected: list[list[tuple[str, ...]]] = []
    for step in range(1, out["stats"]["steps"] + 1):
        for model in ("drafter", "target"):  # evaluate scores drafts, then correct scores its own
            batch = [
                tuple(path_of(nodes, i))
                for i, n in nodes.items()
                if n["depth"] == step and n["model"] == model
            ]
            if batch:
                expected.append(sorted(batch))
    assert [sorted(batch) for batch in prm.batches] == expected
    assert len(expected) > out["stats"]["steps"], "some step must score drafts and corrections"
    assert max(len(batch) for batch in prm.batches) > 1
    for node_id, node in nodes.items():  # each thought carries its own path's score
        if node["parent"] is not None:
            assert node["score"] == pytest.approx(path_score(path_of(nodes, node_id)))


# -- the rejection rule, over many runs ----------------------------------------------------------


configs = st.builds(
    lambda beam, extra, drafts, policy, bar, theta, seed: SpecSearchConfig(
        beam_width=beam,
        width=beam + extra,
        n_drafts=drafts,
        threshold=policy,
        fixed_threshold=bar,
        theta=theta,
        seed=seed,
        max_depth=5,
    ),
    st.integers(1, 2),
    st.integers(0, 2),
    st.integers(1, 6),
    st.sampled_from(["ema", "fixed"]),
    st.floats(0.2, 0.8),
    st.floats(0.0, 1.0),
    st.integers(0, 10**6),
)


@settings(max_examples=25, deadline=None)
@given(config=configs)
def test_accepted_drafts_clear_the_bar_and_rejected_ones_do_not_fit(
    config: SpecSearchConfig,
) -> None:
    """Per node, the accepted drafts are the best (at most N) of those scoring >= the threshold.

    So an accepted draft is never below the threshold in force at its step, and a rejected draft
    is below it, unscored, or beyond the N best.
    """
    out = run(config)
    nodes: Nodes = out["nodes"]
    bar = {r["step"]: r["threshold"] for r in out["threshold_history"]}
    parents = {n["parent"] for n in nodes.values() if n["model"] == "drafter"}
    for parent in parents:
        drafts = [n for n in nodes.values() if n["parent"] == parent and n["model"] == "drafter"]
        beta = bar[drafts[0]["depth"]]
        accepted = [n for n in drafts if n["status"] == "accepted"]
        rejected = [n for n in drafts if n["status"] == "rejected"]
        assert len(accepted) + len(rejected) == len(drafts)
        assert len(accepted) <= config.width
        for node in accepted:
            assert beta is not None and node["score"] is not None and node["score"] >= beta
        for node in rejected:
            assert (
                beta is None
                or node["score"] is None
                or node["score"] < beta
                or (
                    len(accepted) == config.width
                    and all(a["score"] >= node["score"] for a in accepted)
                )
            )
        clearing = sorted(
            (n for n in drafts if beta is not None and score_of(n) >= beta),
            key=lambda n: -n["score"],
        )
        assert {n["id"] for n in accepted} == {n["id"] for n in clearing[: config.width]}
