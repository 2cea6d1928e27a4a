"""What a SpecSearch step costs against the target's own step, as a function of acceptance.

A beam-search step over ``nodes`` frontier paths: the drafter writes ``n_drafts`` drafts per node
in one call and the scorer scores them; each draft passes the threshold with probability ``p``
(independently, the simplest model that matches a measured acceptance rate); a node keeps at most
``width`` of them, and the target rewrites the remaining slots of every node in one call, which
are scored in turn. Under static batching a call's cost is not proportional to its rows (each
distinct prompt is read once, and decode is bound by reading the weights), so the correction
cost is measured per outcome (rejected slots per node) rather than scaled per row.

With measured costs this gives the speedup SpecSearch can reach on a model pair and machine
before running a whole benchmark, and the acceptance rate a target speedup would need.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from itertools import pairwise, product

Outcome = tuple[int, ...]
"""Slots left for the target on each node of a step, largest first; all zero means no call."""


def rejected_slots_distribution(p: float, n_drafts: int, width: int) -> dict[int, float]:
    """P(a node leaves ``r`` of its ``width`` slots to the target), for each ``r``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"acceptance probability must be in [0, 1], got {p}")
    if n_drafts < 1 or width < 1:
        raise ValueError(f"need n_drafts >= 1 and width >= 1, got {n_drafts} and {width}")
    distribution: dict[int, float] = {}
    for accepted in range(n_drafts + 1):
        probability = math.comb(n_drafts, accepted) * p**accepted * (1 - p) ** (n_drafts - accepted)
        left = width - min(width, accepted)
        distribution[left] = distribution.get(left, 0.0) + probability
    return distribution


def outcomes(nodes: int, width: int) -> list[Outcome]:
    """Every outcome that needs a correction call (at least one slot left), largest first."""
    found = {
        tuple(sorted(combo, reverse=True)) for combo in product(range(width + 1), repeat=nodes)
    }
    return sorted((outcome for outcome in found if any(outcome)), reverse=True)


def expected_step_seconds(
    p: float,
    draft_seconds: float,
    correction_seconds: Mapping[Outcome, float],
    *,
    nodes: int,
    n_drafts: int,
    width: int,
) -> float:
    """Expected seconds of one SpecSearch step: drafting (and scoring) plus the correction call."""
    per_node = rejected_slots_distribution(p, n_drafts, width)
    expected = draft_seconds
    for combo in product(per_node.items(), repeat=nodes):
        probability = math.prod(share for _, share in combo)
        outcome = tuple(sorted((left for left, _ in combo), reverse=True))
        if not any(outcome) or probability == 0.0:
            continue
        if outcome not in correction_seconds:
            raise KeyError(f"no measured cost for a correction call with outcome {outcome}")
        expected += probability * correction_seconds[outcome]
    return expected


def problem_speedup(target_step_seconds: float, spec_step_seconds: float, steps: int) -> float:
    """Speedup over a ``steps``-step target search, SpecSearch's first step written by the target.

    Under the EMA threshold the first step has no threshold yet, so the target writes it (the
    warm-up that initialises beta); the other ``steps - 1`` steps are SpecSearch steps.
    """
    if steps < 1:
        raise ValueError(f"a search has at least one step, got {steps}")
    return steps * target_step_seconds / (target_step_seconds + (steps - 1) * spec_step_seconds)


def acceptance_needed(
    speedup_at: Callable[[float], float], wanted: float, tolerance: float = 1e-4
) -> float | None:
    """The smallest acceptance probability reaching ``wanted``; None if even p = 1 falls short.

    Assumes ``speedup_at`` grows with p (fewer slots to correct), and bisects.
    """
    if speedup_at(1.0) < wanted:
        return None
    if speedup_at(0.0) >= wanted:
        return 0.0
    low, high = 0.0, 1.0
    while high - low > tolerance:
        middle = (low + high) / 2
        if speedup_at(middle) >= wanted:
            high = middle
        else:
            low = middle
    return high


