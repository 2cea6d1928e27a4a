"""Any LangChain language model (chat model or LLM) as a thought generator."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel, BaseLanguageModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ContextThreadPoolExecutor, var_child_runnable_config

from langgraph_specsearch.generators.base import (
    GenerationSettings,
    Thought,
    ThoughtGenerator,
    cut_at_delimiter,
    request_seed,
    split_by_counts,
)

SYSTEM_PROMPT = (
    "Solve the problem step by step. Write one reasoning step per paragraph, separated by a blank "
    "line. When you reach the result, end with a line 'The answer is N'."
)

_WORDS = re.compile(r"\w+|[^\w\s]")


# Per-call settings a model accepts when it declares them as fields (ChatOpenAI,
# ChatHuggingFace, ...): the search's step length, sampling and seed, sent with each request.
_SETTING_FIELDS = ("max_tokens", "temperature", "top_p", "seed")


class LangChainThoughtGenerator:
    """Writes thoughts with a LangChain model, all requests of a step at once.

    The step delimiter is passed as a stop sequence and also cut client-side, since not every model
    honours ``stop``. The search's settings go with every request where the model declares them
    as fields (``max_tokens``, ``temperature``, ``top_p``, ``seed``: ChatOpenAI pointed at a
    vLLM or llama-server does), so remote steps are bounded and seeded runs repeat; each request
    gets its own seed, derived from the search's. A model with an ``n`` field (again ChatOpenAI)
    gets one request per frontier node asking for all of its thoughts, and every choice is used;
    other models get one input per thought in one ``batch`` call. ``send_settings=False`` leaves
    all sampling to the model as constructed (``n`` included). Token counts come from
    ``usage_metadata`` when the model reports it; otherwise they are estimated by counting words
    and punctuation, and the result's stats say so (``tokens_estimated``).
    """

    def __init__(
        self,
        model: BaseLanguageModel,
        *,
        name: str | None = None,
        system_prompt: str = SYSTEM_PROMPT,
        max_concurrency: int | None = None,
        send_settings: bool = True,
    ) -> None:
        self.model = model
        self.name = name or type(model).__name__
        self.system_prompt = system_prompt
        self.max_concurrency = max_concurrency
        fields = getattr(type(model), "model_fields", {})
        self.setting_fields = (
            tuple(f for f in _SETTING_FIELDS if f in fields) if send_settings else ()
        )
        self.uses_n = send_settings and "n" in fields

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
        """Sample ``counts[i]`` next steps for each path: one request per path with ``n`` where
        the model has it, else one batched input per thought."""
        if sum(counts) == 0:
            return [[] for _ in paths]
        prompts = [self.prompt(question, path, settings.delimiter) for path in paths]
        if self.uses_n:
            return self._generate_n(prompts, counts, settings, config)
        inputs = [
            prompt for prompt, count in zip(prompts, counts, strict=True) for _ in range(count)
        ]
        seeds = [
            request_seed(settings.seed, prompt, row)
            for prompt, count in zip(prompts, counts, strict=True)
            for row in range(count)
        ]
        batch_config: RunnableConfig = dict(config or {})  # type: ignore[assignment]
        if self.max_concurrency is not None:
            batch_config["max_concurrency"] = self.max_concurrency
        if "seed" in self.setting_fields:  # each input its own seed, or equal inputs would repeat
            kwargs = {**self._settings(settings), "stop": [settings.delimiter]}
            del kwargs["seed"]
            call_config = {k: v for k, v in batch_config.items() if k != "max_concurrency"}
            outputs = self._map(
                lambda job: self.model.invoke(job[0], call_config, seed=job[1], **kwargs),  # type: ignore[arg-type]
                list(zip(inputs, seeds, strict=True)),
            )
        else:
            outputs = self._batch(inputs, batch_config, [settings.delimiter], settings)
        thoughts = [self._thought(output, settings.delimiter) for output in outputs]
        return split_by_counts(thoughts, counts)

    def _settings(self, settings: GenerationSettings) -> dict[str, Any]:
        values = {
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "seed": settings.seed,
        }
        return {name: values[name] for name in self.setting_fields}

    def _generate_n(
        self,
        prompts: list[Any],
        counts: Sequence[int],
        settings: GenerationSettings,
        config: RunnableConfig | None,
    ) -> list[list[Thought]]:
        """One ``generate`` call per path with ``n`` = its count; every choice becomes a thought.

        The settings go on a shallow copy of the model rather than as call arguments: some
        integrations read ``n`` from the model when they split the server's choices among
        prompts (langchain-openai's completions ``OpenAI`` does), so an ``n`` passed per call
        would be sent but the choices mis-grouped. The copy shares the model's client.
        """
        settings_fields = self._settings(settings)
        callbacks = (config or {}).get("callbacks")
        jobs = [(i, count) for i, count in enumerate(counts) if count]

        def one(job: tuple[int, int]) -> list[Thought]:
            index, count = job
            update: dict[str, Any] = {**settings_fields, "n": count}
            if "seed" in update:
                update["seed"] = request_seed(settings.seed, prompts[index], 0)
            model = self.model.model_copy(update=update)
            result = model.generate(
                [prompts[index]], stop=[settings.delimiter], callbacks=callbacks
            )
            generations = result.generations[0]
            if len(generations) != count:
                raise ValueError(
                    f"{self.name} asked for n={count} completions and returned "
                    f"{len(generations)}: the model or its server ignores `n`; wrap it as "
                    "LangChainThoughtGenerator(model, send_settings=False)"
                )
            outputs = [getattr(g, "message", None) or g.text for g in generations]
            return self._thoughts_of_choices(outputs, settings.delimiter)

        answers = self._map(one, jobs)
        grouped: list[list[Thought]] = [[] for _ in prompts]
        for (index, _), thoughts in zip(jobs, answers, strict=True):
            grouped[index] = thoughts
        return grouped

    def _map(self, function: Any, items: list[Any]) -> list[Any]:
        """``function`` over ``items`` on at most ``max_concurrency`` threads, in order, with the
        caller's LangChain context (callbacks, tracing) in each thread."""
        workers = max(1, min(self.max_concurrency or len(items), len(items)))
        with ContextThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(function, items))

    def _thoughts_of_choices(self, outputs: list[Any], delimiter: str) -> list[Thought]:
        """Thoughts of one request's choices. A server reports the usage of all choices
        together, and LangChain copies it to each one: split it by text length then."""
        thoughts = [self._thought(output, delimiter) for output in outputs]
        usages = [getattr(output, "usage_metadata", None) for output in outputs]
        if len(outputs) > 1 and usages[0] and all(u == usages[0] for u in usages):
            total = int(usages[0].get("output_tokens") or 0)
            weights = [max(1, len(_text_of(output))) for output in outputs]
            thoughts = [
                Thought(
                    text=t.text,
                    tokens=round(total * w / sum(weights)),
                    finish_reason=t.finish_reason,
                    tokens_estimated=t.tokens_estimated,
                )
                for t, w in zip(thoughts, weights, strict=True)
            ]
        return thoughts

    def _batch(
        self,
        inputs: list[Any],
        config: RunnableConfig,
        stop: list[str],
        settings: GenerationSettings | None = None,
    ) -> list[Any]:
        """``model.batch`` with the step's settings."""
        kwargs = self._settings(settings) if settings else {}
        return self._run_batch(
            lambda items, cfg: self.model.batch(items, cfg, stop=stop, **kwargs), inputs, config
        )

    def _run_batch(self, call: Any, items: list[Any], config: RunnableConfig) -> list[Any]:
        """Run ``call(items, config)`` without the caller's ``max_concurrency``, which limits
        questions.

        Inside a graph node LangChain's context holds the run's config, ``max_concurrency``
        included, and every config the model builds inherits it. ``BaseLLM.batch`` splits its
        inputs into chunks of ``max_concurrency`` and calls itself with the value set to None,
        which the inherited one overrides again: it recursed until RecursionError.
        """
        token = var_child_runnable_config.set(_without_max_concurrency())
        try:
            return call(items, config)
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
