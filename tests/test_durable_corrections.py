"""The target's corrections are checkpointed before they are scored (issue 15, item 8).

A scorer that fails inside ``correct`` must not cost the step's target generations again: the
node's retry and a later resume both reuse them (the writing is a LangGraph ``task``).
"""

from __future__ import annotations

import pytest
from fakes import AuthorScorer, ScriptedGenerator
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import RetryPolicy

from langgraph_specsearch import SpecSearchConfig, create_specsearch_graph

QUESTION = "Tom has 3 apples and buys 4 more. How many apples does he have?"
CONFIG = SpecSearchConfig(beam_width=1, width=2, n_drafts=2, max_depth=4, seed=3)


class FailingOnce(AuthorScorer):
    """Raises on its ``fail_at``-th call, once."""

    def __init__(self, fail_at: int) -> None:
        super().__init__({"small": 0.4, "big": 0.8})
        self.fail_at = fail_at

    def __call__(self, question: str, steps: list[str]) -> float:
        if self.calls + 1 == self.fail_at:
            self.fail_at = -1
            self.calls += 1
            raise ConnectionError("scorer endpoint went away")
        return super().__call__(question, steps)


def _target_rows(target: ScriptedGenerator) -> int:
    return sum(sum(counts) for _, counts in target.calls)


def _clean_run() -> tuple[dict, int]:
    target = ScriptedGenerator("big")
    graph = create_specsearch_graph(
        ScriptedGenerator("small"), target, AuthorScorer({"small": 0.4, "big": 0.8}), config=CONFIG
    )
    return graph.invoke({"question": QUESTION}), _target_rows(target)


def test_a_resume_after_a_scorer_failure_does_not_regenerate_the_corrections() -> None:
    expected, rows = _clean_run()
    target = ScriptedGenerator("big")
    graph = create_specsearch_graph(
        ScriptedGenerator("small"),
        target,
        FailingOnce(fail_at=1),  # the first scoring call: the step-1 corrections
        config=CONFIG,
        checkpointer=InMemorySaver(),
    )
    thread = {"configurable": {"thread_id": "t"}}
    with pytest.raises(ConnectionError):
        graph.invoke({"question": QUESTION}, thread)
    assert _target_rows(target) == CONFIG.width  # step 1 was written, then scoring failed
    result = graph.invoke(None, thread)
    assert _target_rows(target) == rows  # nothing written twice
    assert result["nodes"] == expected["nodes"]
    assert result["answer"] == expected["answer"]


def test_the_nodes_retry_policy_reuses_the_corrections() -> None:
    expected, rows = _clean_run()
    target = ScriptedGenerator("big")
    graph = create_specsearch_graph(
        ScriptedGenerator("small"),
        target,
        FailingOnce(fail_at=1),
        config=CONFIG,
        retry_policy=RetryPolicy(max_attempts=2, initial_interval=0.0, jitter=False),
        checkpointer=InMemorySaver(),
    )
    result = graph.invoke({"question": QUESTION}, {"configurable": {"thread_id": "t"}})
    assert _target_rows(target) == rows
    assert result["nodes"] == expected["nodes"]
