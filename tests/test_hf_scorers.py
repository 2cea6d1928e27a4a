# ruff: noqa: E402  (the imports below need the extras require_extra checks first)
"""Scorer plumbing on tiny random models: positions, batching, padding, prefix sharing."""

from __future__ import annotations

import math

import pytest
from extras import require_extra

require_extra("torch", "transformers")
require_extra("transformers", "transformers")  # before the imports that need them

import torch
from transformers import Qwen2Config, Qwen2ForTokenClassification

from langgraph_specsearch.generators.transformers import TransformersThoughtGenerator
from langgraph_specsearch.scorers.base import LastStepScorer, StepScorer, score_last_steps
from langgraph_specsearch.scorers.transformers import (
    LikelihoodScorer,
    MathShepherdScorer,
    QwenPRMScorer,
)

try:
    from tiny_models import tiny_qwen2, tiny_tokenizer
except ImportError:  # tests collected as a package
    from tests.tiny_models import tiny_qwen2, tiny_tokenizer

QUESTION = "1 + 2 = 3 so The answer is"
PATHS = [
    ["step 1"],
    ["step 1", "1 + 2 = 3"],
    ["step 1", "The answer is 3"],
    ["step 1", "bad"],
    ["2 + 2 = 4 so The answer is 4 good good"],
]


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def generator(tokenizer):
    model = tiny_qwen2(len(tokenizer), seed=5, logit_scale=3.0)
    return TransformersThoughtGenerator(model, tokenizer, name="tiny")


def _flat(nested: list[list[float]]) -> list[float]:
    return [value for row in nested for value in row]


def _reference_mean_log_prob(generator, question, steps, piecewise: bool = False) -> float:
    """The step's mean log-prob from one plain full-logits forward pass, no batching, after the
    generator's own prompt for writing it (``piecewise``: the previous steps tokenized one by
    one instead, as the scorer did before it read contexts as generation does)."""
    tok = generator.tokenizer
    encode = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    if piecewise:
        ids = encode(generator.render_prompt(question, [], "\n\n"))
        for step in steps[:-1]:
            ids += encode(step) + encode("\n\n")
    else:
        ids = encode(generator.render_prompt(question, steps[:-1], "\n\n"))
    start = len(ids)
    ids += encode(steps[-1])
    with torch.no_grad():
        logits = generator.model(torch.tensor([ids])).logits[0].float()
    logp = torch.log_softmax(logits, -1)
    picked = [logp[t - 1, ids[t]] for t in range(start, len(ids))]
    return float(torch.stack(picked).mean())


def test_likelihood_matches_a_plain_forward_pass(generator):
    scorer = LikelihoodScorer.from_generator(generator, raw=True, batch_size=2)
    assert isinstance(scorer, LastStepScorer) and isinstance(scorer, StepScorer)
    expected = [_reference_mean_log_prob(generator, QUESTION, path) for path in PATHS]
    shared = scorer.score_last([QUESTION] * len(PATHS), PATHS)
    assert shared == pytest.approx(expected, abs=1e-4)
    scorer.share_prefix = False
    assert scorer.score_last([QUESTION] * len(PATHS), PATHS) == pytest.approx(expected, abs=1e-4)
    scorer.padding_side = "left"
    assert scorer.score_last([QUESTION] * len(PATHS), PATHS) == pytest.approx(expected, abs=1e-4)


