"""Small deterministic models and scorers for unit tests of the graph's logic."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence

from langgraph_specsearch.generators.base import GenerationSettings, Thought


class ScriptedGenerator:
    """Writes ``"<name> d<depth> #<i>"`` thoughts; from ``answer_depth`` on, a final answer.

    Sampling is simulated with a random tag drawn from the call's seed, so identical seeds give
    identical thoughts and different seeds different ones.
    """

    def __init__(self, name: str, answer_depth: int | None = 3, answer: str = "42") -> None:
        self.name = name
        self.answer_depth = answer_depth
        self.answer = answer
        self.calls: list[tuple[int, list[int]]] = []
        self._lock = threading.Lock()

    def generate(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        counts: Sequence[int],
        settings: GenerationSettings,
    ) -> list[list[Thought]]:
        rng = random.Random(f"{settings.seed}:{question}")
        with self._lock:
            self.calls.append((len(paths), list(counts)))
        groups = []
        for path, count in zip(paths, counts, strict=True):
            depth = len(path) + 1
            group = []
            for index in range(count):
                tag = rng.randrange(1000)
                text = f"{self.name} d{depth} #{index} r{tag}"
                if self.answer_depth is not None and depth >= self.answer_depth:
                    text += f". The answer is {self.answer}"
                group.append(Thought(text=text, tokens=len(text.split())))
            groups.append(group)
        return groups


class AuthorScorer:
    """Scores a thought by who wrote it (its text starts with the generator's name)."""

    def __init__(self, scores: dict[str, float], jitter: float = 0.0) -> None:
        self.scores = scores
        self.jitter = jitter
        self.calls = 0

    def __call__(self, question: str, steps: list[str]) -> float:
        self.calls += 1
        last = steps[-1]
        author = last.split(" ", 1)[0]
        base = self.scores[author]
        if self.jitter:
            base += random.Random(last).uniform(-self.jitter, self.jitter)
        return base
