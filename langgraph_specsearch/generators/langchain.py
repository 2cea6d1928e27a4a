"""Any LangChain language model (chat model or LLM) as a thought generator."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel, BaseLanguageModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config

from langgraph_specsearch.generators.base import (
    GenerationSettings,
    Thought,
    ThoughtGenerator,
    cut_at_delimiter,
)

SYSTEM_PROMPT = (
    "Solve the problem step by step. Write one reasoning step per paragraph, separated by a blank "
    "line. When you reach the result, end with a line 'The answer is N'."
)

_WORDS = re.compile(r"\w+|[^\w\s]")


class LangChainThoughtGenerator:
    """Writes thoughts with a LangChain model, all requests of a step in one ``batch`` call.

    The step delimiter is passed as a stop sequence and also cut client-side, since not every model
    honours ``stop``. Sampling settings other than the stop sequence belong to the model itself (set
    temperature on the model you pass). Token counts come from ``usage_metadata`` when the model
    reports it; otherwise they are estimated by counting words and punctuation, and the result's
    stats say so (``tokens_estimated``).
    """

    def __init__(
        self,
        model: BaseLanguageModel,
        *,
        name: str | None = None,
        system_prompt: str = SYSTEM_PROMPT,
        max_concurrency: int | None = None,
    ) -> None:
        self.model = model
        self.name = name or type(model).__name__
        self.system_prompt = system_prompt
        self.max_concurrency = max_concurrency

    def prompt(self, question: str, steps: Sequence[str], delimiter: str) -> Any:
        """The model input for continuing ``steps``: messages for a chat model, text for an LLM."""
        so_far = delimiter.join(steps)
        if isinstance(self.model, BaseChatModel):
            content = question
            if steps:
                content += f"\n\nSteps so far:\n\n{so_far}\n\nWrite only the next step."
            messages: list[BaseMessage] = [
                SystemMessage(self.system_prompt),
                HumanMessage(content),
            ]
            return messages
        text = f"{self.system_prompt}\n\nQuestion: {question}\n\nAnswer:{delimiter}"
        return text + (so_far + delimiter if steps else "")

    def generate(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        counts: Sequence[int],
        settings: GenerationSettings,
        *,
        config: RunnableConfig | None = None,
    ) -> list[list[Thought]]:
        """Sample ``counts[i]`` next steps for each path in one batched call."""
        inputs = [
            self.prompt(question, path, settings.delimiter)
            for path, count in zip(paths, counts, strict=True)
            for _ in range(count)
        ]
        if not inputs:
            return [[] for _ in paths]
        batch_config: RunnableConfig = dict(config or {})  # type: ignore[assignment]
        if self.max_concurrency is not None:
            batch_config["max_concurrency"] = self.max_concurrency
        outputs = self._batch(inputs, batch_config, [settings.delimiter])
        thoughts = [self._thought(output, settings.delimiter) for output in outputs]
        grouped: list[list[Thought]] = []
        offset = 0
        for count in counts:
            grouped.append(thoughts[offset : offset + count])
            offset += count
        return grouped

    def _batch(self, inputs: list[Any], config: RunnableConfig, stop: list[str]) -> list[Any]:
        """``model.batch`` without the caller's ``max_concurrency``, which limits questions.

        Inside a graph node LangChain's context holds the run's config, ``max_concurrency``
        included, and every config the model builds inherits it. ``BaseLLM.batch`` splits its
        inputs into chunks of ``max_concurrency`` and calls itself with the value set to None,
        which the inherited one overrides again: it recursed until RecursionError.
        """
        token = var_child_runnable_config.set(_without_max_concurrency())
        try:
            return self.model.batch(inputs, config, stop=stop)
        finally:
            var_child_runnable_config.reset(token)

    def _thought(self, output: Any, delimiter: str) -> Thought:
        raw = _text_of(output)
        text, found = cut_at_delimiter(raw, delimiter)
        usage = getattr(output, "usage_metadata", None)
        if usage and usage.get("output_tokens"):
            tokens, estimated = int(usage["output_tokens"]), False
        else:
            tokens, estimated = len(_WORDS.findall(text)), True
        reason = "empty" if not text else ("delimiter" if found else "eos")
        return Thought(text=text, tokens=tokens, finish_reason=reason, tokens_estimated=estimated)


def _without_max_concurrency() -> RunnableConfig | None:
    """The inherited run config, minus ``max_concurrency``."""
    inherited = var_child_runnable_config.get()
    if not inherited or "max_concurrency" not in inherited:
        return inherited
    return {k: v for k, v in inherited.items() if k != "max_concurrency"}  # type: ignore[return-value]


def _text_of(output: Any) -> str:
    if isinstance(output, BaseMessage):
        return str(output.text)
    return str(output)


def as_thought_generator(model: object, role: str) -> ThoughtGenerator:
    """Accept what a user has: a thought generator, or any LangChain language model."""
    if isinstance(model, BaseLanguageModel):
        return LangChainThoughtGenerator(model, name=f"{role}:{type(model).__name__}")
    if isinstance(model, ThoughtGenerator):
        return model
    raise TypeError(
        f"{role} must be a LangChain language model (chat model or LLM) or a ThoughtGenerator "
        f"with generate(question, paths, counts, settings); got {type(model).__name__}"
    )
