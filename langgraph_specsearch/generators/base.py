"""The thought-generator interface that drafters and targets implement.

A generator writes the *next reasoning step* for many partial paths at once. Batching is part of
the interface because SpecSearch is only fast when every frontier node's drafts go to the model in
one call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")
FinishReason = Literal["delimiter", "eos", "length", "empty", "repeat"]


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings for one call; the graph passes its config's values."""

    delimiter: str = "\n\n"
    max_new_tokens: int = 160
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class Thought:
    """One generated reasoning step (without the trailing delimiter)."""

    text: str
    tokens: int
    finish_reason: FinishReason = "delimiter"
    tokens_estimated: bool = False


@dataclass(frozen=True)
class GenerationStats:
    """What the last call cost, filled in by generators that can tell."""

    strategy: str = "batched"
    seconds: float = 0.0


@runtime_checkable
class ThoughtGenerator(Protocol):
    """Writes the next step for each partial path.

    ``generate(question, paths, counts, settings)`` returns, for each ``paths[i]`` (the steps so
    far), a list of exactly ``counts[i]`` thoughts. Implementations should batch all requests into
    as few model calls as memory allows.
    """

    name: str

    def generate(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        counts: Sequence[int],
        settings: GenerationSettings,
    ) -> list[list[Thought]]: ...


@runtime_checkable
class SpeculativeThoughtGenerator(ThoughtGenerator, Protocol):
    """A target that can write thoughts with token-level speculative decoding.

    ``assistant`` is the drafter; ``generate_speculative`` must be lossless: its output is
    distributed as the target's own (greedy: token-identical). ``strategy`` may be "auto" (pick the
    faster of speculative and plain batched generation for this call), "speculative" or "batched".
    """

    def supports_assistant(self, assistant: ThoughtGenerator) -> bool: ...

    def generate_speculative(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        counts: Sequence[int],
        settings: GenerationSettings,
        assistant: ThoughtGenerator,
        strategy: str = "auto",
    ) -> tuple[list[list[Thought]], str]:
        """Return the thoughts and the strategy actually used ("speculative" or "batched")."""
        ...


def can_speculate(target: object, drafter: object) -> bool:
    """Whether ``target`` can correct with ``drafter`` as its token-level assistant."""
    return isinstance(target, SpeculativeThoughtGenerator) and target.supports_assistant(
        drafter  # type: ignore[arg-type]
    )


def split_by_counts(items: Sequence[T], counts: Sequence[int]) -> list[list[T]]:
    """``items`` cut into consecutive groups of ``counts[i]`` (a batch's rows back to its calls)."""
    if sum(counts) != len(items):
        raise ValueError(f"{len(items)} items for counts summing to {sum(counts)}")
    groups: list[list[T]] = []
    start = 0
    for count in counts:
        groups.append(list(items[start : start + count]))
        start += count
    return groups


def cut_at_delimiter(text: str, delimiter: str) -> tuple[str, bool]:
    """Cut ``text`` at the first delimiter; say whether one was found.

    Models often ignore stop sequences or emit leading whitespace; a thought is the text before the
    first delimiter that follows some content.
    """
    stripped = text.lstrip("\n")
    index = stripped.find(delimiter) if delimiter else -1
    if index == -1:
        return stripped.rstrip(), False
    return stripped[:index].rstrip(), True


def request_seed(seed: int, key: object, row: int = 0) -> int:
    """The seed of one request to a remote model: the search's seed mixed with the request's
    prompt (``key``) and row, so nodes and rows differ and a seeded run repeats."""
    digest = hashlib.blake2b(f"{seed}:{key!r}:{row}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


def row_seed(seed: int, row: int) -> int:
    """Row ``row``'s sampling seed in a call seeded ``seed``: a hash of both, so rows differ, runs
    repeat, a different call seed changes every row, and a row samples the same tokens whichever
    rows share its batch. Never 0xFFFFFFFF (llama.cpp's "pick a random seed")."""
    digest = hashlib.blake2b(f"{seed}:{row}".encode(), digest_size=4).digest()
    value = int.from_bytes(digest, "little")
    return value if value != 0xFFFFFFFF else 0
