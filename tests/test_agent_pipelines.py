"""SpecSearch inside the pipelines users build: an agent's tool, a subgraph, traced by callbacks.

The agent's own turns come from a fake tool-calling chat model; the reasoner runs the scripted demo
models, so everything is offline and takes well under a second.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, TypedDict
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatResult
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, Field

from langgraph_specsearch import SpecSearch, SpecSearchConfig, create_specsearch_graph
from langgraph_specsearch.testing import demo_models

QUESTION = "What is 99^2 + 99 + 1?"
STAGES = ("draft", "evaluate", "reject", "correct", "select")
CONFIG = SpecSearchConfig(width=3, n_drafts=4, max_depth=6)


class ToolCallingFake(GenericFakeChatModel):
    """GenericFakeChatModel that accepts tools and can quote the last tool result.

    A scripted reply containing ``{tool}`` gets the latest ToolMessage's first line in its place,
    so the agent's final answer really depends on what the tool returned.
    """

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFake:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.seen.append(list(messages))
        result = super()._generate(messages, *args, **kwargs)
        message = result.generations[0].message
        tools = [m for m in messages if isinstance(m, ToolMessage)]
        if tools and isinstance(message.content, str) and "{tool}" in message.content:
            first_line = str(tools[-1].content).splitlines()[0]
            message.content = message.content.replace("{tool}", first_line)
        return result


def _agent_model() -> ToolCallingFake:
    call = {
        "name": "solve_math",
        "args": {"question": QUESTION},
        "id": "call_1",
        "type": "tool_call",
    }
    return ToolCallingFake(
        messages=iter(
            [
                AIMessage(content="", tool_calls=[call]),
                AIMessage(content="The reasoner worked it out. {tool}"),
            ]
        ),
    )


@pytest.fixture
def reasoner() -> SpecSearch:
    drafter, target, scorer = demo_models()
    return SpecSearch(drafter, target, scorer, CONFIG)


class StageRecorder(BaseCallbackHandler):
    """Records every chain run's name and tags, as a tracer such as LangSmith would see them."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, list[str]]] = []

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.runs.append((kwargs.get("name") or "", list(tags or [])))

    def names(self) -> list[str]:
        return [name for name, _ in self.runs]


def test_create_agent_calls_the_reasoner_as_a_tool(reasoner: SpecSearch) -> None:
    from langchain.agents import create_agent

    model = _agent_model()
    agent = create_agent(model, tools=[reasoner.as_tool(name="solve_math")])
    recorder = StageRecorder()
    state = agent.invoke(
        {"messages": [HumanMessage(QUESTION)]},
        {"callbacks": [recorder], "tags": ["my-agent"]},
    )
    messages = state["messages"]
    tool_results = [m for m in messages if isinstance(m, ToolMessage)]
    assert len(tool_results) == 1 and tool_results[0].name == "solve_math"
    assert tool_results[0].content.startswith("Answer: 9901")
    assert "Steps:\n1." in tool_results[0].content
    assert messages[-1].content == "The reasoner worked it out. Answer: 9901"
    assert len(model.seen) == 2 and isinstance(model.seen[1][-1], ToolMessage)
    # the search ran inside the agent's trace: its stages are children of the tool call
    names = recorder.names()
    assert all(stage in names for stage in STAGES)
    assert names.index("tools") < names.index("draft")


def test_react_agent_from_langgraph_prebuilt(reasoner: SpecSearch) -> None:
    from langgraph import prebuilt  # ships with langgraph, a required dependency

    with warnings.catch_warnings():  # deprecated in favour of create_agent, still widely used
        warnings.simplefilter("ignore")
        agent = prebuilt.create_react_agent(_agent_model(), [reasoner.as_tool(name="solve_math")])
    final = agent.invoke({"messages": [HumanMessage(QUESTION)]})["messages"][-1]
    assert final.content.endswith("Answer: 9901")


class Pipeline(TypedDict, total=False):
    question: str
    answer: str | None
    steps: list[str]
    report: str


def test_user_stategraph_embeds_the_graph_as_a_subgraph() -> None:
    """Shared keys (question in, answer and steps out) flow straight through the subgraph."""
    search = create_specsearch_graph(*demo_models(), config=CONFIG)
    builder = StateGraph(Pipeline)
    builder.add_node("solve", search)
    builder.add_node("report", lambda s: {"report": f"{s['answer']} in {len(s['steps'])} steps"})
    builder.add_edge(START, "solve")
    builder.add_edge("solve", "report")
    builder.add_edge("report", END)
    pipeline = builder.compile()

    assert pipeline.invoke({"question": QUESTION})["report"].startswith("9901 in ")
    events = list(pipeline.stream({"question": QUESTION}, stream_mode="custom", subgraphs=True))
    namespaces = {namespace for namespace, _ in events}
    assert all(ns and ns[0].startswith("solve:") for ns in namespaces), namespaces
    assert [event["stage"] for _, event in events[:5]] == list(STAGES)


class Chat(TypedDict, total=False):
    problem: str
    solution: str
    thoughts_explored: int


