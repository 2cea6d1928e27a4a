"""The OpenAI-compatible generator against a scripted server (httpx.MockTransport) that answers
as vLLM does: what is sent, how many requests, retries and refusals (issue 16.3). A search
through a real local server is in tests/integration/test_openai_server_real.py."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from langgraph_specsearch import SpecSearch, SpecSearchConfig
from langgraph_specsearch.generators.base import GenerationSettings
from langgraph_specsearch.generators.openai_compatible import (
    OpenAICompatibleThoughtGenerator,
    ServerError,
)
from langgraph_specsearch.testing import DemoScorer

SETTINGS = GenerationSettings(max_new_tokens=40, temperature=0.6, top_p=0.9, seed=5)


class Server:
    """A scripted OpenAI-compatible server: records each request, answers ``n`` choices."""

    def __init__(self, *, honour_n: bool = True, honour_stop: bool = True, models=("m",)):
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.honour_n, self.honour_stop, self.models = honour_n, honour_stop, models
        self.failures: list[int] = []  # status codes to answer first, one per request

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": m} for m in self.models]})
        body = json.loads(request.content)
        self.requests.append(body)
        if self.failures:
            return httpx.Response(self.failures.pop(0), text="overloaded")
        n = body.get("n", 1) if self.honour_n else 1
        step = len(body.get("prompt", "")) % 7
        choices = []
        for index in range(n):
            text = f"Step {step}.{index}: add {index} and {body.get('seed', 0) % 100}."
            if not self.honour_stop:
                text += "\n\nThe answer is 4\n\nmore"
            elif "answer" in body.get("prompt", "") or len(self.requests) > 6:
                text = "The answer is 4"
            choices.append({"index": index, "text": text, "finish_reason": "stop"})
        usage = {"completion_tokens": 9 * n, "prompt_tokens": 20}
        return httpx.Response(200, json={"choices": choices, "usage": usage})


def generator(server: Server, **kwargs: Any) -> OpenAICompatibleThoughtGenerator:
    kwargs.setdefault("max_retries", 2)
    return OpenAICompatibleThoughtGenerator(
        "http://server.test/v1", "m", transport=httpx.MockTransport(server), **kwargs
    )


def test_one_request_per_node_with_n_and_every_setting() -> None:
    server = Server()
    thoughts = generator(server).generate("2+2?", [[], ["a"], ["b"]], [3, 0, 2], SETTINGS)
    assert [len(group) for group in thoughts] == [3, 0, 2]
    assert len(server.requests) == 2 and [r["n"] for r in server.requests] == [3, 2]
    for body in server.requests:
        assert body["max_tokens"] == 40 and body["temperature"] == 0.6 and body["top_p"] == 0.9
        assert body["stop"] == ["\n\n"] and body["model"] == "m" and isinstance(body["seed"], int)
    assert server.requests[0]["seed"] != server.requests[1]["seed"]  # nodes differ
    assert all(t.tokens == 9 and not t.tokens_estimated for g in thoughts for t in g)
    again = Server()
    generator(again).generate("2+2?", [[], ["a"], ["b"]], [3, 0, 2], SETTINGS)
    assert [r["seed"] for r in again.requests] == [r["seed"] for r in server.requests]


def test_a_server_that_ignores_n_is_named_and_one_request_per_thought_works() -> None:
    with pytest.raises(ServerError, match=r"ignores `n`.*supports_n=False"):
        generator(Server(honour_n=False)).generate("q", [[]], [3], SETTINGS)
    server = Server(honour_n=False)
    thoughts = generator(server, supports_n=False).generate("q", [[]], [3], SETTINGS)
    assert len(thoughts[0]) == 3 and len(server.requests) == 3
    assert len({r["seed"] for r in server.requests}) == 3  # each thought its own seed


def test_a_server_that_ignores_stop_still_gives_one_step() -> None:
    thoughts = generator(Server(honour_stop=False)).generate("q", [[]], [2], SETTINGS)
    assert all("\n\n" not in t.text and t.finish_reason == "delimiter" for t in thoughts[0])


def test_5xx_is_retried_and_4xx_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    server = Server()
    server.failures = [503, 502]
    assert len(generator(server).generate("q", [[]], [2], SETTINGS)[0]) == 2
    assert len(server.requests) == 3
    server = Server()
    server.failures = [400]
    with pytest.raises(ServerError, match="answered 400: overloaded"):
        generator(server).generate("q", [[]], [2], SETTINGS)
    assert len(server.requests) == 1
    server = Server()
    server.failures = [503, 503, 503]
    with pytest.raises(ServerError, match="answered 503"):
        generator(server).generate("q", [[]], [2], SETTINGS)


def test_an_unreachable_server_and_a_wrong_model_say_what_to_do() -> None:
    closed = OpenAICompatibleThoughtGenerator("http://127.0.0.1:9/v1", "m", max_retries=0)
    with pytest.raises(ServerError, match=r"cannot reach.*is the server running"):
        closed.check_question("q")
    with pytest.raises(ServerError, match="does not serve model 'm'; it serves big, small"):
        generator(Server(models=("big", "small"))).check_question("q")


def test_chat_api_sends_messages_and_reads_message_content() -> None:
    seen: list[dict[str, Any]] = []

    def chat(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        choices = [
            {"index": i, "message": {"content": f"Next {i}"}, "finish_reason": "stop"}
            for i in range(body["n"])
        ]
        return httpx.Response(200, json={"choices": choices})

    gen = OpenAICompatibleThoughtGenerator(
        "http://s/v1", "m", api="chat", transport=httpx.MockTransport(chat)
    )
    thoughts = gen.generate("q?", [["first"]], [2], SETTINGS)
    assert [t.text for t in thoughts[0]] == ["Next 0", "Next 1"]
    assert all(t.tokens_estimated for t in thoughts[0])  # no usage: estimated, and said so
    assert "Steps so far" in seen[0]["messages"][-1]["content"] and "prompt" not in seen[0]


def test_a_whole_search_makes_one_request_per_frontier_node() -> None:
    drafts, corrections = Server(), Server()
    config = SpecSearchConfig(beam_width=2, width=3, n_drafts=3, max_depth=3, seed=1)
    reasoner = SpecSearch(
        drafter=generator(drafts), target=generator(corrections), scorer=DemoScorer(), config=config
    )
    result = reasoner.invoke("What is 2 + 2?")
    nodes = result.tree.nodes.values()
    drafted = [n for n in nodes if n["model"] == "drafter"]
    by_parent = {n["parent"] for n in drafted}
    assert len(drafts.requests) == len(by_parent)  # one request per expanded node
    assert sum(r["n"] for r in drafts.requests) == len(drafted)
    assert result.stats["drafted"] == len(drafted)


def test_a_server_without_a_model_list_is_not_refused() -> None:
    def no_list(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(404, text="not found")
        return Server()(request)

    gen = OpenAICompatibleThoughtGenerator(
        "http://s/v1", "m", transport=httpx.MockTransport(no_list)
    )
    gen.check_question("q")  # no error: there is nothing to check against
    assert len(gen.generate("q", [[]], [2], SETTINGS)[0]) == 2
