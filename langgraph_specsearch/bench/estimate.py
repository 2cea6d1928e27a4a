"""``specsearch estimate``: will speculation pay on this pair, engine and machine?

Measures what each model's batched call costs at a few batch sizes and thought lengths, and what
the scorer costs, then runs a few problems with SpecSearch to learn the acceptance rate, the
number of steps and the thoughts' length. The cost model (:mod:`.cost_model`) turns these into
the predicted time of each mode, the acceptance at which SpecSearch breaks even, the drafter/target
cost ratio a 2x speedup would need, and a recommendation. Works with any thought generator that
honours ``max_new_tokens`` with an empty delimiter (every backend of this package does).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from langgraph_specsearch.bench.cost_model import (
    CallProfile,
    PairProfile,
    SearchShape,
    acceptance_needed,
    cost_ratio_needed,
    length_spread,
    predict_problem_seconds,
    predicted_speedup,
)
from langgraph_specsearch.bench.records import distinct_drafts
from langgraph_specsearch.bench.stats import median
from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.generators.base import GenerationSettings
from langgraph_specsearch.scorers.base import Scorer, score_last_steps

Clock = Callable[[], float]
QUESTION = (
    "A baker makes 48 rolls in the morning and half as many in the afternoon. He sells 50 of "
    "them. How many rolls are left?"
)
PATHS = (
    ["In the morning the baker makes 48 rolls."],
    ["The baker makes 48 rolls in the morning, and 48 / 2 = 24 in the afternoon."],
)


@dataclass
class Estimate:
    """What ``specsearch estimate`` found and predicts."""

    engine: str
    profile: dict[str, Any]
    measured: dict[str, float]
    predicted_seconds: dict[str, float]
    predicted_speedup: float
    break_even_acceptance: float | None
    cost_ratio: float
    cost_ratio_for_2x: float | None
    recommended: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    # the runs' thought lengths over their mean, sorted: a call lasts as long as its longest row
    length_spread: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _timed_call(
    generator: Any,
    paths: Sequence[Sequence[str]],
    counts: Sequence[int],
    tokens: int,
    clock: Clock,
    seed: int,
    question: str = QUESTION,
) -> tuple[float, int]:
    """Seconds of one call and the decode steps it took (its longest row)."""
    settings = GenerationSettings(delimiter="", max_new_tokens=tokens, temperature=0.7, seed=seed)
    start = clock()
    groups = generator.generate(question, [list(p) for p in paths], list(counts), settings)
    elapsed = clock() - start
    return elapsed, max((t.tokens for group in groups for t in group), default=tokens)


def _read(generator: Any, paths: Sequence[Sequence[str]], question: str = QUESTION) -> None:
    """Read ``paths`` into an engine's prompt cache (untimed): what a search step finds cached."""
    settings = GenerationSettings(delimiter="", max_new_tokens=1, temperature=0.7, seed=0)
    generator.generate(question, [list(p) for p in paths], [1] * len(paths), settings)


def measure_call_profile(
    generator: Any,
    batch_sizes: Sequence[int] = (1, 3, 6),
    tokens: tuple[int, int] = (8, 24),
    rounds: int = 3,
    clock: Clock = time.perf_counter,
) -> CallProfile:
    """One model's call costs: decode per step at each batch size, and reading a prompt."""
    return measure_call_profiles([generator], batch_sizes, tokens, rounds, clock)[0]


