"""The engine-independent cost model and ``estimate``, on simulated models whose costs are known.

A simulated generator advances a fake clock by exactly what its call should cost, so the
measured profile, the predictions and the recommendation can be checked against hand-computed
numbers (no timing on the shared machine).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from langgraph_specsearch import GenerationSettings, SpecSearchConfig, Thought
from langgraph_specsearch.bench.cost_model import (
    CallProfile,
    PairProfile,
    SearchShape,
    cost_ratio_needed,
    predict_problem_seconds,
    predicted_speedup,
    spec_step_seconds,
    target_step_seconds,
)
from langgraph_specsearch.bench.estimate import (
    build_estimate,
    estimate,
    format_estimate,
    measure_call_profile,
    measure_call_profiles,
    measure_scorer,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Simulated:
    """Costs ``fixed + prompts * prompt + tokens * decode[rows]`` seconds of the fake clock."""

    def __init__(self, name: str, clock: Clock, profile: CallProfile, answer_at: int = 3) -> None:
        self.name, self.clock, self.profile, self.answer_at = name, clock, profile, answer_at

    def generate(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        counts: Sequence[int],
        settings: GenerationSettings,
    ) -> list[list[Thought]]:
        rows = sum(counts)
        self.clock.now += self.profile.seconds(rows, len(paths), settings.max_new_tokens)
        groups = []
        for path, count in zip(paths, counts, strict=True):
            depth = len(path) + 1
            end = ". The answer is 7" if depth >= self.answer_at else ""
            groups.append(
                [Thought(f"{self.name} {depth} {i} {settings.seed}{end}", settings.max_new_tokens)
                 for i in range(count)]
            )  # fmt: skip
        return groups


class SimulatedScorer:
    def __init__(self, clock: Clock, fixed: float, row: float, scores: dict[str, float]) -> None:
        self.clock, self.fixed, self.row, self.scores = clock, fixed, row, scores

    def score_last(self, questions: list[str], step_lists: list[list[str]]) -> list[float]:
        self.clock.now += self.fixed + self.row * len(step_lists)
        return [self.scores.get(steps[-1].split()[0], 0.5) for steps in step_lists]


TARGET = CallProfile({1: 0.10, 3: 0.12, 6: 0.15}, prompt_seconds=0.5, fixed=0.05)
DRAFTER = CallProfile({1: 0.02, 3: 0.025, 6: 0.03}, prompt_seconds=0.1, fixed=0.01)
PAIR = PairProfile(DRAFTER, TARGET, score_fixed=0.2, score_row=0.05)
SHAPE = SearchShape(beam_width=2, width=3, n_drafts=3, steps=4, tokens_per_thought=20)


def _recovers_target(model: type[Simulated], clock: Clock) -> None:
    measured = measure_call_profile(model("t", clock, TARGET), (1, 3, 6), clock=clock)
    assert measured.decode_seconds == pytest.approx(TARGET.decode_seconds)
    assert (measured.prompt_seconds, measured.fixed) == pytest.approx(
        (TARGET.prompt_seconds, TARGET.fixed)
    )


def test_measuring_recovers_the_simulated_costs() -> None:
    clock = Clock()
    _recovers_target(Simulated, clock)
    fixed, row = measure_scorer(SimulatedScorer(clock, 0.2, 0.05, {}), clock=clock)
    assert (fixed, row) == pytest.approx((0.2, 0.05))


class Disturbed(Simulated):
    """A simulated model on a shared machine: the first call of every shape runs 1 s late."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: set[tuple[int, int]] = set()

    def generate(self, question, paths, counts, settings):  # type: ignore[no-untyped-def]
        shape = (sum(counts), settings.max_new_tokens)
        if shape not in self.seen:
            self.seen.add(shape)
            self.clock.now += 1.0
        return super().generate(question, paths, counts, settings)


def test_a_disturbed_call_does_not_move_the_measured_costs() -> None:
    """A call that other work slowed in one round of three does not move the median."""
    clock = Clock()
    _recovers_target(Disturbed, clock)
    scorer = SimulatedScorer(clock, 0.2, 0.05, {})
    first = scorer.score_last

    calls = []

    def late_in_one_round(questions: list[str], step_lists: list[list[str]]) -> list[float]:
        calls.append(len(step_lists))
        if len(calls) <= 2:  # rounds alternate one row and six: the first round runs late
            clock.now += 1.0
        return first(questions, step_lists)

    scorer.score_last = late_in_one_round  # type: ignore[method-assign]
    assert measure_scorer(scorer, clock=clock) == pytest.approx((0.2, 0.05))


