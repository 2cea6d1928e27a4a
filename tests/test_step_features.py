# ruff: noqa: E402  (the imports below need the extras require_extra checks first)
"""Features kept while drafting equal a separate forward pass over the same tokens (tiny models)."""

from __future__ import annotations

import numpy as np
import pytest
from extras import require_extra

require_extra("torch", "transformers")
require_extra("transformers", "transformers")

import torch
from tiny_models import tiny_qwen2, tiny_tokenizer

from langgraph_specsearch.generators.base import GenerationSettings
from langgraph_specsearch.generators.self_scores import scored_tokens
from langgraph_specsearch.generators.step_features import (
    CaptureSpec,
    StepFeatureCache,
    generate_kwargs,
    pool_generated,
)
from langgraph_specsearch.generators.transformers import TransformersThoughtGenerator
from langgraph_specsearch.scorers import prm_head
from langgraph_specsearch.scorers.prm_head import (
    FeatureSpec,
    LinearHead,
    PRMHeadScorer,
    RawFeatures,
)

SPEC = CaptureSpec((1, 2), last=False, logprob=True)


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_qwen2(len(tokenizer), seed=3, layers=2)


def _left_padded(tokenizer, texts):
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(len(ids) for ids in encoded)
    ids = torch.zeros((len(texts), width), dtype=torch.long)
    mask = torch.zeros((len(texts), width), dtype=torch.long)
    for row, row_ids in enumerate(encoded):
        ids[row, width - len(row_ids) :] = torch.tensor(row_ids)
        mask[row, width - len(row_ids) :] = 1
    return ids, mask


def test_pooled_states_equal_a_forward_pass_over_the_generated_tokens(model, tokenizer) -> None:
    ids, mask = _left_padded(tokenizer, ["1 + 2 = 3 so", "5 - 4"])  # rows of unequal length
    with torch.no_grad():
        output = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=6, do_sample=False,
            eos_token_id=None, pad_token_id=0, **generate_kwargs(SPEC),
        )  # fmt: skip
    lengths = [4, 5]
    pooled = pool_generated(output, lengths, SPEC)

    width = ids.shape[1]
    full_mask = torch.cat([mask, torch.ones((2, 6), dtype=torch.long)], dim=1)
    positions = (full_mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        again = model(
            output.sequences, attention_mask=full_mask, position_ids=positions,
            output_hidden_states=True,
        )  # fmt: skip
    logp = torch.log_softmax(again.logits.float(), dim=-1)
    for row, length in enumerate(lengths):
        span = slice(width, width + length)
        for layer in SPEC.layers:
            expected = again.hidden_states[layer][row, span].mean(0).numpy()
            assert np.allclose(pooled[row].mean[layer], expected, atol=1e-4)
        tokens = output.sequences[row, span]
        token_logp = logp[row, width - 1 : width - 1 + length].gather(1, tokens[:, None])[:, 0]
        assert pooled[row].logprob == pytest.approx(
            (float(token_logp.mean()), float(token_logp.min())), abs=1e-4
        )


def test_a_token_generated_last_has_no_state(model, tokenizer) -> None:
    ids, mask = _left_padded(tokenizer, ["1 + 2"])
    with torch.no_grad():
        output = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=3, do_sample=False,
            eos_token_id=None, pad_token_id=0, **generate_kwargs(SPEC),
        )  # fmt: skip
    # three tokens were generated but only the first two were fed back through the model
    (mean_only,) = pool_generated(output, [3], SPEC)
    (two,) = pool_generated(output, [2], SPEC)
    assert mean_only is not None and two is not None
    assert np.allclose(mean_only.mean[1], two.mean[1])
    assert mean_only.logprob != two.logprob  # log-probs of all three tokens are known
    wants_last = CaptureSpec((1,), last=True, logprob=False)
    assert pool_generated(output, [3, 0][:1], wants_last) == [None]
    assert pool_generated(output, [0], SPEC) == [None]


