# ruff: noqa: E402  (the imports below need the extras require_extra checks first)
"""The transformers backend's plumbing on tiny random models (offline, a few seconds)."""

from __future__ import annotations

import threading
import time

import pytest
from extras import require_extra

require_extra("torch", "transformers")
require_extra("transformers", "transformers")

import torch

from langgraph_specsearch.generators.base import (
    GenerationSettings,
    SpeculativeThoughtGenerator,
    ThoughtGenerator,
    can_speculate,
    cut_at_delimiter,
)
from langgraph_specsearch.generators.transformers import (
    DelimiterStoppingCriteria,
    ThroughputModel,
    TransformersThoughtGenerator,
)

try:
    from merging_harness import run_behind_a_held_batch
    from tiny_models import tiny_qwen2, tiny_tokenizer
except ImportError:  # tests collected as a package
    from tests.merging_harness import run_behind_a_held_batch
    from tests.tiny_models import tiny_qwen2, tiny_tokenizer

QUESTION = "1 + 2 = 3 so The answer is 3"


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def target(tokenizer):
    model = tiny_qwen2(len(tokenizer), seed=0, layers=2, logit_scale=20.0)
    return TransformersThoughtGenerator(model, tokenizer, name="tiny-target", max_batch_size=4)


@pytest.fixture(scope="module")
def drafter(tokenizer):
    model = tiny_qwen2(len(tokenizer), seed=1, layers=1, logit_scale=20.0)
    return TransformersThoughtGenerator(model, tokenizer, name="tiny-drafter")


@pytest.fixture(scope="module")
def uniform(tokenizer):
    """A near-uniform sampler, so the delimiter and eos come up often."""
    model = tiny_qwen2(len(tokenizer), seed=2, logit_scale=0.01)
    return TransformersThoughtGenerator(model, tokenizer, name="tiny-uniform", max_batch_size=5)


def test_implements_the_interfaces(target, drafter):
    assert isinstance(target, ThoughtGenerator)
    assert isinstance(target, SpeculativeThoughtGenerator)
    assert target.supports_assistant(drafter)
    assert not target.supports_assistant(target)
    assert can_speculate(target, drafter)
    assert target.name == "tiny-target"


def test_prompt_continues_the_partial_assistant_message(target):
    fresh = target.render_prompt(QUESTION, [], "\n\n")
    assert fresh.endswith("<|im_start|>assistant\n")
    assert target.system_prompt.split()[0] in fresh
    partial = target.render_prompt(QUESTION, ["step 1", "step 2"], "\n\n")
    assert partial.endswith("<|im_start|>assistant\nstep 1\n\nstep 2\n\n")
    assert "<|im_end|>" not in partial.split("<|im_start|>assistant")[-1]


def test_counts_are_exact_and_thoughts_end_at_boundaries(uniform, tokenizer):
    settings = GenerationSettings(max_new_tokens=12, temperature=1.0, top_p=1.0, seed=3)
    paths = [[], ["step 1"], ["step 1", "step 2"]]
    counts = [3, 0, 4]
    result = uniform.generate(QUESTION, paths, counts, settings)
    assert [len(row) for row in result] == counts
    reasons = set()
    for thought in (t for row in result for t in row):
        reasons.add(thought.finish_reason)
        assert 0 < thought.tokens <= settings.max_new_tokens
        assert "\n\n" not in thought.text
        if thought.finish_reason == "length":
            assert thought.tokens == settings.max_new_tokens
    assert reasons & {"delimiter", "eos", "empty"}, reasons
    details = uniform.last_details
    assert details.sequences == 7 and details.model_calls == 2  # chunked by max_batch_size=5
    assert details.new_tokens == sum(t.tokens for row in result for t in row)
    assert uniform.last_stats.strategy == "batched" and uniform.last_stats.seconds > 0


def test_seeded_sampling_is_reproducible(uniform):
    settings = GenerationSettings(max_new_tokens=8, temperature=0.8, seed=11)
    first = uniform.generate(QUESTION, [[]], [4], settings)
    second = uniform.generate(QUESTION, [[]], [4], settings)
    assert first == second
    state = torch.random.get_rng_state()
    uniform.generate(QUESTION, [[]], [1], settings)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is left alone