class Jittered(Simulated):
    """A simulated model whose decode step runs 10% slow in calls over one prompt and 10% fast
    over two: the same decode, timed twice, with the noise of a shared machine."""

    def generate(self, question, paths, counts, settings):  # type: ignore[no-untyped-def]
        before = self.clock.now
        groups = super().generate(question, paths, counts, settings)
        rows, tokens = sum(counts), settings.max_new_tokens
        jitter = 0.1 if len(paths) == 1 else -0.1
        self.clock.now = (
            before
            + self.profile.seconds(rows, len(paths), tokens)
            + (jitter * tokens * self.profile.decode(rows) if rows > 1 else 0.0)
        )
        return groups


def test_the_decode_step_is_averaged_over_the_shapes_that_time_it() -> None:
    """Each row count above one is timed over one prompt and over two; the decode step is the
    mean of both slopes, so the two timings' errors cancel instead of one being kept."""
    clock = Clock()
    measured = measure_call_profile(Jittered("t", clock, TARGET), (1, 3, 6), clock=clock)
    assert measured.decode_seconds == pytest.approx(TARGET.decode_seconds)


class Hurried(Simulated):
    """A simulated model on a machine with fast spells: the first call of every shape runs at
    70% of its cost (a search pays the typical cost, which the fastest round underestimates)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: set[tuple[int, int, int]] = set()

    def generate(self, question, paths, counts, settings):  # type: ignore[no-untyped-def]
        shape = (sum(counts), len(paths), settings.max_new_tokens)
        before = self.clock.now
        groups = super().generate(question, paths, counts, settings)
        if shape not in self.seen:
            self.seen.add(shape)
            self.clock.now = before + 0.7 * (self.clock.now - before)
        return groups


def test_a_fast_spell_does_not_move_the_measured_costs() -> None:
    _recovers_target(Hurried, Clock())


class Logged(Simulated):
    """A simulated model that writes each call's shape in a log shared with other models."""

    def __init__(self, log: list[tuple[str, int, int]], *args: Any) -> None:
        super().__init__(*args)
        self.log = log

    def generate(self, question, paths, counts, settings):  # type: ignore[no-untyped-def]
        self.log.append((self.name, sum(counts), settings.max_new_tokens))
        return super().generate(question, paths, counts, settings)


