"""A llama.cpp thought generator on llama-cpp-python's low-level batch API.

Why llama.cpp: on a CPU the quantized GGUF the package ships decodes several times faster in
llama.cpp than the bfloat16 torch model (issue 16), and it is loaded as is, with no conversion.

Why the low-level API: ``Llama.create_completion`` writes one sequence at a time, but a search step
asks for several thoughts from a few prompts. Here all rows of a call go in one multi-sequence
batch per decoding step; each distinct prompt is read once into its own sequence and its KV cells
are shared with its rows by ``llama_memory_seq_cp`` (on the unified KV cache used here that copies
only cell metadata, no tensors); each row stops on its own at the step delimiter, at an
end-of-generation token or at ``max_new_tokens``; each row samples with its own llama.cpp sampler
chain (temperature, top-p, then a seeded draw), seeded from the call's seed and the row's index,
so a run repeats exactly.

Prompts stay in the KV cache between calls (up to ``prefix_cache_size`` of them, least recently
used first out): the next search step's prompt extends this step's by one step, so only the new
tokens are read. The prompt is the model's own chat template from the GGUF, rendered with the same
rules as the transformers backend (:func:`render_chat`), so both backends read the same text.

llama-cpp-python is an optional extra (``pip install 'langgraph-specsearch[llamacpp]'``); this
module imports it only when a model is loaded, so prompts render without it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from langgraph_specsearch.generators import merging
from langgraph_specsearch.generators.base import (
    FinishReason,
    GenerationSettings,
    GenerationStats,
    Thought,
    cut_at_delimiter,
    row_seed,
    split_by_counts,
)
from langgraph_specsearch.generators.merging import CallMerger, DeviceQueue
from langgraph_specsearch.generators.prompts import DEFAULT_SYSTEM_PROMPT
from langgraph_specsearch.generators.self_scores import SelfScoreCache, scored_tokens

T = TypeVar("T")
EXTRA_HINT = "pip install 'langgraph-specsearch[llamacpp]'"

_MAX_SEQUENCES = 256  # llama.cpp's LLAMA_MAX_SEQ


# ----------------------------------------------------------------------------------- prompts
_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "


@functools.lru_cache(maxsize=8)
def _compile_template(template: str) -> Any:
    """The chat template compiled as transformers compiles it (sandboxed, same options)."""
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        value: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: Any = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            value,
            ensure_ascii=ensure_ascii,
            indent=indent,
            separators=separators,
            sort_keys=sort_keys,
        )

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)


def render_chat(
    template: str,
    messages: Sequence[dict[str, str]],
    *,
    add_generation_prompt: bool = False,
    continue_final_message: bool = False,
    **special_tokens: str,
) -> str:
    """Render ``messages`` with a Jinja chat template the way transformers'
    ``apply_chat_template`` does, including ``continue_final_message`` (the text ends inside the
    last message, so the model continues it)."""
    chat = [dict(message) for message in messages]
    final = ""
    if continue_final_message:
        if not chat:
            raise ValueError("continue_final_message is set but the conversation is empty")
        final = chat[-1]["content"]
        chat[-1]["content"] = final + _CONTINUE_TAG
    text = _compile_template(template).render(
        messages=chat,
        tools=None,
        documents=None,
        add_generation_prompt=add_generation_prompt,
        **special_tokens,
    )
    if continue_final_message:
        tag = _CONTINUE_TAG.strip()
        if final.strip() not in text or tag not in text:
            raise ValueError(
                "the chat template drops part of the final message; cannot continue it"
            )
        where = text.rindex(tag)
        if text[where : where + len(_CONTINUE_TAG)] == _CONTINUE_TAG:
            text = text[:where]
        else:  # the template trimmed trailing spacing of the message
            text = text[:where].rstrip()
    return text


# ----------------------------------------------------------------------------------- library
def _lib() -> Any:
    """The llama_cpp module, or an error naming the extra to install."""
    try:
        import llama_cpp
    except ImportError as error:
        raise ImportError(
            f"the llama.cpp engine needs llama-cpp-python; install it with: {EXTRA_HINT} "
            "(it builds from source, a few minutes)"
        ) from error
    return llama_cpp


_backend_ready = False


def _init_backend(verbose: bool) -> Any:
    global _backend_ready
    lib = _lib()
    logger = logging.getLogger("llama-cpp-python")  # llama_cpp prints through this logger's level
    if not verbose and logger.level == logging.NOTSET:
        logger.setLevel(logging.ERROR)
    if not _backend_ready:
        lib.llama_backend_init()
        _backend_ready = True
    return lib


def _free_model(lib: Any, pointer: Any) -> None:
    lib.llama_model_free(pointer)


def _free_context(lib: Any, pointer: Any, batch: Any) -> None:
    lib.llama_batch_free(batch)
    lib.llama_free(pointer)


THREADS_ENV = "LANGGRAPH_SPECSEARCH_THREADS"


def default_threads() -> int:
    """``$LANGGRAPH_SPECSEARCH_THREADS`` if set, else the CPU count.

    On an idle machine decode speed grows with threads. On a machine whose cores are busy with
    other work, use fewer: llama.cpp's threads wait for each other at every operation, so one
    descheduled thread stalls the rest (measured here with the machine's 2 cores shared by other
    jobs, load 7: a 6-row drafter decode step took 1.6-2.1 s with 2 threads, 0.26-0.53 s with 1).
    """
    chosen = os.environ.get(THREADS_ENV)
    if chosen:
        return max(1, int(chosen))
    return os.cpu_count() or 1


class LlamaCppModel:
    """A loaded GGUF model: weights, vocabulary, chat template. Shared by generators and scorers.

    Each :class:`LlamaCppThoughtGenerator` or scorer makes its own context (KV cache) on it, so
    a scorer sharing the weights never evicts the generator's cached prompts.
    """

    def __init__(self, path: str | Path, *, n_gpu_layers: int = 0, verbose: bool = False):
        lib = _init_backend(verbose)
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no GGUF file at {self.path}")
        params = lib.llama_model_default_params()
        params.n_gpu_layers = self.n_gpu_layers = int(n_gpu_layers)
        pointer = lib.llama_model_load_from_file(str(self.path).encode(), params)
        if not pointer:
            raise RuntimeError(f"llama.cpp could not load {self.path} (is it a GGUF file?)")
        self.pointer = pointer
        self._finalizer = weakref.finalize(self, _free_model, lib, pointer)
        self.vocab = lib.llama_model_get_vocab(pointer)
        self.n_vocab = int(lib.llama_vocab_n_tokens(self.vocab))
        self.n_ctx_train = int(lib.llama_model_n_ctx_train(pointer))
        self.chat_template = self.meta("tokenizer.chat_template")
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}
        eos = int(lib.llama_vocab_eos(self.vocab))
        pad = int(lib.llama_vocab_pad(self.vocab))
        self.eos_id = eos
        self.pad_id = pad if pad >= 0 else eos
        bos = int(lib.llama_vocab_bos(self.vocab))
        self.special_tokens = {
            name: self.token_text(token)
            for name, token in (("bos_token", bos), ("eos_token", eos), ("pad_token", pad))
            if token >= 0
        }

    def meta(self, key: str) -> str | None:
        """A GGUF metadata value as text (None when absent)."""
        lib = _lib()
        size = 1 << 16
        while True:
            buffer = (ctypes.c_char * size)()
            length = lib.llama_model_meta_val_str(self.pointer, key.encode(), buffer, size)
            if length < 0:
                return None
            if length < size:
                return bytes(buffer[:length]).decode("utf-8", errors="replace")
            size = length + 1

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text``: special tokens parsed, nothing added (like transformers'
        ``add_special_tokens=False``)."""
        lib = _lib()
        data = text.encode("utf-8")
        capacity = len(data) + 8
        while True:
            tokens = (lib.llama_token * capacity)()
            count = lib.llama_tokenize(self.vocab, data, len(data), tokens, capacity, False, True)
            if count >= 0:
                return list(tokens[:count])
            capacity = -count

    def token_text(self, token: int) -> str:
        return self._piece(token, special=True).decode("utf-8", errors="replace")

    def _piece(self, token: int, special: bool) -> bytes:
        lib = _lib()
        size = 64
        while True:
            buffer = (ctypes.c_char * size)()
            length = lib.llama_token_to_piece(self.vocab, token, buffer, size, 0, special)
            if length >= 0:
                return bytes(buffer[:length])
            size = -length

    def piece(self, token: int) -> bytes:
        """The bytes ``token`` adds to the text; empty for control tokens (as when transformers
        decodes with ``skip_special_tokens=True``)."""
        cached = self._pieces.get(token)
        if cached is None:
            cached = self._pieces[token] = self._piece(token, special=False)
        return cached

    def detokenize(self, ids: Sequence[int]) -> str:
        return b"".join(self.piece(t) for t in ids).decode("utf-8", errors="replace")

    def is_eog(self, token: int) -> bool:
        """Whether ``token`` ends a generation (eos, eot, <|im_end|>, ...: the GGUF's list)."""
        known = self._eog.get(token)
        if known is None:
            known = self._eog[token] = bool(_lib().llama_vocab_is_eog(self.vocab, token))
        return known


