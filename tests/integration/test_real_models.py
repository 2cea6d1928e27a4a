"""The real default pair (Qwen2.5-Coder 0.5B drafter, 1.5B target): small, slow-ish checks."""

from __future__ import annotations

import time

import pytest

from langgraph_specsearch.generators.base import GenerationSettings

pytestmark = pytest.mark.real_models

QUESTION = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
    "May. How many clips did Natalia sell altogether in April and May?"
)
FIRST_STEP = "In April, Natalia sold 48 clips."


def test_cache_is_reused_on_the_second_load(real_pair):
    from langgraph_specsearch.generators.transformers import TransformersThoughtGenerator
    from langgraph_specsearch.presets.assets import is_cached, prepare_default_model

    for role in ("drafter", "target"):
        assert is_cached(role)
        again = prepare_default_model(role)
        assert not again.converted
        assert again.seconds < 1.0
        assert (again.path / "model.safetensors").is_file()
    start = time.perf_counter()
    TransformersThoughtGenerator.from_pretrained(prepare_default_model("drafter").path)
    assert time.perf_counter() - start < 60  # about a second on an idle machine; shared CI is not


def test_batched_drafter_returns_exactly_the_requested_thoughts(real_pair):
    drafter, _ = real_pair
    settings = GenerationSettings(max_new_tokens=64, temperature=0.7, top_p=0.95, seed=1)
    counts = [3, 2]
    result = drafter.generate(QUESTION, [[], [FIRST_STEP]], counts, settings)
    assert [len(row) for row in result] == counts
    assert drafter.last_details.model_calls == 1  # all frontier nodes in one generate call
    boundaries = 0
    for thought in (t for row in result for t in row):
        assert 0 < thought.tokens <= settings.max_new_tokens
        assert "\n\n" not in thought.text
        assert thought.text.strip()
        if thought.finish_reason in ("delimiter", "eos"):
            boundaries += 1
        else:
            assert thought.finish_reason == "length"
            assert thought.tokens == settings.max_new_tokens
    assert boundaries >= 4, [t for row in result for t in row]


def test_greedy_assisted_is_token_identical_to_plain_greedy(real_pair):
    drafter, target = real_pair
    settings = GenerationSettings(max_new_tokens=24, temperature=0.0)
    paths = [[FIRST_STEP]]
    plain, used_plain = target.generate_speculative(
        QUESTION, paths, [1], settings, assistant=drafter, strategy="batched"
    )
    plain_ids = _last_ids(target)
    assisted, used = target.generate_speculative(
        QUESTION, paths, [1], settings, assistant=drafter, strategy="speculative"
    )
    assert (used_plain, used) == ("batched", "speculative")
    assert assisted == plain
    assert _last_ids(target) == plain_ids


def _last_ids(generator) -> list[int]:
    return list(generator.last_token_ids[0])


def test_likelihood_scorer_ranks_correct_over_wrong_over_irrelevant(real_pair):
    from langgraph_specsearch.scorers.transformers import LikelihoodScorer

    _, target = real_pair
    scorer = LikelihoodScorer.from_generator(target, raw=True)
    paths = [
        [FIRST_STEP, "In May, she sold half as many: 48 / 2 = 24 clips."],
        [FIRST_STEP, "In May, she sold half as many: 48 / 2 = 31 clips."],
        [FIRST_STEP, "The capital of France is Paris, famous for the Eiffel Tower."],
    ]
    correct, wrong, irrelevant = scorer.score_last([QUESTION] * 3, paths)
    assert correct > wrong > irrelevant
    unshared = LikelihoodScorer.from_generator(target, raw=True, share_prefix=False)
    assert unshared.score_last([QUESTION] * 3, paths) == pytest.approx(
        [correct, wrong, irrelevant], abs=0.05
    )  # bfloat16: the shared-prefix pass differs only by rounding