def test_batched_greedy_equals_one_at_a_time(target):
    settings = GenerationSettings(max_new_tokens=10, temperature=0.0)
    paths = [[], ["step 1"], ["step 1", "2 + 2 = 4 so The answer is 4"]]
    batched = target.generate(QUESTION, paths, [1, 1, 1], settings)
    single = [target.generate(QUESTION, [path], [1], settings)[0] for path in paths]
    assert batched == single


def _unshared(generator: TransformersThoughtGenerator) -> TransformersThoughtGenerator:
    return TransformersThoughtGenerator(
        generator.model,
        generator.tokenizer,
        max_batch_size=generator.max_batch_size,
        share_prefix=False,
    )


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_shared_prefill_changes_no_token(target, uniform, temperature):
    """Repeated prompts of different lengths (left padding) give the same thoughts either way."""
    generator = target if temperature == 0.0 else uniform
    settings = GenerationSettings(max_new_tokens=12, temperature=temperature, seed=3)
    paths = [["step 1"], ["step 1", "2 + 2 = 4 so The answer is 4"], []]
    shared = generator.generate(QUESTION, paths, [3, 2, 1], settings)
    shared_ids = list(generator.last_token_ids)
    plain = _unshared(generator)
    assert plain.generate(QUESTION, paths, [3, 2, 1], settings) == shared
    assert plain.last_token_ids == shared_ids


def test_shared_prefill_reads_each_distinct_prompt_once(target):
    seen: list[tuple[int, int]] = []
    decoder = target.model.get_decoder()
    hook = decoder.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(tuple(kwargs["input_ids"].shape)),
        with_kwargs=True,
    )
    try:
        settings = GenerationSettings(max_new_tokens=4, temperature=0.0, delimiter="")
        target.generate(QUESTION, [[], ["step 1"]], [3, 1], settings)  # 4 rows = max_batch_size
    finally:
        hook.remove()
    prompts = [target.render_prompt(QUESTION, path, "") for path in ([], ["step 1"])]
    width = target._encode(prompts)[0].shape[1]
    assert seen[0] == (2, width - 1)  # the two distinct prompts, all but their last token
    assert seen[1] == (4, 1)  # generate reads only the last prompt token of each row
    assert all(shape == (4, 1) for shape in seen[1:])


def test_distinct_prompts_skip_the_shared_prefill(target):
    input_ids, mask = target._encode(["The answer is", "step 1 + 2"])
    assert target._shared_prefill(input_ids, mask) is None


def test_a_decoder_that_refuses_the_shared_prefill_falls_back_with_a_warning(tokenizer):
    model = tiny_qwen2(len(tokenizer), seed=0, layers=1)
    generator = TransformersThoughtGenerator(model, tokenizer, name="odd")
    settings = GenerationSettings(max_new_tokens=3, temperature=0.0, delimiter="")
    expected = generator.generate(QUESTION, [[]], [2], settings)

    def refuse(**kwargs):
        raise TypeError("forward() got an unexpected keyword argument 'position_ids'")

    model.get_decoder = lambda: refuse
    with pytest.warns(RuntimeWarning, match="odd: shared prefill turned off.*position_ids"):
        assert generator.generate(QUESTION, [[]], [2], settings) == expected
    assert generator.share_prefix is False


def test_greedy_assisted_is_token_identical_to_plain(target, drafter):
    settings = GenerationSettings(max_new_tokens=16, temperature=0.0, delimiter="")
    paths = [[], ["step 1"]]
    plain, used_plain = target.generate_speculative(
        QUESTION, paths, [1, 1], settings, assistant=drafter, strategy="batched"
    )
    assisted, used = target.generate_speculative(
        QUESTION, paths, [1, 1], settings, assistant=drafter, strategy="speculative"
    )
    assert (used_plain, used) == ("batched", "speculative")
    assert assisted == plain
    assert target.last_details.model_calls == 2  # assisted runs one sequence at a time


def test_draft_length_reaches_the_assistant_and_is_restored(target, drafter, monkeypatch):
    from transformers.generation import candidate_generator

    seen = []
    original = candidate_generator.AssistedCandidateGenerator.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append(
            (
                self.num_assistant_tokens,
                drafter.model.generation_config.num_assistant_tokens_schedule,
            )
        )

    monkeypatch.setattr(candidate_generator.AssistedCandidateGenerator, "__init__", spy)
    before = drafter.model.generation_config.num_assistant_tokens
    target.num_assistant_tokens = 3
    settings = GenerationSettings(max_new_tokens=6, temperature=0.0)
    target.generate_speculative(QUESTION, [[]], [1], settings, drafter, "speculative")
    target.num_assistant_tokens = 6
    assert seen == [(3, "constant")]
    assert drafter.model.generation_config.num_assistant_tokens == before