def test_the_drafter_and_target_are_timed_side_by_side() -> None:
    """Every call shape is timed on both models before the next: a slow minute on the shared
    machine then slows both, and their cost ratio (what decides whether speculation pays) holds."""
    clock, log = Clock(), []
    models = [Logged(log, "small", clock, DRAFTER), Logged(log, "big", clock, TARGET)]
    drafter, target = measure_call_profiles(models, (1, 3, 6), clock=clock)
    assert drafter.decode_seconds == pytest.approx(DRAFTER.decode_seconds)
    assert target.decode_seconds == pytest.approx(TARGET.decode_seconds)
    assert [name for name, _, _ in log] == ["small", "big"] * (len(log) // 2)
    assert all(log[i][1:] == log[i + 1][1:] for i in range(0, len(log), 2))
    timed = {shape[1:] for shape in log[2:] if shape[2] > 1}  # not the untimed path reads
    assert len(timed) == 6  # (1, 3, 6 rows) x (8, 24 tokens)


def test_an_engine_whose_stopped_rows_leave_the_batch_is_priced_by_the_rows_running() -> None:
    """Lengths 10 and 30 (spread 0.5 and 1.5): of two rows the shorter ends after 0.75 mean
    lengths on average and the longer after 1.25; between the two ends one row runs. A decode
    step costing 1 s per row then costs each row its own length: the sum of the lengths."""
    from dataclasses import replace

    from langgraph_specsearch.bench.cost_model import expected_longest, running_rows

    spread = (0.5, 1.5)
    assert running_rows(spread, 2) == pytest.approx([(2, 0.75), (1, 0.5)])
    for rows in (1, 3, 6):
        stretches = running_rows(spread, rows)
        assert [running for running, _ in stretches] == list(range(rows, 0, -1))
        assert sum(s for _, s in stretches) == pytest.approx(expected_longest(spread, rows))
    assert running_rows((), 6) == ((6, 1.0),)
    per_row = CallProfile({1: 1.0, 6: 6.0}, prompt_seconds=0.5, fixed=0.05, rows_leave=True)
    shape = replace(SHAPE, length_spread=spread)
    assert per_row.call(6, 2, shape) == pytest.approx(0.05 + 1.0 + 6 * 20)
    padded = replace(per_row, rows_leave=False)  # every row runs as long as the longest
    assert padded.call(6, 2, shape) == pytest.approx(padded.seconds(6, 2, shape.call_tokens(6)))
    assert per_row.call(6, 2, SHAPE) == pytest.approx(padded.call(6, 2, SHAPE))  # equal lengths


class Leaving(Simulated):
    rows_leave = True


def test_the_estimate_records_whether_stopped_rows_leave_the_batch() -> None:
    from langgraph_specsearch.bench.estimate import pair_from_estimate

    clock = Clock()
    leaving, padded = measure_call_profiles(
        [Leaving("small", clock, DRAFTER), Simulated("big", clock, TARGET)], clock=clock
    )
    assert (leaving.rows_leave, padded.rows_leave) == (True, False)
    row = {"decode_seconds": {"1": 0.1}, "prompt_seconds": 0.5}  # written before rows_leave
    old = {"profile": {"drafter": row, "target": row, "score_fixed": 0.0, "score_row": 0.0}}
    assert pair_from_estimate({**old, "engine": "llamacpp"}).target.rows_leave
    assert not pair_from_estimate({**old, "engine": "transformers"}).target.rows_leave


class PromptCaching(Simulated):
    """A simulated engine that keeps prompts between calls (as llama.cpp does): a prompt it
    has read costs nothing the next time, until its cache is cleared."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cached: set[str] = set()

    def clear_prefix_cache(self) -> None:
        self.cached.clear()

    def generate(self, question, paths, counts, settings):  # type: ignore[no-untyped-def]
        read = [" ".join(path) for path in paths if " ".join(path) not in self.cached]
        self.cached.update(read)
        self.clock.now -= (len(paths) - len(read)) * self.profile.prompt_seconds
        return super().generate(question, paths, counts, settings)


class QuestionCaching(PromptCaching):
    """Also reads the question on its first call after the cache was emptied,
    ``question_seconds`` more (a cached path still costs nothing; the estimate's timed calls
    each add a thought never read)."""

    question_seconds = 1.5

    def generate(self, question, paths, counts, settings):  # type: ignore[no-untyped-def]
        if f"question: {question}" not in self.cached:
            self.cached.add(f"question: {question}")
            self.clock.now += self.question_seconds
        return super().generate(question, paths, counts, settings)


def test_a_question_read_once_per_problem_is_timed_apart_from_the_prompts() -> None:
    """The question's cold read is measured on the problem's own question and charged once: to
    AR's first step, and to SpecSearch's first drafted step for the drafter."""
    from dataclasses import replace

    clock = Clock()
    drafter, target = measure_call_profiles(
        [QuestionCaching("small", clock, DRAFTER), QuestionCaching("big", clock, TARGET)],
        clock=clock,
        question="How many eggs are left?",
    )
    assert (target.cold_seconds, drafter.cold_seconds) == pytest.approx((1.5, 1.5))
    assert (target.prompt_seconds, target.fixed) == pytest.approx((0.5, 0.05))
    assert target.decode_seconds == pytest.approx(TARGET.decode_seconds)
    nothing = measure_call_profiles([Simulated("t", clock, TARGET)], clock=clock, question="Q?")
    assert nothing[0].cold_seconds == 0.0  # no prompt cache: every call reads everything
    cold = replace(
        PAIR, drafter=replace(DRAFTER, cold_seconds=2.0), target=replace(TARGET, cold_seconds=3.0)
    )
    ar = predict_problem_seconds(cold, SHAPE, "target_only")
    assert ar == pytest.approx(predict_problem_seconds(PAIR, SHAPE, "target_only") + 3.0)
    spec = predict_problem_seconds(cold, SHAPE, "specsearch", 0.5)
    assert spec == pytest.approx(predict_problem_seconds(PAIR, SHAPE, "specsearch", 0.5) + 5.0)


class HurriedCold(QuestionCaching):
    """The first cold read of the question runs in a fast spell, at 70% of its cost."""

    clears = 0

    def clear_prefix_cache(self) -> None:
        super().clear_prefix_cache()
        self.clears += 1
        self.hurry = self.clears == 1

    def generate(self, question, paths, counts, settings):  # type: ignore[no-untyped-def]
        before = self.clock.now
        groups = super().generate(question, paths, counts, settings)
        if getattr(self, "hurry", False):
            self.hurry = False
            self.clock.now = before + 0.7 * (self.clock.now - before)
        return groups


def test_a_fast_spell_does_not_move_the_questions_cold_read() -> None:
    clock = Clock()
    (found,) = measure_call_profiles([HurriedCold("t", clock, TARGET)], clock=clock, question="Q?")
    assert found.cold_seconds == pytest.approx(1.5)


def test_prompts_are_timed_cold_on_an_engine_that_caches_them() -> None:
    _recovers_target(PromptCaching, Clock())


def test_decode_cost_is_interpolated_between_measured_batch_sizes() -> None:
    assert TARGET.decode(2) == pytest.approx(0.11)
    assert TARGET.decode(6) == pytest.approx(0.15)
    assert TARGET.decode(9) == pytest.approx(0.18)  # the last segment's slope, extended
    assert TARGET.seconds(6, 2, 20) == pytest.approx(0.05 + 1.0 + 3.0)


def test_steps_and_problems_by_hand() -> None:
    ar_step = TARGET.seconds(6, 2, 20) + 0.2 + 0.05 * 6
    assert target_step_seconds(PAIR, SHAPE, 2) == pytest.approx(ar_step)
    # every draft accepted: only drafting and scoring
    all_in = DRAFTER.seconds(6, 2, 20) + 0.2 + 0.05 * 6
    assert spec_step_seconds(PAIR, SHAPE, 1.0, 2) == pytest.approx(all_in)
    # nothing accepted: drafting plus a whole target step
    assert spec_step_seconds(PAIR, SHAPE, 0.0, 2) == pytest.approx(all_in + ar_step)
    first = target_step_seconds(PAIR, SHAPE, 1)
    assert predict_problem_seconds(PAIR, SHAPE, "target_only") == pytest.approx(first + 3 * ar_step)
    assert predict_problem_seconds(PAIR, SHAPE, "specsearch", 1.0) == pytest.approx(
        first + 3 * all_in
    )


def test_speedup_grows_with_acceptance_and_loses_at_zero() -> None:
    speedups = [predicted_speedup(PAIR, SHAPE, p) for p in (0.0, 0.5, 0.9, 1.0)]
    assert speedups == sorted(speedups)
    assert speedups[0] < 1.0 < speedups[-1]


def test_cost_ratio_needed_reaches_the_wanted_speedup() -> None:
    ratio = cost_ratio_needed(PAIR, SHAPE, 0.9, 1.7)  # 1.49x at today's ratio, 1.89x if free
    assert ratio is not None and ratio > PAIR.cost_ratio(6, 20)
    current = PAIR.cost_ratio(6, 20)
    scaled = PairProfile(DRAFTER.scaled(current / ratio), TARGET, PAIR.score_fixed, PAIR.score_row)
    assert predicted_speedup(scaled, SHAPE, 0.9) == pytest.approx(1.7, rel=1e-3)
    assert cost_ratio_needed(PAIR, SHAPE, 0.9, 1.2) < PAIR.cost_ratio(6, 20)  # already there
    # at 80% acceptance even a free drafter cannot double the speed: corrections dominate
    assert cost_ratio_needed(PAIR, SHAPE, 0.8, 2.0) is None


def test_an_expensive_drafter_is_advised_against() -> None:
    dear = PairProfile(TARGET.scaled(0.9), TARGET, 0.2, 0.05)
    measured = {"acceptance": 0.5, "steps": 4.0, "tokens_per_thought": 20.0, "problems": 2.0}
    advice = build_estimate(dear, SHAPE, 0.5, measured)
    assert advice.recommended["mode"] == "target_only"
    assert advice.notes and "does not pay" in advice.notes[0]
    cheap = build_estimate(PAIR, SHAPE, 0.95, measured)
    assert cheap.recommended["mode"] == "specsearch"
    assert cheap.break_even_acceptance is not None and cheap.break_even_acceptance < 0.95
    assert "recommended: mode=specsearch" in format_estimate(cheap)
    assert "100% of drafts distinct" in format_estimate(cheap)  # older measurements: all
    measured["distinct_drafts"] = 0.75
    assert "75% of drafts distinct" in format_estimate(build_estimate(PAIR, SHAPE, 0.95, measured))


def _simulated_estimate(max_depth: int) -> Any:
    clock = Clock()
    drafter = Simulated("small", clock, DRAFTER)
    target = Simulated("big", clock, TARGET)
    scorer = SimulatedScorer(clock, 0.2, 0.05, {"small": 0.9, "big": 0.5})
    config = SpecSearchConfig(
        beam_width=2, width=3, n_drafts=3, max_depth=max_depth, max_step_tokens=20
    )
    return estimate(drafter, target, scorer, config, ["What is 3 + 4?"], clock=clock)


def test_estimate_measures_runs_and_predicts() -> None:
    found = _simulated_estimate(max_depth=4)
    assert found.measured["acceptance"] == pytest.approx(1.0)  # drafts outscore the target
    assert found.measured["tokens_per_thought"] == pytest.approx(20.0)
    decode = found.profile["target"]["decode_seconds"]
    assert sorted(decode) == [1, 3, 6, 12]  # up to B x 2N rows: M = 2N is weighed too
    assert decode == pytest.approx({rows: TARGET.decode(rows) for rows in decode})
    assert found.recommended["mode"] == "specsearch"


def test_the_cli_estimates_with_the_loaded_models(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``specsearch estimate`` measures the models it loads (simulated here) and advises."""
    from langgraph_specsearch import cli
    from langgraph_specsearch.bench import estimate as estimate_module

    clock = Clock()
    models = (
        Simulated("small", clock, DRAFTER),
        Simulated("big", clock, TARGET),
        SimulatedScorer(clock, 0.2, 0.05, {"small": 0.9, "big": 0.5}),
    )
    monkeypatch.setattr(cli, "load_real_models", lambda scorer, drafter, engine: models)
    real = estimate_module.estimate
    monkeypatch.setattr(
        estimate_module, "estimate", lambda *a, **k: real(*a, **{**k, "clock": clock})
    )
    assert cli.main(["estimate", "--problems", "1", "--width", "3", "--n-drafts", "3"]) == 0
    out = capsys.readouterr().out
    assert "predicted SpecSearch speedup over AR" in out
    assert "recommended: mode=specsearch" in out


def test_free_self_scoring_takes_the_scoring_off_the_targets_thoughts() -> None:
    """With self_scored, AR's steps and the corrections cost no scoring; drafts still do."""
    from dataclasses import replace

    from langgraph_specsearch.bench.cost_model import (
        SearchShape,
        predict_problem_seconds,
        target_step_seconds,
    )

    shape = SearchShape(2, 3, 3, 4.0, 30.0)
    paid = PairProfile(DRAFTER, TARGET, score_fixed=0.2, score_row=0.05)
    free = replace(paid, self_scored=True)
    assert target_step_seconds(paid, shape, 2) - target_step_seconds(free, shape, 2) == (
        pytest.approx(0.2 + 0.05 * 6)
    )
    # all accepted: no correction; the only difference is the warm-up step's scoring
    gap = predict_problem_seconds(paid, shape, "specsearch", 1.0) - predict_problem_seconds(
        free, shape, "specsearch", 1.0
    )
    assert gap == pytest.approx(0.2 + 0.05 * 3)
    assert predict_problem_seconds(free, shape, "specsearch", 0.5) < predict_problem_seconds(
        paid, shape, "specsearch", 0.5
    )


def test_the_estimate_knows_when_the_scorer_scores_the_targets_own_thoughts() -> None:
    from langgraph_specsearch.bench.estimate import scores_itself

    class Scorer:
        def __init__(self, generator, generated):
            self.generator, self.generated = generator, generated

    target = object()
    assert scores_itself(Scorer(target, {}), target)
    assert not scores_itself(Scorer(target, None), target)  # reuse_generation=False
    assert not scores_itself(Scorer(object(), {}), target)  # the drafter's likelihood
    assert not scores_itself(lambda q, s: 0.5, target)


def test_a_call_lasts_as_long_as_its_longest_thought() -> None:
    """Thought lengths 10 and 30 (spread 0.5 and 1.5 of the mean): one row writes the mean,
    two rows write 1.25 means (the longer one unless both draw 10), six rows nearly 1.5."""
    from dataclasses import replace

    from langgraph_specsearch.bench.cost_model import expected_longest, length_spread

    spread = length_spread([10, 30, 0])  # a zero-length thought (an empty step) is left out
    assert spread == (0.5, 1.5)
    assert expected_longest(spread, 1) == pytest.approx(1.0)
    assert expected_longest(spread, 2) == pytest.approx(0.5 / 4 + 1.5 * 3 / 4)
    assert expected_longest(spread, 3) == pytest.approx(0.5 / 8 + 1.5 * 7 / 8)
    assert expected_longest((), 6) == 1.0
    shape = replace(SHAPE, length_spread=spread)
    six = 20 * (0.5 / 64 + 1.5 * 63 / 64)
    assert shape.call_tokens(6) == pytest.approx(six)
    assert target_step_seconds(PAIR, shape, 2) == pytest.approx(
        TARGET.seconds(6, 2, six) + 0.2 + 0.05 * 6
    )
    drafts = DRAFTER.seconds(6, 2, six) + 0.2 + 0.05 * 6
    assert spec_step_seconds(PAIR, shape, 1.0, 2) == pytest.approx(drafts)
    # nothing accepted: the target rewrites all six slots, again as long as the longest
    ar_step = target_step_seconds(PAIR, shape, 2)
    assert spec_step_seconds(PAIR, shape, 0.0, 2) == pytest.approx(drafts + ar_step)
    assert predicted_speedup(PAIR, shape, 0.5) != pytest.approx(predicted_speedup(PAIR, SHAPE, 0.5))


def test_the_estimate_keeps_the_spread_of_its_runs_thought_lengths() -> None:
    found = _simulated_estimate(max_depth=3)
    assert found.length_spread and set(found.length_spread) == {1.0}  # every thought writes 20


def test_only_the_share_of_free_scores_is_free() -> None:
    """With half the target's thoughts scored for free, two thoughts cost one row's pass and a
    call unless both were free (1 - 0.5^2 of the time)."""
    from dataclasses import replace

    half = replace(PAIR, self_scored=True, free_share=0.5)
    assert half.score_target(2) == pytest.approx(0.2 * 0.75 + 0.05 * 1)
    assert half.score_target(0) == 0.0
    assert replace(half, free_share=1.0).score_target(6) == 0.0
    assert replace(half, self_scored=False).score_target(2) == pytest.approx(0.2 + 0.05 * 2)


def test_the_estimate_measures_how_many_of_the_targets_thoughts_were_free() -> None:
    clock = Clock()
    drafter = Simulated("small", clock, DRAFTER)
    target = Simulated("big", clock, TARGET)

    class SelfScorer(SimulatedScorer):
        """Scores the target's thoughts for free every other time (as a real scorer does
        where the step's end merged with the delimiter)."""

        generator, generated, reused, written = target, {}, 0, 0

        def score_last(self, questions: list[str], step_lists: list[list[str]]) -> list[float]:
            for steps in step_lists:
                if steps[-1].startswith("big"):
                    self.written += 1
                    self.reused += self.written % 2
            return super().score_last(questions, step_lists)

    scorer = SelfScorer(clock, 0.2, 0.05, {"small": 0.4, "big": 0.5})
    config = SpecSearchConfig(beam_width=2, width=3, n_drafts=3, max_depth=3, max_step_tokens=20)
    found = estimate(drafter, target, scorer, config, ["What is 3 + 4?"], clock=clock)
    assert found.profile["self_scored"] is True
    assert scorer.written > 2  # the drafts were rejected: the target wrote every step
    assert found.profile["free_share"] == pytest.approx(scorer.reused / scorer.written)
    assert 0.4 < found.profile["free_share"] < 0.6


# ------------------------------------------------------------------ scoring priced by tokens
TOKENS = PairProfile(
    DRAFTER,
    TARGET,
    score_fixed=0.2,
    score_row=0.0,
    self_scored=True,
    score_token=0.01,
    context_token=0.02,
    prompt_token=0.005,
)
TOKEN_SHAPE = SearchShape(2, 3, 3, 4.0, 20.0, prompt_tokens=100.0)


def test_scoring_by_tokens_by_hand() -> None:
    """Drafts cost their tokens; the first drafted step reads both nodes' whole contexts (the
    free-scored warm-up never showed the scorer the question), later steps only the thought
    each node added."""
    from dataclasses import replace

    assert TOKENS.score(6, 20.0) == pytest.approx(0.2 + 6 * 20 * 0.01)
    assert TOKENS.read_contexts(TOKEN_SHAPE, 2, cold=True) == pytest.approx(2 * 120 * 0.005)
    assert TOKENS.read_contexts(TOKEN_SHAPE, 2, cold=False) == pytest.approx(2 * 20 * 0.02)
    drafts = DRAFTER.seconds(6, 2, 20) + 0.2 + 6 * 20 * 0.01
    opening = spec_step_seconds(TOKENS, TOKEN_SHAPE, 1.0, 2, first=True)
    rest = spec_step_seconds(TOKENS, TOKEN_SHAPE, 1.0, 2)
    assert opening == pytest.approx(drafts + 1.2)
    assert rest == pytest.approx(drafts + 0.8)
    warmup = TARGET.seconds(3, 1, 20)  # scored for free
    assert predict_problem_seconds(TOKENS, TOKEN_SHAPE, "specsearch", 1.0) == pytest.approx(
        warmup + opening + 2 * rest
    )
    # AR scored for free reads nothing; scored by a pass it reads the question once, then tails
    ar_step = TARGET.seconds(6, 2, 20)
    assert predict_problem_seconds(TOKENS, TOKEN_SHAPE, "target_only") == pytest.approx(
        warmup + 3 * ar_step
    )
    paid = replace(TOKENS, self_scored=False)
    assert target_step_seconds(paid, TOKEN_SHAPE, 1, first=True) == pytest.approx(
        warmup + 0.2 + 3 * 20 * 0.01 + 100 * 0.005
    )
    assert target_step_seconds(paid, TOKEN_SHAPE, 2) == pytest.approx(
        ar_step + 0.2 + 6 * 20 * 0.01 + 0.8
    )
    # the scorer read the question in the warm-up, so the first drafted step reads tails only
    assert spec_step_seconds(paid, TOKEN_SHAPE, 1.0, 2, first=True) == pytest.approx(rest)
    # a search of one drafted step or less pays the opening step's reads
    short = replace(TOKEN_SHAPE, steps=1.5)
    assert predict_problem_seconds(TOKENS, short, "specsearch", 1.0) == pytest.approx(
        warmup + 0.5 * opening
    )
    # nothing accepted: the corrections are scored by their tokens (their contexts are read)
    assert spec_step_seconds(paid, TOKEN_SHAPE, 0.0, 2) == pytest.approx(
        rest + ar_step + 0.2 + 6 * 20 * 0.01
    )
    # the drafter alone: its thoughts are scored by a pass, which reads the question first
    alone = DRAFTER.seconds(3, 1, 20) + 0.2 + 3 * 20 * 0.01 + 100 * 0.005
    later = DRAFTER.seconds(6, 2, 20) + 0.2 + 6 * 20 * 0.01 + 0.8
    assert predict_problem_seconds(TOKENS, TOKEN_SHAPE, "drafter_only") == pytest.approx(
        alone + 3 * later
    )


def test_a_partly_free_warm_up_reads_the_question_when_it_took_a_pass() -> None:
    """Half the target's thoughts free: the root's three are all free 1/8 of the time; else
    their pass read the question, and the first drafted step reads only the nodes' newest."""
    from dataclasses import replace

    half = replace(TOKENS, free_share=0.5)
    assert half.pass_share(3) == pytest.approx(7 / 8)
    assert replace(TOKENS, self_scored=False).pass_share(3) == 1.0
    assert half.pass_share(0) == 0.0
    warmup = TARGET.seconds(3, 1, 20) + half.score_target(3, 20.0) + 7 / 8 * 100 * 0.005
    assert target_step_seconds(half, TOKEN_SHAPE, 1, first=True) == pytest.approx(warmup)
    ar_step = TARGET.seconds(6, 2, 20) + half.score_target(6, 20.0) + (1 - 0.5**6) * 0.8
    assert target_step_seconds(half, TOKEN_SHAPE, 2) == pytest.approx(ar_step)
    drafts = DRAFTER.seconds(6, 2, 20) + 0.2 + 6 * 20 * 0.01
    assert spec_step_seconds(half, TOKEN_SHAPE, 1.0, 2, first=True) == pytest.approx(
        drafts + 1 / 8 * 1.2 + 7 / 8 * 0.8
    )
    assert half.score_target(2, 20.0) == pytest.approx(0.2 * 0.75 + 20 * 0.01 * 2 * 0.5)


def test_a_scorer_in_the_targets_cache_finds_the_warm_up_read() -> None:
    """A scorer that shares the target's KV cache finds the question and the warm-up's
    thoughts there: the first drafted step reads each node's newest thought, as later steps
    do, and an AR step with a scoring pass never reads the question cold."""
    from dataclasses import replace

    from langgraph_specsearch.bench.estimate import shares_cache

    shared = replace(TOKENS, shared_cache=True)
    later = spec_step_seconds(shared, TOKEN_SHAPE, 0.5, 2)
    assert spec_step_seconds(shared, TOKEN_SHAPE, 0.5, 2, first=True) == pytest.approx(later)
    cold = spec_step_seconds(TOKENS, TOKEN_SHAPE, 0.5, 2, first=True)
    assert cold == pytest.approx(later + 1.2 - 0.8)  # whole contexts read instead of newest
    passing = replace(shared, self_scored=False)
    warm_ar = target_step_seconds(passing, TOKEN_SHAPE, 1, first=True)
    assert warm_ar == pytest.approx(
        TARGET.seconds(3, 1, 20) + passing.score(3, 20.0) + 1 * 20 * TOKENS.context_token
    )
    alone = predict_problem_seconds(shared, TOKEN_SHAPE, "drafter_only")
    assert alone == pytest.approx(predict_problem_seconds(TOKENS, TOKEN_SHAPE, "drafter_only"))

    class Model:
        context = object()

    class Scorer:
        def __init__(self, context: object) -> None:
            self.context = context

    target = Model()
    assert shares_cache(Scorer(target.context), target)
    assert not shares_cache(Scorer(object()), target)
    assert not shares_cache(object(), object())  # neither has a context: nothing shared


class Repeating(Simulated):
    """A drafter whose drafts of one node all come out the same (as a final answer often does)."""

    def generate(self, question, paths, counts, settings):  # type: ignore[no-untyped-def]
        groups = super().generate(question, paths, counts, settings)
        return [[Thought(group[0].text, group[0].tokens) for _ in group] for group in groups]


def test_identical_drafts_are_scored_once() -> None:
    """The scorer reads one of a node's identical drafts: the drafts' scoring is priced at the
    share of them that differ, which the estimate measures from its runs' trees."""
    from dataclasses import replace

    half = replace(TOKEN_SHAPE, distinct_drafts=0.5)
    saved = spec_step_seconds(TOKENS, TOKEN_SHAPE, 0.5, 2) - spec_step_seconds(TOKENS, half, 0.5, 2)
    assert saved == pytest.approx(0.5 * 6 * 20 * TOKENS.score_token)  # half of six drafts' tokens
    clock = Clock()
    config = SpecSearchConfig(beam_width=2, width=3, n_drafts=3, max_depth=4)
    scorer = SimulatedScorer(clock, 0.2, 0.05, {})
    for drafter, share in (
        (Repeating("small", clock, DRAFTER), 1 / 3),
        (Simulated("small", clock, DRAFTER), 1.0),
    ):
        found = estimate(
            drafter, Simulated("big", clock, TARGET), scorer, config, ["Q?"], clock=clock
        )
        assert found.measured["distinct_drafts"] == pytest.approx(share)


class TokenScorer:
    """Counts words as tokens and keeps read contexts, as the likelihood scorers do: a call
    costs ``fixed``, each scored step ``row`` and each of its words ``token``, each context word
    past the longest cached prefix (``prompt`` a word when nothing of it was cached, ``context``
    a word otherwise)."""

    def __init__(
        self, clock: Clock, fixed: float, token: float, context: float, prompt: float, row=0.0
    ):
        self.clock, self.costs, self.row = clock, (fixed, token, context, prompt), row
        self.cached: list[list[str]] = []

    def _context(self, question: str, steps: Sequence[str]) -> list[str]:
        return [*question.split(), *" ".join(steps[:-1]).split()]

    def token_counts(self, question: str, steps: Sequence[str]) -> tuple[int, int]:
        return len(self._context(question, steps)), len(steps[-1].split())

    def clear_prefix_cache(self) -> None:
        self.cached = []

    def score_last(self, questions: list[str], step_lists: list[list[str]]) -> list[float]:
        fixed, token, context, prompt = self.costs
        self.clock.now += fixed
        before = list(self.cached)  # contexts of one call share nothing with each other
        for question, steps in zip(questions, step_lists, strict=True):
            words = self._context(question, steps)
            self.clock.now += self.row + token * len(steps[-1].split())
            if words in self.cached:
                continue
            shared = max((_shared(words, c) for c in before), default=0)
            self.clock.now += (context if shared else prompt) * (len(words) - shared)
            self.cached.append(words)
        return [0.5] * len(step_lists)


def _shared(a: list[str], b: list[str]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def test_measuring_scoring_by_tokens_recovers_the_simulated_costs() -> None:
    from langgraph_specsearch.bench.estimate import measure_token_scoring, prompt_tokens

    clock = Clock()
    scorer = TokenScorer(clock, 0.2, 0.01, 0.02, 0.005, row=0.03)
    found = measure_token_scoring(scorer, clock=clock)
    assert found is not None
    assert (found.fixed, found.row, found.token) == pytest.approx((0.2, 0.03, 0.01))
    assert (found.context_token, found.prompt_token) == pytest.approx((0.02, 0.005))
    assert prompt_tokens(scorer, ["a b c", "a b c d e"]) == pytest.approx(4.0)
    # a scorer that cannot count its tokens is priced by rows, as before
    assert measure_token_scoring(SimulatedScorer(clock, 0.2, 0.05, {}), clock=clock) is None


def test_scoring_measured_in_a_fast_spell_keeps_the_typical_costs() -> None:
    """The first round's scoring calls run at 70% of their cost: the median of three rounds
    is the typical cost, where the fastest round would price every token 30% low."""
    from langgraph_specsearch.bench.estimate import measure_token_scoring

    clock = Clock()
    scorer = TokenScorer(clock, 0.2, 0.01, 0.02, 0.005, row=0.03)
    score_last, calls = scorer.score_last, []

    def hurried_first_round(questions: list[str], step_lists: list[list[str]]) -> list[float]:
        calls.append(len(step_lists))
        before = clock.now
        scores = score_last(questions, step_lists)
        if len(calls) <= 9:  # a round makes nine calls
            clock.now = before + 0.7 * (clock.now - before)
        return scores

    scorer.score_last = hurried_first_round  # type: ignore[method-assign]
    found = measure_token_scoring(scorer, clock=clock)
    assert found is not None
    assert (found.fixed, found.row, found.token) == pytest.approx((0.2, 0.03, 0.01))
    assert (found.context_token, found.prompt_token) == pytest.approx((0.02, 0.005))


def test_the_estimate_prices_scoring_by_tokens_when_the_scorer_counts_them() -> None:
    from langgraph_specsearch.bench.estimate import pair_from_estimate

    clock = Clock()
    target = Simulated("big", clock, TARGET)
    scorer = TokenScorer(clock, 0.2, 0.01, 0.02, 0.005, row=0.03)
    target.context = scorer.context = object()  # type: ignore[attr-defined]  # one KV cache
    found = estimate(
        Simulated("small", clock, DRAFTER),
        target,
        scorer,
        SpecSearchConfig(beam_width=2, width=3, n_drafts=3, max_depth=4),
        ["How many rolls are left?"],
        clock=clock,
    )
    pair = pair_from_estimate(found.to_dict())
    assert pair.shared_cache  # recorded, and read back
    assert (pair.score_fixed, pair.score_row) == pytest.approx((0.2, 0.03))
    assert (pair.score_token, pair.context_token, pair.prompt_token) == pytest.approx(
        (0.01, 0.02, 0.005)
    )
    assert found.measured["prompt_tokens"] == pytest.approx(5.0)