# --------------------------------------------------------------------------- any engine
@dataclass(frozen=True)
class CallProfile:
    """What one model's batched ``generate`` call costs on one engine and machine.

    ``seconds(rows, prompts, tokens) = fixed + prompts * prompt_seconds
    + tokens * decode_seconds(rows)``, with the decode step's cost measured at a few batch sizes
    and interpolated between them. Decode is bound by reading the
    weights, so its cost grows far slower than the rows: that is what makes batching pay.
    """

    decode_seconds: Mapping[int, float]  # rows -> seconds per decode step
    prompt_seconds: float  # reading one distinct prompt (shared by its rows)
    fixed: float = 0.0
    # a row that stops leaves the batch (llama.cpp, servers), so later steps decode fewer rows;
    # False: every row is decoded until the longest stops (transformers' generate pads them)
    rows_leave: bool = False
    # reading a problem's question the first time, on an engine that keeps prompts between
    # calls (llama.cpp): paid by the model's first call on a problem; later calls read only
    # the thoughts they have not seen (``prompt_seconds`` per prompt)
    cold_seconds: float = 0.0

    def decode(self, rows: int) -> float:
        """Seconds of one decode step for ``rows`` rows: interpolated between measured sizes,
        the smallest size's cost below them, the last segment's slope beyond them."""
        if rows <= 0:
            return 0.0
        sizes = sorted(self.decode_seconds)
        cost = self.decode_seconds
        if rows <= sizes[0] or len(sizes) == 1:
            return cost[sizes[0]] if rows <= sizes[0] else cost[sizes[0]] * rows / sizes[0]
        for low, high in pairwise(sizes):
            if rows <= high:
                return cost[low] + (rows - low) / (high - low) * (cost[high] - cost[low])
        low, high = sizes[-2], sizes[-1]
        return cost[high] + (rows - high) / (high - low) * (cost[high] - cost[low])

    def seconds(self, rows: int, prompts: int, tokens: float) -> float:
        """A call writing ``tokens`` per row for ``rows`` rows over ``prompts`` distinct prompts."""
        if rows <= 0:
            return 0.0
        return self.fixed + prompts * self.prompt_seconds + tokens * self.decode(rows)

    def call(self, rows: int, prompts: int, shape: SearchShape) -> float:
        """Expected seconds of a search's call: ``rows`` thoughts of ``shape``'s lengths. The
        call decodes until its longest row stops; where stopped rows leave the batch, each
        stretch between two rows' ends is decoded at the rows still running."""
        if rows <= 0:
            return 0.0
        if not self.rows_leave:
            return self.seconds(rows, prompts, shape.call_tokens(rows))
        steps = sum(
            self.decode(running) * stretch
            for running, stretch in running_rows(tuple(shape.length_spread), rows)
        )
        return self.fixed + prompts * self.prompt_seconds + shape.tokens_per_thought * steps

    def scaled(self, factor: float) -> CallProfile:
        """This profile ``factor`` times as costly (a what-if for a cheaper or dearer model)."""
        return replace(
            self,
            decode_seconds={rows: s * factor for rows, s in self.decode_seconds.items()},
            prompt_seconds=self.prompt_seconds * factor,
            fixed=self.fixed * factor,
            cold_seconds=self.cold_seconds * factor,
        )


