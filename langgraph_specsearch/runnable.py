"""SpecSearch as a drop-in LangChain Runnable: a question in, a :class:`SearchResult` out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.graph import create_specsearch_graph, validate_question
from langgraph_specsearch.graph.stats import RunStats
from langgraph_specsearch.scorers.base import Scorer
from langgraph_specsearch.search.thoughts import ThoughtNode, ThresholdRecord
from langgraph_specsearch.search.tree import SearchTree

SpecSearchInput = str | Mapping[str, Any] | Sequence[BaseMessage] | PromptValue


@dataclass
class SearchResult:
    """What one run found: the answer, the path to it, the whole tree, and what it cost."""

    question: str
    answer: str | None
    steps: list[str]
    finished: bool
    stop_reason: str
    stats: RunStats
    tree: SearchTree
    path: list[ThoughtNode] = field(default_factory=list)

    @property
    def threshold_history(self) -> list[ThresholdRecord]:
        """The threshold in force at each step and the target scores that moved it."""
        return self.tree.threshold_history

    @classmethod
    def from_state(cls, question: str, state: Mapping[str, Any]) -> SearchResult:
        """Build a result from the graph's output (or a checkpointed state's values)."""
        tree = SearchTree(
            nodes=dict(state["nodes"]),
            threshold_history=list(state.get("threshold_history", [])),
            best=state.get("best"),
        )
        return cls(
            question=question,
            answer=state.get("answer"),
            steps=list(state.get("steps", [])),
            finished=bool(state.get("finished")),
            stop_reason=state.get("stop_reason", ""),
            stats=state["stats"],
            tree=tree,
            path=tree.path(),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: answer, steps with their authors and scores, stats, tree."""
        return {
            "question": self.question,
            "answer": self.answer,
            "finished": self.finished,
            "stop_reason": self.stop_reason,
            "steps": [
                {"text": n["text"], "model": n["model"], "score": n["score"], "tokens": n["tokens"]}
                for n in self.path
            ],
            "stats": self.stats,
            "tree": self.tree.to_dict(),
        }

    def __str__(self) -> str:
        return self.answer if self.answer is not None else "(no answer: " + self.stop_reason + ")"


def question_from_input(value: object) -> str:
    """Accept a string, a ``{"question": ...}`` dict, a prompt value or a list of messages.

    For messages the question is the last human message, so a chat history can be passed as is.
    """
    if isinstance(value, PromptValue):
        value = value.to_messages()
    if isinstance(value, str):
        return validate_question(value)
    if isinstance(value, Mapping):
        if "question" not in value:
            raise ValueError(
                f"input dict needs a 'question' key; got keys {sorted(map(str, value))}"
            )
        return validate_question(value["question"])
    if isinstance(value, Sequence) and all(isinstance(m, BaseMessage) for m in value):
        humans = [m for m in value if isinstance(m, HumanMessage)]
        if not humans:
            raise ValueError("the message list has no human message to take the question from")
        return validate_question(str(humans[-1].text))
    raise TypeError(
        "input must be a question string, a dict with a 'question' key, or a list of messages; "
        f"got {type(value).__name__}"
    )


class SpecSearch(Runnable[SpecSearchInput, SearchResult]):
    """Speculative Search as a Runnable: ``invoke``, ``batch``, ``stream`` and their async forms.

    ``stream(question)`` yields the final result, as any Runnable would;
    ``stream(question, stream_mode="custom")`` yields the stage events as they happen, and any
    other LangGraph ``stream_mode`` is passed to the graph.
    """

    def __init__(
        self,
        drafter: object,
        target: object,
        scorer: Scorer,
        config: SpecSearchConfig | None = None,
        *,
        checkpointer: BaseCheckpointSaver | None = None,
        name: str = "specsearch",
    ) -> None:
        self.config = config or SpecSearchConfig()
        self.name = name
        self.graph: CompiledStateGraph = create_specsearch_graph(
            drafter, target, scorer, config=self.config, checkpointer=checkpointer, name=name
        )

    @property
    def InputType(self) -> type:  # noqa: N802 (LangChain's name)
        return str

    @property
    def OutputType(self) -> type:  # noqa: N802 (LangChain's name)
        return SearchResult

    def invoke(
        self, input: SpecSearchInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> SearchResult:
        question = question_from_input(input)
        state = self.graph.invoke({"question": question}, config, **kwargs)
        return SearchResult.from_state(question, state)

    def resume(self, config: RunnableConfig) -> SearchResult:
        """Finish an interrupted run from its last checkpoint (needs a checkpointer and a thread).

        Sampling seeds depend only on the run seed and the step, so a resumed run writes what the
        uninterrupted run would have written.
        """
        snapshot = self.graph.get_state(config)
        if not snapshot.values:
            raise ValueError(f"no checkpoint to resume for {config.get('configurable', {})}")
        unfinished = snapshot.next or snapshot.tasks  # tasks: saved writes not yet checkpointed
        state = self.graph.invoke(None, config) if unfinished else snapshot.values
        return SearchResult.from_state(snapshot.values["question"], state)

    async def ainvoke(
        self, input: SpecSearchInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> SearchResult:
        question = question_from_input(input)
        state = await self.graph.ainvoke({"question": question}, config, **kwargs)
        return SearchResult.from_state(question, state)

    def stream(
        self,
        input: SpecSearchInput,
        config: RunnableConfig | None = None,
        *,
        stream_mode: str | list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        if stream_mode is None:
            yield self.invoke(input, config, **kwargs)
            return
        question = question_from_input(input)
        yield from self.graph.stream(
            {"question": question}, config, stream_mode=stream_mode, **kwargs
        )

    async def astream(
        self,
        input: SpecSearchInput,
        config: RunnableConfig | None = None,
        *,
        stream_mode: str | list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        if stream_mode is None:
            yield await self.ainvoke(input, config, **kwargs)
            return
        question = question_from_input(input)
        async for chunk in self.graph.astream(
            {"question": question}, config, stream_mode=stream_mode, **kwargs
        ):
            yield chunk

    def as_tool(
        self,
        args_schema: Any = None,
        *,
        name: str | None = None,
        description: str | None = None,
        arg_types: dict[str, type] | None = None,
    ) -> BaseTool:
        """A tool an agent can call with ``question``; it returns the answer and its steps."""

        def solve(question: str) -> str:
            return _tool_text(self.invoke(question))

        async def asolve(question: str) -> str:
            return _tool_text(await self.ainvoke(question))

        return StructuredTool.from_function(
            func=solve,
            coroutine=asolve,
            name=name or self.name,
            description=description
            or "Solve a multi-step reasoning or math problem by speculative tree search. "
            "Input: the full question. Output: the answer and the reasoning steps.",
        )


def _tool_text(result: SearchResult) -> str:
    """What an agent reads back from the tool: the answer, then the numbered steps."""
    steps = "\n".join(f"{i}. {step}" for i, step in enumerate(result.steps, 1))
    return f"Answer: {result}\nSteps:\n{steps}"