def test_cache_is_bounded_and_counts_lookups() -> None:
    cache = StepFeatureCache(SPEC, capacity=2)
    for name in "abc":
        cache.put("prompt", name, RawFeatures())
    assert len(cache) == 2
    assert cache.get("prompt", "a") is None  # the oldest went first
    assert cache.get("prompt", "c") is not None
    assert (cache.hits, cache.misses) == (1, 1)
    with pytest.raises(ValueError, match="capacity"):
        StepFeatureCache(SPEC, capacity=0)


def _head(dim: int) -> LinearHead:
    rng = np.random.default_rng(0)
    return LinearHead(0.1 * rng.normal(size=dim), 0.1, rng.normal(size=dim), np.ones(dim))


def test_the_head_scores_drafted_steps_without_a_second_pass(model, tokenizer, monkeypatch):
    generator = TransformersThoughtGenerator(model, tokenizer, system_prompt="", name="tiny")
    spec = FeatureSpec((2,), last=False, mean=True, logprob=True)
    scorer = PRMHeadScorer(generator, _head(spec.dim(32)), spec, delimiter="\n\n")
    separate = PRMHeadScorer(
        generator, _head(spec.dim(32)), spec, delimiter="\n\n", reuse_drafting_states=False
    )
    settings = GenerationSettings(max_new_tokens=16, temperature=1.0, seed=5, delimiter="\n\n")
    paths = [["1 + 2 = 3"], []]
    groups = generator.generate("1 + 2", paths, [4, 4], settings)
    written = [(path, t) for path, group in zip(paths, groups, strict=True) for t in group]
    drafted = [[*path, t.text] for path, t in written if t.finish_reason == "delimiter"]
    undelimited = [[*path, t.text] for path, t in written if t.finish_reason != "delimiter"]
    assert drafted and undelimited  # the seed gives both kinds
    assert len(scorer.drafting_states) == len({tuple(d) for d in drafted})

    passes = []
    real_extract = prm_head.extract_features

    def counting(*args, **kwargs):
        passes.append(len(args[2]))
        return real_extract(*args, **kwargs)

    monkeypatch.setattr(prm_head, "extract_features", counting)
    free = scorer.score_last(["1 + 2"] * len(drafted), drafted)
    assert passes == [] and scorer.drafting_states.hits == len(drafted)
    # the same steps through a separate pass agree closely
    again = separate.score_last(["1 + 2"] * len(drafted), drafted)
    assert passes == [len(drafted)]
    assert np.allclose(free, again, atol=0.1)  # the pass also reads the step's final token
    # a step the drafter did not write, or that ended without the delimiter (eos or length),
    # which the pass would append, is scored by the pass, in the same call
    mixed = scorer.score_last(["1 + 2"] * 3, [drafted[0], ["1 + 2 = 4"], undelimited[0]])
    assert passes[-1] == 2 and mixed[0] == pytest.approx(free[0])


def _free_and_paid(model, tokenizer):
    """A writer whose likelihood scorer reuses its generation, and a scorer that never does."""
    from langgraph_specsearch.scorers.transformers import LikelihoodScorer

    writer = TransformersThoughtGenerator(model, tokenizer, name="tiny", share_prefix=False)
    free = LikelihoodScorer.from_generator(writer)
    fresh = TransformersThoughtGenerator(model, tokenizer, name="tiny", share_prefix=False)
    return writer, free, LikelihoodScorer.from_generator(fresh, reuse_generation=False)