def test_a_steps_context_is_the_prompt_generation_reads_even_where_tokens_merge() -> None:
    """Qwen's tokenizer merges a step's final "." with the delimiter (".\\n\\n"); the scorer reads
    the context as the generator does, whole, not step by step, so the score is the one the model
    had when it wrote the step (and is then free, tests/test_step_features.py)."""
    tokenizer = tiny_tokenizer(merge_period=True)
    generator = TransformersThoughtGenerator(
        tiny_qwen2(len(tokenizer), seed=5, logit_scale=3.0), tokenizer, name="tiny"
    )
    scorer = LikelihoodScorer.from_generator(generator, raw=True)
    paths = [["1 + 2 = 3 .", "The answer is 3"], ["1 + 2 = 3 .", "so 3 .", "good"]]
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    split = encode(generator.render_prompt(QUESTION, [], "\n\n"))
    for step in paths[1][:-1]:
        split += encode(step) + encode("\n\n")
    assert len(scorer._context_ids(QUESTION, paths[1][:-1])) == len(split) - 2  # two merges
    got = scorer.score_last([QUESTION] * 2, paths)
    whole = [_reference_mean_log_prob(generator, QUESTION, p) for p in paths]
    piecewise = [_reference_mean_log_prob(generator, QUESTION, p, piecewise=True) for p in paths]
    assert got == pytest.approx(whole, abs=1e-4)
    assert all(abs(g - p) > 1e-3 for g, p in zip(got, piecewise, strict=True))
    assert _flat(scorer.score([QUESTION], [paths[1]])) == pytest.approx(
        [scorer(QUESTION, paths[1][: k + 1]) for k in range(3)], abs=1e-5
    )


def test_likelihood_batch_equals_one_at_a_time_and_maps_into_unit_interval(generator):
    scorer = LikelihoodScorer.from_generator(generator, batch_size=3)
    batch = scorer.score_last([QUESTION] * len(PATHS), PATHS)
    single = [scorer(QUESTION, path) for path in PATHS]
    assert batch == pytest.approx(single, abs=1e-5)
    assert all(0.0 < value <= 1.0 for value in batch)
    raw = LikelihoodScorer.from_generator(generator, raw=True).score_last([QUESTION], [PATHS[1]])
    assert batch[1] == pytest.approx(math.exp(raw[0]), rel=1e-5)
    assert scorer.calls >= 1 and scorer.last_seconds > 0


def test_likelihood_score_gives_every_step_consistent_with_score_last(generator):
    scorer = LikelihoodScorer.from_generator(generator, batch_size=2)
    all_steps = scorer.score([QUESTION] * len(PATHS), PATHS)
    assert [len(scores) for scores in all_steps] == [len(path) for path in PATHS]
    for path, scores in zip(PATHS, all_steps, strict=True):
        for j in range(len(path)):
            assert scores[j] == pytest.approx(scorer(QUESTION, path[: j + 1]), abs=1e-5)
    scorer.padding_side = "left"
    left = scorer.score([QUESTION] * len(PATHS), PATHS)
    assert _flat(left) == pytest.approx(_flat(all_steps), abs=1e-5)
    assert score_last_steps(scorer, QUESTION, PATHS) == pytest.approx(
        [scores[-1] for scores in all_steps], abs=1e-5
    )


def test_cached_prefixes_give_the_same_scores_and_are_read_once(generator):
    """A prefix is read once; a longer one reads only its new tokens; scores do not change."""
    lengths: list[int] = []
    hook = generator.model.get_decoder().register_forward_pre_hook(
        lambda module, args, kwargs: lengths.append(kwargs["input_ids"].shape[1]),
        with_kwargs=True,
    )
    scorer = LikelihoodScorer.from_generator(generator, raw=True, batch_size=8)
    drafts = [["step 1", "1 + 2 = 3"], ["step 1", "bad"]]
    corrections = [["step 1", "The answer is 3"]]
    deeper = [["step 1", "1 + 2 = 3", "The answer is 3"]]
    try:
        scores = [scorer.score_last([QUESTION] * len(p), p) for p in (drafts, corrections, deeper)]
    finally:
        hook.remove()
    uncached = LikelihoodScorer.from_generator(generator, raw=True, prefix_cache_size=0)
    for paths, got in zip((drafts, corrections, deeper), scores, strict=True):
        assert got == pytest.approx(uncached.score_last([QUESTION] * len(paths), paths), abs=1e-4)
        expected = [_reference_mean_log_prob(generator, QUESTION, path) for path in paths]
        assert got == pytest.approx(expected, abs=1e-4)
    encode = lambda text: generator.tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompt = len(encode(generator.render_prompt(QUESTION, [], "\n\n")))
    step_1, delimiter = len(encode("step 1")), len(encode("\n\n"))
    step_2 = len(encode("1 + 2 = 3"))
    assert lengths[0] == prompt + step_1 + delimiter  # the drafts' prefix, read in full
    assert lengths.count(prompt + step_1 + delimiter) == 1  # the corrections reuse it
    assert step_2 + delimiter in lengths  # the deeper prefix reads only the step it adds
    assert [n for n in lengths if n >= prompt] == [prompt + step_1 + delimiter]  # one full read
    assert len(scorer._prefixes) == 2


