"""The llama.cpp engine without the real models: prompts, seeds, the GGUF cache, and the batch
engine and likelihood scorer on a tiny random GGUF (tests/llamacpp_tiny.py) that loads in
milliseconds. The real-model checks are in tests/integration/test_llamacpp_real.py."""

from __future__ import annotations

import hashlib
import math
import sys
import types

import pytest
from extras import require_extra
from merging_harness import run_behind_a_held_batch

from langgraph_specsearch.generators.base import GenerationSettings, cut_at_delimiter
from langgraph_specsearch.generators.llamacpp import (
    DEFAULT_SYSTEM_PROMPT,
    THREADS_ENV,
    default_threads,
    render_chat,
    row_seed,
)
from langgraph_specsearch.presets import assets as model_assets
from langgraph_specsearch.presets.assets import ModelAssetsError, ModelSpec

QUESTION = "What is 2 + 2?"
SAMPLED = GenerationSettings(max_new_tokens=48, temperature=1.0, top_p=0.95, seed=3)


def _shared_prefix(a: list[int], b: list[int]) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


# ----------------------------------------------------------------------------- prompts
QWEN_LIKE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nDefault.<|im_end|>\\n' }}{%- endif %}\n"
    "{%- for message in messages %}"
    "{%- if message.role == 'user' or (message.role == 'system' and not loop.first) "
    "or message.role == 'assistant' %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endif %}{%- endfor %}\n"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}\n"
)
TRIMMING = (  # a template that strips the message, so continuing must trim too
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CONVERSATIONS = [
    ([{"role": "system", "content": "S"}, {"role": "user", "content": "Q?"}], True, False),
    ([{"role": "user", "content": "Q?"}], True, False),
    (
        [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "Q?"},
            {"role": "assistant", "content": "a\n\nb\n\n"},
        ],
        False,
        True,
    ),
    ([{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "x  "}], False, True),
]


@pytest.mark.parametrize("template", [QWEN_LIKE, TRIMMING], ids=["qwen-like", "trimming"])
@pytest.mark.parametrize("conversation", range(len(CONVERSATIONS)))
def test_render_chat_matches_transformers_apply_chat_template(template, conversation):
    require_extra("transformers", "transformers")
    from tiny_models import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    tokenizer.chat_template = template
    messages, generation, cont = CONVERSATIONS[conversation]
    expected = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=generation, continue_final_message=cont
    )
    assert (
        render_chat(
            template, messages, add_generation_prompt=generation, continue_final_message=cont
        )
        == expected
    )


def test_the_default_system_prompt_is_the_transformers_backends():
    require_extra("torch", "transformers")
    from langgraph_specsearch.generators.transformers import (
        DEFAULT_SYSTEM_PROMPT as TRANSFORMERS_PROMPT,
    )

    assert DEFAULT_SYSTEM_PROMPT == TRANSFORMERS_PROMPT


def test_row_seeds_repeat_differ_by_row_and_by_seed_and_never_ask_for_a_random_one():
    seeds = [[row_seed(seed, row) for row in range(50)] for seed in range(20)]
    assert seeds == [[row_seed(seed, row) for row in range(50)] for seed in range(20)]
    assert all(len(set(row)) == 50 for row in seeds)
    assert len({tuple(row) for row in seeds}) == 20
    assert all(0 <= s < 0xFFFFFFFF for row in seeds for s in row)


