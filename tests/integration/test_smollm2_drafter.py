"""SmolLM2-135M as a thought drafter for the 1.5B target: another tokenizer, thought level only."""

from __future__ import annotations

import pytest
from test_real_models import FIRST_STEP, QUESTION

from langgraph_specsearch.generators.base import GenerationSettings, can_speculate

pytestmark = pytest.mark.real_models


@pytest.fixture(scope="module")
def smollm2(require_models):
    from langgraph_specsearch.presets.assets import load_default_generator

    require_models("smollm2-135m")
    return load_default_generator("smollm2-135m")


def test_smollm2_drafts_thoughts_but_is_no_token_level_assistant(smollm2, real_pair):
    _, target = real_pair
    assert smollm2.name == "SmolLM2-135M-Instruct"
    assert not can_speculate(target, smollm2)  # its vocabulary differs from Qwen's
    settings = GenerationSettings(max_new_tokens=48, temperature=0.7, top_p=0.95, seed=1)
    result = smollm2.generate(QUESTION, [[], [FIRST_STEP]], [2, 1], settings)
    assert [len(row) for row in result] == [2, 1]
    assert all(thought.text.strip() and thought.tokens > 0 for row in result for thought in row)


def test_specsearch_with_smollm2_corrects_with_batched_target_generation(smollm2, real_pair):
    from langgraph_specsearch import SpecSearch, SpecSearchConfig
    from langgraph_specsearch.presets import DEFAULT_SCORER, make_scorer

    _, target = real_pair
    scorer = make_scorer(DEFAULT_SCORER, smollm2, target)
    config = SpecSearchConfig(width=2, n_drafts=2, max_depth=3, max_step_tokens=48, seed=0)
    with pytest.raises(ValueError, match="correction='speculative'"):
        SpecSearch(
            drafter=smollm2,
            target=target,
            scorer=scorer,
            config=config.model_copy(update={"correction": "speculative"}),
        )
    result = SpecSearch(drafter=smollm2, target=target, scorer=scorer, config=config).invoke(
        QUESTION
    )
    stats = result.stats
    assert stats["drafted"] > 0 and stats["tokens"]["drafter"] > 0
    assert stats["accepted"] + stats["rejected"] == stats["drafted"]
    assert set(stats["correction_strategies"]) <= {"batched"}
    assert stats["correction_strategies"].get("batched", 0) > 0
