# ruff: noqa: E402  (the imports below need the extras require_extra checks first)
"""PRM head plumbing on a tiny random model: batching and padding never change a step's score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from extras import require_extra

require_extra("torch", "transformers")
require_extra("transformers", "transformers")

from tiny_models import tiny_qwen2, tiny_tokenizer

from langgraph_specsearch.generators.transformers import TransformersThoughtGenerator
from langgraph_specsearch.scorers.prm_head import (
    FeatureSpec,
    LinearHead,
    PRMHeadScorer,
    extract_features,
    load_head,
    render_steps,
)
from research.prm_head_training import fit_linear_head, save_head

SPEC = FeatureSpec((1, 2), True, True, logprob=True)


@pytest.fixture(scope="module")
def generator() -> TransformersThoughtGenerator:
    tokenizer = tiny_tokenizer()
    return TransformersThoughtGenerator(tiny_qwen2(len(tokenizer)), tokenizer, system_prompt="")


def _head(dim: int, seed: int = 0) -> LinearHead:
    rng = np.random.default_rng(seed)
    return LinearHead(rng.normal(size=dim), 0.1, rng.normal(size=dim), np.ones(dim))


PATHS = [
    ("1 + 2", ["1 + 2 = 3", "The answer is 3"]),
    ("1 + 2", ["1 + 2 = 4"]),
    ("5 - 4", ["step 5 - 4 = 1 so", "good"]),
    ("1 + 2", ["1 + 2 = 3", "The answer is 3 so good good good"]),
]


def test_batched_scores_equal_one_at_a_time(generator) -> None:
    scorer = PRMHeadScorer(generator, _head(SPEC.dim(32)), SPEC, max_batch_size=3)
    questions = [q for q, _ in PATHS]
    steps = [s for _, s in PATHS]
    batched = scorer.score_last(questions, steps)
    single = [scorer.score_last([q], [s])[0] for q, s in PATHS]
    assert np.allclose(batched, single, atol=1e-5)
    assert all(0.0 <= v <= 1.0 for v in batched)
    # the same question only: the shared prefix runs once, rows still agree
    same = [i for i, (q, _) in enumerate(PATHS) if q == "1 + 2"]
    shared = scorer.score_last([questions[i] for i in same], [steps[i] for i in same])
    assert np.allclose(shared, [single[i] for i in same], atol=1e-5)


def test_features_read_the_step_and_the_last_token(generator) -> None:
    text, start = render_steps(generator, "1 + 2", ["1 + 2 = 3"], "\n\n")
    assert text.endswith("1 + 2 = 3\n\n") and text[start:] == "1 + 2 = 3\n\n"
    other, other_start = render_steps(generator, "1 + 2", ["1 + 2 = 4"], "\n\n")
    a, b = extract_features(
        generator.model, generator.tokenizer, [text, other], [start, other_start], (2,)
    )
    assert not np.allclose(a.last[2], b.last[2])
    assert np.isfinite(a.logprob).all() and a.logprob[1] <= a.logprob[0]


def test_score_gives_every_step_and_matches_score_last(generator) -> None:
    scorer = PRMHeadScorer(generator, _head(SPEC.dim(32)), SPEC)
    lists = scorer.score(["1 + 2"], [["1 + 2 = 3", "The answer is 3"]])
    assert len(lists) == 1 and len(lists[0]) == 2
    assert lists[0][1] == pytest.approx(scorer.score_last(["1 + 2"], [PATHS[0][1]])[0], abs=1e-5)
    with pytest.raises(ValueError):
        scorer.score_last(["q"], [[]])


def test_save_and_load_round_trip(tmp_path: Path, generator) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, SPEC.dim(32))).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    head = fit_linear_head(x, y, l2=0.1)
    path = save_head(tmp_path / "h.safetensors", head, SPEC, {"note": "test"})
    loaded, spec, info = load_head(path)
    assert spec == SPEC and info == {"note": "test"}
    assert np.allclose(loaded.logits(x), head.logits(x), atol=1e-5)
    assert (loaded.logits(x)[y == 1].mean()) > (loaded.logits(x)[y == 0].mean())
    scorer = PRMHeadScorer.from_file(generator, path)
    assert len(scorer.score_last(["1 + 2"], [["1 + 2 = 3"]])) == 1
    with pytest.raises(ValueError):
        PRMHeadScorer(generator, _head(5), SPEC)
