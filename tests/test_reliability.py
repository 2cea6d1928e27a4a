"""Bad input, failing parts and budgets: clear errors, nothing lost, no endless loops."""

from __future__ import annotations

import asyncio
import time

import pytest
from fakes import AuthorScorer, ScriptedGenerator
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import RetryPolicy

from langgraph_specsearch import SpecSearch, SpecSearchConfig, create_specsearch_graph
from langgraph_specsearch.generators.base import Thought

QUESTION = "Tom has 3 apples and buys 4 more. How many apples does he have?"
NO_WAIT = RetryPolicy(max_attempts=2, initial_interval=0.0, jitter=False, retry_on=Exception)


class FlakyDrafter(ScriptedGenerator):
    """Fails its first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        super().__init__("small")
        self.failures = failures
        self.attempts = 0

    def generate(self, question, paths, counts, settings):
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError("drafter endpoint went away")
        return super().generate(question, paths, counts, settings)


class NeverCalled(ScriptedGenerator):
    def generate(self, *args, **kwargs):
        raise AssertionError("a model was called before the input was checked")


def test_bad_input_fails_before_any_model_is_called() -> None:
    reasoner = SpecSearch(NeverCalled("s"), NeverCalled("l"), AuthorScorer({}))
    for value, error in (
        ("", ValueError),
        ("  \t\n", ValueError),
        (None, TypeError),
        (3.5, TypeError),
        ([], ValueError),
    ):
        with pytest.raises(error):
            reasoner.invoke(value)


class ShortContext(ScriptedGenerator):
    def check_question(self, question: str) -> None:
        if len(question) > 50:
            raise ValueError(f"question is {len(question)} characters; this model takes 50")


def test_question_longer_than_the_context_is_refused_up_front() -> None:
    reasoner = SpecSearch(ScriptedGenerator("small"), ShortContext("large"), AuthorScorer({}))
    with pytest.raises(ValueError, match="this model takes 50"):
        reasoner.invoke("x" * 51)


def test_drafter_is_retried_then_succeeds() -> None:
    drafter = FlakyDrafter(failures=1)
    graph = create_specsearch_graph(
        drafter,
        ScriptedGenerator("large"),
        AuthorScorer({"small": 0.9, "large": 0.5}),
        config=SpecSearchConfig(width=3),
        drafter_retry=NO_WAIT,
    )
    output = graph.invoke({"question": QUESTION})
    assert output["stats"]["failures"] == [] and output["stats"]["accepted"] > 0


def test_drafter_that_keeps_failing_falls_back_to_the_target() -> None:
    drafter = FlakyDrafter(failures=10**6)
    graph = create_specsearch_graph(
        drafter,
        ScriptedGenerator("large"),
        AuthorScorer({"small": 0.9, "large": 0.5}),
        config=SpecSearchConfig(width=3),
        drafter_retry=NO_WAIT,
    )
    output = graph.invoke({"question": QUESTION})
    assert output["finished"] and output["answer"] == "42"
    failures = output["stats"]["failures"]
    assert failures and all(f["fallback"] == "target" for f in failures)
    assert "ConnectionError" in failures[0]["error"]
    assert output["stats"]["accepted"] == 0 and output["stats"]["corrected"] > 3


def test_fallback_can_be_turned_off() -> None:
    graph = create_specsearch_graph(
        FlakyDrafter(failures=10**6),
        ScriptedGenerator("large"),
        AuthorScorer({}),
        config=SpecSearchConfig(drafter_fallback=False, threshold="fixed"),
        drafter_retry=NO_WAIT,
    )
    with pytest.raises(ConnectionError):
        graph.invoke({"question": QUESTION})


class SlowDrafter(ScriptedGenerator):
    def generate(self, *args, **kwargs):
        time.sleep(2.0)
        return super().generate(*args, **kwargs)


def test_drafter_timeout_falls_back() -> None:
    graph = create_specsearch_graph(
        SlowDrafter("small"),
        ScriptedGenerator("large", answer_depth=2),
        AuthorScorer({"small": 0.9, "large": 0.5}),
        config=SpecSearchConfig(width=2, threshold="fixed", draft_timeout_s=0.2),
        drafter_retry=RetryPolicy(max_attempts=1),
    )
    start = time.perf_counter()
    output = graph.invoke({"question": QUESTION})
    assert time.perf_counter() - start < 1.9
    assert "TimeoutError" in output["stats"]["failures"][0]["error"]


class FailingTarget(ScriptedGenerator):
    def generate(self, question, paths, counts, settings):
        if len(paths[0]) >= 1:
            raise RuntimeError("target crashed at step 2")
        return super().generate(question, paths, counts, settings)


def test_target_failure_surfaces_and_keeps_the_partial_tree() -> None:
    saver = InMemorySaver()
    graph = create_specsearch_graph(
        ScriptedGenerator("small"),
        FailingTarget("large"),
        AuthorScorer({"small": 0.1, "large": 0.9}),
        config=SpecSearchConfig(width=3, n_drafts=4),
        checkpointer=saver,
    )
    config = {"configurable": {"thread_id": "crash"}}
    with pytest.raises(RuntimeError, match="target crashed"):
        graph.invoke({"question": QUESTION}, config)
    snapshot = graph.get_state(config)
    assert snapshot.next == ("correct",)  # where it failed, ready to resume
    nodes = snapshot.values["nodes"]
    assert any(n["model"] == "drafter" and n["status"] == "rejected" for n in nodes.values())
    assert snapshot.values["threshold"] is not None  # step 1 survived


class Repeater(ScriptedGenerator):
    def generate(self, question, paths, counts, settings):
        return [
            [Thought(text=(path[-1] if path else "Let x = 3."), tokens=4, finish_reason="length")]
            * count
            for path, count in zip(paths, counts, strict=True)
        ]


def test_degenerate_repetition_is_marked_and_bounded() -> None:
    result = SpecSearch(
        Repeater("small"),
        Repeater("large"),
        AuthorScorer({"Let": 0.5}),
        config=SpecSearchConfig(width=2, max_depth=5),
    ).invoke(QUESTION)
    assert not result.finished and result.stop_reason == "no_candidates"
    repeats = [n for n in result.tree.nodes.values() if n["finish_reason"] == "repeat"]
    assert repeats and all(n["score"] is None and not n["selected"] for n in repeats)


def test_time_budget_returns_a_partial_path() -> None:
    never = ScriptedGenerator("small", None), SlowTarget("large", None)
    result = SpecSearch(
        *never,
        AuthorScorer({"small": 0.5, "large": 0.6}),
        config=SpecSearchConfig(time_budget_s=0.3, max_depth=50),
    ).invoke(QUESTION)
    assert not result.finished and result.stop_reason == "time_budget"
    assert result.steps and result.answer is None


class SlowTarget(ScriptedGenerator):
    def generate(self, *args, **kwargs):
        time.sleep(0.1)
        return super().generate(*args, **kwargs)


def test_deep_search_never_hits_the_recursion_limit() -> None:
    never = ScriptedGenerator("small", None), ScriptedGenerator("large", None)
    result = SpecSearch(
        *never,
        AuthorScorer({"small": 0.5, "large": 0.6}),
        config=SpecSearchConfig(width=1, beam_width=1, n_drafts=1, max_depth=60),
    ).invoke(QUESTION)
    assert result.stop_reason == "max_depth" and len(result.steps) == 60


def test_a_config_passed_through_batch_or_an_agent_keeps_the_search_s_recursion_limit() -> None:
    """LangChain fills in recursion_limit=25 wherever a config passes through ``batch`` (or an
    agent, or a parent graph); a depth-12 search needs 82 supersteps and must still finish."""
    never = ScriptedGenerator("small", None), ScriptedGenerator("large", None)
    reasoner = SpecSearch(
        *never,
        AuthorScorer({"small": 0.5, "large": 0.6}),
        config=SpecSearchConfig(width=1, beam_width=1, n_drafts=1, max_depth=12),
    )
    questions = [f"{QUESTION} Case {i}." for i in range(2)]
    for result in reasoner.batch(questions, config={"max_concurrency": 2}):
        assert result.stop_reason == "max_depth" and len(result.steps) == 12
    results = asyncio.run(reasoner.abatch(questions, config={"max_concurrency": 2}))
    assert [len(r.steps) for r in results] == [12, 12]
    assert len(reasoner.invoke(QUESTION, {"recursion_limit": 25}).steps) == 12
    deeper = reasoner.invoke(QUESTION, {"recursion_limit": 25, "configurable": {"max_depth": 20}})
    assert len(deeper.steps) == 20  # the need follows the run's own settings
    chunks = list(reasoner.stream(QUESTION, {"recursion_limit": 25}, stream_mode="values"))
    assert len(chunks[-1]["steps"]) == 12
    # called from inside another runnable (an agent's tool call): the parent's config, limit
    # included, reaches the graph through LangChain's context variable
    outer = RunnableLambda(lambda question: reasoner.invoke(question))
    assert len(outer.invoke(QUESTION, {"recursion_limit": 25}).steps) == 12


def test_sixteen_concurrent_runs_match_sequential_ones() -> None:
    drafter, target = ScriptedGenerator("small"), ScriptedGenerator("large")
    reasoner = SpecSearch(
        drafter,
        target,
        AuthorScorer({"small": 0.55, "large": 0.6}, 0.2),
        config=SpecSearchConfig(width=3, n_drafts=4),
    )
    questions = [f"{QUESTION} Case {i}." for i in range(16)]
    sequential = [reasoner.invoke(q) for q in questions]
    threaded = reasoner.batch(questions, config={"max_concurrency": 4})
    concurrent = asyncio.run(reasoner.abatch(questions, config={"max_concurrency": 4}))
    expected = [(r.answer, r.tree.nodes) for r in sequential]
    assert [(r.answer, r.tree.nodes) for r in threaded] == expected
    assert [(r.answer, r.tree.nodes) for r in concurrent] == expected
