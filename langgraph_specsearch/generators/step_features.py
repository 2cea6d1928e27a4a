"""Step features kept from the drafter's own forward passes while it drafts ("free" scoring).

Why: the PRM head scores a step from the drafter's hidden states over the step's tokens and the
tokens' log-probabilities. ``generate`` computed exactly these while it wrote the step, so keeping
a few pooled vectors per thought replaces the scorer's second forward pass over every draft.

How the positions line up in a ``generate`` output with ``output_hidden_states``: entry 0 of
``hidden_states`` is the prompt's pass, entry ``t >= 1`` is the pass whose input was generated
token ``t - 1``. So the state of generated token ``j`` is ``hidden_states[j + 1]``, and the last
token of a row is missing when generation stopped right after it (the mean is then over the
tokens before it). ``logits[j]`` (raw, before sampling processors) predicts token ``j``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from langgraph_specsearch.generators.self_scores import StepCache


@dataclass(frozen=True)
class FeatureSpec:
    """Which hidden states make up a step's feature vector (stored with the weights)."""

    layers: tuple[int, ...] = (12,)
    last: bool = True
    mean: bool = True
    logprob: bool = False

    def dim(self, hidden: int) -> int:
        per_layer = hidden * (int(self.last) + int(self.mean))
        return per_layer * len(self.layers) + (2 if self.logprob else 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": list(self.layers),
            "last": self.last,
            "mean": self.mean,
            "logprob": self.logprob,
        }

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> FeatureSpec:
        return cls(
            tuple(int(x) for x in row["layers"]),
            bool(row["last"]),
            bool(row["mean"]),
            bool(row.get("logprob", False)),
        )


@dataclass
class RawFeatures:
    """Everything one pass yields for a step, before a spec picks from it.

    ``last``/``mean`` map layer index -> (hidden,) float32 vectors; ``logprob`` is (mean, min)
    of the step tokens' log-probabilities (NaN when not computed).
    """

    last: dict[int, np.ndarray] = field(default_factory=dict)
    mean: dict[int, np.ndarray] = field(default_factory=dict)
    logprob: tuple[float, float] = (float("nan"), float("nan"))

    def vector(self, spec: FeatureSpec) -> np.ndarray:
        parts: list[np.ndarray] = []
        for layer in spec.layers:
            if spec.last:
                parts.append(self.last[layer])
            if spec.mean:
                parts.append(self.mean[layer])
        if spec.logprob:
            parts.append(np.asarray(self.logprob, dtype=np.float32))
        return np.concatenate(parts).astype(np.float32)


@dataclass(frozen=True)
class CaptureSpec:
    """What to keep per drafted step: mean (and last) states of ``layers``, log-prob stats.

    ``exclude_delimiter`` leaves a final token that is only the delimiter out of the log-prob
    stats, so they cover the step's own tokens, as a likelihood scorer's pass does (the PRM head's
    features were trained with it in, and keep it).
    """

    layers: tuple[int, ...]
    last: bool = False
    logprob: bool = True
    exclude_delimiter: bool = False


class StepFeatureCache(StepCache[RawFeatures]):
    """(prompt the step was drafted under, step text) -> its features, for ``spec``."""

    def __init__(self, spec: CaptureSpec, capacity: int = 4096) -> None:
        super().__init__(capacity)
        self.spec = spec


def generate_kwargs(spec: CaptureSpec) -> dict[str, Any]:
    """The ``generate`` options that make it return what :func:`pool_generated` reads."""
    return {
        "return_dict_in_generate": True,
        "output_hidden_states": bool(spec.layers),  # log-probs alone need only the logits
        "output_logits": spec.logprob,
    }


def pool_generated(
    output: Any,
    lengths: Sequence[int],
    spec: CaptureSpec,
    token_ids: Sequence[Sequence[int] | None] | None = None,
) -> list[RawFeatures | None]:
    """Features of each row's first ``lengths[row]`` generated tokens (None for an empty row).

    ``output`` is a ``generate`` result made with :func:`generate_kwargs`. ``token_ids[row]``,
    when given, are the tokens whose log-probs are averaged at those positions instead of the
    generated ones (see ``scored_tokens``: the step as a scorer tokenizes it).
    """
    hidden = output.hidden_states if spec.layers else None
    logits = output.logits if spec.logprob else None
    passes = len(hidden) if hidden is not None else len(logits or ())
    width = output.sequences.shape[1] - passes  # one forward pass per generated token
    generated = output.sequences[:, width:]
    features: list[RawFeatures | None] = []
    for row, length in enumerate(lengths):
        seen = min(length, passes - 1) if hidden is not None else length  # states computed
        if length == 0 or seen == 0 or (spec.last and seen < length):
            features.append(None)
            continue
        means, lasts = {}, {}
        for layer in spec.layers:
            states = torch.stack([hidden[j + 1][layer][row, -1] for j in range(seen)]).float()
            means[layer] = states.mean(0).cpu().numpy()
            if spec.last:
                lasts[layer] = states[-1].cpu().numpy()
        stats = (float("nan"), float("nan"))
        if logits is not None:
            step_logits = torch.stack([logits[j][row] for j in range(length)]).float()
            chosen = token_ids[row] if token_ids is not None else None
            ids = (generated[row, :length] if chosen is None else torch.tensor(list(chosen))).to(
                step_logits.device
            )
            logp = torch.log_softmax(step_logits, dim=-1).gather(1, ids[:, None])[:, 0]
            stats = (float(logp.mean()), float(logp.min()))
        features.append(RawFeatures(last=lasts, mean=means, logprob=stats))
    return features


__all__ = ["CaptureSpec", "StepFeatureCache", "generate_kwargs", "pool_generated"]
