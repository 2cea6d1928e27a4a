"""Per-run settings: a run tunes any SpecSearchConfig field through LangGraph's runtime context
or ``configurable`` keys, validated before any model call (issue 15, item 4)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from fakes import AuthorScorer, ScriptedGenerator
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import ValidationError

from langgraph_specsearch import SpecSearchConfig, create_specsearch_graph

QUESTION = "Tom has 3 apples and buys 4 more. How many apples does he have?"
BASE = SpecSearchConfig(beam_width=2, width=3, n_drafts=4, max_depth=4, seed=5)


class NeverCalled(ScriptedGenerator):
    def generate(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a model was called before the settings were checked")


def _graph(drafter: Any = None, target: Any = None, **kwargs: Any) -> Any:
    return create_specsearch_graph(
        drafter or ScriptedGenerator("small"),
        target or ScriptedGenerator("big"),
        AuthorScorer({"small": 0.7, "big": 0.5}, jitter=0.3),
        config=BASE,
        **kwargs,
    )


def _children_per_parent(result: dict[str, Any]) -> set[int]:
    kept = [n for n in result["nodes"].values() if n["status"] in ("accepted", "corrected")]
    return set(Counter(n["parent"] for n in kept).values())


def test_the_graph_config_applies_without_overrides() -> None:
    result = _graph().invoke({"question": QUESTION})
    assert _children_per_parent(result) == {3}


@pytest.mark.parametrize(
    "run",
    [
        {"context": {"width": 2, "beam_width": 1}},
        {"config": {"configurable": {"width": 2, "beam_width": 1, "thread_id": "x"}}},
    ],
    ids=["context", "configurable"],
)
def test_a_run_overrides_the_graph_settings(run: dict[str, Any]) -> None:
    result = _graph(checkpointer=InMemorySaver()).invoke(
        {"question": QUESTION},
        run.get("config", {"configurable": {"thread_id": "x"}}),
        context=run.get("context"),
    )
    assert _children_per_parent(result) == {2}
    assert all(len([n for n in result["nodes"].values() if n["depth"] == d and n["selected"]]) <= 1
               for d in range(1, 5))  # fmt: skip


def test_the_same_run_settings_give_the_same_run_as_a_graph_built_with_them() -> None:
    overridden = _graph().invoke({"question": QUESTION}, context={"seed": 9, "theta": 0.5})
    built = create_specsearch_graph(
        ScriptedGenerator("small"),
        ScriptedGenerator("big"),
        AuthorScorer({"small": 0.7, "big": 0.5}, jitter=0.3),
        config=BASE.with_overrides({"seed": 9, "theta": 0.5}),
    ).invoke({"question": QUESTION})
    assert overridden["nodes"] == built["nodes"]
    assert overridden["threshold_history"] == built["threshold_history"]


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"beam_width": 9}, "beam_width"),
        ({"theta": 2.0}, "theta"),
        ({"widht": 2}, "widht"),
        ({"mode": "target_speculative"}, "target_speculative"),
    ],
)
def test_invalid_run_settings_are_refused_before_any_model_call(
    context: dict[str, Any], field: str
) -> None:
    graph = _graph(NeverCalled("small"), NeverCalled("big"))
    with pytest.raises((ValidationError, ValueError), match=field):
        graph.invoke({"question": QUESTION}, context=context)


def test_a_resumed_run_keeps_the_settings_it_started_with() -> None:
    graph = _graph(checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "t"}}
    graph.invoke({"question": QUESTION}, thread, context={"width": 2, "beam_width": 1},
                 interrupt_before=["select"])  # fmt: skip
    result = graph.invoke(None, thread)  # no context this time
    assert _children_per_parent(result) == {2}
    assert result["stats"]["steps"] >= 2


def test_the_context_schema_lists_every_setting_for_studio() -> None:
    schema = _graph().get_context_jsonschema()
    assert set(schema["properties"]) == set(SpecSearchConfig.model_fields)
    assert "children per expanded node" in schema["properties"]["width"]["description"]