def test_specsearch_solves_an_easy_gsm8k_problem_end_to_end(real_pair):
    """The main job's settings: its default scorer, N=3, M=3; drafts must really be used."""
    from langgraph_specsearch import SpecSearch, SpecSearchConfig
    from langgraph_specsearch.presets import DEFAULT_SCORER, make_scorer

    drafter, target = real_pair
    config = SpecSearchConfig(width=3, n_drafts=3, max_depth=8, max_step_tokens=64, seed=0)
    scorer = make_scorer(DEFAULT_SCORER, drafter, target)
    result = SpecSearch(drafter=drafter, target=target, scorer=scorer, config=config).invoke(
        QUESTION
    )
    assert result.steps, result
    assert result.answer is not None and float(result.answer) == 72, (result.answer, result.steps)
    stats = result.stats
    assert result.finished and stats["steps"] >= 2
    assert stats["drafted"] > 0 and stats["tokens"]["drafter"] > 0
    assert stats["tokens"]["target"] > 0  # the target writes the first step (beta's warm-up)
    assert stats["accepted"] + stats["rejected"] == stats["drafted"]
    assert all(node["model"] in ("drafter", "target") for node in result.path)
    assert stats["total_seconds"] > 0


def test_mcts_with_speculative_expansion_on_the_real_pair(real_pair, tmp_path):
    """Issue 17: MCTS through the draft/evaluate/reject/correct nodes on real models; visit
    counts add up, values are real scores, and a checkpointed run resumes to the same tree."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from langgraph_specsearch import SpecSearch, SpecSearchConfig
    from langgraph_specsearch.presets import DEFAULT_SCORER, make_scorer

    drafter, target = real_pair
    config = SpecSearchConfig(
        search="mcts",
        mcts_simulations=2,
        width=2,
        n_drafts=2,
        max_depth=4,
        max_step_tokens=48,
        seed=0,
        # "auto" picks assisted or batched corrections by the speed measured so far, which a
        # loaded machine changes between the two runs; a fixed strategy repeats token for token
        correction="batched",
    )
    scorer = make_scorer(DEFAULT_SCORER, drafter, target)
    result = SpecSearch(drafter=drafter, target=target, scorer=scorer, config=config).invoke(
        QUESTION
    )
    nodes = list(result.tree.nodes.values())
    assert result.steps and result.stats["drafted"] > 0
    expanded = [n for n in nodes if n.get("visits", 0) > 0]
    assert expanded, "no thought was visited"
    for node in expanded:
        children = [c for c in nodes if c["parent"] == node["id"] and c.get("visits", 0)]
        # a node's visits are its children's plus the simulations that stopped at it
        assert sum(c["visits"] for c in children) <= node["visits"]
        assert node.get("value") is None or 0.0 <= node["value"] <= 1.0
    assert all(n["model"] in ("drafter", "target") for n in result.path)
    with SqliteSaver.from_conn_string(str(tmp_path / "mcts.sqlite")) as saver:
        resumed = SpecSearch(
            drafter=drafter, target=target, scorer=scorer, config=config, checkpointer=saver
        )
        thread = {"configurable": {"thread_id": "mcts-real"}}
        again = resumed.invoke(QUESTION, thread)
        assert again.steps == result.steps  # seeded: the same search, checkpointed
        assert resumed.graph.get_state(thread).values["mcts"] is not None


def test_the_targets_own_thoughts_are_scored_for_free_and_agree_with_a_pass(
    real_pair, free_against_paid
):
    """Issue 16: with the target's likelihood as scorer, the target's thoughts (AR's, and the
    corrections) are scored from the logits that wrote them; on the real target this agrees
    with a separate pass to a few hundredths of a nat per token."""
    from langgraph_specsearch.scorers.transformers import LikelihoodScorer

    _, target = real_pair
    free = LikelihoodScorer.from_generator(target, raw=True)
    paid = LikelihoodScorer.from_generator(target, raw=True, reuse_generation=False)
    free_against_paid(target, free, paid, QUESTION, [[], [FIRST_STEP]])