def test_auto_strategy_follows_measurements(target, drafter):
    settings = GenerationSettings(max_new_tokens=4, temperature=0.0)
    target.throughput = ThroughputModel()
    _, used = target.generate_speculative(QUESTION, [[]], [3], settings, drafter, "auto")
    assert used == "batched"  # the prior: batching wins for several sequences
    target.throughput = ThroughputModel()
    target.throughput.record("speculative", 1, False, tokens=1000, seconds=1.0)
    target.throughput.record("batched", 4, False, tokens=100, seconds=1.0)
    _, used = target.generate_speculative(QUESTION, [[]], [3], settings, drafter, "auto")
    assert used == "speculative"
    _, used = target.generate_speculative(QUESTION, [[]], [2], settings, object(), "auto")
    assert used == "batched"  # no usable assistant: plain generation
    with pytest.raises(ValueError):
        target.generate_speculative(QUESTION, [[]], [1], settings, object(), "speculative")
    with pytest.raises(ValueError):
        target.generate_speculative(QUESTION, [[]], [1], settings, drafter, "fastest")


def test_throughput_model_estimates():
    model = ThroughputModel()
    assert model.choose(1, True) == "speculative" and model.choose(2, True) == "batched"
    model.record("batched", 1, True, tokens=10, seconds=1.0)
    assert model.estimate("speculative", 1, True) == pytest.approx(13.0)
    assert model.estimate("batched", 4, True) == pytest.approx(10 * 4**0.6)


def test_token_count_stops_at_the_delimiter(target, tokenizer):
    vocab = tokenizer.get_vocab()
    ids = [vocab["step"], vocab["1"], vocab["\n\n"], vocab["2"], vocab["<|endoftext|>"]]
    thought = target._thought(ids, "\n\n")
    assert (thought.text, thought.tokens, thought.finish_reason) == ("step 1", 3, "delimiter")
    eos = target._thought([vocab["step"], vocab["<|im_end|>"], vocab["2"]], "\n\n")
    assert (eos.text, eos.tokens, eos.finish_reason) == ("step", 2, "eos")
    empty = target._thought([vocab["<|im_end|>"]], "\n\n")
    assert empty.finish_reason == "empty" and empty.tokens == 1
    length = target._thought([vocab["step"], vocab["2"]], "\n\n")
    assert (length.text, length.finish_reason) == ("step 2", "length")


def test_stopping_criteria_is_per_row(tokenizer):
    vocab = tokenizer.get_vocab()
    prompt = [vocab["user"]]
    rows = torch.tensor(
        [[*prompt, vocab["\n\n"], vocab["step"]], [*prompt, vocab["step"], vocab["\n\n"]]]
    )
    stopper = DelimiterStoppingCriteria(tokenizer, 1, "\n\n", 2)
    assert stopper(rows, None).tolist() == [False, True]  # a leading delimiter is not a stop
    text = tokenizer.decode(rows[1, 1:], skip_special_tokens=True)
    assert cut_at_delimiter(text, "\n\n") == ("step", True)


def test_lock_serialises_concurrent_calls(uniform):
    settings = GenerationSettings(max_new_tokens=4, temperature=0.5)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            uniform.generate(QUESTION, [[]], [2], settings)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_from_pretrained_and_from_langchain(tmp_path, tokenizer, target):
    target.model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = TransformersThoughtGenerator.from_pretrained(tmp_path, dtype=torch.float32)
    assert loaded.name == tmp_path.name
    assert loaded.supports_assistant(target)  # same vocabulary
    # (the word-level test tokenizer does not round-trip its pre-tokenizer; the weights do)
    settings = GenerationSettings(max_new_tokens=6, temperature=0.0)
    reloaded = TransformersThoughtGenerator(loaded.model, tokenizer)
    assert reloaded.generate(QUESTION, [[]], [1], settings) == target.generate(
        QUESTION, [[]], [1], settings
    )

    from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline
    from transformers import pipeline

    pipe = pipeline("text-generation", model=target.model, tokenizer=tokenizer)
    llm = HuggingFacePipeline(pipeline=pipe)
    via_llm = TransformersThoughtGenerator.from_langchain(llm)
    assert via_llm.model is target.model and via_llm.tokenizer is tokenizer
    chat = ChatHuggingFace(llm=llm, tokenizer=tokenizer)
    via_chat = TransformersThoughtGenerator.from_langchain(chat, name="chat")
    assert via_chat.model is target.model and via_chat.name == "chat"
    with pytest.raises(TypeError):
        TransformersThoughtGenerator.from_langchain(object())


