"""The shipped PRM head over the real drafter: loads offline, scores a batch, ranks fixed pairs.

The pairs are the first held-out pairs in stored order (``benchmarks/data/prm_heldout.jsonl``,
a seeded random order), not picked for passing: the head never saw these problems. Only the
drafter (0.5B) is loaded, and a dozen short steps are scored, so the test takes seconds.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytestmark = pytest.mark.real_models

N_PAIRS = 6


@pytest.fixture(scope="module")
def drafter(require_models):
    from langgraph_specsearch.presets.assets import load_default_generator

    require_models("drafter")
    return load_default_generator("drafter")


@pytest.fixture(scope="module")
def pairs():
    from research.prm_data import read_examples

    examples = read_examples()
    out = []
    for gold, bad in zip(examples[::2], examples[1::2], strict=True):
        assert (gold.label, bad.label) == (1, 0) and gold.position == bad.position
        out.append((gold, bad))
    return out[:N_PAIRS]


def test_head_loads_offline_and_scores_a_batch(drafter, pairs) -> None:
    from langgraph_specsearch.scorers.prm_head import DEFAULT_WEIGHTS, load_default_prm_head

    assert DEFAULT_WEIGHTS.is_file() and DEFAULT_WEIGHTS.stat().st_size < 200_000
    head = load_default_prm_head(drafter)
    assert head.generator.model is drafter.model  # shares the drafter, no second copy
    examples = [ex for pair in pairs[:3] for ex in pair]
    scores = head.score_last(
        [e.question for e in examples], [[*e.previous, e.step] for e in examples]
    )
    assert len(scores) == len(examples)
    assert all(0.0 <= s <= 1.0 for s in scores)
    one = head.score_last([examples[1].question], [[*examples[1].previous, examples[1].step]])
    assert one[0] == pytest.approx(scores[1], abs=0.02)  # batching and padding change nothing


def test_correct_steps_outscore_their_corruptions(drafter, pairs) -> None:
    from langgraph_specsearch.scorers.prm_head import load_default_prm_head

    head = load_default_prm_head(drafter)
    examples = [ex for pair in pairs for ex in pair]
    scores = head.score_last(
        [e.question for e in examples], [[*e.previous, e.step] for e in examples]
    )
    for index, (gold, bad) in enumerate(pairs):
        good_score, bad_score = scores[2 * index], scores[2 * index + 1]
        assert good_score > bad_score, (bad.kind, gold.step, bad.step, good_score, bad_score)


def test_drafted_steps_are_scored_from_the_drafting_pass(drafter, pairs) -> None:
    from langgraph_specsearch.generators.base import GenerationSettings
    from langgraph_specsearch.scorers.prm_head import (
        DEFAULT_WEIGHTS,
        PRMHeadScorer,
        load_default_prm_head,
    )

    head = load_default_prm_head(drafter)
    separate = PRMHeadScorer.from_file(drafter, DEFAULT_WEIGHTS, reuse_drafting_states=False)
    settings = GenerationSettings(max_new_tokens=48, temperature=0.7, seed=1, delimiter="\n\n")
    steps: list[list[str]] = []
    for gold, _ in pairs:  # steps in the middle of a solution, until some end on the delimiter
        if not gold.previous:
            continue
        thoughts = drafter.generate(gold.question, [gold.previous], [4], settings)[0]
        steps = [[*gold.previous, t.text] for t in thoughts if t.finish_reason == "delimiter"]
        if steps:
            break
    assert steps, "no drafted step ended on the delimiter"
    hits = head.drafting_states.hits
    free = head.score_last([gold.question] * len(steps), steps)
    assert head.drafting_states.hits - hits == len(steps)
    again = separate.score_last([gold.question] * len(steps), steps)
    assert free == pytest.approx(again, abs=0.05)
