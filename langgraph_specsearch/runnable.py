"""SpecSearch as a drop-in LangChain Runnable: a question in, a :class:`SearchResult` out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, Field, create_model

from langgraph_specsearch.config import SpecSearchConfig, run_config
from langgraph_specsearch.graph import create_specsearch_graph
from langgraph_specsearch.graph.stats import RunStats
from langgraph_specsearch.inputs import (
    check_question_length,
    question_from_input,
    validate_question,
)
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


def question_of(value: object) -> str:
    """Accept a string, a ``{"question": ...}`` or ``{"messages": [...]}`` dict, a prompt value
    or a list of messages.

    For messages the question is the last human message, so a chat history can be passed as is.
    """
    if isinstance(value, PromptValue):
        value = value.to_messages()
    if isinstance(value, str):
        return validate_question(value)
    if isinstance(value, Mapping):
        return question_from_input(value)
    if isinstance(value, (list, tuple)):
        return question_from_input({"messages": value})
    raise TypeError(
        "input must be a question string, a dict with a 'question' key or a 'messages' list, or "
        f"a list of messages; got {type(value).__name__}"
    )


def checked_question(value: object, config: SpecSearchConfig) -> str:
    """The question of ``value`` (see :func:`question_of`), refused when it is empty, not text,
    or longer than ``config.max_question_chars``: the checks that need no model."""
    question = question_of(value)
    check_question_length(question, config)
    return question


class ToolQuestion(BaseModel):
    """The agent tool's one argument."""

    question: str = Field(description="The full question or problem to solve.")