def test_rejects_mismatched_counts(target):
    with pytest.raises(ValueError):
        target.generate(QUESTION, [[], []], [1], GenerationSettings())
    assert target.generate(QUESTION, [[]], [0], GenerationSettings()) == [[]]


def test_question_longer_than_the_context_is_refused(target):
    limit = target.context_length()
    assert limit
    target.check_question("a short question")
    words = " ".join(["apple"] * (limit + 10))
    with pytest.raises(ValueError, match="question too long"):
        target.check_question(words)


def test_plain_sampling_draws_from_the_nucleus_only_and_assisted_keeps_transformers(
    target, drafter, monkeypatch
):
    from langgraph_specsearch.generators import sampling

    calls: list[int] = []
    original = sampling.NucleusSampler.__call__

    def spy(self, input_ids, scores):
        calls.append(scores.shape[0])
        return original(self, input_ids, scores)

    monkeypatch.setattr(sampling.NucleusSampler, "__call__", spy)
    settings = GenerationSettings(max_new_tokens=6, temperature=0.8, seed=4)
    rows = target.generate(QUESTION, [[], ["step 1"]], [2, 1], settings)
    assert calls and calls[0] == 3  # one draw per row per token, in the batched call
    assert all(0 < t.tokens <= 6 for row in rows for t in row)
    calls.clear()
    target.generate_speculative(QUESTION, [[]], [1], settings, drafter, strategy="speculative")
    target.generate(QUESTION, [[]], [1], GenerationSettings(max_new_tokens=4, temperature=0.0))
    plain = TransformersThoughtGenerator(target.model, target.tokenizer, nucleus_sampling=False)
    plain.generate(QUESTION, [[]], [2], settings)
    assert calls == []  # assisted, greedy and opted-out calls use transformers' own sampling


def test_concurrent_calls_merge_into_one_batch_and_keep_their_own_samples(tokenizer, target):
    """Many searches, one engine: calls that wait for the model run as one batch, and each call's
    rows are what it would have drawn alone (its own seed, its own stream)."""
    generator = TransformersThoughtGenerator(target.model, tokenizer, max_batch_size=4)
    calls = [
        ([[], ["step 1"]], [2, 1], 5),
        ([["1 + 2"]], [3], 6),
        ([[]], [2], 7),
    ]

    def settings(seed: int) -> GenerationSettings:
        return GenerationSettings(max_new_tokens=6, temperature=0.9, top_p=0.9, seed=seed)

    alone = [generator.generate(QUESTION, p, c, settings(s)) for p, c, s in calls]
    assert generator.merger.stats.merged_batches == 0

    def work(index: int):
        paths, counts, seed = calls[index]
        return lambda: generator.generate(QUESTION, paths, counts, settings(seed))

    results = run_behind_a_held_batch(generator, "_generate_rows", [work(i) for i in range(3)])
    stats = generator.merger.stats
    assert (stats.batches, stats.merged_batches, stats.widest) == (5, 1, 2)
    assert results == alone
    assert generator.last_details.sequences == 5  # the merged batch held both calls' rows


def test_calls_that_cannot_keep_their_own_stream_are_not_merged(tokenizer, target, drafter):
    generator = TransformersThoughtGenerator(target.model, tokenizer, nucleus_sampling=False)
    request = _request(["p"], GenerationSettings(temperature=0.7, top_p=0.9), None)
    assert generator._merge_key(request) is None  # transformers' sampler: one global stream
    assert generator._merge_key(_request(["p"], GenerationSettings(), drafter)) is None
    plain = TransformersThoughtGenerator(target.model, tokenizer)
    a = plain._merge_key(_request(["p"], GenerationSettings(seed=1), None))
    b = plain._merge_key(_request(["q"], GenerationSettings(seed=2), None))
    assert a is not None and a == b  # only the seeds differ: they may share a batch
    c = plain._merge_key(_request(["p"], GenerationSettings(max_new_tokens=5), None))
    assert c != a
    greedy = _request(["p"], GenerationSettings(temperature=0.0), None)
    assert generator._merge_key(greedy) is not None


