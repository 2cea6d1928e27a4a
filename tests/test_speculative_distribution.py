# ruff: noqa: E402  (the imports below need the extras require_extra checks first)
"""Sampled speculative corrections follow the target's own distribution (a chi-square test).

Greedy assisted generation is checked token for token elsewhere; sampling can only be checked
statistically. Tiny random models with fixed seeds draw the first two tokens of a correction many
times through ``generate`` (plain batched generation with the package's NucleusSampler) and through
``generate_speculative(..., strategy="speculative")`` (transformers' assisted generation with the
drafter as assistant), both at temperature 0.7 / top-p 0.95, and a two-sample chi-square test must
not tell them apart. The same comparison must tell apart deliberately biased speculative samplers,
so a pass means something. Seeds are fixed, so the p-values are the same on every run.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from extras import require_extra

require_extra("torch", "transformers")
require_extra("transformers", "transformers")

import torch
from tiny_models import tiny_qwen2, tiny_tokenizer
from transformers.generation import utils as generation_utils

from langgraph_specsearch.generators.base import GenerationSettings
from langgraph_specsearch.generators.transformers import TransformersThoughtGenerator

QUESTION = "1 + 2 = 3 so The answer is 3"
ALPHA = 0.001
PLAIN_SAMPLES = 8000  # batched, cheap: a large reference sample
SPECULATIVE_SAMPLES = 1000  # one assisted generate call each (~10 ms on one core)
BIASED_SAMPLES = 400  # a bias caught with fewer samples is caught with more
# max_new_tokens=3 lets the first assisted round draft two tokens (transformers keeps the last
# position for the target's own bonus token), so both compared tokens come from accepted drafts
# and from residual draws after rejections, at either draft position.
SETTINGS = GenerationSettings(delimiter="", max_new_tokens=3, temperature=0.7, top_p=0.95)

Outcome = tuple[int, ...]  # a row's first two generated ids (fewer if eos came first)


# --------------------------------------------------------------------------- chi-square helpers
def chi_square_sf(statistic: float, df: int) -> float:
    """P(X >= statistic) for X ~ chi-square(df), exactly, without scipy (not a dependency)."""
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    half = statistic / 2
    if df % 2 == 0:  # Poisson tail: e^-h * sum_{i < df/2} h^i / i!
        term = total = math.exp(-half)
        for i in range(1, df // 2):
            term *= half / i
            total += term
        return min(1.0, total)
    # odd df: erfc(sqrt(h)) + e^-h * sum_{i=1}^{(df-1)/2} h^(i-1/2) / Gamma(i+1/2)
    total = math.erfc(math.sqrt(half))
    term = math.exp(-half) * math.sqrt(half) / math.gamma(1.5)
    for i in range(1, (df - 1) // 2 + 1):
        total += term
        term *= half / (i + 0.5)
    return min(1.0, total)


def merged_cells(first: Counter, second: Counter, min_expected: float = 5.0) -> list[list[int]]:
    """2 x k counts where every cell expects >= ``min_expected``; rarer outcomes share one cell.

    Cells are chosen from the pooled counts, which treat both samples alike.
    """
    pooled = first + second
    smaller = min(first.total(), second.total())
    total = pooled.total()
    kept: list[Any] = []
    rare: list[Any] = []
    for outcome, count in pooled.most_common():
        (kept if smaller * count / total >= min_expected else rare).append(outcome)
    table = [[first[o], second[o]] for o in kept]
    rest = [sum(first[o] for o in rare), sum(second[o] for o in rare)]
    if smaller * sum(rest) / total >= min_expected or not table:
        table.append(rest)
    else:  # too rare even merged: fold it into the least frequent kept cell
        table[-1] = [table[-1][0] + rest[0], table[-1][1] + rest[1]]
    return table


def two_sample_chi_square(first: Counter, second: Counter) -> tuple[float, int, float]:
    """Pearson's chi-square test that two samples of outcomes share one distribution.

    Returns (statistic, degrees of freedom, p-value), as ``scipy.stats.chi2_contingency`` would
    for the merged 2 x k table (no continuity correction, which it applies only when df == 1).
    """
    table = merged_cells(first, second)
    if len(table) < 2:
        return 0.0, 0, 1.0
    sizes = (first.total(), second.total())
    total = sum(sizes)
    statistic = 0.0
    for cell in table:
        row = sum(cell)
        for count, size in zip(cell, sizes, strict=True):
            expected = row * size / total
            statistic += (count - expected) ** 2 / expected
    df = len(table) - 1
    return statistic, df, chi_square_sf(statistic, df)


def test_chi_square_helpers_match_textbook_values() -> None:
    """The hand-written survival function reproduces the usual critical values (0.05 and 0.001)."""
    table = [(3.841, 1, 0.05), (5.991, 2, 0.05), (11.070, 5, 0.05), (18.307, 10, 0.05)]
    table += [(10.828, 1, 0.001), (29.588, 10, 0.001)]
    for statistic, df, p in table:
        assert chi_square_sf(statistic, df) == pytest.approx(p, rel=2e-3)
    same = Counter({"a": 500, "b": 300, "c": 200, "d": 3})
    assert two_sample_chi_square(same, same)[2] == pytest.approx(1.0)
    moved = Counter({"a": 300, "b": 300, "c": 400, "d": 3})
    assert two_sample_chi_square(same, moved)[2] < 1e-10
    assert merged_cells(same, same)[-1] == [203, 203]  # "d" alone expects 3: merged into "c"


# --------------------------------------------------------------------------- models and samples
@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny matmuls are all overhead; thread hand-offs on a busy 2-core box cost more than them."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def target() -> TransformersThoughtGenerator:
    """A peaked but not degenerate target: its first two tokens spread over a dozen outcomes.

    No system prompt (it would be all unknown words to the tiny tokenizer) and one big batch.
    """
    tokenizer = tiny_tokenizer()
    model = tiny_qwen2(len(tokenizer), seed=3, layers=2, logit_scale=12.0)
    return TransformersThoughtGenerator(
        model, tokenizer, name="tiny-target", system_prompt="", max_batch_size=PLAIN_SAMPLES
    )


@pytest.fixture(scope="module")
def drafter(target: TransformersThoughtGenerator) -> TransformersThoughtGenerator:
    """The target with noise on every weight: a different model that agrees often, not always.

    An unrelated random drafter would have nearly every draft rejected, leaving the acceptance
    branch untested; about 60% of this one's drafts are accepted.
    """
    model = tiny_qwen2(len(target.tokenizer), seed=3, layers=2, logit_scale=12.0)
    generator = torch.Generator().manual_seed(100)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.numel() > 1:
                noise = torch.randn(parameter.shape, generator=generator)
                parameter.add_(0.5 * parameter.std() * noise)
    return TransformersThoughtGenerator(
        model, target.tokenizer, name="tiny-drafter", system_prompt=""
    )


def first_two_tokens(generator: TransformersThoughtGenerator) -> Counter[Outcome]:
    """How often each outcome came up in the last call's rows."""
    return Counter(tuple(ids[:2]) for ids in generator.last_token_ids)