def test_the_prefix_cache_is_bounded(generator):
    scorer = LikelihoodScorer.from_generator(generator, prefix_cache_size=2)
    for path in (["step 1", "bad"], ["1 + 2 = 3", "bad"], ["The answer is 3", "bad"]):
        scorer.score_last([QUESTION], [path])
    assert len(scorer._prefixes) == 2
    assert not LikelihoodScorer.from_generator(generator, prefix_cache_size=0)._prefixes


def test_clearing_the_prefix_cache_reads_the_prefix_again(generator):
    lengths: list[int] = []
    hook = generator.model.get_decoder().register_forward_pre_hook(
        lambda module, args, kwargs: lengths.append(kwargs["input_ids"].shape[1]),
        with_kwargs=True,
    )
    scorer = LikelihoodScorer.from_generator(generator, raw=True)
    path = [["step 1", "1 + 2 = 3"]]
    try:
        first = scorer.score_last([QUESTION], path)
        scorer.score_last([QUESTION], path)
        assert len(lengths) == 3  # the prefix once, the step twice
        scorer.clear_prefix_cache()
        assert not scorer._prefixes
        again = scorer.score_last([QUESTION], path)
    finally:
        hook.remove()
    assert len(lengths) == 5 and lengths[3] == lengths[0]  # the whole prefix read again
    assert again == pytest.approx(first, abs=1e-4)


def test_likelihood_from_model_and_empty_path(tokenizer, generator):
    scorer = LikelihoodScorer.from_model(generator.model, tokenizer)
    assert scorer.model is generator.model
    with pytest.raises(ValueError):
        scorer.score_last([QUESTION], [[]])
    assert scorer.score([QUESTION], [[]]) == [[]]


def test_math_shepherd_reads_plus_minus_at_each_tag(tokenizer):
    model = tiny_qwen2(len(tokenizer), seed=7, logit_scale=3.0)
    scorer = MathShepherdScorer(model, tokenizer, batch_size=2)
    text = scorer._text(QUESTION, ["step 1", "bad ки"])
    assert text.count("ки") == 2 and text.startswith(QUESTION + " Step 1: step 1 ки\n")
    scores = scorer.score([QUESTION] * len(PATHS), PATHS)
    assert [len(s) for s in scores] == [len(p) for p in PATHS]

    # reference: full logits, one path at a time
    good, bad, tag = (tokenizer.convert_tokens_to_ids(t) for t in ("+", "-", "ки"))
    for path, got in zip(PATHS, scores, strict=True):
        ids = tokenizer(scorer._text(QUESTION, path), add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].float()
        where = [i for i, t in enumerate(ids) if t == tag]
        expected = torch.softmax(logits[where][:, [good, bad]], -1)[:, 0].tolist()
        assert got == pytest.approx(expected, abs=1e-5)
    scorer.padding_side = "left"
    left = scorer.score([QUESTION] * len(PATHS), PATHS)
    assert _flat(left) == pytest.approx(_flat(scores), abs=1e-5)
    assert scorer.score_last([QUESTION], [PATHS[1]]) == pytest.approx([scores[1][-1]], abs=1e-5)


@pytest.fixture(scope="module")
def prm():
    tok = tiny_tokenizer()
    tok.add_tokens(["<extra_0>"], special_tokens=True)
    torch.manual_seed(3)
    config = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_labels=2,
        pad_token_id=0,
    )
    return Qwen2ForTokenClassification(config).eval(), tok