# ----------------------------------------------------------------------------------- contexts
@dataclass
class Span:
    """Tokens to decode into one sequence from ``position`` on; ``outputs`` are the offsets
    whose logits the caller reads."""

    seq: int
    position: int
    tokens: Sequence[int]
    outputs: frozenset[int] = frozenset()


@dataclass
class _Slot:
    """A cached prompt: the KV cells of ``tokens`` (positions 0..n-1) in sequence ``seq``."""

    seq: int
    tokens: list[int]
    used: int = 0


@dataclass
class ContextStats:
    """Tokens read into the KV cache, tokens whose cached cells were reused instead, llama_decode
    calls, and cached prompts dropped (for want of slots or of room in the cache)."""

    prefilled: int = 0
    reused: int = 0
    decode_calls: int = 0
    evictions: int = 0


# Reading a call's pending prompts early costs one more llama_decode call (the weights read
# once more); sharing pays when it saves more prompt tokens than this.
_SHARE_AFTER_READING = 32


class LlamaCppContext:
    """One llama.cpp context (unified KV cache) with a batch, row sequences and cached prompts.

    Sequences ``0 .. prefix_slots-1`` hold cached prompts; the rest are the rows of the current
    call, cleared at its start. :meth:`prefill` reads the distinct prompts of a call, each into a
    cached sequence, reusing the longest cached prefix; :meth:`decode` packs spans into batches of
    at most ``n_batch`` tokens and ``max_outputs`` logits rows and calls back after each decode
    (logits are only valid until the next one). When the cache is full, the least recently used
    prompts not needed by this call are dropped and the decode retried.
    """

    def __init__(
        self,
        model: LlamaCppModel,
        *,
        n_ctx: int = 4096,
        n_batch: int = 512,
        n_threads: int | None = None,
        rows: int = 32,
        prefix_slots: int = 8,
        max_outputs: int = 128,
        flash_attn: bool | None = False,
    ) -> None:
        lib = _lib()
        self.model = model
        self.prefix_slots = max(1, int(prefix_slots))
        self.rows = max(1, int(rows))
        if self.prefix_slots + self.rows > _MAX_SEQUENCES:
            raise ValueError(
                f"rows + prefix slots must be at most {_MAX_SEQUENCES}, got "
                f"{self.rows} + {self.prefix_slots}"
            )
        self.n_batch = max(1, int(n_batch))
        self.max_outputs = max(1, min(int(max_outputs), self.n_batch))
        self.n_threads = int(n_threads or default_threads())
        params = lib.llama_context_default_params()
        params.n_ctx = int(n_ctx)
        params.n_batch = self.n_batch
        params.n_ubatch = min(self.n_batch, 512)
        params.n_seq_max = self.prefix_slots + self.rows
        params.n_threads = self.n_threads
        params.n_threads_batch = self.n_threads
        params.kv_unified = True  # one stream: seq_cp shares cells instead of copying buffers
        if flash_attn is not None:
            params.flash_attn_type = (
                lib.LLAMA_FLASH_ATTN_TYPE_ENABLED
                if flash_attn
                else lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
            )
        params.no_perf = True
        pointer = lib.llama_init_from_model(model.pointer, params)
        if not pointer:
            raise RuntimeError(
                f"llama.cpp could not make a context with n_ctx={n_ctx} for {model.path.name} "
                "(out of memory? try a smaller n_ctx)"
            )
        self.pointer = pointer
        self.batch = lib.llama_batch_init(self.n_batch, 0, 1)
        self._finalizer = weakref.finalize(self, _free_context, lib, pointer, self.batch)
        self.memory = lib.llama_get_memory(pointer)
        self.n_ctx = int(lib.llama_n_ctx(pointer))
        self.slots: dict[int, _Slot] = {}
        self.stats = ContextStats()
        self._clock = 0
        self._pinned: set[int] = set()

    # ------------------------------------------------------------------ sequences
    def row_seq(self, row: int) -> int:
        if not 0 <= row < self.rows:
            raise IndexError(f"row {row} out of range (the context has {self.rows} rows)")
        return self.prefix_slots + row

    def clear_rows(self) -> None:
        lib = _lib()
        for row in range(self.rows):
            lib.llama_memory_seq_rm(self.memory, self.prefix_slots + row, -1, -1)

    def share(self, source: int, destination: int) -> None:
        """Give ``destination`` all cells of ``source`` (metadata only on a unified cache)."""
        _lib().llama_memory_seq_cp(self.memory, source, destination, -1, -1)

    def reset(self) -> None:
        """Forget everything (after an error, when the bookkeeping may not match the cache)."""
        _lib().llama_memory_clear(self.memory, True)
        self.slots.clear()
        self._pinned.clear()

    # ------------------------------------------------------------------ decoding
    def logits(self, index: int) -> Any:
        """The logits of the ``index``-th token of the last batch (a view, valid until the next
        decode)."""
        import numpy as np

        lib = _lib()
        pointer = lib.llama_get_logits_ith(self.pointer, index)
        if not pointer:
            raise RuntimeError(f"llama.cpp has no logits for batch index {index}")
        return np.ctypeslib.as_array(pointer, shape=(self.model.n_vocab,))

    def decode(
        self, spans: Sequence[Span], on_outputs: Callable[[list[tuple[int, int, int]]], None]
    ) -> None:
        """Decode ``spans``; after each llama_decode call ``on_outputs`` gets (span index, offset,
        batch index) of the outputs it produced."""
        batch = self.batch
        count = 0
        outputs: list[tuple[int, int, int]] = []
        for index, span in enumerate(spans):
            for offset, token in enumerate(span.tokens):
                wanted = offset in span.outputs
                if count == self.n_batch or (wanted and len(outputs) == self.max_outputs):
                    self._run(count)
                    on_outputs(outputs)
                    count, outputs = 0, []
                batch.token[count] = token
                batch.pos[count] = span.position + offset
                batch.n_seq_id[count] = 1
                batch.seq_id[count][0] = span.seq
                batch.logits[count] = wanted
                if wanted:
                    outputs.append((index, offset, count))
                count += 1
        if count:
            self._run(count)
            on_outputs(outputs)

    def _run(self, count: int) -> None:
        lib = _lib()
        self.batch.n_tokens = count
        while True:
            code = lib.llama_decode(self.pointer, self.batch)
            self.stats.decode_calls += 1
            if code == 0:
                return
            if code == 1 and self._evict_one():
                continue  # the cache was full: a cached prompt this call does not need went
            raise RuntimeError(
                f"llama_decode failed (code {code}"
                + (
                    f": no room in the {self.n_ctx}-token KV cache; raise n_ctx)"
                    if code == 1
                    else ")"
                )
            )

    # ------------------------------------------------------------------ cached prompts
    def _evict_one(self, keep: int | None = None) -> bool:
        """Drop the least recently used cached prompt that this call does not need (nor
        ``keep``); False when there is none."""
        free = [s for s in self.slots.values() if s.seq not in self._pinned and s.seq != keep]
        if not free:
            return False
        victim = min(free, key=lambda slot: slot.used)
        _lib().llama_memory_seq_rm(self.memory, victim.seq, -1, -1)
        del self.slots[victim.seq]
        self.stats.evictions += 1
        return True

    def _room_besides(self, seq: int) -> bool:
        """Whether a new slot can be had without evicting ``seq`` or a slot this call needs."""
        if len(self.slots) < self.prefix_slots:
            return True
        return any(s.seq != seq and s.seq not in self._pinned for s in self.slots.values())

    def _new_slot(self, keep: int | None = None) -> _Slot:
        while True:
            taken = set(self.slots)
            free = [seq for seq in range(self.prefix_slots) if seq not in taken]
            if free:
                slot = _Slot(free[0], [])
                self.slots[slot.seq] = slot
                return slot
            if not self._evict_one(keep):
                raise RuntimeError("more distinct prompts in one call than prefix slots")

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        """One call's scope: rows cleared before and after, the cache reset on an error."""
        self._clock += 1
        self._pinned = set()
        self.clear_rows()
        try:
            yield
        except BaseException:
            self.reset()
            raise
        finally:
            self._pinned = set()
        self.clear_rows()

    def prefill(
        self, prompts: Sequence[Sequence[int]], on_ready: Callable[[int, int, int], None]
    ) -> list[int]:
        """Read each prompt into a cached sequence; ``on_ready(prompt index, sequence, batch
        index of its last token's logits)`` is called once it is complete.

        Each prompt reuses the longest prefix any cached prompt shares with it (its cells are
        shared, never recomputed), including a prompt this call extended: the cells it had
        before the call are still there, so two children of one cached path share the path.
        When an earlier prompt of this call holds much more of this one than the cache does
        (two paths from a question never read), the pending prompts are read first and this
        one shares them. A cached prompt that the new one extends (or equals) is extended in
        place; otherwise the shared prefix is shared into a new slot. The prompts' last tokens
        are always decoded, together in a batch of their own after the rest: their
        logits then come from the same batch whether the prompts were cached or not, so a call
        repeated on a warm cache samples exactly what it sampled cold (llama.cpp's CPU kernels
        round differently for different batch sizes). Returns each prompt's sequence.
        """
        if len(prompts) > self.prefix_slots:
            raise ValueError(f"{len(prompts)} prompts for {self.prefix_slots} prefix slots")
        lib = _lib()
        spans: list[Span] = []  # what each prompt still needs, but its last token
        lasts: list[Span] = []  # the last tokens, decoded together for their logits
        # this call's slots, and how many of their cells were in the cache before it: a prompt
        # may share those (two children of one cached path share the path), not the rest
        fresh: dict[int, int] = {}
        for prompt in prompts:
            if not prompt:
                raise ValueError("cannot prefill an empty prompt")
            best, shared = self._longest_prefix(prompt, fresh)
            unread = max(
                (_common_prefix(prompt, self.slots[seq].tokens[:-1]) for seq in fresh), default=0
            )
            if unread - shared >= _SHARE_AFTER_READING:
                # an earlier prompt of this call holds much more of this one than any cached
                # prompt does (two paths from a question never read): read what is pending
                # first, so this prompt shares it instead of reading it a second time
                self.decode([span for span in spans if span.tokens], lambda outputs: None)
                spans = [Span(span.seq, span.position + len(span.tokens), []) for span in spans]
                fresh = {seq: len(self.slots[seq].tokens) - 1 for seq in fresh}
                best, shared = self._longest_prefix(prompt, fresh)
            shared = min(shared, len(prompt) - 1)
            extend = (
                best is not None
                and best.seq not in fresh  # its own prompt still needs it
                and (
                    shared >= len(best.tokens) - 1  # it is a prefix of this prompt, or this prompt
                    or not self._room_besides(best.seq)  # no other slot: give up its tail
                )
            )
            if best is not None and extend:
                target = best
                lib.llama_memory_seq_rm(self.memory, target.seq, shared, -1)
            else:  # the source only has to live until its cells are shared
                target = self._new_slot(keep=best.seq if best is not None else None)
                if best is not None and shared > 0:
                    lib.llama_memory_seq_cp(self.memory, best.seq, target.seq, 0, shared)
            target.tokens = list(prompt)
            target.used = self._clock
            fresh[target.seq] = shared
            self._pinned.add(target.seq)
            spans.append(Span(target.seq, shared, prompt[shared:-1]))
            lasts.append(Span(target.seq, len(prompt) - 1, prompt[-1:], frozenset({0})))
            self.stats.reused += shared
            self.stats.prefilled += len(prompt) - shared

        def ready(outputs: list[tuple[int, int, int]]) -> None:
            for index, _, batch_index in outputs:
                on_ready(index, lasts[index].seq, batch_index)

        self.decode([span for span in spans if span.tokens], lambda outputs: None)
        self.decode(lasts, ready)
        return [span.seq for span in lasts]

    def _longest_prefix(self, prompt: Sequence[int], fresh: dict[int, int]) -> tuple[Any, int]:
        """The slot sharing the longest prefix with ``prompt`` and its length, counting only the
        cells already in the cache of this call's slots (``fresh``: seq -> cells). On a tie a
        slot of an earlier call wins: it can be extended in place, as a cold call did."""
        best, shared = None, 0
        # a list (live: _new_slot may have evicted one), earlier calls' slots first
        for slot in sorted(self.slots.values(), key=lambda slot: slot.seq in fresh):
            length = _common_prefix(prompt, slot.tokens)
            if slot.seq in fresh:
                length = min(length, fresh[slot.seq])
            if length > shared:
                best, shared = slot, length
        return best, shared


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    length = min(len(a), len(b))
    for index in range(length):
        if a[index] != b[index]:
            return index
    return length