def measure_call_profiles(
    generators: Sequence[Any],
    batch_sizes: Sequence[int] = (1, 3, 6),
    tokens: tuple[int, int] = (8, 24),
    rounds: int = 3,
    clock: Clock = time.perf_counter,
    question: str | None = None,
) -> list[CallProfile]:
    """The call costs of several models (the drafter and the target), measured side by side.

    Each call shape is timed at two thought lengths (the difference is the decode steps' cost,
    the rest is reading the prompts), ``rounds`` times in alternating order, and every model
    takes its turn at a shape before the next shape: the models' costs are compared as a ratio,
    and a machine that slows down for a minute then slows both, not only the one measured in
    that minute. Each call keeps the median of its rounds: this shared machine runs the same
    call up to 40% faster or slower from one minute to the next, and a search pays the typical
    cost, not the fastest (a minimum caught the fast spells); with three rounds one disturbed
    call does not move it.

    A prompt is timed as a search step meets it: its path read before (untimed), a thought
    never seen added, so an engine that keeps prompts between calls (llama.cpp) reads only that
    thought, and one that does not (transformers) reads it all. Reading a problem's question
    the first time, which such an engine pays once per problem, is timed apart on ``question``
    (a real problem's): a call from an emptied cache less the same call once the question is
    cached (``cold_seconds``; 0 for engines that keep nothing between calls).
    """
    shapes = [(rows, prompts) for rows in batch_sizes for prompts in ((1, 2) if rows > 1 else (1,))]
    timings: list[dict[tuple[int, int, int], list[tuple[float, int]]]] = [{} for _ in generators]
    serial = itertools.count(1)
    # only an engine that keeps prompts between calls has a path to find cached
    caching = [g for g in generators if callable(getattr(g, "clear_prefix_cache", None))]

    def fresh(prompts: int) -> list[list[str]]:
        """Each path extended by a thought no call has read yet."""
        n = next(serial)
        return [
            [*PATHS[i], f"Then {n} more rolls come out of the oven ({i})."] for i in range(prompts)
        ]

    for generator in generators:
        _timed_call(generator, PATHS[:1], [1], 2, clock, seed=1)  # one-off costs (first call)
    for rows, prompts in shapes:
        counts = [rows] if prompts == 1 else [rows - rows // 2, rows // 2]
        for round_index in range(rounds):
            for t in tokens if round_index % 2 == 0 else tokens[::-1]:
                paths = fresh(prompts)
                for generator in caching:
                    _read(generator, PATHS[:prompts])
                for generator, kept in zip(generators, timings, strict=True):
                    timed = _timed_call(generator, paths, counts, t, clock, seed=100 + round_index)
                    kept.setdefault((rows, prompts, t), []).append(timed)
    profiles = [
        _profile_from_calls(
            generator, {key: _typical(calls) for key, calls in kept.items()}, shapes, tokens
        )
        for generator, kept in zip(generators, timings, strict=True)
    ]
    if question is None:
        return profiles
    colds = [_cold_seconds(g, question, tokens[0], rounds, clock, fresh) for g in generators]
    return [replace(p, cold_seconds=c) for p, c in zip(profiles, colds, strict=True)]


def _typical(calls: Sequence[tuple[float, int]]) -> tuple[float, int]:
    """The call of median time among a shape's rounds (the lower middle of an even count)."""
    ordered = sorted(calls)
    return ordered[(len(ordered) - 1) // 2]


def _cold_seconds(
    generator: Any,
    question: str,
    tokens: int,
    rounds: int,
    clock: Clock,
    fresh: Callable[[int], list[list[str]]],
) -> float:
    """Reading ``question``'s prompt the first time: a call from an emptied cache less the same
    call with the question cached, the median of ``rounds`` each (0 without a prompt cache)."""
    clear = getattr(generator, "clear_prefix_cache", None)
    if not callable(clear):
        return 0.0
    cold, warm = [], []
    for round_index in range(rounds):
        clear()
        seed = 200 + round_index
        cold.append(_timed_call(generator, fresh(1), [1], tokens, clock, seed, question)[0])
        warm.append(_timed_call(generator, fresh(1), [1], tokens, clock, seed, question)[0])
    return max(median(cold) - median(warm), 0.0)


def _profile_from_calls(
    generator: Any,
    fastest: dict[tuple[int, int, int], tuple[float, int]],
    shapes: Sequence[tuple[int, int]],
    tokens: tuple[int, int],
) -> CallProfile:
    """Decode per step from the two lengths' difference, averaged over the shapes of one row
    count (one prompt and two: the same decode, timed twice); prompt and fixed costs from the
    rest."""
    slopes: dict[int, list[float]] = {}
    intercepts: dict[int, list[float]] = {1: [], 2: []}
    for rows, prompts in shapes:
        (s1, n1), (s2, n2) = (fastest[(rows, prompts, t)] for t in tokens)
        if n1 == n2:
            raise ValueError(
                f"{getattr(generator, 'name', generator)} wrote {n1} tokens whatever "
                "max_new_tokens was: it cannot be profiled (does it honour the limit?)"
            )
        slope = (s2 - s1) / (n2 - n1)
        slopes.setdefault(rows, []).append(slope)
        intercepts[prompts].append(s1 - slope * n1)
    one, two = median(intercepts[1]), median(intercepts[2] or intercepts[1])
    prompt_seconds = max(two - one, 0.0) or max(one, 0.0)
    leave = bool(getattr(generator, "rows_leave", False))
    decode = {rows: sum(values) / len(values) for rows, values in slopes.items()}
    return CallProfile(decode, prompt_seconds, max(one - prompt_seconds, 0.0), rows_leave=leave)


def measure_scorer(
    scorer: Scorer, rows: int = 6, rounds: int = 3, clock: Clock = time.perf_counter
) -> tuple[float, float]:
    """``(seconds per call, seconds per scored thought)`` of the scorer on mid-solution steps."""
    step = "So the baker has 48 + 24 = 72 rolls in all."
    lists = [[*PATHS[i % 2], f"{step} ({i})"] for i in range(rows)]
    one, many = [], []
    for _ in range(rounds):
        start = clock()
        score_last_steps(scorer, QUESTION, lists[:1])
        one.append(clock() - start)
        start = clock()
        score_last_steps(scorer, QUESTION, lists)
        many.append(clock() - start)
    per_row = max((median(many) - median(one)) / (rows - 1), 0.0)  # see measure_call_profiles
    return max(median(one) - per_row, 0.0), per_row


@dataclass(frozen=True)
class TokenScoring:
    """A scorer's costs by token: a call, each scored thought and each of its tokens, each token
    of a node's newest thought read as context, and each token of a question's prompt read
    cold."""

    fixed: float
    row: float
    token: float
    context_token: float
    prompt_token: float


def measure_token_scoring(
    scorer: Any, rows: int = 6, rounds: int = 3, clock: Clock = time.perf_counter
) -> TokenScoring | None:
    """The scorer's costs by token, as a search meets them; None if it cannot say how many
    tokens it reads (it has no ``token_counts`` and ``clear_prefix_cache``).

    Scored tokens: ``rows`` steps of two lengths after cached contexts (the difference is the
    tokens' cost), and one step (the rest is a call's and a row's cost). Context: each of the
    two paths extended by a step never seen before, as a search step extends its frontier (that
    call less the same call once cached). Prompt: both paths scored from a cleared cache, less
    the same call once cached, per token of the two contexts (an engine that reads their shared
    question once shows a lower price, as it pays in a search). The median of ``rounds`` each,
    as in :func:`measure_call_profiles`.
    """
    counts = getattr(scorer, "token_counts", None)
    clear = getattr(scorer, "clear_prefix_cache", None)
    if not callable(counts) or not callable(clear):
        return None
    short, long = "So 48 + 24 = 72 rolls.", "So the baker has 48 + 24 = 72 rolls in all. " * 3

    def timed(lists: list[list[str]]) -> float:
        start = clock()
        score_last_steps(scorer, QUESTION, lists)
        return clock() - start

    def scored(lists: list[list[str]]) -> int:
        return sum(counts(QUESTION, steps)[1] for steps in lists)

    def context(steps: list[str]) -> int:
        return int(counts(QUESTION, [*steps, short])[0])

    batches = {
        text: [[*PATHS[i % 2], f"{text} ({i})"] for i in range(rows)] for text in (short, long)
    }
    one = batches[short][:1]
    runs: dict[str, list[float]] = {text: [] for text in batches}
    alones: list[float] = []
    tails, colds = [], []
    for round_index in range(rounds):
        for text, lists in batches.items():
            timed(lists)  # contexts cached
            runs[text].append(timed(lists))
        alones.append(timed(one))
        # a thought's length, never seen before, sharing no first word with the other rounds'
        new = f"{round_index + 2} more rolls are baked in the evening, so the baker has more."
        extended = [[*path, new] for path in PATHS]
        lists = [[*path, short] for path in extended]
        first = timed(lists)
        tail = sum(
            context(path) - context(list(old)) for path, old in zip(extended, PATHS, strict=True)
        )
        tails.append((first - timed(lists)) / max(tail, 1))
        clear()
        lists = [[*path, short] for path in PATHS]
        first = timed(lists)
        read = sum(context(list(path)) for path in PATHS)
        colds.append((first - timed(lists)) / max(read, 1))
    typical = {text: median(times) for text, times in runs.items()}
    alone = median(alones)
    per_token = (typical[long] - typical[short]) / max(
        scored(batches[long]) - scored(batches[short]), 1
    )
    per_token = max(per_token, 0.0)
    by_rows = typical[short] - alone - per_token * (scored(batches[short]) - scored(one))
    per_row = max(by_rows / (rows - 1), 0.0)
    fixed = max(alone - per_row - per_token * scored(one), 0.0)
    return TokenScoring(fixed, per_row, per_token, max(median(tails), 0.0), max(median(colds), 0.0))


def prompt_tokens(scorer: Any, questions: Sequence[str]) -> float:
    """Mean tokens of the questions' prompts as the scorer reads them (0 if it cannot say)."""
    counts = getattr(scorer, "token_counts", None)
    if not callable(counts) or not questions:
        return 0.0
    return sum(counts(question, ["."])[0] for question in questions) / len(questions)


def scores_itself(scorer: Any, target: Any) -> bool:
    """Whether ``scorer`` scores ``target``'s own thoughts from the pass that wrote them (the
    likelihood scorers over the target, with ``reuse_generation`` on)."""
    return (
        getattr(scorer, "generator", None) is target
        and getattr(scorer, "generated", None) is not None
    )


def shape_from_runs(results: Sequence[Any], config: SpecSearchConfig) -> tuple[SearchShape, float]:
    """The search's shape and the acceptance rate from real runs' ``SearchResult`` objects: the
    share of drafts that cleared the bar (each draft's chance, what the model's binomial takes),
    not the share that got a slot, which M > N caps at N / M."""
    drafted = sum(r.stats["drafted"] for r in results)
    cleared = sum(r.stats["cleared"] for r in results)
    thoughts = [n for r in results for n in r.tree.nodes.values() if n["parent"] is not None]
    tokens = sum(n["tokens"] for n in thoughts) / len(thoughts) if thoughts else 32.0
    steps = sum(r.stats["steps"] for r in results) / len(results) if results else 4.0
    spread = length_spread([n["tokens"] for n in thoughts])
    distinct = sum(distinct_drafts(r.tree.nodes) for r in results)
    shape = SearchShape(
        config.beam_width,
        config.width,
        config.drafts_per_node,
        steps,
        tokens,
        spread,
        distinct_drafts=distinct / drafted if drafted else 1.0,
    )
    return shape, (cleared / drafted if drafted else 0.0)


def shares_cache(scorer: Any, target: Any) -> bool:
    """Whether ``scorer`` scores in ``target``'s own KV cache (llama.cpp's likelihood scorer
    with ``share_context``, the default), finding what the target read there."""
    context = getattr(scorer, "context", None)
    return context is not None and context is getattr(target, "context", None)


def pair_from_estimate(estimate: dict[str, Any]) -> PairProfile:
    """The measured pair back from an estimate's JSON (``specsearch estimate --json``)."""
    profile = estimate["profile"]

    def call(row: dict[str, Any]) -> CallProfile:
        decode = {int(k): float(v) for k, v in row["decode_seconds"].items()}
        # estimates from before ``rows_leave`` was recorded: llama.cpp's rows always left
        leave = row.get("rows_leave", estimate.get("engine") == "llamacpp")
        return CallProfile(
            decode,
            float(row["prompt_seconds"]),
            float(row.get("fixed", 0.0)),
            bool(leave),
            float(row.get("cold_seconds", 0.0)),
        )

    return PairProfile(
        call(profile["drafter"]),
        call(profile["target"]),
        float(profile["score_fixed"]),
        float(profile["score_row"]),
        engine=estimate.get("engine", "unknown"),
        self_scored=bool(profile.get("self_scored", False)),
        shared_cache=bool(profile.get("shared_cache", False)),
        free_share=float(profile.get("free_share", 1.0)),
        score_token=float(profile.get("score_token", 0.0)),
        context_token=float(profile.get("context_token", 0.0)),
        prompt_token=float(profile.get("prompt_token", 0.0)),
    )


def free_share(results: Sequence[Any], reused: int) -> float:
    """The share of the target's thoughts in ``results`` that were scored for free, from the
    scorer's count of reused scores over the runs (1.0 when the target wrote nothing)."""
    written = sum(
        1
        for r in results
        for n in r.tree.nodes.values()
        if n["parent"] is not None and n["model"] == "target"
    )
    return min(max(reused / written, 0.0), 1.0) if written else 1.0


def build_estimate(
    pair: PairProfile, shape: SearchShape, acceptance: float, measured: dict[str, float]
) -> Estimate:
    """Predictions and a recommendation from a measured pair, shape and acceptance."""
    predicted = {
        mode: predict_problem_seconds(pair, shape, mode, acceptance)
        for mode in ("target_only", "specsearch", "drafter_only")
    }
    options = {"target_only": predicted["target_only"]}
    for m in sorted({shape.width, 2 * shape.width}):
        trial = replace(shape, n_drafts=m)
        options[f"specsearch M={m}"] = predict_problem_seconds(
            pair, trial, "specsearch", acceptance
        )
    best = min(options, key=options.__getitem__)
    notes = []
    speedup = predicted_speedup(pair, shape, acceptance)
    if best == "target_only":
        notes.append(
            "speculation does not pay here: the target alone is predicted fastest; "
            "use mode='target_only' (or mode='auto', which drafts only when it pays)"
        )
    return Estimate(
        engine=pair.engine,
        profile={
            "drafter": asdict(pair.drafter),
            "target": asdict(pair.target),
            "score_fixed": pair.score_fixed,
            "score_row": pair.score_row,
            "self_scored": pair.self_scored,
            "free_share": pair.free_share,
            "shared_cache": pair.shared_cache,
            "score_token": pair.score_token,
            "context_token": pair.context_token,
            "prompt_token": pair.prompt_token,
        },
        measured=measured,
        predicted_seconds={**predicted, **options},
        predicted_speedup=speedup,
        break_even_acceptance=acceptance_needed(lambda p: predicted_speedup(pair, shape, p), 1.0),
        cost_ratio=pair.cost_ratio(shape.beam_width * shape.n_drafts, shape.tokens_per_thought),
        cost_ratio_for_2x=cost_ratio_needed(pair, shape, acceptance, 2.0),
        recommended={
            "mode": "target_only" if best == "target_only" else "specsearch",
            "n_drafts": None if best == "target_only" else int(best.split("=")[1]),
            "width": shape.width,
            "predicted_seconds": options[best],
        },
        notes=notes,
        length_spread=[round(v, 4) for v in shape.length_spread],
    )


def format_estimate(estimate: Estimate) -> str:
    """The estimate as the lines ``specsearch estimate`` prints."""
    m = estimate.measured
    lines = [
        f"engine: {estimate.engine}",
        f"measured: acceptance {m['acceptance']:.2f}, {m['steps']:.1f} steps, "
        f"{m['tokens_per_thought']:.0f} tokens per thought, "
        f"{m.get('distinct_drafts', 1.0):.0%} of drafts distinct ({m['problems']:.0f} problems)",
        f"drafter/target cost ratio (target cost / drafter cost, one step): "
        f"{estimate.cost_ratio:.2f}x",
        "predicted seconds per problem:",
    ]
    lines += [f"  {mode:22s} {s:7.1f} s" for mode, s in estimate.predicted_seconds.items()]
    lines.append(f"predicted SpecSearch speedup over AR: {estimate.predicted_speedup:.2f}x")
    even = estimate.break_even_acceptance
    lines.append(
        "break-even acceptance: "
        + ("never (even every draft accepted loses)" if even is None else f"{even:.2f}")
    )
    need = estimate.cost_ratio_for_2x
    lines.append(
        "cost ratio for 2x at this acceptance: "
        + ("unreachable (the corrections alone cost too much)" if need is None else f"{need:.1f}x")
    )
    r = estimate.recommended
    lines.append(
        f"recommended: mode={r['mode']}"
        + (f", n_drafts={r['n_drafts']}" if r["n_drafts"] else "")
        + f", width={r['width']}"
    )
    return "\n".join(lines + [f"note: {note}" for note in estimate.notes])


def estimate(
    drafter: Any,
    target: Any,
    scorer: Scorer,
    config: SpecSearchConfig,
    questions: Sequence[str],
    *,
    engine: str = "unknown",
    rounds: int = 3,
    clock: Clock = time.perf_counter,
) -> Estimate:
    """Measure the pair and a few SpecSearch runs on ``questions``; predict and recommend."""
    from langgraph_specsearch.runnable import SpecSearch

    # measured up to the rows the recommendation weighs (M = N and M = 2N drafts per node):
    # decode costs extrapolated beyond the measured sizes went 2x astray at M = 2N
    largest = config.beam_width * max(config.drafts_per_node, 2 * config.width)
    sizes = sorted({1, config.width, config.beam_width * config.width, largest})
    by_token = measure_token_scoring(scorer, clock=clock)
    if by_token is None:
        score_fixed, score_row = measure_scorer(scorer, clock=clock)
        by_token = TokenScoring(score_fixed, score_row, 0.0, 0.0, 0.0)
    drafter_profile, target_profile = measure_call_profiles(
        [drafter, target],
        sizes,
        rounds=rounds,
        clock=clock,
        question=questions[0] if questions else None,
    )
    pair = PairProfile(
        drafter=drafter_profile,
        target=target_profile,
        score_fixed=by_token.fixed,
        score_row=by_token.row,
        engine=engine,
        self_scored=scores_itself(scorer, target),
        shared_cache=shares_cache(scorer, target),
        score_token=by_token.token,
        context_token=by_token.context_token,
        prompt_token=by_token.prompt_token,
    )
    spec = config.with_overrides({"mode": "specsearch"})
    reasoner = SpecSearch(drafter=drafter, target=target, scorer=scorer, config=spec)
    reused = getattr(scorer, "reused", 0)
    results = [reasoner.invoke(question) for question in questions]
    shape, acceptance = shape_from_runs(results, spec)
    shape = replace(shape, prompt_tokens=prompt_tokens(scorer, questions))
    if pair.self_scored:
        pair = replace(pair, free_share=free_share(results, getattr(scorer, "reused", 0) - reused))
    measured = {
        "acceptance": acceptance,
        "steps": shape.steps,
        "tokens_per_thought": shape.tokens_per_thought,
        "prompt_tokens": shape.prompt_tokens,
        "distinct_drafts": shape.distinct_drafts,
        "problems": float(len(results)),
    }
    return build_estimate(pair, shape, acceptance, measured)