@dataclass(frozen=True)
class PairProfile:
    """The costs behind a search on one pair: both models' calls and the scorer's."""

    drafter: CallProfile
    target: CallProfile
    score_fixed: float  # one scorer call
    score_row: float  # each scored thought
    engine: str = "unknown"
    # the scorer is the target's likelihood and scores the target's own thoughts from the pass
    # that wrote them (free self-scoring): AR's steps and corrections cost no scoring
    self_scored: bool = False
    # the share of the target's thoughts whose free score applies; the rest need a pass (a step
    # whose end merged with the delimiter, as Qwen's ".\n\n", was read differently)
    free_share: float = 1.0
    # the scorer reads the target's KV cache (llama.cpp's likelihood scorer by default): the
    # question and the warm-up's thoughts the target read and wrote are found cached, so the
    # first drafted step reads only each node's newest thought, as later steps do
    shared_cache: bool = False
    # scoring priced by tokens (0: by rows only, as estimates before these were measured): each
    # token of a scored thought, each token of a node's newest thought read as context, and each
    # token of a question's prompt read cold (the scorer's first call on a question)
    score_token: float = 0.0
    context_token: float = 0.0
    prompt_token: float = 0.0

    def score(self, rows: float, tokens: float = 0.0) -> float:
        """A scorer call over ``rows`` thoughts of ``tokens`` tokens each (contexts aside)."""
        return (
            self.score_fixed + (self.score_row + self.score_token * tokens) * rows if rows else 0.0
        )

    def score_target(self, rows: int, tokens: float = 0.0) -> float:
        """Expected cost of scoring ``rows`` thoughts the target wrote: with self-scoring, a
        pass over the ``1 - free_share`` of them that need one, and a call if any does."""
        if not self.self_scored:
            return self.score(rows, tokens)
        if rows <= 0 or self.free_share >= 1.0:
            return 0.0
        per_row = self.score_row + self.score_token * tokens
        return self.score_fixed * (1.0 - self.free_share**rows) + per_row * rows * (
            1.0 - self.free_share
        )

    def pass_share(self, rows: int) -> float:
        """The chance that scoring ``rows`` thoughts the target wrote takes a pass (that one of
        them was not scored from its generation): 1 without self-scoring."""
        if not self.self_scored:
            return 1.0
        return 1.0 - self.free_share**rows if rows > 0 else 0.0

    def read_contexts(self, shape: SearchShape, nodes: int, *, cold: bool) -> float:
        """The scorer reading the contexts of ``nodes`` frontier nodes before scoring their
        thoughts: each node's newest thought (the rest is cached from the step before), or, on
        the scorer's first call for a question (``cold``), each whole context, question and
        thought. ``prompt_token`` is measured on two such contexts read together, so an engine
        that reads their shared question once (llama.cpp) shows a lower price, as it pays in a
        search."""
        if cold:
            return nodes * (shape.prompt_tokens + shape.tokens_per_thought) * self.prompt_token
        return nodes * shape.tokens_per_thought * self.context_token

    def cost_ratio(self, rows: int = 6, tokens: float = 32) -> float:
        """How many times cheaper the drafter's call is than the target's, at one step's size."""
        return self.target.seconds(rows, 2, tokens) / self.drafter.seconds(rows, 2, tokens)


def mean_pair(pairs: Sequence[PairProfile]) -> PairProfile:
    """The mean of several measurements of one pair (say, estimates taken before and after a
    run): every cost averaged, each decode step at every batch size any of them measured. A
    machine whose speed drifts is then priced at its average over the span, not at one end."""
    if not pairs:
        raise ValueError("need at least one measured pair to average")
    for name in ("engine", "self_scored", "shared_cache"):
        if len({getattr(pair, name) for pair in pairs}) > 1:
            raise ValueError(f"cannot average pairs measured with different {name}")

    def mean(values: Sequence[float]) -> float:
        return sum(values) / len(values)

    def call(profiles: Sequence[CallProfile]) -> CallProfile:
        if len({profile.rows_leave for profile in profiles}) > 1:
            raise ValueError("cannot average calls of engines whose stopped rows differ")
        sizes = sorted({rows for profile in profiles for rows in profile.decode_seconds})
        return replace(
            profiles[0],
            decode_seconds={rows: mean([p.decode(rows) for p in profiles]) for rows in sizes},
            prompt_seconds=mean([p.prompt_seconds for p in profiles]),
            fixed=mean([p.fixed for p in profiles]),
            cold_seconds=mean([p.cold_seconds for p in profiles]),
        )

    costs = (
        "score_fixed",
        "score_row",
        "free_share",
        "score_token",
        "context_token",
        "prompt_token",
    )
    return replace(
        pairs[0],
        drafter=call([pair.drafter for pair in pairs]),
        target=call([pair.target for pair in pairs]),
        **{name: mean([getattr(pair, name) for pair in pairs]) for name in costs},
    )


