"""What a run accepts: a question or a chat history, within the configured length (issue 15)."""

from __future__ import annotations

import re

import pytest
from fakes import AuthorScorer, ScriptedGenerator
from langchain_core.language_models import FakeListLLM
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import ValidationError

from langgraph_specsearch import SpecSearch, SpecSearchConfig, create_specsearch_graph
from langgraph_specsearch.inputs import check_question_length, question_from_input

QUESTION = "What is 99^2 + 99 + 1?"
EXPECTED = 'expected {"question": "..."} or {"messages": [...]}'


@pytest.mark.parametrize(
    "state",
    [
        {"question": QUESTION},
        {"messages": [HumanMessage(QUESTION)]},
        {"messages": [SystemMessage("be brief"), HumanMessage("hi"), AIMessage("hello"),
                      HumanMessage(QUESTION)]},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "?"},
                      {"role": "user", "content": QUESTION}]},
        {"messages": [{"type": "human", "content": QUESTION}]},  # the LangGraph server's form
        {"messages": [("user", QUESTION)]},
        {"messages": [HumanMessage([{"type": "text", "text": QUESTION}])]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}]},
        {"question": None, "messages": [HumanMessage(QUESTION)]},
        {"question": "the last run's", "messages": [HumanMessage(QUESTION)]},  # messages are new
        {"question": QUESTION, "messages": []},  # prepare cleared the last run's messages
    ],
)  # fmt: skip
def test_a_question_or_the_last_user_message(state) -> None:
    assert question_from_input(state) == QUESTION


@pytest.mark.parametrize(
    ("state", "error", "match"),
    [
        ({}, ValueError, re.escape(EXPECTED + ", got keys []")),
        ({"input": "x"}, ValueError, r"got keys \['input'\]"),
        ({"question": None}, ValueError, "expected"),
        ({"question": 42}, TypeError, "question must be a string, got int"),
        ({"question": "  "}, ValueError, "question is empty"),
        ({"messages": []}, ValueError, "no user message"),
        ({"messages": [AIMessage("x")]}, ValueError, "no user message"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, ValueError, "no user message"),
        ({"messages": "What?"}, ValueError, "messages must be a list"),
        ({"messages": [HumanMessage("")]}, ValueError, "question is empty"),
    ],
)  # fmt: skip
def test_anything_else_says_what_is_expected(state, error, match) -> None:
    with pytest.raises(error, match=match):
        question_from_input(state)


def test_the_length_limit_names_the_length_and_the_limit() -> None:
    check_question_length("x" * 20_000, SpecSearchConfig())
    with pytest.raises(ValueError, match=r"20001 characters.*limit is 20000.*max_question_chars"):
        check_question_length("x" * 20_001, SpecSearchConfig())
    with pytest.raises(ValueError, match=r"11 characters.*limit is 10"):
        check_question_length("x" * 11, SpecSearchConfig(max_question_chars=10))
    check_question_length("x" * 200_000, SpecSearchConfig(max_question_chars=None))


class NeverCalled(ScriptedGenerator):
    def generate(self, *args, **kwargs):
        raise AssertionError("a model was called before the question's length was checked")


class NeverCalledLLM(FakeListLLM):
    def _call(self, *args, **kwargs):
        raise AssertionError("the LLM was sent a question above the limit")


@pytest.mark.parametrize("backend", ["generator", "langchain"])
def test_a_question_above_the_limit_is_refused_before_any_model_call(backend: str) -> None:
    if backend == "langchain":
        drafter, target = NeverCalledLLM(responses=["x"]), NeverCalledLLM(responses=["x"])
    else:
        drafter, target = NeverCalled("small"), NeverCalled("large")
    reasoner = SpecSearch(drafter, target, AuthorScorer({}))
    with pytest.raises(ValueError, match=r"200000 characters.*limit is 20000"):
        reasoner.invoke("x" * 200_000)
    with pytest.raises(ValueError, match="200000 characters"):
        list(reasoner.stream("x" * 200_000, stream_mode="custom"))


async def test_a_question_above_the_limit_is_refused_async() -> None:
    reasoner = SpecSearch(NeverCalled("small"), NeverCalled("large"), AuthorScorer({}))
    with pytest.raises(ValueError, match="limit is 20000"):
        await reasoner.ainvoke("x" * 20_001)


def test_the_limit_is_configurable() -> None:
    config = SpecSearchConfig(max_question_chars=10)
    reasoner = SpecSearch(NeverCalled("small"), NeverCalled("large"), AuthorScorer({}), config)
    with pytest.raises(ValueError, match="11 characters"):
        reasoner.invoke("x" * 11)
    with pytest.raises(ValueError, match="max_question_chars"):
        SpecSearchConfig(max_question_chars=0)


def test_the_runnable_takes_a_messages_dict(drafter, target, mixed_scorer) -> None:
    reasoner = SpecSearch(drafter, target, mixed_scorer, SpecSearchConfig(width=3, n_drafts=4))
    state = {"messages": [{"role": "user", "content": QUESTION}]}
    assert reasoner.invoke(state).question == QUESTION


# The graph itself (a LangGraph server run, a subgraph) checks its input in ``prepare``.


@pytest.mark.parametrize(
    "messages",
    [[{"role": "user", "content": QUESTION}], [HumanMessage(QUESTION)]],
    ids=["dicts", "messages"],
)
def test_the_graph_takes_messages(drafter, target, mixed_scorer, messages) -> None:
    graph = create_specsearch_graph(drafter, target, mixed_scorer)
    assert graph.invoke({"messages": messages})["answer"] == "42"


def test_the_graph_says_what_input_it_expects() -> None:
    graph = create_specsearch_graph(NeverCalled("small"), NeverCalled("large"), AuthorScorer({}))
    with pytest.raises(ValueError, match=re.escape(EXPECTED + ", got keys []")):
        graph.invoke({})


def test_the_graph_refuses_a_question_above_the_limit() -> None:
    graph = create_specsearch_graph(NeverCalled("small"), NeverCalled("large"), AuthorScorer({}))
    with pytest.raises(ValueError, match=r"200000 characters.*limit is 20000"):
        graph.invoke({"question": "x" * 200_000})


def test_a_reused_thread_answers_the_new_input(drafter, target, mixed_scorer) -> None:
    """The last run's question stays in the thread's state; new messages still win."""
    graph = create_specsearch_graph(drafter, target, mixed_scorer, checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "reused"}}
    graph.invoke({"question": "What is 1 + 1?"}, thread)
    graph.invoke({"messages": [HumanMessage(QUESTION)]}, thread)
    assert graph.get_state(thread).values["question"] == QUESTION
    graph.invoke({"question": "What is 2 + 2?"}, thread)
    assert graph.get_state(thread).values["question"] == "What is 2 + 2?"


def test_create_specsearch_graph_takes_a_config_dict(drafter, target, mixed_scorer) -> None:
    graph = create_specsearch_graph(drafter, target, mixed_scorer, config={"width": 3})
    assert graph.invoke({"question": QUESTION})["answer"] == "42"
    with pytest.raises(ValidationError, match="widht"):
        create_specsearch_graph(drafter, target, mixed_scorer, config={"widht": 3})
