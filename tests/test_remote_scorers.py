"""Remote scoring against replayed vLLM responses (issue 16.3): the target's likelihood from
``echo`` + ``logprobs`` on /v1/completions, a PRM on vLLM's /pooling, and clear errors from a
server without prompt log-probabilities (llama-server) or a PRM served without the STEP pooler.

The response shapes are vLLM's (v0.16: ``choices[0].logprobs`` with ``text_offset``,
``token_logprobs`` with ``null`` for the first token, ``tokens``, ``top_logprobs``; /pooling:
``data[i].data`` a list of label probabilities per step token)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import httpx
import pytest

from langgraph_specsearch.generators.openai_compatible import (
    OpenAICompatibleThoughtGenerator,
    ServerError,
)
from langgraph_specsearch.scorers.openai_compatible import (
    RemoteLikelihoodScorer,
    VLLMRewardScorer,
)

QUESTION = "What is 2 + 2?"


def _template(question: str, steps: Any, delimiter: str) -> str:
    return f"Q: {question}{delimiter}" + "".join(step + delimiter for step in steps)


def echo_server(logprob_of: dict[str, float], *, echo: bool = True):
    """Answers /v1/completions as vLLM does with echo=True, logprobs=1, max_tokens=1: one entry
    per word of the prompt (its offset and log-prob), then the generated token."""
    requests: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        requests.append(body)
        prompt = body["prompt"]
        pieces = list(re.finditer(r"\n\n| ?[^\s]+|\s", prompt))  # GPT-style: " word", "\n\n"
        tokens = [m.group() for m in pieces]
        offsets = [m.start() for m in pieces]
        values: list[float | None] = [logprob_of.get(t.strip(), -0.1) for t in tokens]
        values[0] = None
        generated = {"text_offset": [len(prompt)], "token_logprobs": [-0.5], "tokens": ["x"]}
        logprobs = (
            {
                "text_offset": [*offsets, len(prompt)],
                "token_logprobs": [*values, -0.5],
                "tokens": [*tokens, "x"],
                "top_logprobs": [None] * (len(tokens) + 1),
            }
            if echo
            else {**generated, "top_logprobs": [None]}
        )
        choice = {"index": 0, "text": prompt + "x", "logprobs": logprobs, "finish_reason": "length"}
        return httpx.Response(200, json={"choices": [choice], "usage": {"completion_tokens": 1}})

    return handler, requests


def _scorer(handler: Any, **kwargs: Any) -> RemoteLikelihoodScorer:
    target = OpenAICompatibleThoughtGenerator(
        "http://vllm.test/v1",
        "target",
        transport=httpx.MockTransport(handler),
        prompt_template=_template,
    )
    return RemoteLikelihoodScorer(target, **kwargs)


def test_the_step_is_scored_from_its_own_prompt_tokens_only() -> None:
    handler, requests = echo_server({"good": -0.2, "step": -0.4, "bad": -3.0, "first": -9.0})
    scorer = _scorer(handler)
    good, bad = scorer.score_last(
        [QUESTION, QUESTION], [["first", "good step"], ["first", "bad step"]]
    )
    assert good == pytest.approx(math.exp((-0.2 - 0.4) / 2))  # not the context's "first" (-9)
    assert bad == pytest.approx(math.exp((-3.0 - 0.4) / 2))
    body = requests[0]
    assert body["echo"] is True and body["logprobs"] >= 1 and body["max_tokens"] == 1
    assert body["prompt"] == _template(QUESTION, ["first"], "\n\n") + "good step"
    raw = _scorer(handler, raw=True)([QUESTION], ["good step"])
    assert raw == pytest.approx(-0.3)


def test_a_server_without_prompt_logprobs_names_the_alternatives() -> None:
    handler, _ = echo_server({}, echo=False)  # llama-server: only the generated token
    with pytest.raises(
        ServerError, match=r"no log-probabilities of prompt tokens.*LikelihoodScorer"
    ):
        _scorer(handler)([QUESTION], ["a step"])


def test_a_vllm_prm_scores_every_step_from_the_pooling_api() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def pooling(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.url.path, body))
        steps = body["input"].count("<extra_0>")
        rows = [[1 - p, p] for p in (0.9, 0.2, 0.7)[:steps]]
        data = [{"index": 0, "object": "pooling", "data": rows}]
        return httpx.Response(200, json={"object": "list", "data": data})

    prm = VLLMRewardScorer(
        "http://vllm.test/v1", "Qwen/Qwen2.5-Math-PRM-7B", transport=httpx.MockTransport(pooling)
    )
    assert prm.score([QUESTION], [["a", "b", "c"]]) == [[0.9, 0.2, 0.7]]
    assert prm.score_last([QUESTION, QUESTION], [["a"], ["a", "b"]]) == [0.9, 0.2]
    path, body = seen[0]
    assert path == "/pooling"  # vLLM serves it at the root, not under /v1
    assert body["model"] == "Qwen/Qwen2.5-Math-PRM-7B"
    assert body["input"].count("<extra_0>") == 3 and QUESTION in body["input"]


def test_a_prm_served_without_the_step_pooler_is_named() -> None:
    def whole(request: httpx.Request) -> httpx.Response:  # one vector for the whole text
        return httpx.Response(200, json={"data": [{"index": 0, "data": [0.1, 0.9]}]})

    prm = VLLMRewardScorer("http://vllm.test", "prm", transport=httpx.MockTransport(whole))
    with pytest.raises(ServerError, match=r"per-step label probabilities|scored 2 steps of 3"):
        prm.score_last([QUESTION], [["a", "b", "c"]])
