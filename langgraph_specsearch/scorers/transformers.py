"""Step scorers (thought evaluators) on transformers models: likelihood, Math-Shepherd, Qwen PRM.

No real process reward model ships with this package, so the default evaluator is the
:class:`LikelihoodScorer`: how probable a model finds the step given the question and the steps
before it. It is cheap when it shares the target's weights, but it is *biased toward its own
model*: steps written by the model it scores with look better than equally good steps written by
another model (measured on GSM8K with the default pair: target-written thoughts averaged -0.31 mean
log-prob under the target, drafter-written ones -0.51; under the drafter the order reversed). Used
with the target, it therefore rejects drafts more often than a neutral PRM would, which lowers
SpecSearch's acceptance rate and speedup; quality is not harmed by that bias, speed is.

:class:`MathShepherdScorer` and :class:`QwenPRMScorer` adapt the two common real PRM formats that
users bring on their own machines; they are tested here only for plumbing (tokens, positions,
batching, padding) on tiny random models.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch

from langgraph_specsearch.generators.merging import device_queue, run_locked
from langgraph_specsearch.generators.transformers import cache_argument
from langgraph_specsearch.scorers.base import every_step_from_last

if TYPE_CHECKING:
    from langgraph_specsearch.generators.transformers import TransformersThoughtGenerator

PaddingSide = Literal["left", "right"]


def _device(model: Any) -> torch.device:
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


def _pad(
    rows: Sequence[Sequence[int]], pad_id: int, side: PaddingSide, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """Pad token rows; return ids, attention mask, position ids and each row's first index.

    Position ids are passed explicitly, so left and right padding give the same positions to the
    real tokens (most decoder forwards do not derive them from the mask).
    """
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    offsets: list[int] = []
    for index, row in enumerate(rows):
        start = width - len(row) if side == "left" else 0
        ids[index, start : start + len(row)] = torch.tensor(list(row), dtype=torch.long)
        mask[index, start : start + len(row)] = 1
        positions[index, start : start + len(row)] = torch.arange(len(row))
        offsets.append(start)
    return ids.to(device), mask.to(device), positions.to(device), offsets


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), max(1, size))]


class LikelihoodScorer:
    """Scores a step by its mean token log-probability under a causal LM, mapped into (0, 1].

    ``score = exp(mean log p(step tokens | question, previous steps))``: the geometric mean of the
    step's token probabilities. It is 1 for a step the model is certain of and falls toward 0 as
    the step gets less likely, independent of the step's length, so a threshold estimated from the
    target's own steps (SpecSearch's beta) compares like with like. Measured mean log-probs of
    -0.66 (correct step), -1.25 (same step, wrong number) and -4.0 (irrelevant step) become about
    0.52, 0.29 and 0.02. ``raw=True`` returns the mean log-prob itself instead.

    The prompt is the generator's own (chat template, steps as a partial assistant message), the
    step is scored as the tokens that follow it. In :meth:`score_last`, paths that share the same
    previous steps (all drafts of one frontier node) share one forward pass over that prefix, whose
    key/value cache is then expanded to the batch; ``share_prefix=False`` turns that off. The
    caches of the last ``prefix_cache_size`` prefixes are kept, so a prefix read once is never read
    again (SpecSearch scores a node's drafts and then its corrections after the same prefix) and a
    longer prefix reads only its new tokens (the next step's context extends this one's).
    Share the weights of a :class:`TransformersThoughtGenerator` with :meth:`from_generator`.
    See the module docstring for the self-preference bias.
    """

    def __init__(
        self,
        generator: TransformersThoughtGenerator,
        *,
        delimiter: str = "\n\n",
        batch_size: int = 8,
        share_prefix: bool = True,
        raw: bool = False,
        padding_side: PaddingSide = "right",
        head_chunk: int = 256,
        prefix_cache_size: int = 16,
        reuse_generation: bool = True,
    ) -> None:
        self.generator = generator
        self.delimiter = delimiter
        self.batch_size = max(1, int(batch_size))
        self.share_prefix = share_prefix
        self.raw = raw
        self.padding_side = padding_side
        self.head_chunk = max(1, int(head_chunk))
        self.prefix_cache_size = max(0, int(prefix_cache_size))
        # prefix token ids -> (key/value cache after them, hidden state of the last one)
        self._prefixes: OrderedDict[tuple[int, ...], tuple[Any, torch.Tensor]] = OrderedDict()
        self.name = f"likelihood[{generator.name}]"
        self.last_seconds = 0.0
        self.total_seconds = 0.0
        self.calls = 0
        self.reused = 0  # steps scored from their generation pass
        self.generated = self._record_generation(generator) if reuse_generation else None

    @staticmethod
    def _record_generation(generator: Any) -> Any:
        """Have ``generator`` keep the log-probs of the steps it writes (None if it cannot).

        A step the scoring model wrote itself was scored while it was written: its plain batched
        ``generate`` call computed every token's logits. Keeping the mean log-prob per step makes
        the scorer's pass over it unnecessary (the target's own thoughts in AR, and SpecSearch's
        corrections, when the scorer is the target's likelihood). A feature cache another scorer
        set up with log-probs (the PRM head's) is shared, not replaced.
        """
        record = getattr(generator, "record_step_features", None)
        if record is None:
            return None
        from langgraph_specsearch.generators.step_features import CaptureSpec

        existing = getattr(generator, "step_features", None)
        if existing is not None:
            return existing if existing.spec.logprob else None
        return record(CaptureSpec(layers=(), logprob=True, exclude_delimiter=True))

    @classmethod
    def from_generator(cls, generator: TransformersThoughtGenerator, **kwargs: Any):
        """Score with the same model object (and lock) the generator writes with."""
        return cls(generator, **kwargs)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, **kwargs: Any) -> LikelihoodScorer:
        """Score with any causal LM and its tokenizer (the prompt uses its chat template)."""
        from langgraph_specsearch.generators.transformers import TransformersThoughtGenerator

        return cls(TransformersThoughtGenerator(model, tokenizer), **kwargs)

    # ----------------------------------------------------------------------- token layout
    @property
    def model(self) -> Any:
        return self.generator.model

    @property
    def tokenizer(self) -> Any:
        return self.generator.tokenizer

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _context_ids(self, question: str, previous: Sequence[str]) -> list[int]:
        """The tokens before a step: the generator's own prompt for writing it, tokenized whole.

        These are the very tokens the model read when it wrote the step, so the log-probs its
        generation pass computed are this scorer's (free self-scoring), and every context is
        tokenized as the model was trained to see text. (Tokenizing the steps piecewise would
        split what the tokenizer merges across a step's end, such as Qwen's ".\n\n".)
        """
        return self._encode(self.generator.render_prompt(question, list(previous), self.delimiter))

    def _step_ids(self, step: str) -> list[int]:
        """The step's own tokens (an empty step is one padding token)."""
        return self._encode(step) or [self.generator._pad_id]

    def token_counts(self, question: str, steps: Sequence[str]) -> tuple[int, int]:
        """``(context tokens, step tokens)`` of scoring the last of ``steps``: what a pass reads
        (the cost model prices scoring by them)."""
        return len(self._context_ids(question, steps[:-1])), len(self._step_ids(steps[-1]))

    # ----------------------------------------------------------------------- model pieces
    def _decoder_and_head(self) -> tuple[Any, Any]:
        decoder = self.model.get_decoder()
        head = self.model.get_output_embeddings()
        if decoder is None or head is None:
            raise TypeError("LikelihoodScorer needs a causal LM with a decoder and an output head")
        return decoder, head

    def _log_probs(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """log p(target) from the hidden states that predict them, a chunk of rows at a time."""
        _, head = self._decoder_and_head()
        out = []
        for start in range(0, hidden.shape[0], self.head_chunk):
            logits = head(hidden[start : start + self.head_chunk]).float()
            log_probs = torch.log_softmax(logits, dim=-1)
            picked = targets[start : start + self.head_chunk, None]
            out.append(log_probs.gather(-1, picked).squeeze(-1))
        return torch.cat(out) if out else torch.zeros(0)

    def _mean_log_probs_full(
        self, rows: Sequence[list[int]], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> list[list[float]]:
        """Mean log-prob of each ``[start, end)`` token span of each row, padded batches."""
        decoder, _ = self._decoder_and_head()
        device = _device(self.model)
        results: list[list[float]] = []
        order = list(range(len(rows)))
        for chunk in _chunks(order, self.batch_size):
            ids, mask, positions, offsets = _pad(
                [rows[i] for i in chunk], self.generator._pad_id, self.padding_side, device
            )
            hidden = decoder(input_ids=ids, attention_mask=mask, position_ids=positions)[0]
            for local, index in enumerate(chunk):
                means = []
                for start, end in spans[index]:
                    where = torch.arange(start, end, device=device) + offsets[local]
                    logp = self._log_probs(hidden[local, where - 1], ids[local, where])
                    means.append(float(logp.mean()))
                results.append(means)
        return results

    def _mean_log_probs_shared(
        self, contexts: Sequence[list[int]], steps: Sequence[list[int]]
    ) -> list[float]:
        """Mean log-prob of ``steps[i]`` after ``contexts[i]``; one prefix pass per context."""
        decoder, _ = self._decoder_and_head()
        device = _device(self.model)
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, context in enumerate(contexts):
            groups.setdefault(tuple(context), []).append(index)
        results = [0.0] * len(steps)
        for context, members in groups.items():
            cache, last_hidden = self._prefix_state(decoder, context, device)
            length = len(context)
            for chunk in _chunks(members, self.batch_size):
                ids, mask, _, _ = _pad([steps[i] for i in chunk], 0, "right", device)
                batch_cache = copy.deepcopy(cache)
                batch_cache.batch_repeat_interleave(len(chunk))
                full_mask = torch.cat([torch.ones_like(mask[:, :1]).expand(-1, length), mask], 1)
                positions = (torch.arange(ids.shape[1], device=device) + length).expand_as(ids)
                hidden = decoder(
                    input_ids=ids,
                    attention_mask=full_mask,
                    position_ids=positions,
                    use_cache=True,
                    **{cache_argument(decoder): batch_cache},
                )[0]
                for local, index in enumerate(chunk):
                    count = len(steps[index])
                    predictors = torch.cat([last_hidden, hidden[local, : count - 1]])
                    logp = self._log_probs(predictors, ids[local, :count])
                    results[index] = float(logp.mean())
        return results

    def _prefix_state(
        self, decoder: Any, context: tuple[int, ...], device: torch.device
    ) -> tuple[Any, torch.Tensor]:
        """The cache after ``context`` and its last hidden state (which predicts a step's first
        token), reading only the tokens after the longest prefix already cached."""
        if context in self._prefixes:
            self._prefixes.move_to_end(context)
            return self._prefixes[context]
        base = max(
            (
                key
                for key in self._prefixes
                if len(key) < len(context) and context[: len(key)] == key
            ),
            key=len,
            default=(),
        )
        cache = copy.deepcopy(self._prefixes[base][0]) if base else None
        ids = torch.tensor([context[len(base) :]], dtype=torch.long, device=device)
        positions = torch.arange(len(base), len(context), device=device)[None]
        name = cache_argument(decoder)
        out = decoder(input_ids=ids, position_ids=positions, use_cache=True, **{name: cache})
        state = (getattr(out, name), out[0][:, -1])
        if self.prefix_cache_size:
            self._prefixes[context] = state
            while len(self._prefixes) > self.prefix_cache_size:
                self._prefixes.popitem(last=False)
        return state

    def clear_prefix_cache(self) -> None:
        """Forget the cached prefixes, e.g. so that a benchmark run does not reuse another's."""
        self._prefixes.clear()

    def _finish(self, value: float) -> float:
        return value if self.raw else math.exp(value)

    # ----------------------------------------------------------------------- the interface
    def score_last(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[float]:
        """The last step's score for each path (shared prefixes computed once)."""
        start = time.perf_counter()
        pairs = list(zip(questions, step_lists, strict=True))
        known = [self._from_generation(question, steps) for question, steps in pairs]
        contexts, lasts, todo = [], [], []
        for index, (question, steps) in enumerate(pairs):
            if not steps:
                raise ValueError("cannot score an empty path")
            if known[index] is not None:
                continue
            contexts.append(self._context_ids(question, steps[:-1]))
            lasts.append(self._step_ids(steps[-1]))
            todo.append(index)
        means: list[float] = []
        if todo:
            means = self.generator.run_exclusive(self._mean_log_probs, contexts, lasts)
        for index, mean in zip(todo, means, strict=True):
            known[index] = mean
        self.reused += len(questions) - len(todo)
        self._account(start)
        return [self._finish(float(m)) for m in known]  # type: ignore[arg-type]

    def _mean_log_probs(self, contexts: list[list[int]], lasts: list[list[int]]) -> list[float]:
        """Each step's mean log-prob after its context (on the device's thread)."""
        with torch.inference_mode():
            if self.share_prefix:
                return self._mean_log_probs_shared(contexts, lasts)
            rows = [c + s for c, s in zip(contexts, lasts, strict=True)]
            spans = [[(len(c), len(c) + len(s))] for c, s in zip(contexts, lasts, strict=True)]
            return [m[0] for m in self._mean_log_probs_full(rows, spans)]

    def _from_generation(self, question: str, steps: Sequence[str]) -> float | None:
        """The step's mean log-prob kept from the pass that wrote it, if this model wrote it:
        generation read the same prompt a pass would read (:meth:`_context_ids`)."""
        if self.generated is None or not steps:
            return None
        prompt = self.generator.render_prompt(question, list(steps[:-1]), self.delimiter)
        found = self.generated.get(prompt, steps[-1])
        if found is None or math.isnan(found.logprob[0]):
            return None
        return float(found.logprob[0])

    def score(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        """Every step's score: each step after its own context, as :meth:`score_last` scores it
        (one call over every prefix of every path; a context read once serves its extensions)."""
        return every_step_from_last(self.score_last, questions, step_lists)

    def _account(self, start: float) -> None:
        self.last_seconds = time.perf_counter() - start
        self.total_seconds += self.last_seconds
        self.calls += 1

    def __call__(self, question: str, steps: list[str]) -> float:
        return self.score_last([question], [steps])[0]


class _PositionScorer:
    """Shared plumbing of PRMs that read a score at marker-token positions in one forward pass."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        batch_size: int = 4,
        padding_side: PaddingSide = "right",
        lock: threading.Lock | threading.RLock | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = max(1, int(batch_size))
        self.padding_side = padding_side
        self.lock = lock or threading.RLock()
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (tokenizer.eos_token_id or 0)
        self.last_seconds = 0.0

    def _text(self, question: str, steps: Sequence[str]) -> str:
        raise NotImplementedError

    def _marker_id(self) -> int:
        raise NotImplementedError

    def _scores_at(self, ids, mask, positions, rows: list[list[int]]) -> list[torch.Tensor]:
        raise NotImplementedError

    def _encode(self, question: str, steps: Sequence[str]) -> list[int]:
        ids = list(
            self.tokenizer(self._text(question, steps), add_special_tokens=False)["input_ids"]
        )
        found = sum(1 for token in ids if token == self._marker_id())
        if found != len(steps):
            raise ValueError(
                f"{type(self).__name__}: found {found} step markers for {len(steps)} steps; "
                "the tokenizer must keep the marker a single token"
            )
        return ids

    def score(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        """``result[i][j]``: the PRM's score of step ``j`` of path ``i`` (one pass per path)."""
        start = time.perf_counter()
        rows = [self._encode(q, s) for q, s in zip(questions, step_lists, strict=True)]
        device = _device(self.model)

        def scored() -> list[list[float]]:
            results: list[list[float]] = []
            with torch.inference_mode():
                for chunk in _chunks(rows, self.batch_size):
                    ids, mask, positions, _ = _pad(chunk, self.pad_id, self.padding_side, device)
                    per_row = self._scores_at(ids, mask, positions, list(chunk))
                    results.extend([float(v) for v in values] for values in per_row)
            return results

        # a PRM of its own still shares the device with the generators: take its turn there
        results = run_locked(device_queue(str(device)), self.lock, scored)
        self.last_seconds = time.perf_counter() - start
        return results

    def score_last(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[float]:
        """The last step's score of each path."""
        return [scores[-1] for scores in self.score(questions, step_lists)]

    def __call__(self, question: str, steps: list[str]) -> float:
        return self.score_last([question], [steps])[0]


class MathShepherdScorer(_PositionScorer):
    """A Math-Shepherd style PRM: a causal LM that predicts "+" or "-" at a step tag token.

    Input (as in the Math-Shepherd release): ``"{question} Step 1: {step} ки\\nStep 2: ..."``; at
    each tag position the score is ``p(+) / (p(+) + p(-))`` (softmax over just those two logits).
    Tag text inside a step is removed so the tag count always equals the step count.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        step_tag: str = "ки",
        good_token: str = "+",
        bad_token: str = "-",
        **kwargs: Any,
    ) -> None:
        super().__init__(model, tokenizer, **kwargs)
        self.step_tag = step_tag
        self.tag_id = self._single_id(step_tag)
        self.good_id = self._single_id(good_token)
        self.bad_id = self._single_id(bad_token)

    def _single_id(self, text: str) -> int:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ValueError(f"the tokenizer has no token for {text!r}")
        return int(ids[-1])  # sentencepiece may add a leading "▁" piece first

    def _marker_id(self) -> int:
        return self.tag_id

    def _text(self, question: str, steps: Sequence[str]) -> str:
        body = "".join(
            f"Step {i}: {step.replace(self.step_tag, '').strip()} {self.step_tag}\n"
            for i, step in enumerate(steps, 1)
        )
        return f"{question} {body}"

    def _scores_at(self, ids, mask, positions, rows: list[list[int]]) -> list[torch.Tensor]:
        decoder = self.model.get_decoder()
        head = self.model.get_output_embeddings()
        hidden = decoder(input_ids=ids, attention_mask=mask, position_ids=positions)[0]
        pair = torch.tensor([self.good_id, self.bad_id], device=ids.device)
        out = []
        for row in range(ids.shape[0]):
            where = ((ids[row] == self.tag_id) & (mask[row] == 1)).nonzero().squeeze(-1)
            logits = head(hidden[row, where]).float()[:, pair]
            out.append(torch.softmax(logits, dim=-1)[:, 0])
        return out


class QwenPRMScorer(_PositionScorer):
    """A Qwen2.5-Math-PRM style PRM: a reward head with two classes read at each step separator.

    Input (as in the Qwen2.5-Math-PRM model card): the chat template with the system prompt below,
    the question as the user turn, and the steps joined and ended by ``<extra_0>`` as the assistant
    turn. The model's first output has shape ``(batch, length, 2)``; at each separator the score
    is the softmax probability of class 1 (positive). Works with the real model loaded with
    ``trust_remote_code`` and with any token-classification model with two labels.
    """

    SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."

    def __init__(
        self, model: Any, tokenizer: Any, *, separator: str = "<extra_0>", **kwargs: Any
    ) -> None:
        super().__init__(model, tokenizer, **kwargs)
        self.separator = separator
        ids = tokenizer(separator, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"the separator {separator!r} must be one token, got {ids}")
        self.separator_id = int(ids[0])

    def _marker_id(self) -> int:
        return self.separator_id

    def _text(self, question: str, steps: Sequence[str]) -> str:
        clean = [step.replace(self.separator, "") for step in steps]
        messages = [
            {"role": "system", "content": self.SYSTEM},
            {"role": "user", "content": question},
            {"role": "assistant", "content": self.separator.join(clean) + self.separator},
        ]
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=False
        )

    def _scores_at(self, ids, mask, positions, rows: list[list[int]]) -> list[torch.Tensor]:
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions)[0]
        if logits.shape[-1] != 2:
            raise ValueError(f"expected a reward head with 2 classes, got {logits.shape[-1]}")
        probs = torch.softmax(logits.float(), dim=-1)
        out = []
        for row in range(ids.shape[0]):
            where = ((ids[row] == self.separator_id) & (mask[row] == 1)).nonzero().squeeze(-1)
            out.append(probs[row, where, 1])
        return out