def test_the_likelihood_scorer_reuses_the_scoring_models_own_generation(model, tokenizer) -> None:
    """Free self-scoring (issue 16): a step the scoring model wrote is scored from the logits of
    the pass that wrote it; it matches a separate pass, and other steps still get the pass."""

    writer, free, paid = _free_and_paid(model, tokenizer)
    settings = GenerationSettings(max_new_tokens=16, temperature=1.0, seed=7, delimiter="\n\n")
    paths = [["1 + 2"], ["1 + 2", "= 3"]]
    groups = writer.generate("5 - 4", paths, [4, 4], settings)
    written = [
        [*path, t.text] for path, group in zip(paths, groups, strict=True) for t in group
        if t.finish_reason == "delimiter"
    ]  # fmt: skip
    assert written, "the tiny model should end some steps at the delimiter"
    questions = ["5 - 4"] * len(written)
    assert free.score_last(questions, written) == pytest.approx(
        paid.score_last(questions, written), rel=1e-3
    )
    # a step whose tokens the pass would read at other positions (a special token the text
    # drops, e.g. a sampled <|im_start|> before the step) is left to the pass
    rows = [t for group in groups for t in group]
    reusable = sum(
        t.finish_reason == "delimiter" and scored_tokens(writer._step_ids(t.text), ids) is not None
        for t, ids in zip(rows, writer.last_token_ids, strict=True)
    )
    assert reusable >= 1, "the tiny model should write some step the scorer can reuse"
    assert free.reused == reusable and paid.reused == 0
    other = [["1 + 2", "not written by it"]]
    free.score_last(["5 - 4"], other)
    assert free.reused == reusable  # a step it did not write is read by a pass


def test_the_models_own_steps_after_a_merged_step_end_are_free_too() -> None:
    """Where a previous step's "." merges with the delimiter (Qwen's ".\\n\\n"), the scorer still
    reads the context generation read, so the model's next steps are scored from their generation
    and agree with a pass."""

    tokenizer = tiny_tokenizer(merge_period=True)
    model = tiny_qwen2(len(tokenizer), seed=3, layers=2)
    writer, free, paid = _free_and_paid(model, tokenizer)
    settings = GenerationSettings(max_new_tokens=16, temperature=1.0, seed=7, delimiter="\n\n")
    path = ["1 + 2 = 3 .", "so 3 ."]
    groups = writer.generate("5 - 4", [path], [8], settings)
    rows = list(zip(groups[0], writer.last_token_ids, strict=True))
    reusable = [
        [*path, t.text]
        for t, ids in rows
        if t.finish_reason == "delimiter"
        and scored_tokens(writer._step_ids(t.text), ids) is not None
    ]
    assert reusable, "the tiny model should end some steps at the delimiter"
    questions = ["5 - 4"] * len(reusable)
    assert free.score_last(questions, reusable) == pytest.approx(
        paid.score_last(questions, reusable), rel=1e-3
    )
    assert free.reused == len(reusable) and paid.reused == 0


def test_steps_that_ended_on_eos_or_the_token_limit_are_free_too(model, tokenizer) -> None:
    """A pass reads nothing after a step, so a step that ended on eos or on ``max_new_tokens``
    is scored from its generation like a delimiter-ended one, and agrees with a pass."""

    writer, free, paid = _free_and_paid(model, tokenizer)
    settings = GenerationSettings(max_new_tokens=4, temperature=1.0, seed=11, delimiter="\n\n")
    paths = [["1 + 2"], ["1 + 2", "= 3"]]
    groups = writer.generate("5 - 4", paths, [6, 6], settings)
    flat = [(p, t) for p, g in zip(paths, groups, strict=True) for t in g]
    reusable = [
        ([*path, t.text], t.finish_reason)
        for (path, t), ids in zip(flat, writer.last_token_ids, strict=True)
        if t.finish_reason != "empty" and scored_tokens(writer._step_ids(t.text), ids) is not None
    ]
    assert "length" in {reason for _, reason in reusable}, "4 tokens should cut some rows"
    written = [steps for steps, _ in reusable]
    questions = ["5 - 4"] * len(written)
    assert free.score_last(questions, written) == pytest.approx(
        paid.score_last(questions, written), rel=1e-3
    )
    assert free.reused == len(written) and paid.reused == 0