@pytest.fixture(scope="module")
def plain_sample(target: TransformersThoughtGenerator) -> Counter[Outcome]:
    """The reference: plain batched sampling, one ``generate`` call (NucleusSampler draws)."""
    settings = dataclasses.replace(SETTINGS, seed=1)
    rows = target.generate(QUESTION, [[]], [PLAIN_SAMPLES], settings)
    assert len(rows[0]) == PLAIN_SAMPLES and target.last_details.model_calls == 1
    return first_two_tokens(target)


@dataclasses.dataclass
class Verifications:
    """What transformers' speculative-sampling step saw: drafts proposed and drafts accepted."""

    rounds: int = 0
    drafted: int = 0
    accepted: int = 0


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> Verifications:
    """Count accepted and rejected drafts, proving the samples went through speculative sampling."""
    seen = Verifications()
    original = generation_utils._speculative_sampling

    def spy(
        candidate_input_ids: Any,
        candidate_logits: Any,
        candidate_length: int,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        valid, matches = original(
            candidate_input_ids, candidate_logits, candidate_length, *args, **kwargs
        )
        seen.rounds += 1
        seen.drafted += int(candidate_length)
        seen.accepted += int(matches)
        return valid, matches

    monkeypatch.setattr(generation_utils, "_speculative_sampling", spy)
    return seen


def speculative_sample(
    target: TransformersThoughtGenerator,
    drafter: TransformersThoughtGenerator,
    settings: GenerationSettings,
    samples: int,
) -> Counter[Outcome]:
    """Corrections drawn through the package's own speculative path, one assisted call each."""
    rows, used = target.generate_speculative(
        QUESTION, [[]], [samples], settings, assistant=drafter, strategy="speculative"
    )
    assert used == "speculative" and len(rows[0]) == samples
    assert target.last_details.model_calls == samples
    return first_two_tokens(target)


# --------------------------------------------------------------------------- the tests
def test_speculative_corrections_sample_like_plain_generation(
    target: TransformersThoughtGenerator,
    drafter: TransformersThoughtGenerator,
    plain_sample: Counter[Outcome],
    verifications: Verifications,
) -> None:
    """Lossless speculative sampling: chi-square finds no difference from plain sampling."""
    settings = dataclasses.replace(SETTINGS, seed=2)
    sample = speculative_sample(target, drafter, settings, SPECULATIVE_SAMPLES)
    # both branches of the acceptance rule ran, many times
    rejected = verifications.drafted - verifications.accepted
    assert verifications.rounds >= SPECULATIVE_SAMPLES
    assert verifications.accepted > 0.2 * verifications.drafted, verifications
    assert rejected > 0.2 * verifications.drafted, verifications
    statistic, df, p = two_sample_chi_square(plain_sample, sample)
    assert df >= 8  # the test compares a real spread of outcomes, not two or three cells
    assert p > ALPHA, (
        f"speculative sampling differs from plain: chi2={statistic:.1f} df={df} p={p:.2g}"
    )


def _hotter(settings: GenerationSettings, monkeypatch: pytest.MonkeyPatch) -> GenerationSettings:
    """A settings bug: speculative corrections at temperature 0.85 instead of 0.7."""
    return dataclasses.replace(settings, temperature=0.85)


def _lossy(settings: GenerationSettings, monkeypatch: pytest.MonkeyPatch) -> GenerationSettings:
    """A verification bug: drafts are checked against an even mix of the target's and the
    drafter's distributions instead of the target's alone, so outputs lean towards the drafter."""
    exact = generation_utils._speculative_sampling

    def lossy(
        candidate_input_ids: Any,
        candidate_logits: Any,
        candidate_length: int,
        new_logits: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        drafted = candidate_logits.shape[1]
        mixed = new_logits.clone()
        mix = 0.5 * new_logits[:, :drafted].softmax(-1) + 0.5 * candidate_logits.softmax(-1)
        mixed[:, :drafted] = mix.log()
        return exact(
            candidate_input_ids, candidate_logits, candidate_length, mixed, *args, **kwargs
        )

    monkeypatch.setattr(generation_utils, "_speculative_sampling", lossy)
    return settings


@pytest.mark.parametrize("bias", [_hotter, _lossy], ids=["temperature-0.85", "lossy-verification"])
def test_the_comparison_catches_a_biased_speculative_sampler(
    target: TransformersThoughtGenerator,
    drafter: TransformersThoughtGenerator,
    plain_sample: Counter[Outcome],
    monkeypatch: pytest.MonkeyPatch,
    bias: Callable[[GenerationSettings, pytest.MonkeyPatch], GenerationSettings],
) -> None:
    """The test has power: the same comparison rejects samplers that are slightly off, even with
    fewer samples than the real check draws."""
    settings = bias(dataclasses.replace(SETTINGS, seed=3), monkeypatch)
    sample = speculative_sample(target, drafter, settings, BIASED_SAMPLES)
    statistic, df, p = two_sample_chi_square(plain_sample, sample)
    assert p < ALPHA, f"a biased sampler went unnoticed: chi2={statistic:.1f} df={df} p={p:.2g}"