def _request(prompts, settings, assistant):
    from langgraph_specsearch.generators.transformers import _Request

    return _Request(prompts, settings, "batched", assistant)


class _HashScorer:
    """A deterministic stand-in PRM for tiny models: a hash of the step, in [0, 1)."""

    def score_last(self, questions, step_lists):
        import hashlib

        return [
            int.from_bytes(hashlib.blake2b(f"{q}|{s[-1]}".encode(), digest_size=2).digest()) / 65536
            for q, s in zip(questions, step_lists, strict=True)
        ]


def test_searches_run_by_batch_share_the_engine_and_find_what_they_find_alone(tokenizer):
    """Four searches through ``batch`` on one drafter and one target: their stage calls merge
    into shared batches, and every search's tree is the one it grows alone."""
    from langgraph_specsearch import SpecSearch, SpecSearchConfig

    def pair() -> tuple[TransformersThoughtGenerator, TransformersThoughtGenerator]:
        small = tiny_qwen2(len(tokenizer), seed=1, layers=1, logit_scale=3.0)
        large = tiny_qwen2(len(tokenizer), seed=0, layers=2, logit_scale=3.0)
        return (
            TransformersThoughtGenerator(small, tokenizer, name="tiny-drafter"),
            TransformersThoughtGenerator(large, tokenizer, name="tiny-target"),
        )

    config = SpecSearchConfig(
        width=2, n_drafts=2, max_depth=3, max_step_tokens=5, correction="batched"
    )  # "auto" corrections pick by measured speed, which would differ between the runs
    questions = [f"{QUESTION} {i}" for i in range(4)]
    alone = [SpecSearch(*pair(), _HashScorer(), config=config).invoke(q) for q in questions]

    drafter, target = pair()
    original = drafter._generate_rows
    first = threading.Event()

    def held(*args, **kwargs):  # the first draft waits for the other searches to queue theirs
        if not first.is_set():
            first.set()
            deadline = time.monotonic() + 60  # a loaded machine: 10 s fell short once
            while len(drafter.merger._pending) < 3 and time.monotonic() < deadline:
                time.sleep(0.001)
        return original(*args, **kwargs)

    drafter._generate_rows = held  # type: ignore[method-assign]
    reasoner = SpecSearch(drafter, target, _HashScorer(), config=config)
    together = reasoner.batch(questions, config={"max_concurrency": 4})
    assert drafter.merger.stats.merged_batches >= 1 and drafter.merger.stats.widest >= 3
    assert [(r.answer, r.tree.nodes) for r in together] == [(r.answer, r.tree.nodes) for r in alone]


def test_a_search_runs_every_forward_pass_on_the_devices_one_thread(tokenizer):
    """torch parallelises with OpenMP like llama.cpp, a team per calling thread: the drafter's,
    the target's and the likelihood scorer's forward passes all run on the CPU queue's thread."""
    from langgraph_specsearch.config import SpecSearchConfig
    from langgraph_specsearch.runnable import SpecSearch
    from langgraph_specsearch.scorers.transformers import LikelihoodScorer

    drafter = TransformersThoughtGenerator(
        tiny_qwen2(len(tokenizer), seed=1, layers=1), tokenizer, name="tiny-drafter"
    )
    target = TransformersThoughtGenerator(
        tiny_qwen2(len(tokenizer), seed=0, layers=2), tokenizer, name="tiny-target"
    )
    scorer = LikelihoodScorer.from_generator(target)
    threads: list[int] = []
    for model in (drafter.model, target.model):  # every pass embeds (the scorer's skips the head)
        embed = model.get_input_embeddings()
        embed.register_forward_pre_hook(lambda *_: threads.append(threading.get_ident()))
    config = SpecSearchConfig(width=2, n_drafts=2, max_depth=2, max_step_tokens=5)
    SpecSearch(drafter, target, scorer, config=config).invoke(QUESTION)
    assert len(threads) > 10
    assert len(set(threads)) == 1
    assert threads[0] != threading.get_ident()
