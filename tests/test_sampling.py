# ruff: noqa: E402  (the imports below need the extras require_extra checks first)
"""NucleusSampler draws from transformers' temperature + top-p distribution, without the sort."""

from __future__ import annotations

import pytest
from extras import require_extra

require_extra("torch", "transformers")
require_extra("transformers", "transformers")

import torch
from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

from langgraph_specsearch.generators.sampling import NucleusSampler


def _reference(scores: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """The probabilities transformers' own sampler draws from."""
    warpers = LogitsProcessorList([TemperatureLogitsWarper(temperature), TopPLogitsWarper(top_p)])
    return warpers(torch.zeros(scores.shape[0], 1, dtype=torch.long), scores.clone()).softmax(-1)


def _frequencies(sampler: NucleusSampler, scores: torch.Tensor, draws: int) -> torch.Tensor:
    counts = torch.zeros_like(scores)
    for _ in range(draws):
        out = sampler(torch.zeros(scores.shape[0], 1, dtype=torch.long), scores.clone())
        assert torch.isfinite(out).sum(dim=-1).eq(1).all()  # one token per row, greedy takes it
        counts.scatter_add_(1, out.argmax(dim=-1, keepdim=True), torch.ones(scores.shape[0], 1))
    return counts / draws


@pytest.mark.parametrize("candidates", [256, 3])  # 3: some rows' nucleus is wider -> full sort
def test_draws_follow_transformers_top_p_distribution(candidates: int) -> None:
    torch.manual_seed(0)
    scores = torch.randn(3, 40) * torch.tensor([[4.0], [1.0], [0.2]])  # peaked .. flat rows
    sampler = NucleusSampler(temperature=0.7, top_p=0.9, candidates=candidates)
    expected = _reference(scores, 0.7, 0.9)
    observed = _frequencies(sampler, scores, 4000)
    assert (observed[expected == 0] == 0).all()  # nothing outside the nucleus, ever
    total_variation = 0.5 * (observed - expected).abs().sum(dim=-1)
    assert (total_variation < 0.05).all(), total_variation
    assert (sampler.fallback_rows > 0) == (candidates == 3)


def test_the_most_likely_token_is_kept_even_when_it_alone_exceeds_top_p() -> None:
    scores = torch.tensor([[10.0, 0.0, 0.0, 0.0]])
    sampler = NucleusSampler(temperature=1.0, top_p=0.5)
    assert _frequencies(sampler, scores, 50)[0, 0] == 1.0


def test_seeded_draws_repeat() -> None:
    scores = torch.randn(4, 100)
    sampler = NucleusSampler(temperature=1.0, top_p=0.95)
    ids = torch.zeros(4, 1, dtype=torch.long)
    torch.manual_seed(5)
    first = sampler(ids, scores.clone()).argmax(-1)
    torch.manual_seed(5)
    assert torch.equal(first, sampler(ids, scores.clone()).argmax(-1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0, "top_p": 0.9}, "temperature > 0"),
        ({"temperature": 0.7, "top_p": 0.0}, "0 < top_p <= 1"),
        ({"temperature": 0.7, "top_p": 0.9, "candidates": 0}, "candidates >= 1"),
    ],
)
def test_bad_settings_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NucleusSampler(**kwargs)


def test_row_generators_make_each_row_draw_as_it_would_in_any_batch() -> None:
    """A row's draws depend on its own generator only, not on which rows share its batch (calls
    merged into one batch, or split into chunks: generators/merging.py)."""
    torch.manual_seed(0)
    scores = torch.randn(5, 300) * torch.tensor([[3.0], [0.1], [2.0], [1.0], [0.05]])
    ids = torch.zeros(5, 1, dtype=torch.long)
    seeds = [11, 12, 13, 14, 15]

    def sample(rows: list[int]) -> torch.Tensor:
        generators = [torch.Generator().manual_seed(seeds[r]) for r in rows]
        sampler = NucleusSampler(temperature=0.9, top_p=0.95, candidates=8, generators=generators)
        out = torch.stack([sampler(ids[rows], scores[rows].clone()).argmax(-1) for _ in range(6)])
        assert sampler.fallback_rows > 0 or rows == [0]  # both draws (nucleus, full sort) run
        return out

    torch.manual_seed(99)  # the global stream must not matter
    together = sample([0, 1, 2, 3, 4])
    for r in range(5):
        assert torch.equal(together[:, r], sample([r])[:, 0])
    assert torch.equal(together[:, 2:4], sample([2, 3]))
    with pytest.raises(ValueError, match="2 generators for 5 rows"):
        NucleusSampler(1.0, 0.9, generators=[torch.Generator()] * 2)(ids, scores.clone())