class SpecSearch(Runnable[SpecSearchInput, SearchResult]):
    """Speculative Search as a Runnable: ``invoke``, ``batch``, ``stream`` and their async forms.

    ``config`` is a :class:`SpecSearchConfig` or a dict of its fields (validated the same way).
    ``stream(question)`` yields the final result, as any Runnable would;
    ``stream(question, stream_mode="custom")`` yields the stage events as they happen, and any
    other LangGraph ``stream_mode`` is passed to the graph. ``draft_likelihoods``, a pair of
    ``(drafter scorer, target scorer)`` giving a step's log-probability under each model, is
    needed only by the ``acceptance="logprob"`` ablation (``presets.make_draft_likelihoods``).
    """

    def __init__(
        self,
        drafter: object,
        target: object,
        scorer: Scorer,
        config: SpecSearchConfig | Mapping[str, Any] | None = None,
        *,
        checkpointer: BaseCheckpointSaver | None = None,
        name: str = "specsearch",
        draft_likelihoods: tuple[Scorer, Scorer] | None = None,
    ) -> None:
        self.config = (
            SpecSearchConfig() if config is None else SpecSearchConfig.model_validate(config)
        )
        self.name = name
        self._models = (drafter, target)
        self.graph: CompiledStateGraph = create_specsearch_graph(
            drafter,
            target,
            scorer,
            config=self.config,
            checkpointer=checkpointer,
            name=name,
            draft_likelihoods=draft_likelihoods,
        )

    @property
    def InputType(self) -> type:  # noqa: N802 (LangChain's name)
        return str

    @property
    def OutputType(self) -> type:  # noqa: N802 (LangChain's name)
        return SearchResult

    def _checked_question(
        self, value: object, config: RunnableConfig | None, kwargs: Mapping[str, Any]
    ) -> str:
        """The question, checked against this run's settings (the run may override the limit)."""
        configurable = (config or {}).get("configurable")
        return checked_question(value, run_config(self.config, kwargs.get("context"), configurable))

    def _graph_config(
        self, config: RunnableConfig | None, kwargs: Mapping[str, Any]
    ) -> RunnableConfig:
        """``config`` with a recursion limit the run's search can finish within.

        LangChain fills in its default limit of 25 supersteps wherever a config passes through
        ``batch``, an agent or a parent graph, and a passed limit replaces the graph's own; a
        beam search of depth 8 takes 58. A smaller limit is raised to the run's need (its
        ``max_depth`` and budgets bound it anyway); a larger one is kept.
        """
        settings = run_config(
            self.config, kwargs.get("context"), (config or {}).get("configurable")
        )
        merged: RunnableConfig = {**(config or {})}  # type: ignore[typeddict-item]
        if merged.get("recursion_limit", 0) < settings.recursion_limit:
            merged["recursion_limit"] = settings.recursion_limit
        return merged

    def invoke(
        self, input: SpecSearchInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> SearchResult:
        question = self._checked_question(input, config, kwargs)
        state = self.graph.invoke(
            {"question": question}, self._graph_config(config, kwargs), **kwargs
        )
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
        state = (
            self.graph.invoke(None, self._graph_config(config, {}))
            if unfinished
            else snapshot.values
        )
        return SearchResult.from_state(snapshot.values["question"], state)

    async def ainvoke(
        self, input: SpecSearchInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> SearchResult:
        question = self._checked_question(input, config, kwargs)
        state = await self.graph.ainvoke(
            {"question": question}, self._graph_config(config, kwargs), **kwargs
        )
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
        question = self._checked_question(input, config, kwargs)
        yield from self.graph.stream(
            {"question": question},
            self._graph_config(config, kwargs),
            stream_mode=stream_mode,
            **kwargs,
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
        question = self._checked_question(input, config, kwargs)
        async for chunk in self.graph.astream(
            {"question": question},
            self._graph_config(config, kwargs),
            stream_mode=stream_mode,
            **kwargs,
        ):
            yield chunk

    def as_tool(
        self,
        args_schema: type[BaseModel] | dict[str, Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        arg_types: dict[str, type] | None = None,
    ) -> BaseTool:
        """A tool an agent calls with ``question``; it returns the answer and its steps.

        A question the reasoner refuses (empty, too long, not text) comes back as the tool's
        result, the error text, so the agent can fix it rather than its run ending (LangChain's
        ``handle_tool_error``). ``args_schema`` (a pydantic model or a JSON schema) or
        ``arg_types`` set the argument's type and description; the one argument is ``question``.
        """
        schema = _tool_schema(args_schema, arg_types)

        def solve(**fields: Any) -> str:
            return _tool_text(self.invoke(self._tool_question(fields)))

        async def asolve(**fields: Any) -> str:
            return _tool_text(await self.ainvoke(self._tool_question(fields)))

        return StructuredTool.from_function(
            func=solve,
            coroutine=asolve,
            name=name or self.name,
            description=description
            or "Solve a multi-step reasoning or math problem by speculative tree search. "
            "Input: the full question. Output: the answer and the reasoning steps.",
            args_schema=schema,
            handle_tool_error=True,
        )

    def _tool_question(self, fields: Mapping[str, Any]) -> str:
        """The tool's question, or a ToolException the agent reads as the tool's result.

        Also asks the models (e.g. a transformers generator's context length): the graph checks
        the same in ``prepare``, where an error would end the agent's run.
        """
        try:
            question = checked_question(fields, self.config)
            for model in self._models:
                check = getattr(model, "check_question", None)
                if check is not None:
                    check(question)
        except (TypeError, ValueError) as error:
            raise ToolException(str(error)) from error
        return question


def _tool_schema(
    args_schema: type[BaseModel] | dict[str, Any] | None, arg_types: dict[str, type] | None
) -> type[BaseModel] | dict[str, Any]:
    """The tool's argument schema: the given one if it is just ``question``, else an error."""
    if args_schema is not None and arg_types is not None:
        raise ValueError("as_tool takes args_schema or arg_types, not both")
    if arg_types is not None:
        fields: dict[str, Any] = {key: (kind, ...) for key, kind in arg_types.items()}
        args_schema = create_model("SpecSearchToolInput", **fields)
    if args_schema is None:
        return ToolQuestion
    names = _field_names(args_schema)
    if names != ["question"]:
        raise ValueError(
            "SpecSearch.as_tool takes exactly one argument, 'question' (the problem to solve); "
            f"got {names}"
        )
    return args_schema


def _field_names(args_schema: object) -> list[str]:
    if isinstance(args_schema, type) and issubclass(args_schema, BaseModel):
        return sorted(args_schema.model_fields)
    if isinstance(args_schema, Mapping):
        return sorted(args_schema.get("properties", {}))
    raise TypeError(
        f"args_schema must be a pydantic model class or a JSON schema dict; got {args_schema!r}"
    )


def _tool_text(result: SearchResult) -> str:
    """What an agent reads back from the tool: the answer, then the numbered steps."""
    steps = "\n".join(f"{i}. {step}" for i, step in enumerate(result.steps, 1))
    return f"Answer: {result}\nSteps:\n{steps}"