def test_threads_default_to_the_cpu_count_unless_the_environment_says(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    import os

    assert default_threads() == (os.cpu_count() or 1)
    monkeypatch.setenv(THREADS_ENV, "1")
    assert default_threads() == 1


# ----------------------------------------------------------------------------- the GGUF cache
@pytest.fixture
def fake_gguf_parts(tmp_path, monkeypatch):
    """Two installed "part packages" whose bytes concatenate to a known file."""
    chunks = [b"GGUF" + bytes(range(40)), b"tail" * 20]
    for index, chunk in enumerate(chunks, 1):
        path = tmp_path / f"part{index}.bin"
        path.write_bytes(chunk)
        module = types.ModuleType(f"fake_llamacpp_part{index}")
        module.get_part_path = lambda path=path: str(path)
        monkeypatch.setitem(sys.modules, module.__name__, module)
    whole = b"".join(chunks)
    spec = ModelSpec(
        role="drafter",
        upstream="Fake/Tiny-Model",
        module_prefix="fake_llamacpp_part",
        package_prefix="fake-llamacpp-part",
        version="1.0",
        parts=2,
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        gguf_name="tiny-q4.gguf",
    )
    monkeypatch.setitem(model_assets.SPECS, "drafter", spec)
    monkeypatch.setenv(model_assets.CACHE_ENV, str(tmp_path / "cache"))
    return spec, whole, tmp_path


def test_default_gguf_path_assembles_once_into_the_cache(fake_gguf_parts, monkeypatch):
    spec, whole, tmp_path = fake_gguf_parts
    path = model_assets.default_gguf_path("drafter")
    assert path.read_bytes() == whole
    assert path.parent.parent == tmp_path / "cache" and spec.sha256[:12] in path.name
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left

    def fail(*args, **kwargs):
        raise AssertionError("assembled again")

    monkeypatch.setattr(model_assets, "assemble_gguf", fail)
    assert model_assets.default_gguf_path("drafter") == path


def test_a_cached_gguf_of_the_wrong_size_is_assembled_again(fake_gguf_parts):
    _, whole, _ = fake_gguf_parts
    path = model_assets.default_gguf_path("drafter")
    path.write_bytes(whole[:10])
    assert model_assets.default_gguf_path("drafter").read_bytes() == whole


def test_corrupt_parts_leave_no_cached_gguf(fake_gguf_parts, monkeypatch):
    spec, _, _ = fake_gguf_parts
    monkeypatch.setitem(model_assets.SPECS, "drafter", ModelSpec(**{**vars(spec), "sha256": "0"}))
    with pytest.raises(ModelAssetsError, match="sha256"):
        model_assets.default_gguf_path("drafter")
    folder = model_assets.gguf_cache_path("drafter").parent
    assert not any(folder.iterdir())


def test_missing_parts_name_the_extra(fake_gguf_parts, monkeypatch):
    monkeypatch.setitem(sys.modules, "fake_llamacpp_part2", None)
    with pytest.raises(ModelAssetsError, match="pip install"):
        model_assets.default_gguf_path("drafter")


# ----------------------------------------------------------------------------- the engine
@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    require_extra("llama_cpp", "llamacpp")
    require_extra("gguf", "transformers")
    from llamacpp_tiny import write_tiny_gguf

    folder = tmp_path_factory.mktemp("tiny-gguf")
    return write_tiny_gguf(folder / "tiny.gguf"), write_tiny_gguf(
        folder / "flat.gguf", delimiter_bonus=0.0, eos_bonus=0.0
    )


@pytest.fixture(scope="module")
def tiny_model(tiny_gguf):
    from langgraph_specsearch.generators.llamacpp import LlamaCppModel

    return LlamaCppModel(tiny_gguf[0])


def _generator(model, **kwargs):
    from langgraph_specsearch.generators.llamacpp import LlamaCppThoughtGenerator

    kwargs.setdefault("n_ctx", 2048)
    return LlamaCppThoughtGenerator(model, name="tiny", **kwargs)


def test_exact_counts_per_path_in_one_batch(tiny_model):
    generator = _generator(tiny_model)
    result = generator.generate(QUESTION, [[], ["one step"], ["x"]], [3, 0, 2], SAMPLED)
    assert [len(row) for row in result] == [3, 0, 2]
    assert generator.last_details.model_calls == 1 and generator.last_details.sequences == 5
    thoughts = [t for row in result for t in row]
    assert [t.tokens for t in thoughts] == [len(ids) for ids in generator.last_token_ids]
    assert all(0 < t.tokens <= SAMPLED.max_new_tokens for t in thoughts)
    assert generator.last_details.new_tokens == sum(t.tokens for t in thoughts)
    assert generator.generate(QUESTION, [[]], [0], SAMPLED) == [[]]
    twice = generator.generate(QUESTION, [["same"], ["same"]], [1, 2], SAMPLED)
    assert [len(row) for row in twice] == [1, 2]  # one prompt read for both paths


def test_each_row_stops_at_the_token_that_completes_the_delimiter_or_at_eos(tiny_model):
    generator = _generator(tiny_model)
    model = generator.model
    reasons = set()
    for seed in range(4):
        settings = GenerationSettings(max_new_tokens=48, temperature=1.0, top_p=1.0, seed=seed)
        rows = generator.generate(QUESTION, [[], ["a"]], [4, 4], settings)
        for thought, ids in zip(
            [t for row in rows for t in row], generator.last_token_ids, strict=True
        ):
            reasons.add(thought.finish_reason)
            text = model.detokenize(ids)
            assert "\n\n" not in thought.text
            if thought.finish_reason == "delimiter":
                assert cut_at_delimiter(text, "\n\n")[1]
                assert not cut_at_delimiter(model.detokenize(ids[:-1]), "\n\n")[1]
                assert not model.is_eog(ids[-1])
            elif thought.finish_reason == "eos":
                assert model.is_eog(ids[-1]) and not any(model.is_eog(t) for t in ids[:-1])
            elif thought.finish_reason == "length":
                assert len(ids) == settings.max_new_tokens
    assert {"delimiter", "eos"} <= reasons, reasons


def test_another_delimiter_is_honoured(tiny_model):
    generator = _generator(tiny_model)
    settings = GenerationSettings(max_new_tokens=64, temperature=1.0, top_p=1.0, delimiter="a")
    for thought, ids in zip(
        generator.generate(QUESTION, [[]], [6], settings)[0],
        generator.last_token_ids,
        strict=True,
    ):
        assert "a" not in thought.text
        if thought.finish_reason == "delimiter":
            assert "a" in generator.model.detokenize(ids).lstrip("\n")


def test_same_seed_same_thoughts_warm_or_cold_and_another_seed_differs(tiny_gguf, tiny_model):
    from langgraph_specsearch.generators.llamacpp import LlamaCppModel

    generator = _generator(tiny_model)
    paths, counts = [[], ["a step"]], [3, 2]
    first = generator.generate(QUESTION, paths, counts, SAMPLED)
    prompts = [generator.tokenize(generator.render_prompt(QUESTION, p, "\n\n")) for p in paths]
    # cold, the second path shares the question the first read (all of it but its last token)
    common = min(_shared_prefix(*prompts), len(prompts[0]) - 1)
    assert common >= 32
    assert generator.last_details.reused_tokens == common
    again = generator.generate(QUESTION, paths, counts, SAMPLED)
    assert generator.last_details.reused_tokens > 0  # the prompts came from the cache
    assert generator.last_details.prefill_tokens == 2  # only their last tokens were read
    assert again == first
    fresh = _generator(LlamaCppModel(tiny_gguf[0]))  # another load: the same numbers
    assert fresh.generate(QUESTION, paths, counts, SAMPLED) == first
    other = generator.generate(
        QUESTION, paths, counts, GenerationSettings(**{**vars(SAMPLED), "seed": 4})
    )
    assert other != first
    assert len({t.text for row in first for t in row}) > 1  # rows draw apart too


def test_a_longer_path_reads_only_its_new_tokens(tiny_model):
    generator = _generator(tiny_model)
    generator.generate(QUESTION, [["first step"]], [1], SAMPLED)
    prompt = generator.tokenize(generator.render_prompt(QUESTION, ["first step"], "\n\n"))
    generator.generate(QUESTION, [["first step", "second"]], [2], SAMPLED)
    longer = generator.tokenize(generator.render_prompt(QUESTION, ["first step", "second"], "\n\n"))
    assert generator.last_details.reused_tokens == len(prompt)
    assert generator.last_details.prefill_tokens == len(longer) - len(prompt)


def test_two_children_of_a_cached_path_each_read_only_their_own_step(tiny_model):
    """The first child extends the cached path in place; the second shares the path's cells
    from it (they were cached before the call) instead of reading the path again."""
    generator = _generator(tiny_model)
    generator.generate(QUESTION, [["first step"]], [1], SAMPLED)
    parent = generator.tokenize(generator.render_prompt(QUESTION, ["first step"], "\n\n"))
    paths = [["first step", "a"], ["first step", "b"]]
    rows = generator.generate(QUESTION, paths, [2, 1], SAMPLED)
    children = [generator.tokenize(generator.render_prompt(QUESTION, p, "\n\n")) for p in paths]
    assert generator.last_details.reused_tokens == 2 * len(parent)
    assert generator.last_details.prefill_tokens == sum(len(c) - len(parent) for c in children)
    fresh = _generator(tiny_model)  # the shared cells are the path's: the same thoughts cold
    assert fresh.generate(QUESTION, paths, [2, 1], SAMPLED) == rows


def test_two_paths_from_a_question_never_read_read_the_question_once(tiny_gguf):
    """Nothing cached: the first path's prompt is read before the second's, which shares the
    question's cells; greedy thoughts equal those of each path read alone from empty caches."""
    from langgraph_specsearch.generators.llamacpp import LlamaCppModel

    model = LlamaCppModel(tiny_gguf[1])  # flat: greedy wanders, so wrong cells would show
    question = "How many rolls are left after the baker sells fifty of them? " * 2
    settings = GenerationSettings(max_new_tokens=24, temperature=0.0, delimiter="@@")
    paths = [["first step"], ["another step"]]
    generator = _generator(model)
    together = generator.generate(question, paths, [1, 1], settings)
    prompts = [generator.tokenize(generator.render_prompt(question, p, "@@")) for p in paths]
    common = _shared_prefix(*prompts)
    assert common >= 32  # enough to be worth the extra read
    assert generator.last_details.reused_tokens == common
    assert generator.last_details.prefill_tokens == sum(map(len, prompts)) - common
    alone = []
    for path in paths:
        generator.clear_prefix_cache()
        alone += generator.generate(question, [path], [1], settings)
    assert together == alone


def test_chunked_calls_give_each_row_the_same_thoughts(tiny_model):
    whole = _generator(tiny_model)
    chunked = _generator(tiny_model, max_batch_size=2, prefix_cache_size=1)
    paths, counts = [[], ["p"], ["q"]], [2, 2, 1]
    expected = whole.generate(QUESTION, paths, counts, SAMPLED)
    assert chunked.generate(QUESTION, paths, counts, SAMPLED) == expected
    assert chunked.last_details.model_calls == 3


def test_a_full_cache_drops_old_prompts_and_keeps_going(tiny_model):
    generator = _generator(tiny_model, n_ctx=1024, prefix_cache_size=4)
    settings = GenerationSettings(max_new_tokens=16, temperature=1.0, seed=1)
    for index in range(6):
        question = f"Question number {index}: " + "how many? " * 10
        rows = generator.generate(question, [[], ["a"]], [2, 2], settings)
        assert [len(row) for row in rows] == [2, 2]
    assert generator.context.stats.evictions > 0 and len(generator.context.slots) <= 4
    fresh = _generator(tiny_model, n_ctx=1024)  # no stale cells were read
    assert fresh.generate(question, [[], ["a"]], [2, 2], settings) == rows


def test_greedy_is_llama_cpps_own_greedy_continuation(tiny_gguf):
    import llama_cpp

    from langgraph_specsearch.generators.llamacpp import LlamaCppModel

    flat = tiny_gguf[1]  # no delimiter bonus: greedy wanders through the vocabulary
    generator = _generator(LlamaCppModel(flat))
    settings = GenerationSettings(max_new_tokens=24, temperature=0.0, delimiter="@@")
    rows = generator.generate(QUESTION, [["a"]], [3], settings)[0]
    assert rows[0] == rows[1] == rows[2]
    ids = generator.tokenize(generator.render_prompt(QUESTION, ["a"], "@@"))
    reference = llama_cpp.Llama(model_path=str(flat), n_ctx=2048, verbose=False)
    expected = []
    for token in reference.generate(ids, temp=0.0, top_k=0, top_p=1.0, min_p=0.0):
        expected.append(token)
        if len(expected) == len(generator.last_token_ids[0]):
            break
    assert generator.last_token_ids[0] == expected


def test_bad_calls_are_refused(tiny_model):
    generator = _generator(tiny_model, n_ctx=1024)
    with pytest.raises(ValueError, match="counts"):
        generator.generate(QUESTION, [[]], [1, 2], SAMPLED)
    with pytest.raises(ValueError, match=">= 0"):
        generator.generate(QUESTION, [[]], [-1], SAMPLED)
    with pytest.raises(ValueError, match="does not fit"):
        generator.generate(QUESTION, [[]], [1], GenerationSettings(max_new_tokens=5000))
    generator.check_question(QUESTION)
    with pytest.raises(ValueError, match="question too long"):
        generator.check_question("how many? " * 200)


def test_a_missing_file_says_so(tmp_path):
    require_extra("llama_cpp", "llamacpp")
    from langgraph_specsearch.generators.llamacpp import LlamaCppThoughtGenerator

    with pytest.raises(FileNotFoundError):
        LlamaCppThoughtGenerator.from_gguf(tmp_path / "missing.gguf")


def test_the_graph_accepts_the_generator(tiny_model):
    from langgraph_specsearch.generators.base import ThoughtGenerator

    assert isinstance(_generator(tiny_model), ThoughtGenerator)


# ----------------------------------------------------------------------------- the scorer
PATHS = [
    ["two plus two", "is four"],
    ["two plus two", "is five"],
    ["hmm"],
    ["two plus two", ""],
    ["two plus two", "is four"],  # a duplicate gets the very same score
]


def _reference_mean_log_prob(scorer, question, steps) -> float:
    """The last step's mean log-prob from llama-cpp-python's own logits at every position."""
    import llama_cpp
    import numpy as np

    generator = scorer.generator
    context = generator.tokenize(generator.render_prompt(question, steps[:-1], "\n\n"))
    last = generator.tokenize(steps[-1]) or [generator.model.pad_id]
    tokens = context + last
    llm = llama_cpp.Llama(
        model_path=str(scorer.generator.model.path), n_ctx=2048, logits_all=True, verbose=False
    )
    llm.eval(tokens)
    scores = np.asarray(llm.scores[: len(tokens)], dtype=np.float64)
    values = []
    for offset, token in enumerate(last):
        row = scores[len(context) + offset - 1]  # the position before predicts the token
        top = row.max()
        values.append(row[token] - top - math.log(np.exp(row - top).sum()))
    return sum(values) / len(values)


@pytest.fixture(scope="module")
def tiny_scorer(tiny_model):
    from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer

    return LlamaCppLikelihoodScorer.from_generator(_generator(tiny_model), raw=True, n_ctx=2048)


def test_the_score_is_the_mean_log_prob_from_llama_cpps_logits(tiny_scorer):
    got = tiny_scorer.score_last([QUESTION] * len(PATHS), PATHS)
    expected = [_reference_mean_log_prob(tiny_scorer, QUESTION, steps) for steps in PATHS]
    assert got == pytest.approx(expected, abs=1e-2)  # batch shapes round differently
    assert got[0] == got[-1]


def test_scores_repeat_exactly_from_the_cache_and_agree_across_interfaces(tiny_scorer):
    from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer

    tiny_scorer.clear_prefix_cache()
    first = tiny_scorer.score_last([QUESTION] * len(PATHS), PATHS)
    before = tiny_scorer.context.stats.reused
    assert tiny_scorer.score_last([QUESTION] * len(PATHS), PATHS) == first
    assert tiny_scorer.context.stats.reused > before
    every = tiny_scorer.score([QUESTION] * len(PATHS), PATHS)
    assert [len(row) for row in every] == [len(p) for p in PATHS]
    assert [row[-1] for row in every] == pytest.approx(first, abs=1e-3)
    assert tiny_scorer(QUESTION, PATHS[0]) == pytest.approx(first[0], abs=1e-3)
    squashed = LlamaCppLikelihoodScorer.from_generator(tiny_scorer.generator)
    assert squashed.score_last([QUESTION], [PATHS[1]]) == pytest.approx(
        [math.exp(first[1])], rel=1e-6
    )
    assert squashed.context.model is tiny_scorer.generator.model  # one load of the weights
    with pytest.raises(ValueError, match="empty path"):
        tiny_scorer.score_last([QUESTION], [[]])


def test_a_scorer_sharing_the_generators_context_reads_what_generation_read_once(tiny_model):
    """``share_context=True`` (the default): the scorer finds the question the generator read,
    and the generator then finds the path the scorer read; the scores are those of a scorer
    with a context of its own (``share_context=False``)."""
    from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer

    generator = _generator(tiny_model)
    shared = LlamaCppLikelihoodScorer.from_generator(generator, raw=True, reuse_generation=False)
    own = LlamaCppLikelihoodScorer.from_generator(
        _generator(tiny_model), raw=True, n_ctx=2048, reuse_generation=False, share_context=False
    )
    assert shared.context is generator.context and own.context is not generator.context
    generator.generate(QUESTION, [[]], [2], SAMPLED)  # the target writes the first step
    question = generator.tokenize(generator.render_prompt(QUESTION, [], "\n\n"))
    paths = [["two plus two", "is four"], ["two plus two", "is five"]]
    before = generator.context.stats.reused
    scores = shared.score_last([QUESTION] * 2, paths)
    assert generator.context.stats.reused - before >= len(question) - 1
    assert scores == pytest.approx(own.score_last([QUESTION] * 2, paths), abs=1e-4)
    path = generator.tokenize(generator.render_prompt(QUESTION, paths[0][:1], "\n\n"))
    generator.generate(QUESTION, [paths[0][:1]], [2], SAMPLED)  # correcting after that path
    assert generator.last_details.prefill_tokens == 1  # its last token only: the rest cached
    assert generator.last_details.reused_tokens == len(path) - 1


def test_steps_the_scoring_model_wrote_are_scored_from_their_generation(tiny_model):
    """Free self-scoring on llama.cpp (issue 16): the generator keeps each delimiter-ended step's
    mean log-prob from the raw logits it sampled from, and the scorer uses it instead of a pass;
    the kept value is what a pass computes over the same tokens after the same prompt.

    The random tiny model writes bytes that are not UTF-8, so its text does not re-tokenize to
    what it wrote; the step's tokens as a pass reads them are given here (the generated ones
    without the delimiter). The real model's agreement through text is checked in
    tests/integration/test_llamacpp_real.py.
    """
    from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer

    writer = _generator(tiny_model)
    free = LlamaCppLikelihoodScorer.from_generator(writer, raw=True, n_ctx=2048)
    paid = LlamaCppLikelihoodScorer.from_generator(
        _generator(tiny_model), raw=True, n_ctx=2048, reuse_generation=False
    )
    paths = [[], ["First step."]]
    groups = writer.generate(QUESTION, paths, [4, 4], SAMPLED)
    flat = [(p, t) for p, g in zip(paths, groups, strict=True) for t in g]
    rows = [
        (path, thought, ids)
        for (path, thought), ids in zip(flat, writer.last_token_ids, strict=True)
        if thought.finish_reason == "delimiter" and len(ids) > 1
    ]
    assert rows, "the tiny model should end some steps at the delimiter"
    as_read = {thought.text: ids[:-1] for _, thought, ids in rows}  # the delimiter token is last
    real_tokenize = writer.tokenize
    writer.tokenize = lambda text: as_read.get(text) or real_tokenize(text)
    writer.clear_prefix_cache()
    writer.generate(QUESTION, paths, [4, 4], SAMPLED)  # the same rows again, now kept
    for path, thought, ids in rows:
        prompt = writer.render_prompt(QUESTION, path, "\n\n")
        span = len(ids) - 1
        found = paid._log_probs([real_tokenize(prompt)], [ids[:span]], [set(range(span))])[0]
        expected = sum(found.values()) / span
        assert writer.self_scores.get(prompt, thought.text) == pytest.approx(expected, abs=1e-3)
    written = [[*path, thought.text] for path, thought, _ in rows]
    free.score_last([QUESTION] * len(written), written)
    assert free.reused == len(written) and paid.reused == 0
    free.score_last([QUESTION], [["First step.", "a step it never wrote"]])
    assert free.reused == len(written)


def test_the_scored_tokens_are_the_pass_s_when_generation_saw_the_same_context():
    from langgraph_specsearch.generators.self_scores import scored_tokens

    assert scored_tokens([5, 6, 7], [5, 6, 7, 9]) == [5, 6, 7]  # then a delimiter-only token
    assert scored_tokens([5, 6, 8], [5, 6, 7]) == [5, 6, 8]  # "." where ".\n\n" was written
    assert scored_tokens([5, 4, 7], [5, 6, 7, 9]) is None  # another context mid-step
    assert scored_tokens([5, 6, 7, 8], [5, 6, 7]) is None  # longer than what was written
    assert scored_tokens([], [5]) is None


def test_concurrent_calls_merge_into_one_batch_and_keep_their_own_samples(tiny_model):
    """Many searches, one engine: calls that wait for the engine run as one batch, and every row
    keeps its own call's seed, so each call gets what it would have drawn alone."""
    generator = _generator(tiny_model, max_batch_size=4)
    calls = [
        (QUESTION, [[], ["a step"]], [2, 1], 5),
        ("What is 3 + 3?", [[]], [3], 6),
        (QUESTION, [["a step"]], [2], 7),
    ]

    def settings(seed: int) -> GenerationSettings:
        return GenerationSettings(**{**vars(SAMPLED), "seed": seed})

    alone = [generator.generate(q, p, c, settings(s)) for q, p, c, s in calls]
    assert generator.merger.stats.merged_batches == 0

    def work(index: int):
        question, paths, counts, seed = calls[index]
        return lambda: generator.generate(question, paths, counts, settings(seed))

    results = run_behind_a_held_batch(generator, "_generate_chunk", [work(i) for i in range(3)])
    stats = generator.merger.stats
    assert (stats.batches, stats.merged_batches, stats.widest) == (5, 1, 2)
    assert results == alone
    assert generator.last_details.sequences == 5  # the merged batch held both calls' rows
    assert generator.last_details.model_calls == 2  # 5 rows in chunks of 4


def test_steps_that_ended_on_the_token_limit_are_scored_from_their_generation_too(tiny_model):
    """However a step ended, a pass reads nothing after it: a step cut by ``max_new_tokens``
    (here every row) keeps the mean log-prob a pass computes over its tokens."""
    from dataclasses import replace

    from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer

    writer = _generator(tiny_model)
    LlamaCppLikelihoodScorer.from_generator(writer, raw=True, n_ctx=2048)  # records self-scores
    paid = LlamaCppLikelihoodScorer.from_generator(
        _generator(tiny_model), raw=True, n_ctx=2048, reuse_generation=False
    )
    short = replace(SAMPLED, max_new_tokens=3, delimiter="")
    groups = writer.generate(QUESTION, [[], ["First step."]], [3, 3], short)
    rows = [t for group in groups for t in group]
    assert {t.finish_reason for t in rows} == {"length"}
    as_read = {t.text: ids for t, ids in zip(rows, writer.last_token_ids, strict=True)}
    real_tokenize = writer.tokenize
    writer.tokenize = lambda text: as_read.get(text) or real_tokenize(text)
    writer.clear_prefix_cache()
    writer.generate(QUESTION, [[], ["First step."]], [3, 3], short)  # again, now kept
    for path, group in zip([[], ["First step."]], groups, strict=True):
        prompt = writer.render_prompt(QUESTION, path, "")
        for thought in group:
            ids = as_read[thought.text]
            found = paid._log_probs([real_tokenize(prompt)], [ids], [set(range(len(ids)))])[0]
            expected = sum(found.values()) / len(ids)
            assert writer.self_scores.get(prompt, thought.text) == pytest.approx(expected, abs=1e-3)


def test_llama_cpp_models_share_the_cpu_queue_and_a_scoring_pass_waits_its_turn(tiny_model):
    """Generators on the CPU share the process's CPU queue (with transformers models too), so a
    scoring pass never runs beside another search's batch on the same cores."""
    import threading

    from langgraph_specsearch.generators.merging import device_queue
    from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer

    generator = _generator(tiny_model)
    assert generator.merger.queue is device_queue("cpu") is _generator(tiny_model).merger.queue
    scorer = LlamaCppLikelihoodScorer.from_generator(generator, raw=True, n_ctx=2048)
    scored: list[float] = []
    thread = threading.Thread(target=lambda: scored.extend(scorer.score_last([QUESTION], [["a"]])))
    with generator.merger.queue.exclusive():
        thread.start()
        thread.join(0.3)
        assert scored == [] and thread.is_alive()
    thread.join(10)
    assert len(scored) == 1


def test_a_search_runs_every_llama_cpp_decode_on_the_devices_one_thread(tiny_model, monkeypatch):
    """LangGraph calls the models from several threads; llama.cpp's OpenMP keeps a thread team
    per calling thread, and two living teams on a small machine slowed every decode step 10-80%
    (generators/merging.py). The drafter, the target and the scorer sharing its context all
    decode on the CPU queue's one thread, never on a caller's."""
    import threading

    from langgraph_specsearch.config import SpecSearchConfig
    from langgraph_specsearch.generators import llamacpp
    from langgraph_specsearch.runnable import SpecSearch
    from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer

    lib = llamacpp._lib()
    decode = lib.llama_decode
    threads: list[int] = []

    def recorded(context, batch):
        threads.append(threading.get_ident())
        return decode(context, batch)

    monkeypatch.setattr(lib, "llama_decode", recorded)
    drafter, target = _generator(tiny_model), _generator(tiny_model)
    scorer = LlamaCppLikelihoodScorer.from_generator(target)
    config = SpecSearchConfig(beam_width=2, width=2, n_drafts=2, max_depth=2, max_step_tokens=8)
    SpecSearch(drafter, target, scorer, config=config).invoke("two plus two")
    assert len(threads) > 10
    assert len(set(threads)) == 1
    assert threads[0] != threading.get_ident()