def test_qwen_prm_reads_the_reward_head_at_separators(prm):
    model, tok = prm
    scorer = QwenPRMScorer(model, tok, batch_size=3)
    text = scorer._text(QUESTION, ["step 1", "2"])
    assert text.count("<extra_0>") == 2 and "<|im_start|>system" in text
    scores = scorer.score([QUESTION] * len(PATHS), PATHS)
    separator = tok.convert_tokens_to_ids("<extra_0>")
    for path, got in zip(PATHS, scores, strict=True):
        ids = tok(scorer._text(QUESTION, path), add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].float()
        where = [i for i, t in enumerate(ids) if t == separator]
        assert len(where) == len(path)
        assert got == pytest.approx(torch.softmax(logits[where], -1)[:, 1].tolist(), abs=1e-5)
        assert all(0.0 < v < 1.0 for v in got)
    scorer.padding_side = "left"
    left = scorer.score([QUESTION] * len(PATHS), PATHS)
    assert _flat(left) == pytest.approx(_flat(scores), abs=1e-5)
    one_by_one = [scorer(QUESTION, path) for path in PATHS]
    assert one_by_one == pytest.approx([s[-1] for s in scores], abs=1e-5)


def test_qwen_prm_needs_a_single_token_separator(tokenizer):
    model = tiny_qwen2(len(tokenizer))
    with pytest.raises(ValueError):
        QwenPRMScorer(model, tokenizer, separator="step 1")


def test_every_step_from_last_scores_each_prefix_in_one_call() -> None:
    from langgraph_specsearch.scorers.base import every_step_from_last

    calls: list[list[tuple[str, tuple[str, ...]]]] = []

    def score_last(questions, step_lists):
        calls.append([(q, tuple(s)) for q, s in zip(questions, step_lists, strict=True)])
        return [len(q) + 10 * len(s) for q, s in zip(questions, step_lists, strict=True)]

    got = every_step_from_last(score_last, ["ab", "c"], [["x", "y", "z"], ["w"]])
    assert got == [[12, 22, 32], [11]]
    assert calls == [[("ab", ("x",)), ("ab", ("x", "y")), ("ab", ("x", "y", "z")), ("c", ("w",))]]
    assert every_step_from_last(score_last, ["q"], [[]]) == [[]] and len(calls) == 1


def test_models_on_one_device_share_its_queue_and_a_scoring_pass_waits_its_turn(tokenizer):
    """In-process models on the CPU share the process's CPU queue, so a scoring pass never runs
    beside another search's generation on the same cores (generators/merging.py, DeviceQueue)."""
    import threading

    from langgraph_specsearch.generators.merging import device_queue

    drafter = TransformersThoughtGenerator(tiny_qwen2(len(tokenizer), seed=1), tokenizer)
    target = TransformersThoughtGenerator(tiny_qwen2(len(tokenizer), seed=2), tokenizer)
    assert drafter.merger.queue is target.merger.queue is device_queue("cpu")
    scorer = LikelihoodScorer.from_generator(target, raw=True, reuse_generation=False)
    scored: list[float] = []
    thread = threading.Thread(target=lambda: scored.extend(scorer.score_last([QUESTION], [["a"]])))
    with drafter.merger.queue.exclusive():  # another search's batch holds the device
        thread.start()
        thread.join(0.3)
        assert scored == [] and thread.is_alive()
    thread.join(10)
    assert len(scored) == 1


def test_a_prm_with_its_own_model_takes_its_turn_on_the_device(tokenizer):
    """A PRM loaded beside the generators (Math-Shepherd, Qwen PRM) runs on the same cores, so
    it waits for the device's queue like the generators' own scoring passes."""
    import threading

    from langgraph_specsearch.generators.merging import device_queue

    scorer = MathShepherdScorer(tiny_qwen2(len(tokenizer), seed=7), tokenizer)
    scored: list[list[float]] = []
    thread = threading.Thread(target=lambda: scored.extend(scorer.score([QUESTION], [["a"]])))
    with device_queue("cpu").exclusive():  # a generator's batch holds the CPU
        thread.start()
        thread.join(0.3)
        assert scored == [] and thread.is_alive()
    thread.join(10)
    assert len(scored) == 1
