"""SpecSearch as a LangChain Runnable and a LangGraph graph, used the ways users use them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TypedDict

import pytest
from fakes import ScriptedGenerator
from langchain_core.language_models import FakeListChatModel, FakeListLLM
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from langgraph_specsearch import SpecSearch, SpecSearchConfig, create_specsearch_graph

QUESTION = "What is 99^2 + 99 + 1?"
SNAPSHOT = Path(__file__).parent / "snapshots" / "graph.mmd"


@pytest.fixture
def reasoner(drafter, target, mixed_scorer) -> SpecSearch:
    return SpecSearch(
        drafter=drafter,
        target=target,
        scorer=mixed_scorer,
        config=SpecSearchConfig(width=3, n_drafts=4),
    )


def test_graph_shape_snapshot(drafter, target, mixed_scorer) -> None:
    graph = create_specsearch_graph(drafter, target, mixed_scorer)
    mermaid = graph.get_graph().draw_mermaid()
    assert mermaid == SNAPSHOT.read_text(), "graph shape changed: review and update the snapshot"
    for stage in ("draft", "evaluate", "reject", "correct", "select"):
        assert stage in graph.get_graph().nodes


@pytest.mark.parametrize(
    "value",
    [
        QUESTION,
        {"question": QUESTION},
        [SystemMessage("be brief"), HumanMessage("hi"), AIMessage("hello"), HumanMessage(QUESTION)],
    ],
)
def test_accepts_strings_dicts_and_messages(reasoner: SpecSearch, value: object) -> None:
    result = reasoner.invoke(value)
    assert result.question == QUESTION and result.answer == "42"


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ("", ValueError, "empty"),
        ("   \n", ValueError, "empty"),
        (42, TypeError, "int"),
        ({"q": "x"}, ValueError, "'question' key"),
        ([AIMessage("x")], ValueError, "human message"),
    ],
)
def test_bad_input_is_a_clear_error(reasoner, value, error, match) -> None:
    with pytest.raises(error, match=match):
        reasoner.invoke(value)


def test_batch_matches_one_by_one(reasoner: SpecSearch) -> None:
    questions = [f"{QUESTION} ({i})" for i in range(6)]
    one_by_one = [reasoner.invoke(q) for q in questions]
    batched = reasoner.batch(questions, config={"max_concurrency": 3})
    assert [r.tree.nodes for r in batched] == [r.tree.nodes for r in one_by_one]


async def test_async_invoke_batch_and_stream(reasoner: SpecSearch) -> None:
    result = await reasoner.ainvoke(QUESTION)
    assert result.answer == "42"
    results = await reasoner.abatch([QUESTION, QUESTION + "?"])
    assert [r.answer for r in results] == ["42", "42"]
    events = [event async for event in reasoner.astream(QUESTION, stream_mode="custom")]
    assert [e["stage"] for e in events[:5]] == ["draft", "evaluate", "reject", "correct", "select"]
    finals = [chunk async for chunk in reasoner.astream(QUESTION)]
    assert len(finals) == 1 and finals[0].answer == "42"


def test_custom_stream_shows_every_decision(reasoner: SpecSearch) -> None:
    events = list(reasoner.stream(QUESTION, stream_mode="custom"))
    stages = [e["stage"] for e in events]
    assert stages == ["draft", "evaluate", "reject", "correct", "select"] * (len(stages) // 5)
    rejects = [e for e in events if e["stage"] == "reject" and e["items"]]
    assert rejects and all("accepted" in item for e in rejects for item in e["items"])
    assert all("threshold" in e for e in rejects)


@pytest.mark.parametrize("saver", ["memory", "sqlite"])
def test_checkpointer_round_trip(tmp_path: Path, drafter, target, mixed_scorer, saver) -> None:
    path = tmp_path / "checkpoints.sqlite"
    connection = sqlite3.connect(path, check_same_thread=False)
    checkpointer = InMemorySaver() if saver == "memory" else SqliteSaver(connection)
    graph = create_specsearch_graph(drafter, target, mixed_scorer, checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "t1"}}
    output = graph.invoke({"question": QUESTION}, config)
    if saver == "sqlite":  # a fresh saver on the same file sees the same state
        connection.close()
        checkpointer = SqliteSaver(sqlite3.connect(path, check_same_thread=False))
        graph = create_specsearch_graph(drafter, target, mixed_scorer, checkpointer=checkpointer)
    state = graph.get_state(config).values
    assert state["nodes"] == output["nodes"] and len(state["nodes"]) > 10
    assert state["threshold_history"] and state["threshold"] is not None
    assert state["answer"] == "42" and state["stats"]["drafted"] == output["stats"]["drafted"]
    history = list(graph.get_state_history(config))
    assert len(history) > 6  # every stage of every step was checkpointed


class Outer(TypedDict, total=False):
    question: str
    answer: str | None
    report: str


def test_embeds_as_a_subgraph(drafter, target, mixed_scorer) -> None:
    inner = create_specsearch_graph(drafter, target, mixed_scorer)
    outer = StateGraph(Outer)
    outer.add_node("solve", inner)
    outer.add_node("report", lambda s: {"report": f"answer={s['answer']}"})
    outer.add_edge(START, "solve")
    outer.add_edge("solve", "report")
    outer.add_edge("report", END)
    assert outer.compile().invoke({"question": QUESTION})["report"] == "answer=42"


def test_as_tool(reasoner: SpecSearch) -> None:
    tool = reasoner.as_tool(name="solve_math")
    assert tool.name == "solve_math" and "question" in tool.args
    assert tool.invoke({"question": QUESTION}).startswith("Answer: 42")


def test_langchain_fake_models_as_drafter_and_target() -> None:
    drafter = FakeListLLM(responses=["Add 99^2 = 9801.\n\nignored", "9801 + 99 = 9900"] * 50)
    target = FakeListChatModel(
        responses=["99^2 is 9801.", "So 9801 + 99 + 1 = 9901. The answer is 9901."] * 50
    )
    scorer = lambda question, steps: 0.9 if "answer" in steps[-1] else 0.5  # noqa: E731
    result = SpecSearch(
        drafter=drafter,
        target=target,
        scorer=scorer,
        config=SpecSearchConfig(width=2, n_drafts=2, max_depth=4),
    ).invoke(QUESTION)
    assert result.answer == "9901" and result.finished
    drafts = [n["text"] for n in result.tree.nodes.values() if n["model"] == "drafter"]
    assert "Add 99^2 = 9801." in drafts  # cut at the delimiter even if the model ignores stop
    assert result.stats["tokens_estimated"]


def test_unknown_model_type_is_a_clear_error(mixed_scorer) -> None:
    with pytest.raises(TypeError, match="drafter must be"):
        SpecSearch(drafter=object(), target=ScriptedGenerator("large"), scorer=mixed_scorer)
    with pytest.raises(TypeError, match="scorer must be"):
        SpecSearch(drafter=ScriptedGenerator("s"), target=ScriptedGenerator("l"), scorer=3)


def test_result_serialises(reasoner: SpecSearch) -> None:
    import json

    result = reasoner.invoke(QUESTION)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["answer"] == "42" and data["steps"][-1]["model"] in ("drafter", "target")
    assert "flowchart TD" in result.tree.to_mermaid()


def _llm_reasoner() -> SpecSearch:
    llm = FakeListLLM(responses=["9801 + 99 = 9900.", "So 9900 + 1 = 9901. The answer is 9901."])
    scorer = lambda question, steps: 0.5  # noqa: E731
    return SpecSearch(llm, llm, scorer, SpecSearchConfig(width=2, n_drafts=2, max_depth=3))


def test_batch_with_max_concurrency_over_a_langchain_llm() -> None:
    """The caller's max_concurrency limits questions, not the LLM's own batch (it re-split it
    forever: RecursionError)."""
    questions = [QUESTION, QUESTION + " (again)", QUESTION + " (once more)"]
    results = _llm_reasoner().batch(questions, config={"max_concurrency": 2})
    assert [r.question for r in results] == questions
    assert all(r.steps for r in results)


async def test_abatch_with_max_concurrency_over_a_langchain_llm() -> None:
    questions = [QUESTION, QUESTION + " (again)"]
    results = await _llm_reasoner().abatch(questions, config={"max_concurrency": 2})
    assert all(r.steps for r in results)


def test_config_may_be_a_plain_dict(drafter, target, mixed_scorer) -> None:
    reasoner = SpecSearch(drafter, target, mixed_scorer, config={"width": 3, "n_drafts": 4})
    assert reasoner.config == SpecSearchConfig(width=3, n_drafts=4)
    assert reasoner.invoke(QUESTION).answer == "42"


def test_a_bad_config_dict_names_the_field(drafter, target, mixed_scorer) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="widht"):
        SpecSearch(drafter, target, mixed_scorer, config={"widht": 3})
    with pytest.raises(ValidationError, match="theta"):
        SpecSearch(drafter, target, mixed_scorer, config={"theta": 2.0})
