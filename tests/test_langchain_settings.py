"""A LangChain model pointed at a server (ChatOpenAI-like) gets the step's settings and ``n``
per call, and every choice is used (issue 16.3); models without those fields are untouched."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from langgraph_specsearch.generators.base import GenerationSettings
from langgraph_specsearch.generators.langchain import LangChainThoughtGenerator

SETTINGS_FIELDS = ("temperature", "max_tokens", "top_p", "seed")
SETTINGS = GenerationSettings(max_new_tokens=48, temperature=0.5, top_p=0.8, seed=11)


class SeededChatModel(BaseChatModel):
    """Declares per-call sampling fields but not ``n``; records each request."""

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    honour_n: bool = True
    calls: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "server-chat"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs
    ) -> ChatResult:
        # as integrations do: per-call arguments over the model's own fields
        fields = {f: getattr(self, f) for f in ("n", *SETTINGS_FIELDS) if hasattr(self, f)}
        call = {k: v for k, v in {**fields, **kwargs}.items() if v is not None}
        self.calls.append({"stop": stop, **call})
        n = call.get("n", 1) if self.honour_n else 1
        usage = {"input_tokens": 10, "output_tokens": 6 * n, "total_tokens": 10 + 6 * n}
        generations = [
            ChatGeneration(
                message=AIMessage(
                    content=f"Choice {i} seed {call.get('seed')}.", usage_metadata=usage
                )
            )
            for i in range(n)
        ]
        return ChatResult(generations=generations)


class ServerChatModel(SeededChatModel):
    """ChatOpenAI's per-call fields, ``n`` included: answers ``n`` choices."""

    n: int = 1


def test_one_request_per_node_with_n_and_the_settings() -> None:
    model = ServerChatModel()
    thoughts = LangChainThoughtGenerator(model).generate(
        "q?", [[], ["a"], ["b"]], [3, 0, 2], SETTINGS
    )
    assert [len(group) for group in thoughts] == [3, 0, 2]
    assert [call["n"] for call in model.calls] == [3, 2]
    for call in model.calls:
        assert call["max_tokens"] == 48 and call["temperature"] == 0.5 and call["top_p"] == 0.8
        assert call["stop"] == ["\n\n"]
    assert model.calls[0]["seed"] != model.calls[1]["seed"]
    assert len({t.text for t in thoughts[0]}) == 3  # every choice used, none thrown away
    assert sum(t.tokens for t in thoughts[0]) == 18  # the request's usage, split, not tripled


def test_a_model_that_ignores_n_is_named() -> None:
    model = ServerChatModel(honour_n=False)
    with pytest.raises(ValueError, match=r"ignores `n`.*send_settings=False"):
        LangChainThoughtGenerator(model).generate("q?", [[]], [3], SETTINGS)


def test_send_settings_false_leaves_the_model_as_constructed() -> None:
    model = ServerChatModel(temperature=1.3)
    thoughts = LangChainThoughtGenerator(model, send_settings=False).generate(
        "q?", [[]], [2], SETTINGS
    )
    assert len(thoughts[0]) == 2 and len(model.calls) == 2
    assert all(call["temperature"] == 1.3 and call["n"] == 1 for call in model.calls)
    assert all("max_tokens" not in call and "seed" not in call for call in model.calls)


def test_without_n_each_thought_gets_its_own_seed() -> None:
    model = SeededChatModel()
    generator = LangChainThoughtGenerator(model)
    assert not generator.uses_n
    thoughts = generator.generate("q?", [[], ["a"]], [2, 1], SETTINGS)
    assert [len(group) for group in thoughts] == [2, 1] and len(model.calls) == 3
    assert len({call["seed"] for call in model.calls}) == 3
    assert all(call["max_tokens"] == 48 for call in model.calls)


def test_a_model_without_these_fields_is_called_as_before() -> None:
    llm = FakeListLLM(responses=["Step one.", "Step two."])
    generator = LangChainThoughtGenerator(llm)
    assert generator.setting_fields == () and not generator.uses_n
    thoughts = generator.generate("q?", [[]], [2], SETTINGS)
    assert sorted(t.text for t in thoughts[0]) == ["Step one.", "Step two."]