# ----------------------------------------------------------------------------------- sampling
def log_softmax_at(logits: Any) -> Callable[[int], float]:
    """A function token -> log p(token) for one row of logits (log-sum-exp in float64)."""
    import numpy as np

    row = np.asarray(logits, dtype=np.float64)
    top = row.max()
    total = top + math.log(float(np.exp(row - top).sum()))
    return lambda token: float(row[token] - total)


def make_sampler(settings: GenerationSettings, seed: int) -> Any:
    """llama.cpp's sampler chain for ``settings``: greedy at temperature 0, else temperature,
    then top-p over the tempered distribution (the transformers backend's order), then a draw."""
    lib = _lib()
    chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
    if settings.temperature <= 0:
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        return chain
    lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(float(settings.temperature)))
    if settings.top_p < 1.0:
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(float(settings.top_p), 1))
    lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(seed))
    return chain


# ----------------------------------------------------------------------------------- generator
@dataclass
class _Row:
    ids: list[int] = field(default_factory=list)
    text: bytearray = field(default_factory=bytearray)
    reason: FinishReason | None = None
    logprobs: list[float] = field(default_factory=list)  # only while recording self-scores
    last_logp: Callable[[int], float] | None = None  # the last position's log-probs, likewise


@dataclass(frozen=True)
class _Request:
    """One call's rows (each row's prompt ids and text), as the merger hands them over."""

    prompts: list[tuple[list[int], str]]
    settings: GenerationSettings