@dataclass(frozen=True)
class SearchShape:
    """What a run looks like: beams, width, drafts, steps and the thoughts' length.

    A batched call decodes until its longest row stops, so a call of many rows costs more decode
    steps than the mean thought has. ``length_spread`` (thought lengths divided by their mean,
    from real runs) gives the expected longest of ``rows`` thoughts; empty, every thought is
    taken to have the mean length.
    """

    beam_width: int
    width: int
    n_drafts: int
    steps: float
    tokens_per_thought: float
    length_spread: tuple[float, ...] = ()
    prompt_tokens: float = 0.0  # the question's prompt (chat template and question), in tokens
    # the share of drafts a scorer reads: a node's identical drafts are scored once (short
    # steps such as a final answer often come out the same several times)
    distinct_drafts: float = 1.0

    def call_tokens(self, rows: int) -> float:
        """Expected decode steps of a call writing ``rows`` thoughts: the longest of them."""
        return self.tokens_per_thought * expected_longest(self.length_spread, rows)


def length_spread(lengths: Sequence[float]) -> tuple[float, ...]:
    """Thought lengths as multiples of their mean, sorted (what ``SearchShape`` keeps)."""
    values = [float(n) for n in lengths if n > 0]
    if not values:
        return ()
    mean = sum(values) / len(values)
    return tuple(sorted(v / mean for v in values))


def expected_longest(spread: Sequence[float], rows: int) -> float:
    """Expected maximum of ``rows`` draws (with replacement) from ``spread``; 1.0 if empty.

    With the sample sorted ascending, the i-th smallest of n is the maximum with probability
    (i/n)^rows - ((i-1)/n)^rows.
    """
    if not spread or rows <= 0:
        return 1.0
    ordered = sorted(spread)
    n = len(ordered)
    return sum(v * ((i / n) ** rows - ((i - 1) / n) ** rows) for i, v in enumerate(ordered, 1))


@cache
def running_rows(spread: tuple[float, ...], rows: int) -> tuple[tuple[int, float], ...]:
    """``(rows still running, expected length of the stretch)`` for a call of ``rows`` draws
    from ``spread`` (lengths in mean lengths), from the first row's end to the last's.

    The k-th stretch runs from the (k-1)-th shortest row's end to the k-th's, with
    ``rows - k + 1`` rows running; by linearity its expected length is the difference of the two
    order statistics' expectations. With no spread every row has the mean length.
    """
    if not spread:
        return ((rows, 1.0),) if rows > 0 else ()
    ordered = sorted(spread)
    n = len(ordered)

    def at_most(k: int, share: float) -> float:
        """P(the k-th smallest of ``rows`` draws is a value within the lowest ``share``)."""
        return sum(
            math.comb(rows, j) * share**j * (1.0 - share) ** (rows - j) for j in range(k, rows + 1)
        )

    def expected(k: int) -> float:
        return sum(
            v * (at_most(k, i / n) - at_most(k, (i - 1) / n)) for i, v in enumerate(ordered, 1)
        )

    ends = [0.0] + [expected(k) for k in range(1, rows + 1)]
    return tuple((rows - k + 1, ends[k] - ends[k - 1]) for k in range(1, rows + 1))


def target_step_seconds(
    pair: PairProfile, shape: SearchShape, nodes: int, *, first: bool = False
) -> float:
    """A step written by the target alone (AR): ``nodes`` x N thoughts, then scored. A scoring
    pass (where one is needed) reads the question's prompt on the ``first`` step, else the
    nodes' newest thoughts."""
    rows = nodes * shape.width
    cost = pair.target.call(rows, nodes, shape)
    cost += pair.score_target(rows, shape.tokens_per_thought)
    reads = (
        shape.prompt_tokens * pair.prompt_token
        if first and not pair.shared_cache
        else pair.read_contexts(shape, nodes, cold=False)
    )
    cold = pair.target.cold_seconds if first else 0.0  # the question, read once per problem
    return cost + cold + pair.pass_share(rows) * reads


