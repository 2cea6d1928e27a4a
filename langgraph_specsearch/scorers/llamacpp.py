"""The target-likelihood step scorer on llama.cpp: the same score as the transformers one, faster.

:class:`LlamaCppLikelihoodScorer` computes what :class:`~.transformers.LikelihoodScorer` computes,
token for token: a step's context is the generator's own prompt for writing it (the chat prompt
with the previous steps, tokenized whole), the step is tokenized on its own, and its score is
``exp(mean log p(step tokens | context))`` (``raw=True``: the mean log-prob itself).

It reads the log-probs from llama.cpp's logits at every position of a low-level batch. It does not
use ``Llama.create_completion(echo=True, logprobs=k)``: that scores each prompt token with the
next position's distribution (off by one, llama-cpp-python issue #1983) and took 12.5 s where the
batch took 0.53 s (issue 16). Paths that share their previous steps share one read of that
context (its KV cells are shared with each row), and contexts stay cached between calls, so the
drafts of a node and then its corrections read the context once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from langgraph_specsearch.generators.llamacpp import (
    LlamaCppContext,
    LlamaCppThoughtGenerator,
    Span,
    log_softmax_at,
)
from langgraph_specsearch.scorers.base import every_step_from_last


class LlamaCppLikelihoodScorer:
    """Scores a step by its mean token log-probability under a llama.cpp model, mapped into (0, 1].

    Same definition and interfaces (``score_last``, ``score``, ``__call__``) as the transformers
    ``LikelihoodScorer``; see its docstring for the scale and for the bias toward the scoring
    model's own steps. The scorer takes the generator's lock, so the two never run at once. By
    default (``share_context=True``) it scores in the generator's own context (KV cache): a
    step's context is the prompt the generator reads to write after it, so a node's path read
    for scoring its drafts is found cached when the target then corrects them, and the question
    the target read is not read again for scoring (SpecSearch 1.15x faster on llama.cpp, the
    same answers: ``benchmarks/shared_scorer_context.py``); ``prefix_cache_size``, ``n_ctx`` and
    ``n_batch`` then come from the generator. ``share_context=False`` gives the scorer a context
    of its own on the same weights, so scoring never evicts the generator's cached prompts.
    In its own context ``prefix_cache_size`` contexts stay cached;
    ``max_outputs`` caps the logits rows of one llama.cpp call (each row is the vocabulary's size
    in floats: 0.6 MB for Qwen).
    """

    def __init__(
        self,
        generator: LlamaCppThoughtGenerator,
        *,
        delimiter: str = "\n\n",
        raw: bool = False,
        batch_size: int = 32,
        n_ctx: int = 4096,
        n_batch: int = 512,
        prefix_cache_size: int = 16,
        max_outputs: int = 128,
        flash_attn: bool | None = False,
        reuse_generation: bool = True,
        share_context: bool = True,
    ) -> None:
        self.generator = generator
        self.delimiter = delimiter
        self.raw = raw
        self.context = (
            generator.context
            if share_context
            else LlamaCppContext(
                generator.model,
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_threads=generator.n_threads,
                rows=batch_size,
                prefix_slots=prefix_cache_size,
                max_outputs=max_outputs,
                flash_attn=flash_attn,
            )
        )
        self.name = f"likelihood[{generator.name}]"
        self.last_seconds = 0.0
        self.total_seconds = 0.0
        self.calls = 0
        self.reused = 0  # steps scored from the pass that wrote them (see generators.self_scores)
        self.generated = generator.record_self_scores() if reuse_generation else None

    @classmethod
    def from_generator(
        cls, generator: LlamaCppThoughtGenerator, **kwargs: Any
    ) -> LlamaCppLikelihoodScorer:
        """Score with the weights (and lock) the generator writes with; no second load."""
        return cls(generator, **kwargs)

    # ------------------------------------------------------------------ token layout
    def _encode(self, text: str) -> list[int]:
        return self.generator.tokenize(text)

    def _context_ids(self, question: str, previous: Sequence[str]) -> list[int]:
        """The tokens before a step: the generator's own prompt for writing it, tokenized whole,
        as the transformers scorer reads it (so generation's log-probs are this scorer's)."""
        return self._encode(self.generator.render_prompt(question, list(previous), self.delimiter))

    def _step_ids(self, step: str) -> list[int]:
        """The step's own tokens (an empty step is one padding token, as in the transformers
        scorer)."""
        return self._encode(step) or [self.generator.model.pad_id]

    def token_counts(self, question: str, steps: Sequence[str]) -> tuple[int, int]:
        """``(context tokens, step tokens)`` of scoring the last of ``steps``: what a pass reads
        (the cost model prices scoring by them)."""
        return len(self._context_ids(question, steps[:-1])), len(self._step_ids(steps[-1]))

    # ------------------------------------------------------------------ log-probs
    def _log_probs(
        self,
        contexts: Sequence[list[int]],
        continuations: Sequence[list[int]],
        wanted: Sequence[set[int]],
    ) -> list[dict[int, float]]:
        """``log p(continuations[i][j] | contexts[i] + continuations[i][:j])`` for ``j`` in
        ``wanted[i]``; each distinct context is read once (or found cached)."""
        # the same step after the same context is scored once: llama.cpp's rounding depends on
        # where a row's cells lie in the cache, so duplicates would otherwise differ slightly
        keys = [
            (tuple(c), tuple(t), tuple(sorted(w)))
            for c, t, w in zip(contexts, continuations, wanted, strict=True)
        ]
        first: dict[tuple[Any, ...], int] = {}
        for index, key in enumerate(keys):
            first.setdefault(key, index)
        unique = list(first.values())
        found: list[dict[int, float]] = [{} for _ in unique]
        picked = (
            [contexts[i] for i in unique],
            [continuations[i] for i in unique],
            [wanted[i] for i in unique],
        )
        for chunk in self._chunks(*picked):
            self._chunk(*picked, chunk, found)
        where = {index: position for position, index in enumerate(unique)}
        return [dict(found[where[first[key]]]) for key in keys]

    def _chunks(
        self,
        contexts: Sequence[list[int]],
        continuations: Sequence[list[int]],
        wanted: Sequence[set[int]],
    ) -> list[list[int]]:
        limit = self.context.n_ctx
        chunks: list[list[int]] = []
        current: list[int] = []
        seen: set[tuple[int, ...]] = set()
        need = 0
        for index, context in enumerate(contexts):
            key = tuple(context)
            length = max(wanted[index], default=0)  # tokens decoded after the context
            if len(context) + length > limit:
                raise ValueError(
                    f"{self.name}: a path of {len(context) + length} tokens does not fit the "
                    f"{limit}-token context (raise n_ctx)"
                )
            extra = length + (0 if key in seen else len(context))
            if current and (
                len(current) == self.context.rows
                or need + extra > limit
                or (key not in seen and len(seen) == self.context.prefix_slots)
            ):
                chunks.append(current)
                current, seen, need = [], set(), 0
                extra = length + len(context)
            current.append(index)
            seen.add(key)
            need += extra
        if current:
            chunks.append(current)
        return chunks

    def _chunk(
        self,
        contexts: Sequence[list[int]],
        continuations: Sequence[list[int]],
        wanted: Sequence[set[int]],
        chunk: Sequence[int],
        results: list[dict[int, float]],
    ) -> None:
        context = self.context
        keys = list(dict.fromkeys(tuple(contexts[index]) for index in chunk))
        members: dict[int, list[int]] = {}
        for local, index in enumerate(chunk):
            members.setdefault(keys.index(tuple(contexts[index])), []).append(local)

        def ready(key_index: int, seq: int, batch_index: int) -> None:
            log_probs = log_softmax_at(context.logits(batch_index))
            for local in members[key_index]:
                index = chunk[local]
                context.share(seq, context.row_seq(local))
                if 0 in wanted[index]:
                    results[index][0] = log_probs(continuations[index][0])

        spans: list[Span] = []
        owners: list[int] = []
        with context.call():
            context.prefill([list(key) for key in keys], ready)
            for local, index in enumerate(chunk):
                later = {j - 1 for j in wanted[index] if j >= 1}
                if not later:
                    continue
                length = len(contexts[index])
                spans.append(
                    Span(
                        context.row_seq(local),
                        length,
                        continuations[index][: max(later) + 1],
                        frozenset(later),
                    )
                )
                owners.append(index)

            def read(outputs: list[tuple[int, int, int]]) -> None:
                for span_index, offset, batch_index in outputs:
                    index = owners[span_index]
                    target = continuations[index][offset + 1]
                    results[index][offset + 1] = log_softmax_at(context.logits(batch_index))(target)

            context.decode(spans, read)

    def _finish(self, value: float) -> float:
        return value if self.raw else math.exp(value)

    # ------------------------------------------------------------------ the interface
    def score_last(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[float]:
        """The last step's score for each path (shared contexts read once)."""
        start = time.perf_counter()
        means: list[float | None] = []
        contexts, lasts, todo = [], [], []
        for index, (question, steps) in enumerate(zip(questions, step_lists, strict=True)):
            if not steps:
                raise ValueError("cannot score an empty path")
            means.append(self._from_generation(question, steps))
            if means[-1] is not None:
                continue
            contexts.append(self._context_ids(question, steps[:-1]))
            lasts.append(self._step_ids(steps[-1]))
            todo.append(index)
        if todo:
            wanted = [set(range(len(last))) for last in lasts]
            found = self.generator.run_exclusive(self._log_probs, contexts, lasts, wanted)
            for index, values in zip(todo, found, strict=True):
                means[index] = sum(values.values()) / len(values)
        self.reused += len(means) - len(todo)
        self._account(start)
        return [self._finish(float(mean)) for mean in means]  # type: ignore[arg-type]

    def _from_generation(self, question: str, steps: Sequence[str]) -> float | None:
        """The step's mean log-prob kept by the generator when it wrote the step, if it did:
        generation read the same prompt a pass would read (:meth:`_context_ids`)."""
        if self.generated is None:
            return None
        prompt = self.generator.render_prompt(question, list(steps[:-1]), self.delimiter)
        return self.generated.get(prompt, steps[-1])

    def score(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        """Every step's score: each step after its own context, as :meth:`score_last` scores it
        (one call over every prefix of every path; the contexts are read once each)."""
        return every_step_from_last(self.score_last, questions, step_lists)

    def _account(self, start: float) -> None:
        self.last_seconds = time.perf_counter() - start
        self.total_seconds += self.last_seconds
        self.calls += 1

    def clear_prefix_cache(self) -> None:
        """Forget the cached contexts (e.g. between benchmark rounds)."""
        with self.generator.lock:
            self.context.reset()

    def __call__(self, question: str, steps: list[str]) -> float:
        return self.score_last([question], [steps])[0]