@dataclass
class LlamaCppStats:
    """What the last call did: wall time, rows, tokens generated, prompt tokens read and reused,
    and the longest row (the decoding steps it took)."""

    seconds: float = 0.0
    sequences: int = 0
    new_tokens: int = 0
    prefill_tokens: int = 0
    reused_tokens: int = 0
    decode_steps: int = 0
    model_calls: int = 0


class LlamaCppThoughtGenerator:
    """A drafter or target on llama.cpp (see the module docstring).

    ``n_ctx`` is the KV cache shared by the rows and cached prompts of a call (a row needs its
    prompt plus ``max_new_tokens``); ``max_batch_size`` caps the rows of one batch (bigger calls
    run in chunks); ``prefix_cache_size`` is how many prompts stay cached between calls;
    ``n_threads`` defaults to :func:`default_threads`. ``flash_attn`` False (the default, as in
    llama-cpp-python's ``Llama``, so greedy output matches it token for token; it measured no
    slower here), True, or None for llama.cpp's automatic choice.
    ``last_stats`` / ``last_details`` describe the last call, ``total`` all of them, and
    ``last_token_ids`` each row's generated ids up to its cut. ``device_queue``: the calls of every
    in-process model on the same device take turns and merge (default: the process's queue for
    the CPU, or for llama.cpp's GPU when layers are offloaded; :func:`.merging.device_queue`).
    """

    # a row that stops leaves the batch: later decode steps run the rows still writing (the
    # cost model prices a call by the rows running, not by its longest row times all rows)
    rows_leave = True

    def __init__(
        self,
        model: LlamaCppModel,
        *,
        name: str | None = None,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_batch: int = 512,
        max_batch_size: int = 32,
        prefix_cache_size: int = 8,
        flash_attn: bool | None = False,
        device_queue: DeviceQueue | None = None,
    ) -> None:
        if not model.chat_template:
            raise ValueError(f"{model.path.name} has no chat template (tokenizer.chat_template)")
        self.model = model
        self.name = name or model.path.stem
        self.system_prompt = system_prompt
        self.max_batch_size = max(1, int(max_batch_size))
        self.context = LlamaCppContext(
            model,
            n_ctx=n_ctx,
            n_batch=n_batch,
            n_threads=n_threads,
            rows=self.max_batch_size,
            prefix_slots=prefix_cache_size,
            # a row's logits per decode; more for a scorer sharing this context (every position)
            max_outputs=max(self.max_batch_size, 128),
            flash_attn=flash_attn,
        )
        self.n_threads = self.context.n_threads
        self.lock = threading.RLock()
        self.last_stats = GenerationStats()
        self.last_details = LlamaCppStats()
        self.total = LlamaCppStats()
        self.last_token_ids: list[list[int]] = []
        self.self_scores: SelfScoreCache | None = None  # see record_self_scores
        # concurrent searches' calls run as one batch (see .merging); merger.stats counts them
        # and take turns with the other models on the same device (see .merging.DeviceQueue)
        device = "cpu" if model.n_gpu_layers == 0 else "llama.cpp:gpu"
        self.merger: CallMerger[_Request, list[tuple[Thought, list[int]]]] = CallMerger(
            self._run_merged, queue=device_queue or merging.device_queue(device)
        )

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

    def record_self_scores(self, capacity: int = 4096) -> SelfScoreCache:
        """Keep the mean log-prob of each step this model writes (from the raw logits it sampled
        from), keyed by prompt and step text, for its own likelihood scorer
        (:mod:`.self_scores`); costs one log-sum-exp per row per token."""
        if self.self_scores is None:
            self.self_scores = SelfScoreCache(capacity)
        return self.self_scores

    @classmethod
    def from_gguf(
        cls, path: str | Path, *, n_gpu_layers: int = 0, verbose: bool = False, **kwargs: Any
    ) -> LlamaCppThoughtGenerator:
        """Load a GGUF file as is (``n_gpu_layers`` only matters for a GPU build)."""
        model = LlamaCppModel(path, n_gpu_layers=n_gpu_layers, verbose=verbose)
        return cls(model, **kwargs)

    # ------------------------------------------------------------------ prompts
    def render_prompt(
        self,
        question: str,
        steps: Sequence[str],
        delimiter: str,
        system_prompt: str | None = None,
    ) -> str:
        """The chat prompt with the steps so far as a partial assistant message to continue
        (the same text as the transformers backend's ``render_prompt``)."""
        messages = [{"role": "user", "content": question}]
        system = self.system_prompt if system_prompt is None else system_prompt
        if system:
            messages.insert(0, {"role": "system", "content": system})
        template = self.model.chat_template or ""
        special = self.model.special_tokens
        if not steps:
            return render_chat(template, messages, add_generation_prompt=True, **special)
        partial = delimiter.join(steps) + delimiter
        messages.append({"role": "assistant", "content": partial})
        text = render_chat(template, messages, continue_final_message=True, **special)
        stripped = partial.rstrip()  # the model must see the delimiter to start a new step
        if not text.endswith(partial) and text.endswith(stripped):
            text += partial[len(stripped) :]
        return text

    def tokenize(self, text: str) -> list[int]:
        return self.model.tokenize(text)

    def context_length(self) -> int:
        """Tokens one row may use: the KV cache is shared, so a row can fill all of it."""
        return self.context.n_ctx

    def check_question(self, question: str, room: int = 512) -> None:
        """Refuse, before generating, a question that leaves under ``room`` tokens of context."""
        limit = self.context_length()
        used = len(self.tokenize(self.render_prompt(question, [], "\n\n")))
        if used + room > limit:
            raise ValueError(
                f"question too long for {self.name}: its prompt takes {used} tokens of a "
                f"{limit}-token context, leaving less than {room} for the reasoning steps "
                "(raise n_ctx)"
            )

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        counts: Sequence[int],
        settings: GenerationSettings,
    ) -> list[list[Thought]]:
        """``counts[i]`` next steps for each ``paths[i]``, all rows decoded in shared batches."""
        if len(paths) != len(counts):
            raise ValueError(f"{len(paths)} paths but {len(counts)} counts")
        if any(count < 0 for count in counts):
            raise ValueError(f"counts must be >= 0, got {list(counts)}")
        start = time.perf_counter()
        request = _Request([], settings)
        for steps, count in zip(paths, counts, strict=True):
            if count:
                text = self.render_prompt(question, steps, settings.delimiter)
                request.prompts.extend([(self.tokenize(text), text)] * count)
        results: list[tuple[Thought, list[int]]] = []
        if request.prompts:
            key = (replace(settings, seed=0),)
            results = self.merger.submit(key, request)
        seconds = time.perf_counter() - start
        self.last_stats = GenerationStats(strategy="batched", seconds=seconds)
        self.last_token_ids = [ids for _, ids in results]
        return split_by_counts([thought for thought, _ in results], counts)

    def _run_merged(
        self, key: Any, requests: Sequence[_Request]
    ) -> list[list[tuple[Thought, list[int]]]]:
        """One engine run for one or more merged calls (see :class:`CallMerger`): every row
        keeps its call's seed, so it samples as it would alone."""
        settings = requests[0].settings
        start = time.perf_counter()
        prompts: list[list[int]] = []
        texts: list[str] = []  # each prompt's text (the self-score key)
        index: dict[tuple[int, ...], int] = {}  # two paths with the same steps share a prompt
        rows: list[int] = []  # each row's prompt index
        seeds: list[int] = []  # each row's sampler seed
        for request in requests:
            for row, (ids, text) in enumerate(request.prompts):
                if tuple(ids) not in index:
                    index[tuple(ids)] = len(prompts)
                    prompts.append(ids)
                    texts.append(text)
                rows.append(index[tuple(ids)])
                seeds.append(row_seed(request.settings.seed, row))
        details = LlamaCppStats(sequences=len(rows))
        results: list[tuple[Thought, list[int]]] = []
        with self.lock:
            before = (self.context.stats.prefilled, self.context.stats.reused)
            for chunk in self._chunks(prompts, rows, settings.max_new_tokens):
                done = self._generate_chunk(prompts, rows, chunk, settings, seeds, details)
                self._keep_self_scores([texts[rows[row]] for row in chunk], done)
                results.extend((thought, ids) for thought, ids, _ in done)
                details.model_calls += 1
            details.prefill_tokens = self.context.stats.prefilled - before[0]
            details.reused_tokens = self.context.stats.reused - before[1]
        details.seconds = time.perf_counter() - start
        details.new_tokens = sum(thought.tokens for thought, _ in results)
        self._account(details)
        return split_by_counts(results, [len(request.prompts) for request in requests])

    def _chunks(
        self, prompts: Sequence[Sequence[int]], rows: Sequence[int], max_new: int
    ) -> list[list[int]]:
        """Row indices in order, split so each chunk fits the rows, prompt slots and KV cache."""
        limit = self.context.n_ctx
        chunks: list[list[int]] = []
        current: list[int] = []
        seen: set[int] = set()
        need = 0
        for row, prompt_index in enumerate(rows):
            length = len(prompts[prompt_index])
            if length + max_new > limit:
                raise ValueError(
                    f"{self.name}: a prompt of {length} tokens plus max_new_tokens={max_new} "
                    f"does not fit the {limit}-token context (raise n_ctx)"
                )
            extra = max_new + (0 if prompt_index in seen else length)
            new_prompt = prompt_index not in seen
            if current and (
                len(current) == self.max_batch_size
                or need + extra > limit
                or (new_prompt and len(seen) == self.context.prefix_slots)
            ):
                chunks.append(current)
                current, seen, need = [], set(), 0
                extra = max_new + length
            current.append(row)
            seen.add(prompt_index)
            need += extra
        if current:
            chunks.append(current)
        return chunks

    def _generate_chunk(
        self,
        prompts: Sequence[Sequence[int]],
        rows: Sequence[int],
        chunk: Sequence[int],
        settings: GenerationSettings,
        seeds: Sequence[int],
        details: LlamaCppStats,
    ) -> list[tuple[Thought, list[int], _Row]]:
        context = self.context
        order = list(dict.fromkeys(rows[row] for row in chunk))  # distinct prompts, first seen
        members: dict[int, list[int]] = {}
        for local, row in enumerate(chunk):
            members.setdefault(order.index(rows[row]), []).append(local)
        state = [_Row() for _ in chunk]
        samplers = [make_sampler(settings, seeds[row]) for row in chunk]
        max_new = settings.max_new_tokens
        lib = _lib()

        recording = self.self_scores is not None

        def take(local: int, batch_index: int) -> None:
            token = int(lib.llama_sampler_sample(samplers[local], context.pointer, batch_index))
            if recording:  # the raw distribution's log-prob, before temperature and top-p
                logp = log_softmax_at(context.logits(batch_index))
                state[local].logprobs.append(logp(token))
                state[local].last_logp = logp
            self._accept(state[local], token, settings.delimiter, max_new)

        def ready(prompt_index: int, seq: int, batch_index: int) -> None:
            for local in members[prompt_index]:
                context.share(seq, context.row_seq(local))
                take(local, batch_index)

        try:
            with context.call():
                if max_new <= 0:
                    for row in state:
                        row.reason = "length"
                else:
                    context.prefill([prompts[index] for index in order], ready)
                steps = 1 if max_new > 0 else 0
                while True:
                    active = [k for k, row in enumerate(state) if row.reason is None]
                    if not active:
                        break
                    spans = [
                        Span(
                            context.row_seq(k),
                            len(prompts[rows[chunk[k]]]) + len(state[k].ids) - 1,
                            [state[k].ids[-1]],
                            frozenset({0}),
                        )
                        for k in active
                    ]
                    context.decode(
                        spans,
                        lambda outputs, active=active: [
                            take(active[index], batch_index) for index, _, batch_index in outputs
                        ],
                    )
                    steps += 1
        finally:
            for sampler in samplers:
                lib.llama_sampler_free(sampler)
        details.decode_steps = max(details.decode_steps, steps)
        return [(*self._thought(row, settings.delimiter), row) for row in state]

    def _keep_self_scores(
        self, prompts: Sequence[str], done: Sequence[tuple[Thought, list[int], _Row]]
    ) -> None:
        """Cache each step's mean log-prob over its tokens as a scorer's pass reads them (see
        ``self_scores.scored_tokens``), however the step ended: the pass reads nothing after it."""
        if self.self_scores is None:
            return
        for prompt, (thought, ids, row) in zip(prompts, done, strict=True):
            if thought.finish_reason == "empty" or len(row.logprobs) != len(ids):
                continue
            tokens = scored_tokens(self.tokenize(thought.text), ids)
            if tokens is None or row.last_logp is None:
                continue
            n = len(tokens)
            last = row.logprobs[n - 1] if tokens[-1] == ids[n - 1] else None
            if last is None:
                if n != len(ids):  # a different token mid-row: its logits are gone
                    continue
                last = row.last_logp(tokens[-1])
            self.self_scores.put(prompt, thought.text, (sum(row.logprobs[: n - 1]) + last) / n)

    def _accept(self, row: _Row, token: int, delimiter: str, max_new: int) -> None:
        row.ids.append(token)
        if self.model.is_eog(token):
            row.reason = "eos"
            return
        row.text += self.model.piece(token)
        if delimiter and cut_at_delimiter(row.text.decode("utf-8", "replace"), delimiter)[1]:
            row.reason = "delimiter"
        elif len(row.ids) >= max_new:
            row.reason = "length"

    def _thought(self, row: _Row, delimiter: str) -> tuple[Thought, list[int]]:
        text, found = cut_at_delimiter(row.text.decode("utf-8", "replace"), delimiter)
        reason: FinishReason = "delimiter" if found else (row.reason or "length")
        if not text:
            reason = "empty"
        return Thought(text=text, tokens=len(row.ids), finish_reason=reason), list(row.ids)

    def _account(self, details: LlamaCppStats) -> None:
        self.last_details = details
        total = self.total
        total.seconds += details.seconds
        total.sequences += details.sequences
        total.new_tokens += details.new_tokens
        total.prefill_tokens += details.prefill_tokens
        total.reused_tokens += details.reused_tokens
        total.decode_steps += details.decode_steps
        total.model_calls += details.model_calls

    def clear_prefix_cache(self) -> None:
        """Forget the cached prompts (e.g. so that one benchmark round does not reuse another's)."""
        with self.lock:
            self.context.reset()