def test_user_node_calls_the_graph_with_its_own_keys() -> None:
    """Different state keys: a node maps them in and out, and reads the tree too."""
    search = create_specsearch_graph(*demo_models(), config=CONFIG)

    def solve(state: Chat) -> Chat:
        out = search.invoke({"question": state["problem"]})
        return {"solution": out["answer"], "thoughts_explored": len(out["nodes"]) - 1}

    builder = StateGraph(Chat)
    builder.add_node("solve", solve)
    builder.add_edge(START, "solve")
    builder.add_edge("solve", END)
    out = builder.compile().invoke({"problem": QUESTION})
    assert out["solution"] == "9901" and out["thoughts_explored"] > 5


def test_callbacks_and_tags_show_each_stage(reasoner: SpecSearch) -> None:
    recorder = StageRecorder()
    result = reasoner.invoke(
        QUESTION, {"callbacks": [recorder], "tags": ["experiment-7"], "run_name": "math"}
    )
    assert result.answer == "9901"
    names = recorder.names()
    assert names[0] == "math"
    steps = result.stats["steps"]
    for stage in STAGES:
        assert names.count(stage) == steps, stage
    stage_runs = [(name, tags) for name, tags in recorder.runs if name in STAGES]
    assert all("experiment-7" in tags for _, tags in stage_runs)


async def test_async_callbacks_see_the_stages_too(reasoner: SpecSearch) -> None:
    recorder = StageRecorder()
    result = await reasoner.ainvoke(QUESTION, {"callbacks": [recorder]})
    assert result.answer == "9901" and set(STAGES) <= set(recorder.names())


def _agent_that_first_sends(bad_question: str) -> ToolCallingFake:
    """An agent that calls the tool with ``bad_question``, reads the error, then asks properly."""

    def call(question: str, call_id: str) -> AIMessage:
        args = {"question": question}
        tool_call = {"name": "solve_math", "args": args, "id": call_id, "type": "tool_call"}
        return AIMessage(content="", tool_calls=[tool_call])

    replies = [call(bad_question, "call_1"), call(QUESTION, "call_2"), AIMessage("Done. {tool}")]
    return ToolCallingFake(messages=iter(replies))


@pytest.mark.parametrize(
    "bad_question", ["", "   \n", "x" * 20_001], ids=["empty", "blank", "too-long"]
)
def test_agent_reads_a_refused_question_as_the_tool_result_and_goes_on(
    reasoner: SpecSearch, bad_question: str
) -> None:
    """A question the reasoner refuses is a tool message the agent can act on, not a crash."""
    from langchain.agents import create_agent

    agent = create_agent(
        _agent_that_first_sends(bad_question), tools=[reasoner.as_tool(name="solve_math")]
    )
    messages = agent.invoke({"messages": [HumanMessage(QUESTION)]})["messages"]
    refused, solved = [m for m in messages if isinstance(m, ToolMessage)]
    assert refused.status == "error" and "question" in refused.content
    assert "Traceback" not in refused.content
    assert solved.content.startswith("Answer: 9901")
    assert messages[-1].content == "Done. Answer: 9901"


def test_the_tool_returns_the_refusal_text(reasoner: SpecSearch) -> None:
    tool = reasoner.as_tool(name="solve_math")
    assert tool.invoke({"question": ""}) == "question is empty: give the problem to solve"


class MathQuestion(BaseModel):
    question: str = Field(description="A grade-school math word problem, in full.")


JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "question": {"type": "string", "description": "A grade-school math word problem, in full."}
    },
    "required": ["question"],
}


@pytest.mark.parametrize("schema", [MathQuestion, JSON_SCHEMA], ids=["pydantic", "json-schema"])
def test_as_tool_honours_args_schema(reasoner: SpecSearch, schema: Any) -> None:
    tool = reasoner.as_tool(schema, name="solve_math")
    assert tool.args_schema is schema
    assert tool.args["question"]["description"] == "A grade-school math word problem, in full."
    assert tool.invoke({"question": QUESTION}).startswith("Answer: 9901")


def test_as_tool_honours_arg_types(reasoner: SpecSearch) -> None:
    tool = reasoner.as_tool(arg_types={"question": str})
    assert list(tool.args) == ["question"]
    assert tool.invoke({"question": QUESTION}).startswith("Answer: 9901")


class WordProblem(BaseModel):
    problem: str


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"arg_types": {"problem": str}}, "'question'"),
        ({"args_schema": WordProblem}, "'question'"),
        ({"arg_types": {"question": str, "hint": str}}, "hint"),
        ({"args_schema": MathQuestion, "arg_types": {"question": str}}, "not both"),
    ],
)
def test_as_tool_refuses_a_schema_it_cannot_honour(
    reasoner: SpecSearch, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        reasoner.as_tool(**kwargs)


def test_the_tool_returns_a_models_refusal_too() -> None:
    """A model's own limit (e.g. a transformers model's context) is a tool result as well."""
    from fakes import AuthorScorer, ScriptedGenerator

    class ShortContext(ScriptedGenerator):
        def check_question(self, question: str) -> None:
            if len(question) > 50:
                raise ValueError(f"question is {len(question)} characters; this model takes 50")

    reasoner = SpecSearch(ScriptedGenerator("small"), ShortContext("large"), AuthorScorer({}))
    tool = reasoner.as_tool(name="solve_math")
    assert tool.invoke({"question": "x" * 51}) == "question is 51 characters; this model takes 50"
