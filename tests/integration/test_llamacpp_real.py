"""The llama.cpp engine on the real default pair (Qwen2.5-Coder 0.5B and 1.5B, shipped Q4_K_M).

Needs the model parts (gated like the other real-model tests: a skip, or a failure in CI) and the
``[llamacpp]`` extra (skipped without it); the prompt and scorer checks also load the transformers
pair. Each test asks for a few short rows so it takes seconds on an idle 2-core machine.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from extras import require_extra

from langgraph_specsearch.generators.base import GenerationSettings, cut_at_delimiter

pytestmark = pytest.mark.real_models

QUESTION = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
    "May. How many clips did Natalia sell altogether in April and May?"
)
FIRST_STEP = "In April, Natalia sold 48 clips."
DRAFTED = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "prm_drafted.jsonl"


@pytest.fixture(scope="module")
def llama_pair(require_models):
    """``(drafter, target)`` on llama.cpp, from the cached GGUFs (assembled on first use)."""
    require_models("drafter")
    require_models("target")
    require_extra("llama_cpp", "llamacpp")
    from langgraph_specsearch.presets.assets import load_default_llamacpp_generator

    return load_default_llamacpp_generator("drafter"), load_default_llamacpp_generator("target")


def test_prompts_and_their_tokens_are_the_transformers_backends(real_pair, llama_pair):
    for torch_model, llama_model in zip(real_pair, llama_pair, strict=True):
        for steps in ([], [FIRST_STEP], [FIRST_STEP, "So  she sold 48 / 2 = 24 in May.  "]):
            text = torch_model.render_prompt(QUESTION, steps, "\n\n")
            assert llama_model.render_prompt(QUESTION, steps, "\n\n") == text
            expected = torch_model.tokenizer(text, add_special_tokens=False)["input_ids"]
            assert llama_model.tokenize(text) == expected


def test_exact_counts_and_each_row_stops_at_the_delimiter(llama_pair):
    drafter, _ = llama_pair
    settings = GenerationSettings(max_new_tokens=64, temperature=0.7, top_p=0.95, seed=1)
    counts = [3, 2]
    result = drafter.generate(QUESTION, [[], [FIRST_STEP]], counts, settings)
    assert [len(row) for row in result] == counts
    assert drafter.last_details.model_calls == 1  # every row in one batch
    thoughts = [t for row in result for t in row]
    stops = 0
    for thought, ids in zip(thoughts, drafter.last_token_ids, strict=True):
        assert thought.tokens == len(ids) and 0 < thought.tokens <= settings.max_new_tokens
        assert "\n\n" not in thought.text and thought.text.strip()
        text = drafter.model.detokenize(ids)
        if thought.finish_reason == "delimiter":
            stops += 1
            assert cut_at_delimiter(text, "\n\n")[1]  # the last token completed the delimiter
            assert not cut_at_delimiter(drafter.model.detokenize(ids[:-1]), "\n\n")[1]
        elif thought.finish_reason == "eos":
            stops += 1
            assert drafter.model.is_eog(ids[-1])
        else:
            assert thought.finish_reason == "length" and thought.tokens == 64
    assert stops >= 3, thoughts


def test_same_seed_same_thoughts_another_seed_other_thoughts(llama_pair):
    drafter, _ = llama_pair
    settings = GenerationSettings(max_new_tokens=12, temperature=0.7, top_p=0.95, seed=7)
    first = drafter.generate(QUESTION, [[FIRST_STEP]], [2], settings)
    assert drafter.generate(QUESTION, [[FIRST_STEP]], [2], settings) == first
    other = GenerationSettings(max_new_tokens=12, temperature=0.7, top_p=0.95, seed=8)
    assert drafter.generate(QUESTION, [[FIRST_STEP]], [2], other) != first


def test_greedy_is_llama_cpps_own_greedy_continuation(llama_pair):
    import llama_cpp

    drafter, _ = llama_pair
    settings = GenerationSettings(max_new_tokens=20, temperature=0.0, delimiter="@@")
    rows = drafter.generate(QUESTION, [[FIRST_STEP]], [2], settings)[0]
    assert rows[0] == rows[1]
    ids = drafter.tokenize(drafter.render_prompt(QUESTION, [FIRST_STEP], "@@"))
    reference = llama_cpp.Llama(
        model_path=str(drafter.model.path), n_ctx=1024, n_threads=drafter.n_threads, verbose=False
    )
    expected: list[int] = []
    for token in reference.generate(ids, temp=0.0, top_k=0, top_p=1.0, min_p=0.0):
        expected.append(token)
        if len(expected) == len(drafter.last_token_ids[0]):
            break
    assert drafter.last_token_ids[0] == expected


def _spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (ties get their average rank)."""

    def ranks(values: list[float]) -> list[float]:
        return [sum(v < x for v in values) + (sum(v == x for v in values) + 1) / 2 for x in values]

    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.mean(ra), statistics.mean(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    den = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return num / den


def test_the_likelihood_scorer_agrees_with_the_transformers_one(real_pair, llama_pair):
    """Q4_K_M against its bfloat16 dequantization: the same ranking, per-token log-probs close.

    On the drafter, to keep the test short (it reads eight questions twice); the target's
    agreement on 40 steps is in benchmarks/results/engine_speed.json.
    """
    from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer
    from langgraph_specsearch.scorers.transformers import LikelihoodScorer

    rows = [json.loads(line) for line in DRAFTED.read_text().splitlines()][::75]  # 8 questions
    questions = [row["question"] for row in rows]
    paths = [[*row["previous"], row["step"]] for row in rows]
    ours = LlamaCppLikelihoodScorer.from_generator(llama_pair[0], raw=True)
    theirs = LikelihoodScorer.from_generator(real_pair[0], raw=True)
    a = ours.score_last(questions, paths)
    b = theirs.score_last(questions, paths)
    assert _spearman(a, b) >= 0.95, (a, b)
    assert statistics.mean(abs(x - y) for x, y in zip(a, b, strict=True)) <= 0.05, (a, b)


def test_a_whole_specsearch_on_the_llamacpp_pair_finishes(llama_pair):
    from langgraph_specsearch import SpecSearchConfig
    from langgraph_specsearch.graph.factory import create_specsearch_graph
    from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer

    drafter, target = llama_pair
    scorer = LlamaCppLikelihoodScorer.from_generator(target)
    config = SpecSearchConfig(
        beam_width=2, width=3, n_drafts=3, max_depth=2, max_step_tokens=24, seed=0
    )
    graph = create_specsearch_graph(drafter, target, scorer, config=config)
    result = graph.invoke({"question": QUESTION})
    assert result["steps"] and len(result["steps"]) <= 2
    stats = result["stats"]
    assert stats["steps"] >= 1 and stats["tokens"]["drafter"] > 0
    assert stats["tokens"]["target"] > 0
    assert stats["accepted"] + stats["rejected"] == stats["drafted"]


def test_the_targets_own_thoughts_are_scored_for_free_and_agree_with_a_pass(
    llama_pair, free_against_paid
):
    """Issue 16: the llama.cpp target keeps each thought's mean log-prob from the logits it
    sampled from; its scorer uses it and it agrees with a pass over the thought's text."""
    from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer

    _, target = llama_pair
    free = LlamaCppLikelihoodScorer.from_generator(target, raw=True)
    paid = LlamaCppLikelihoodScorer.from_generator(target, raw=True, reuse_generation=False)
    free_against_paid(target, free, paid, QUESTION, [[], [FIRST_STEP]])
