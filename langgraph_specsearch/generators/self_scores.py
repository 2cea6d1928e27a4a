"""What a generator remembers of the steps it wrote, so its own likelihood scorer need not read
them again ("free self-scoring").

A step's target-likelihood score is the mean log-prob of its tokens under the target. When the
target wrote the step, its generation pass computed exactly those log-probs (from the raw logits,
before temperature and top-p), so an engine that keeps them per (prompt, step text) lets the
scorer skip its pass for every thought the target wrote: all of AR's, and SpecSearch's
corrections. The transformers engine keeps them in its step-feature cache
(:mod:`.step_features`); this torch-free cache serves the llama.cpp engine.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Generic, TypeVar

V = TypeVar("V")


class StepCache(Generic[V]):
    """A bounded, thread-safe map from (prompt, step text) to what a generator kept of the step.

    The least recently used entries go first; ``hits`` and ``misses`` count lookups, so a caller
    can report how much scoring the generation pass saved.
    """

    def __init__(self, capacity: int = 4096) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[str, str], V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, prompt: str, text: str, value: V) -> None:
        with self._lock:
            self._entries[(prompt, text)] = value
            self._entries.move_to_end((prompt, text))
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every step (e.g. so that one benchmark run cannot reuse another's)."""
        with self._lock:
            self._entries.clear()

    def get(self, prompt: str, text: str) -> V | None:
        with self._lock:
            found = self._entries.get((prompt, text))
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
                self._entries.move_to_end((prompt, text))
            return found


class SelfScoreCache(StepCache[float]):
    """(prompt, step text) -> the step's mean token log-prob under the model that wrote it."""


def scored_tokens(step_ids: Sequence[int], generated: Sequence[int]) -> list[int] | None:
    """The step's tokens as a scorer's pass reads them, when generation saw the same context.

    A scorer tokenizes the step on its own (``step_ids``); generation may have merged its last
    piece with the delimiter (Qwen writes ".\n\n" as one token where the pass reads "."). The
    pass's log-probs are all in the generation's logits when every step token but the last was
    generated as is: the last one is read at the same position, whatever was sampled there.
    Otherwise (None) the step is left to the pass.
    """
    n = len(step_ids)
    if n == 0 or n > len(generated) or list(step_ids[: n - 1]) != list(generated[: n - 1]):
        return None
    return list(step_ids)
