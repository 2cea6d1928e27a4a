# ruff: noqa: E402  (the imports below need the extras require_extra checks first)
"""The transformers code paths print no deprecation notices (issue 15): a user's terminal shows
progress, not ``past_key_values is deprecated ... use cache``.

transformers says it twice: a FutureWarning when a deprecated argument is passed, and a
``warning_once`` log line when a deprecated output attribute is read. Both are caught here, with
``warning_once``'s memory cleared so an earlier test cannot hide them. Tiny random models, offline.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from extras import require_extra

require_extra("torch", "transformers")
require_extra("transformers", "transformers")

from tiny_models import tiny_qwen2, tiny_tokenizer
from transformers.utils import logging as hf_logging

from langgraph_specsearch import SpecSearch, SpecSearchConfig
from langgraph_specsearch.generators.base import GenerationSettings
from langgraph_specsearch.generators.transformers import TransformersThoughtGenerator
from langgraph_specsearch.scorers.prm_head import FeatureSpec, LinearHead, PRMHeadScorer
from langgraph_specsearch.scorers.transformers import LikelihoodScorer

QUESTION = "1 + 2 = 3 so The answer is 3"
PATHS = [[], ["1 + 2 = 3"], ["1 + 2 = 3", "The answer is 3"]]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def no_deprecation_notices() -> Iterator[None]:
    """Fail if the block makes transformers warn of anything deprecated."""
    hf_logging.warning_once.cache_clear()
    handler = _Records()
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        logger.removeHandler(handler)
    notices = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    notices += [str(w.message) for w in caught if "deprecat" in str(w.message).lower()]
    notices += [m for m in handler.messages if "deprecat" in m.lower()]
    assert not notices, notices


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def target(tokenizer) -> TransformersThoughtGenerator:
    model = tiny_qwen2(len(tokenizer), seed=0, layers=2, logit_scale=20.0)
    return TransformersThoughtGenerator(model, tokenizer, name="tiny-target")


@pytest.fixture(scope="module")
def drafter(tokenizer) -> TransformersThoughtGenerator:
    model = tiny_qwen2(len(tokenizer), seed=1, layers=1, logit_scale=20.0)
    return TransformersThoughtGenerator(model, tokenizer, name="tiny-drafter")


SAMPLED = GenerationSettings(max_new_tokens=8, temperature=0.7, top_p=0.9, seed=3)
GREEDY = GenerationSettings(max_new_tokens=8, temperature=0.0)


def test_batched_drafting_with_a_shared_prefill(target) -> None:
    """Repeated prompts: one prefill copied to its rows, passed to generate as the cache."""
    with no_deprecation_notices():
        rows = target.generate(QUESTION, PATHS[:2], [3, 2], SAMPLED)
    assert [len(row) for row in rows] == [3, 2]


def test_speculative_correction(target, drafter) -> None:
    with no_deprecation_notices():
        for strategy in ("speculative", "batched"):
            target.generate_speculative(
                QUESTION, PATHS[1:], [1, 1], GREEDY, assistant=drafter, strategy=strategy
            )


def test_likelihood_scorer_with_shared_prefixes(target) -> None:
    scorer = LikelihoodScorer.from_generator(target, raw=True, batch_size=2)
    with no_deprecation_notices():
        scorer.score_last([QUESTION] * 2, PATHS[1:])
        scorer.score_last([QUESTION], [["1 + 2 = 3", "The answer is 3", "good"]])  # a cached base


def test_prm_head_features_with_a_shared_prefix(target) -> None:
    spec = FeatureSpec((1, 2), True, True, logprob=True)
    rng = np.random.default_rng(0)
    dim = spec.dim(32)
    head = LinearHead(rng.normal(size=dim), 0.1, rng.normal(size=dim), np.ones(dim))
    scorer = PRMHeadScorer(target, head, spec, max_batch_size=2)
    with no_deprecation_notices():
        scorer.score_last([QUESTION] * 3, [["1 + 2 = 3"], ["1 + 2 = 4"], ["step 1", "good"]])


def test_a_whole_search_on_the_transformers_backend(target, drafter) -> None:
    scorer = LikelihoodScorer.from_generator(target)
    config = SpecSearchConfig(width=2, n_drafts=2, max_depth=2, max_step_tokens=6)
    with no_deprecation_notices():
        result = SpecSearch(drafter, target, scorer, config).invoke(QUESTION)
    assert result.tree.nodes