def spec_step_seconds(
    pair: PairProfile, shape: SearchShape, acceptance: float, nodes: int, *, first: bool = False
) -> float:
    """The expected SpecSearch step: drafts and their scores, then the expected corrections.

    ``first`` is the first drafted step: where the target's warm-up step was scored for free
    (no pass), the scorer has not read the question yet and reads the nodes' whole contexts."""
    drafts = nodes * shape.n_drafts
    cost = pair.drafter.call(drafts, nodes, shape)
    cost += pair.drafter.cold_seconds if first else 0.0  # the drafter's first read of the question
    cost += pair.score(drafts * shape.distinct_drafts, shape.tokens_per_thought)
    # the warm-up took no pass, and the scorer has no cache of the target's to find it in
    unread = 1.0 - pair.pass_share(shape.width) if first and not pair.shared_cache else 0.0
    cost += unread * pair.read_contexts(shape, nodes, cold=True)
    cost += (1.0 - unread) * pair.read_contexts(shape, nodes, cold=False)
    per_node = rejected_slots_distribution(acceptance, shape.n_drafts, shape.width)
    for combo in product(per_node.items(), repeat=nodes):
        probability = math.prod(share for _, share in combo)
        left = [slots for slots, _ in combo]
        rows = sum(left)
        if rows and probability:
            call = pair.target.call(rows, sum(1 for s in left if s), shape)
            cost += probability * (call + pair.score_target(rows, shape.tokens_per_thought))
    return cost


def predict_problem_seconds(
    pair: PairProfile, shape: SearchShape, mode: str, acceptance: float = 0.0
) -> float:
    """Seconds of one problem's search in ``mode`` (``target_only``, ``specsearch``,
    ``drafter_only``). The first step expands the root alone; SpecSearch's first step is the
    target's (the EMA warm-up), and its second the first drafted one."""
    later = max(shape.steps - 1.0, 0.0)
    beams = shape.beam_width
    if mode == "target_only":
        first = target_step_seconds(pair, shape, 1, first=True)
        return first + later * target_step_seconds(pair, shape, beams)
    if mode == "specsearch":
        first = target_step_seconds(pair, shape, 1, first=True)
        opening = spec_step_seconds(pair, shape, acceptance, beams, first=True)
        if later <= 1.0:
            return first + later * opening
        rest = spec_step_seconds(pair, shape, acceptance, beams)
        return first + opening + (later - 1.0) * rest
    if mode == "drafter_only":
        # its thoughts are scored, in a cache the drafter's calls never filled
        alone = replace(pair, target=pair.drafter, self_scored=False, shared_cache=False)
        return target_step_seconds(alone, shape, 1, first=True) + later * target_step_seconds(
            alone, shape, beams
        )
    raise ValueError(f"no cost model for mode {mode!r}")


def predicted_speedup(pair: PairProfile, shape: SearchShape, acceptance: float) -> float:
    """SpecSearch's predicted speedup over the target alone (AR) on this pair and shape."""
    return predict_problem_seconds(pair, shape, "target_only") / predict_problem_seconds(
        pair, shape, "specsearch", acceptance
    )


def cost_ratio_needed(
    pair: PairProfile, shape: SearchShape, acceptance: float, wanted: float
) -> float | None:
    """The drafter/target cost ratio (target cost / drafter cost) that reaches ``wanted``.

    Scales the drafter's profile down until SpecSearch is ``wanted`` times faster than AR;
    None if even a free drafter falls short at this acceptance (the corrections alone cost too
    much).
    """
    base = pair.cost_ratio(shape.beam_width * shape.n_drafts, shape.tokens_per_thought)

    def speedup(scale: float) -> float:
        cheaper = replace(pair, drafter=pair.drafter.scaled(scale))
        return predicted_speedup(cheaper, shape, acceptance)

    if speedup(1e-9) < wanted:
        return None
    if speedup(1.0) >= wanted:
        high = 1.0
        while speedup(high * 2) >= wanted and high < 1e6:
            high *= 2
        low = high
        high *= 2
    else:
        low, high = 1e-9, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if speedup(middle) >= wanted:
            low = middle
        else:
            high = middle
    return base / low
