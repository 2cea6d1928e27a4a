"""A transformers thought generator: batched step drafting and lossless speculative correction.

Drafting is only fast when every frontier node's drafts go to the model in one batched
``generate`` call, so :meth:`TransformersThoughtGenerator.generate` expands all (path, count)
requests into one left-padded batch and stops each row at the step delimiter on its own.

Correction uses transformers' assisted generation (``assistant_model=``) with the drafter, which is
lossless: greedy output is token-identical to the target's own, and sampled output follows the
speculative-sampling acceptance rule. transformers runs it one sequence at a time, so on a CPU
plain batched generation of several corrections is often faster; ``strategy="auto"`` picks per
call from throughput measured on this generator, and the call reports which one it used.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from langgraph_specsearch.generators import merging
from langgraph_specsearch.generators.base import (
    FinishReason,
    GenerationSettings,
    GenerationStats,
    Thought,
    ThoughtGenerator,
    cut_at_delimiter,
    row_seed,
    split_by_counts,
)
from langgraph_specsearch.generators.merging import CallMerger, DeviceQueue
from langgraph_specsearch.generators.prompts import (  # noqa: F401  (re-exported)
    DEFAULT_SYSTEM_PROMPT,
    PRM_HEAD_SYSTEM_PROMPT,
)
from langgraph_specsearch.generators.sampling import NucleusSampler
from langgraph_specsearch.generators.self_scores import scored_tokens
from langgraph_specsearch.generators.step_features import (
    CaptureSpec,
    StepFeatureCache,
    generate_kwargs,
    pool_generated,
)

T = TypeVar("T")
STRATEGIES = ("auto", "speculative", "batched")
# Priors before anything is measured, relative to one plain sequence: a batch of n rows makes about
# n**0.6 times the tokens per second (memory-bound decoding), assisted decoding about 1.3 times.
# With them "auto" starts batched whenever a call has more than one sequence.
_BATCH_EXPONENT = 0.6
_SPECULATIVE_PRIOR = 1.3
_EMA = 0.5


@dataclass
class BackendStats:
    """What the last call did: the strategy, wall time, sequences and tokens generated."""

    strategy: str = "batched"
    seconds: float = 0.0
    sequences: int = 0
    new_tokens: int = 0
    model_calls: int = 0

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ThroughputModel:
    """Running tokens-per-second measurements per (strategy, batch bucket, sampling) on one model.

    Used by ``strategy="auto"`` to estimate which way of writing ``n`` corrections finishes first.
    """

    rates: dict[tuple[str, int, bool], float] = field(default_factory=dict)

    @staticmethod
    def bucket(sequences: int) -> int:
        return 1 << max(0, math.ceil(math.log2(max(1, sequences))))

    def record(self, strategy: str, sequences: int, sampling: bool, tokens: int, seconds: float):
        if tokens <= 0 or seconds <= 0:
            return
        key = (strategy, self.bucket(sequences) if strategy == "batched" else 1, sampling)
        rate = tokens / seconds
        old = self.rates.get(key)
        self.rates[key] = rate if old is None else _EMA * old + (1 - _EMA) * rate

    def _single_rate(self, sampling: bool) -> float:
        """The plain one-sequence rate, measured or inferred from any other measurement."""
        if ("batched", 1, sampling) in self.rates:
            return self.rates[("batched", 1, sampling)]
        batched = [
            (b, r) for (s, b, m), r in self.rates.items() if s == "batched" and m == sampling
        ]
        if batched:
            size, rate = min(batched)
            return rate / size**_BATCH_EXPONENT
        if ("speculative", 1, sampling) in self.rates:
            return self.rates[("speculative", 1, sampling)] / _SPECULATIVE_PRIOR
        return 1.0

    def estimate(self, strategy: str, sequences: int, sampling: bool) -> float:
        """Estimated total tokens per second of ``strategy`` for a call with ``sequences`` rows."""
        if strategy == "speculative":
            measured = self.rates.get(("speculative", 1, sampling))
            return measured or _SPECULATIVE_PRIOR * self._single_rate(sampling)
        bucket = self.bucket(sequences)
        measured = self.rates.get(("batched", bucket, sampling))
        if measured:
            return measured * (sequences / bucket) ** _BATCH_EXPONENT
        return self._single_rate(sampling) * sequences**_BATCH_EXPONENT

    def choose(self, sequences: int, sampling: bool) -> str:
        speculative = self.estimate("speculative", sequences, sampling)
        batched = self.estimate("batched", sequences, sampling)
        return "speculative" if speculative > batched else "batched"


class DelimiterStoppingCriteria(StoppingCriteria):
    """Stops each row once its generated text contains the step delimiter after some content.

    Works by decoding the generated tail, so it also catches delimiters merged into larger tokens
    (".\\n\\n") and works with ``assistant_model``, where ``stop_strings`` fails in transformers 5.
    """

    def __init__(self, tokenizer: Any, prompt_length: int, delimiter: str, batch_size: int):
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.delimiter = delimiter
        self.done = [False] * batch_size

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        for row in range(input_ids.shape[0]):
            if self.done[row] or not self.delimiter:
                continue
            text = self.tokenizer.decode(
                input_ids[row, self.prompt_length :], skip_special_tokens=True
            )
            if cut_at_delimiter(text, self.delimiter)[1]:
                self.done[row] = True
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)


class TransformersThoughtGenerator:
    """A drafter or target backed by a transformers causal LM (see the module docstring).

    ``max_batch_size`` caps the rows of one ``generate`` call (bigger requests are chunked);
    ``share_prefix`` reads each distinct prompt of a batch once (see :meth:`_shared_prefill`);
    ``nucleus_sampling`` draws plain batched samples from the top-p nucleus only (the same
    distribution, see :mod:`.sampling`; False uses transformers' sampler);
    ``num_assistant_tokens`` / ``num_assistant_tokens_schedule`` set the draft length when this
    generator corrects with an assistant. ``last_stats`` (a :class:`GenerationStats`) and
    ``last_details`` (a :class:`BackendStats`) describe the last call; ``throughput`` holds the
    running measurements "auto" decides by. ``device_queue``: the calls of every in-process model
    on the same device take turns and merge (default: the process's queue for the model's device,
    :func:`.merging.device_queue`).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str | None = None,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        max_batch_size: int = 32,
        num_assistant_tokens: int = 6,
        num_assistant_tokens_schedule: str = "constant",
        share_prefix: bool = True,
        nucleus_sampling: bool = True,
        device_queue: DeviceQueue | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name or _model_name(model)
        self.system_prompt = system_prompt
        self.max_batch_size = max(1, int(max_batch_size))
        self.num_assistant_tokens = int(num_assistant_tokens)
        self.num_assistant_tokens_schedule = num_assistant_tokens_schedule
        self.share_prefix = share_prefix
        self.nucleus_sampling = nucleus_sampling
        self.lock = threading.RLock()
        self.throughput = ThroughputModel()
        self.last_stats = GenerationStats()
        self.last_details = BackendStats()
        self.total = BackendStats(strategy="total")
        self.last_token_ids: list[list[int]] = []  # each row's generated ids up to its cut
        self.step_features: StepFeatureCache | None = None  # see record_step_features
        self._same_vocab: dict[int, bool] = {}
        # concurrent searches' calls run as one batch (see .merging); merger.stats counts them
        # and take turns with the other models on the same device (see .merging.DeviceQueue)
        self.merger: CallMerger[_Request, list[Thought]] = CallMerger(
            self._run_merged, queue=device_queue or merging.device_queue(str(_device(model)))
        )
        self._eos_ids = _eos_ids(model, tokenizer)
        pad = tokenizer.pad_token_id
        self._pad_id = pad if pad is not None else self._eos_ids[0]

    # ----------------------------------------------------------------------- construction
    @classmethod
    def from_pretrained(
        cls,
        path_or_dir: str | Path,
        gguf_file: str | None = None,
        dtype: torch.dtype = torch.bfloat16,
        **kwargs: Any,
    ) -> TransformersThoughtGenerator:
        """Load a local directory (or a GGUF file in it) without touching any hub."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path_or_dir)
        if gguf_file is None and path.is_file() and path.suffix == ".gguf":
            path, gguf_file = path.parent, path.name
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, **extra)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype, local_files_only=True, **extra
        )
        kwargs.setdefault("name", path.name if not gguf_file else Path(gguf_file).stem)
        return cls(model, tokenizer, **kwargs)

    @classmethod
    def from_langchain(cls, llm: Any, **kwargs: Any) -> TransformersThoughtGenerator:
        """Reuse the model and tokenizer of a ``HuggingFacePipeline`` or ``ChatHuggingFace``."""
        pipeline_llm = getattr(llm, "llm", llm)  # ChatHuggingFace wraps a HuggingFacePipeline
        pipe = getattr(pipeline_llm, "pipeline", None)
        if pipe is None or not hasattr(pipe, "model"):
            raise TypeError(
                "from_langchain needs a HuggingFacePipeline or a ChatHuggingFace over one "
                f"(a local transformers pipeline); got {type(llm).__name__}"
            )
        tokenizer = getattr(llm, "tokenizer", None) or pipe.tokenizer
        kwargs.setdefault(
            "name", getattr(pipeline_llm, "model_id", None) or _model_name(pipe.model)
        )
        return cls(pipe.model, tokenizer, **kwargs)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the device and this model for a call outside generation (a scoring pass): it
        waits its turn behind the device's queued batches instead of running beside them."""
        with self.merger.queue.exclusive(), self.lock:
            yield

    def run_exclusive(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(*args)`` run as :meth:`exclusive` would, on the device's thread (where every
        engine run of this process happens: :mod:`.merging`), holding this model's lock."""
        return merging.run_locked(self.merger.queue, self.lock, fn, *args)

    # ----------------------------------------------------------------------- prompts
    def render_prompt(
        self,
        question: str,
        steps: Sequence[str],
        delimiter: str,
        system_prompt: str | None = None,
    ) -> str:
        """The chat prompt with the steps so far as a partial assistant message to continue.

        ``system_prompt`` overrides this generator's own, e.g. for a scorer trained on another.
        """
        messages = [{"role": "user", "content": question}]
        system = self.system_prompt if system_prompt is None else system_prompt
        if system:
            messages.insert(0, {"role": "system", "content": system})
        if not steps:
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        partial = delimiter.join(steps) + delimiter
        messages.append({"role": "assistant", "content": partial})
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, continue_final_message=True
        )
        # transformers may drop trailing whitespace of the partial message; the model must see the
        # delimiter to start a new step rather than extend the last one.
        stripped = partial.rstrip()
        if not text.endswith(partial) and text.endswith(stripped):
            text += partial[len(stripped) :]
        return text

    def context_length(self) -> int | None:
        """The model's context window in tokens, when its config says."""
        config = getattr(self.model, "config", None)
        value = getattr(config, "max_position_embeddings", None)
        return int(value) if value else None

    def check_question(self, question: str, room: int = 512) -> None:
        """Refuse, before generating, a question that leaves under ``room`` tokens of context."""
        limit = self.context_length()
        if limit is None:
            return
        used = len(self.tokenizer(self.render_prompt(question, [], "\n\n"))["input_ids"])
        if used + room > limit:
            raise ValueError(
                f"question too long for {self.name}: its prompt takes {used} tokens of a "
                f"{limit}-token context, leaving less than {room} for the reasoning steps"
            )

    def _encode(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-pad by hand so a shared tokenizer's ``padding_side`` is never changed."""
        encoded = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        width = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(encoded), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, ids in enumerate(encoded):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask[row, width - len(ids) :] = 1
        device = _device(self.model)
        return input_ids.to(device), mask.to(device)

    def _nucleus_sampler(
        self,
        settings: GenerationSettings,
        assistant: TransformersThoughtGenerator | None,
        generators: Sequence[torch.Generator] | None = None,
    ) -> NucleusSampler | None:
        """The sampler for a plain batched call; assisted generation keeps transformers' own.

        Speculative sampling compares the target's and the assistant's distributions, so it needs
        the sampling distribution in the scores, which :class:`NucleusSampler` replaces by its draw.
        """
        if not self.nucleus_sampling or assistant is not None or settings.temperature <= 0:
            return None
        if settings.top_p >= 1.0:
            return None
        return NucleusSampler(settings.temperature, settings.top_p, generators=generators)

    def _config(
        self, settings: GenerationSettings, *, sampler: NucleusSampler | None = None, **extra: Any
    ) -> GenerationConfig:
        sampling = settings.temperature > 0 and sampler is None
        options: dict[str, Any] = {
            "max_new_tokens": settings.max_new_tokens,
            "do_sample": sampling,
            "eos_token_id": self._eos_ids,
            "pad_token_id": self._pad_id,
            "repetition_penalty": 1.0,
            "use_cache": True,
        }
        if sampling:
            options.update(temperature=settings.temperature, top_p=settings.top_p, top_k=0)
        options.update(extra)
        return GenerationConfig(**options)

    def record_step_features(self, spec: CaptureSpec, capacity: int = 4096) -> StepFeatureCache:
        """Keep each drafted step's hidden-state features for a scorer to reuse (no second pass).

        Plain batched ``generate`` calls then return their hidden states (and raw logits when
        ``spec.logprob``); see :mod:`.step_features`. Calling it again with
        another spec starts a new cache.
        """
        if self.step_features is None or self.step_features.spec != spec:
            self.step_features = StepFeatureCache(spec, capacity)
        return self.step_features

    # ----------------------------------------------------------------------- decoding
    def _thought(self, generated: Sequence[int], delimiter: str) -> Thought:
        """Cut one row at its first eos or delimiter and count the tokens up to that cut."""
        return self._cut_row(generated, delimiter)[0]

    def _cut_row(self, generated: Sequence[int], delimiter: str) -> tuple[Thought, list[int]]:
        ids = list(generated)
        reason: FinishReason = "length"
        for index, token in enumerate(ids):
            if token in self._eos_ids:
                ids, reason = ids[: index + 1], "eos"
                break
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        cut, found = cut_at_delimiter(text, delimiter)
        if found:
            reason = "delimiter"
            ids = ids[: self._first_prefix_with_delimiter(ids, delimiter)]
        elif reason == "length" and self._pad_id not in self._eos_ids:
            while ids and ids[-1] == self._pad_id:  # padding after a stopped row is not output
                ids.pop()
        if not cut:
            reason = "empty"
        return Thought(text=cut, tokens=len(ids), finish_reason=reason), ids

    def _step_ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _first_prefix_with_delimiter(self, ids: list[int], delimiter: str) -> int:
        """The shortest prefix whose text holds the delimiter (binary search; it is monotone)."""
        low, high = 1, len(ids)
        while low < high:
            middle = (low + high) // 2
            text = self.tokenizer.decode(ids[:middle], skip_special_tokens=True)
            if cut_at_delimiter(text, delimiter)[1]:
                high = middle
            else:
                low = middle + 1
        return high

    def _shared_prefill(self, input_ids: torch.Tensor, mask: torch.Tensor) -> Any | None:
        """The key/value cache of each distinct prompt, computed once and copied to its rows.

        A step asks for several thoughts from the same path, so most rows of a batch repeat a
        prompt; on a CPU reading a prompt costs as much as tens of generated tokens (about 10 s for
        six copies of a 180-token prompt on the 1.5B target, against 0.28 s per generated token).
        The cache covers all but the last prompt token, which ``generate`` then reads itself, so
        sampling and stopping run exactly as without it. None when no prompt repeats.
        """
        rows = [tuple(row) for row in input_ids.tolist()]
        first: dict[tuple[int, ...], int] = {}
        source = [first.setdefault(row, len(first)) for row in rows]
        if len(first) == len(rows) or input_ids.shape[1] < 2:
            return None
        picks = torch.tensor([rows.index(row) for row in first], device=input_ids.device)
        ids, prefix_mask = input_ids[picks, :-1], mask[picks, :-1]
        if bool((prefix_mask.sum(dim=1) == 0).any()):  # a one-token prompt has no prefix
            return None
        positions = (prefix_mask.cumsum(dim=1) - 1).clamp(min=0)
        try:
            out = self.model.get_decoder()(
                input_ids=ids, attention_mask=prefix_mask, position_ids=positions, use_cache=True
            )
        except (TypeError, AttributeError, NotImplementedError) as error:
            warnings.warn(
                f"{self.name}: shared prefill turned off, every row reads its own prompt "
                f"(the model's decoder refused it: {error})",
                RuntimeWarning,
                stacklevel=2,
            )
            self.share_prefix = False
            return None
        cache = getattr(out, cache_argument(self.model))
        cache.reorder_cache(torch.tensor(source, device=input_ids.device))
        return cache

    @contextlib.contextmanager
    def _draft_length(self, assistant: TransformersThoughtGenerator | None) -> Iterator[None]:
        """Apply this generator's draft length to the assistant for one call, then restore it.

        transformers reads ``num_assistant_tokens`` and its schedule from the *assistant's*
        generation config, not from the config passed to ``generate`` (and a "heuristic"
        schedule writes its adapted value back there); the caller holds the assistant's lock.
        """
        if assistant is None:
            yield
            return
        config = assistant.model.generation_config
        saved = (config.num_assistant_tokens, config.num_assistant_tokens_schedule)
        config.num_assistant_tokens = self.num_assistant_tokens
        config.num_assistant_tokens_schedule = self.num_assistant_tokens_schedule
        try:
            yield
        finally:
            config.num_assistant_tokens, config.num_assistant_tokens_schedule = saved

    def _generate_rows(
        self,
        prompts: Sequence[str],
        settings: GenerationSettings,
        assistant: TransformersThoughtGenerator | None = None,
        generators: Sequence[torch.Generator] | None = None,
    ) -> tuple[list[Thought], int]:
        """Generate one thought per prompt; batched in chunks, or one by one with an assistant.

        ``generators`` (one per row) give the nucleus sampler's rows their own random streams;
        without them rows draw from the global generator.
        """
        step = 1 if assistant is not None else self.max_batch_size
        thoughts: list[Thought] = []
        self.last_token_ids = []
        calls = 0
        for start in range(0, len(prompts), step):
            chunk = prompts[start : start + step]
            rows_generators = generators[start : start + step] if generators else None
            input_ids, mask = self._encode(chunk)
            width = input_ids.shape[1]
            stopper = DelimiterStoppingCriteria(
                self.tokenizer, width, settings.delimiter, len(chunk)
            )
            extra: dict[str, Any] = {}
            capture = self.step_features if assistant is None else None
            if assistant is not None:
                extra["assistant_model"] = assistant.model
            with torch.inference_mode(), self._draft_length(assistant), _quiet_assisted(assistant):
                if assistant is None and self.share_prefix:
                    cache = self._shared_prefill(input_ids, mask)
                    if cache is not None:
                        extra[cache_argument(self.model)] = cache
                sampler = self._nucleus_sampler(settings, assistant, rows_generators)
                if sampler is not None:
                    extra["logits_processor"] = LogitsProcessorList([sampler])
                output = self.model.generate(
                    input_ids=input_ids,
                    attention_mask=mask,
                    generation_config=self._config(
                        settings,
                        sampler=sampler,
                        **(generate_kwargs(capture.spec) if capture is not None else {}),
                    ),
                    stopping_criteria=StoppingCriteriaList([stopper]),
                    **extra,
                )
            calls += 1
            sequences = output if capture is None else output.sequences
            cut = [
                self._cut_row(sequences[row, width:].tolist(), settings.delimiter)
                for row in range(len(chunk))
            ]
            for thought, ids in cut:
                thoughts.append(thought)
                self.last_token_ids.append(ids)
            if capture is not None:
                # log-probs (exclude_delimiter): each step's own tokens as a pass reads them,
                # however it ended (a pass reads nothing after a step). Other features pool what a
                # drafted step's pass reads with the delimiter after it: delimiter-ended steps
                # only (length 0 leaves the others unpooled)
                targets: list[list[int] | None] | None = None
                if capture.spec.exclude_delimiter:
                    targets = [
                        scored_tokens(self._step_ids(t.text), ids)
                        if t.finish_reason != "empty"
                        else None
                        for t, ids in cut
                    ]
                    lengths = [len(x) if x else 0 for x in targets]
                else:
                    lengths = [len(ids) if t.finish_reason == "delimiter" else 0 for t, ids in cut]
                pooled = pool_generated(output, lengths, capture.spec, targets)
                for prompt, (thought, _), features in zip(chunk, cut, pooled, strict=True):
                    if features is not None:
                        capture.put(prompt, thought.text, features)
        return thoughts, calls

    def _run(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        counts: Sequence[int],
        settings: GenerationSettings,
        strategy: str,
        assistant: TransformersThoughtGenerator | None,
    ) -> list[list[Thought]]:
        if len(paths) != len(counts):
            raise ValueError(f"{len(paths)} paths but {len(counts)} counts")
        if any(count < 0 for count in counts):
            raise ValueError(f"counts must be >= 0, got {list(counts)}")
        prompts: list[str] = []
        for steps, count in zip(paths, counts, strict=True):
            if count:
                prompts.extend([self.render_prompt(question, steps, settings.delimiter)] * count)
        start = time.perf_counter()
        rows: list[Thought] = []
        if prompts:
            request = _Request(prompts, settings, strategy, assistant)
            rows = self.merger.submit(self._merge_key(request), request)
        self.last_stats = GenerationStats(strategy=strategy, seconds=time.perf_counter() - start)
        return split_by_counts(rows, counts)

    def _merge_key(self, request: _Request) -> Any:
        """Calls may share a batch when only their seeds differ and each can keep its own random
        stream: plain batched calls, greedy or with the nucleus sampler. None: run alone."""
        settings = request.settings
        if request.assistant is not None:
            return None
        if settings.temperature > 0 and self._nucleus_sampler(settings, None) is None:
            return None  # transformers' own sampler draws from the one global stream
        return (replace(settings, seed=0), request.strategy)

    def _run_merged(self, key: Any, requests: Sequence[_Request]) -> list[list[Thought]]:
        """One engine run for one or more merged calls (see :class:`CallMerger`)."""
        first = requests[0]
        settings, assistant = first.settings, first.assistant
        prompts = [prompt for request in requests for prompt in request.prompts]
        start = time.perf_counter()
        locks = [self.lock] + ([assistant.lock] if assistant is not None else [])
        for lock in locks:
            lock.acquire()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(settings.seed)  # transformers' own sampler (never merged)
                generators = None
                if self._nucleus_sampler(settings, assistant) is not None:
                    generators = [
                        torch.Generator().manual_seed(row_seed(r.settings.seed, row))
                        for r in requests
                        for row in range(len(r.prompts))
                    ]
                rows, calls = self._generate_rows(prompts, settings, assistant, generators)
        finally:
            for lock in reversed(locks):
                lock.release()
        seconds = time.perf_counter() - start
        tokens = sum(thought.tokens for thought in rows)
        self.throughput.record(
            first.strategy, len(prompts), settings.temperature > 0, tokens, seconds
        )
        self.last_details = BackendStats(first.strategy, seconds, len(prompts), tokens, calls)
        self.total.seconds += seconds
        self.total.sequences += len(prompts)
        self.total.new_tokens += tokens
        self.total.model_calls += calls
        return split_by_counts(rows, [len(request.prompts) for request in requests])

    # ----------------------------------------------------------------------- the interface
    def generate(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        counts: Sequence[int],
        settings: GenerationSettings,
    ) -> list[list[Thought]]:
        """``counts[i]`` next steps for each ``paths[i]``, all in one batched ``generate`` call."""
        return self._run(question, paths, counts, settings, "batched", None)

    def supports_assistant(self, assistant: ThoughtGenerator) -> bool:
        """Token-level speculation needs the assistant to share this generator's vocabulary."""
        if not isinstance(assistant, TransformersThoughtGenerator) or assistant is self:
            return False
        mine, theirs = self.tokenizer, assistant.tokenizer
        if mine is theirs:
            return True
        key = id(theirs)
        if key not in self._same_vocab:  # comparing 150k-entry vocabularies costs ~0.1 s
            self._same_vocab[key] = (
                len(mine) == len(theirs) and mine.get_vocab() == theirs.get_vocab()
            )
        return self._same_vocab[key]

    def generate_speculative(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        counts: Sequence[int],
        settings: GenerationSettings,
        assistant: ThoughtGenerator,
        strategy: str = "auto",
    ) -> tuple[list[list[Thought]], str]:
        """This model's thoughts, written with ``assistant`` drafting tokens when that is faster.

        "speculative" runs assisted generation one sequence at a time, "batched" plain batched
        generation, "auto" whichever ``throughput`` estimates faster for this many sequences.
        Both are lossless, so the choice changes only speed, never the output distribution.
        """
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        if strategy != "batched" and not self.supports_assistant(assistant):
            if strategy == "speculative":
                raise ValueError(
                    f"{getattr(assistant, 'name', assistant)!r} cannot assist {self.name!r}: "
                    "it must be a TransformersThoughtGenerator with the same tokenizer vocabulary"
                )
            strategy = "batched"
        if strategy == "auto":
            total = sum(counts)
            strategy = self.throughput.choose(total, settings.temperature > 0)
        helper = assistant if strategy == "speculative" else None
        thoughts = self._run(question, paths, counts, settings, strategy, helper)  # type: ignore[arg-type]
        return thoughts, strategy


@dataclass(frozen=True)
class _Request:
    """One call's rows, as the merger hands them to :meth:`_run_merged`."""

    prompts: list[str]
    settings: GenerationSettings
    strategy: str
    assistant: TransformersThoughtGenerator | None


def cache_argument(module: Any) -> str:
    """The name ``module``'s forward (and ``generate``) takes and returns its key/value cache by.

    ``cache`` in current transformers, where ``past_key_values`` still works but warns on every
    run; ``past_key_values`` in the 5.x releases before the rename.
    """
    try:
        parameters = inspect.signature(module.forward).parameters
    except (AttributeError, TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in parameters else "past_key_values"


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


# transformers' own assisted decoding passes its assistant a generation config together with
# max_new_tokens, and then warns the caller that this is deprecated: nothing a caller can change.
_ASSISTED_NOTICE = _DropMessage("Passing `generation_config` together with generation-related")


@contextlib.contextmanager
def _quiet_assisted(assistant: Any) -> Iterator[None]:
    """Keep transformers' notice about its own assisted-decoding call off the user's terminal."""
    if assistant is None:
        yield
        return
    logger = logging.getLogger("transformers.generation.utils")
    logger.addFilter(_ASSISTED_NOTICE)
    try:
        yield
    finally:
        logger.removeFilter(_ASSISTED_NOTICE)


def _model_name(model: Any) -> str:
    path = getattr(getattr(model, "config", None), "_name_or_path", "") or ""
    return Path(path).name or type(model).__name__


def _device(model: Any) -> torch.device:
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every token that ends an assistant turn: the model's eos ids plus chat end markers."""
    ids: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.append(value)
        elif value:
            ids.extend(int(v) for v in value)
    vocab = tokenizer.get_vocab()
    for marker in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>"):
        if marker in vocab:
            ids.append(vocab[marker])
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise ValueError("the tokenizer has no end-of-sequence token")
    return unique
