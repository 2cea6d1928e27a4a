"""Thoughts from an OpenAI-compatible server (vLLM, SGLang, llama-server, TGI, ...).

One request per frontier node asks for all of its thoughts with ``n`` (a step of B nodes with N
thoughts each is B requests, not B*N), and every request carries the step's settings:
``max_tokens``, ``temperature``, ``top_p``, ``seed`` and ``stop`` (the step delimiter), so remote
steps are bounded and seeded runs repeat where the server honours ``seed``. Requests of one call
run concurrently (at most ``max_concurrency`` at once); 5xx, 429 and transport errors are retried
with backoff (``max_retries``), and a search's LangGraph retry policy sits above that.

What each server supports (``n``, ``seed``, prompt log-probs) differs; docs/engines.md has the
table. A server that answers ``n`` with fewer choices gets a clear error at once (pass
``supports_n=False`` to send one request per thought instead); one that ignores ``stop`` is still
correct, because every thought is also cut at the delimiter here, but it writes up to
``max_tokens`` per thought.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from langgraph_specsearch.generators.base import (
    FinishReason,
    GenerationSettings,
    GenerationStats,
    Thought,
    cut_at_delimiter,
    request_seed,
)
from langgraph_specsearch.generators.prompts import DEFAULT_SYSTEM_PROMPT

PromptTemplate = Callable[[str, Sequence[str], str], str]
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class ServerError(RuntimeError):
    """The server refused, failed, or answered something this generator cannot use.

    ``status`` is the HTTP status when the server answered one.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def plain_prompt(system_prompt: str) -> PromptTemplate:
    """A completions prompt without a chat template: instructions, question, steps so far.

    Instruct models served raw do better with their own template: pass ``prompt_template=`` a
    function that renders it (e.g. a tokenizer's ``apply_chat_template`` with the steps as a
    partial assistant message, as the local engines do).
    """

    def render(question: str, steps: Sequence[str], delimiter: str) -> str:
        text = f"{system_prompt}\n\nQuestion: {question}\n\nAnswer:{delimiter}"
        return text + (delimiter.join(steps) + delimiter if steps else "")

    return render


class OpenAICompatibleThoughtGenerator:
    """A drafter or target behind an OpenAI-compatible completions or chat completions API.

    ``api="completions"`` (the default) continues a text prompt (``prompt_template`` renders the
    question and the steps so far); ``api="chat"`` sends the question and the steps so far as
    messages and asks for the next step, as :class:`LangChainThoughtGenerator` does for chat
    models. ``transport`` is an ``httpx`` transport (tests pass a mock). ``last_stats`` and
    ``requests`` say what the calls cost and how many were made.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api: Literal["completions", "chat"] = "completions",
        api_key: str | None = None,
        name: str | None = None,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        prompt_template: PromptTemplate | None = None,
        supports_n: bool = True,
        send_seed: bool = True,
        max_concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 2,
        extra_body: dict[str, Any] | None = None,
        transport: Any = None,
    ) -> None:
        import httpx

        if api not in ("completions", "chat"):
            raise ValueError(f"api must be 'completions' or 'chat', got {api!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api = api
        self.name = name or model
        self.system_prompt = system_prompt
        self.prompt_template = prompt_template or plain_prompt(system_prompt)
        self.supports_n = supports_n
        self.send_seed = send_seed
        self.max_concurrency = int(max_concurrency)
        self.max_retries = int(max_retries)
        self.extra_body = dict(extra_body or {})
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )
        self.requests = 0
        self.last_stats = GenerationStats()
        self._checked = False

    # ------------------------------------------------------------------ checks
    def check_question(self, question: str) -> None:
        """Before a search: the server answers and serves ``model`` (checked once)."""
        if self._checked:
            return
        try:
            response = self._send("GET", "/models", None)
        except ServerError as error:
            if error.status in (404, 405):  # no model list (some servers): nothing to check
                self._checked = True
                return
            raise
        served = [entry.get("id") for entry in response.get("data", [])]
        if served and self.model not in served:
            raise ServerError(
                f"{self.base_url} does not serve model {self.model!r}; it serves "
                f"{', '.join(map(str, served))}"
            )
        self._checked = True

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        counts: Sequence[int],
        settings: GenerationSettings,
    ) -> list[list[Thought]]:
        """``counts[i]`` next steps for each ``paths[i]``: one request per path (``n`` = count)."""
        if len(paths) != len(counts):
            raise ValueError(f"{len(paths)} paths but {len(counts)} counts")
        start = time.perf_counter()
        jobs: list[tuple[int, int]] = []  # (path index, thoughts asked)
        for index, count in enumerate(counts):
            if count < 0:
                raise ValueError(f"counts must be >= 0, got {list(counts)}")
            if count and self.supports_n:
                jobs.append((index, count))
            elif count:
                jobs.extend((index, 1) for _ in range(count))
        bodies = [self._body(question, paths[i], n, settings, k) for k, (i, n) in enumerate(jobs)]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, max(1, len(jobs)))) as pool:
            answers = list(pool.map(self._complete, bodies))
        out: list[list[Thought]] = [[] for _ in paths]
        for (index, n), answer in zip(jobs, answers, strict=True):
            out[index].extend(self._thoughts(answer, n, settings.delimiter))
        self.last_stats = GenerationStats(seconds=time.perf_counter() - start)
        return out

    def _body(
        self, question: str, steps: Sequence[str], n: int, settings: GenerationSettings, job: int
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "n": n,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "stop": [settings.delimiter] if settings.delimiter else None,
        }
        if self.api == "completions":
            body["prompt"] = self.prompt_template(question, steps, settings.delimiter)
            key = body["prompt"]
        else:
            body["messages"] = self._messages(question, steps, settings.delimiter)
            key = repr(body["messages"])
        if self.send_seed:
            # one request per thought (supports_n=False) needs its own seed, or all would repeat
            body["seed"] = request_seed(settings.seed, key, 0 if self.supports_n else job)
        body.update(self.extra_body)
        return {k: v for k, v in body.items() if v is not None}

    def _messages(self, question: str, steps: Sequence[str], delimiter: str) -> list[dict]:
        content = question
        if steps:
            so_far = delimiter.join(steps)
            content += f"\n\nSteps so far:\n\n{so_far}\n\nWrite only the next step."
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": content},
        ]

    def _complete(self, body: dict[str, Any]) -> dict[str, Any]:
        path = "/completions" if self.api == "completions" else "/chat/completions"
        return self._send("POST", path, body)

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """One HTTP exchange, retried on 5xx, 429, timeouts and dropped connections."""
        import httpx

        where = path if path.startswith("http") else f"{self.base_url}{path}"
        delay = 0.5
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                self.requests += 1
                response = self.client.request(method, path, json=body)
            except httpx.TransportError as error:  # refused, reset, timed out
                if last:
                    raise ServerError(
                        f"cannot reach {where} ({type(error).__name__}: {error}); "
                        "is the server running, and is base_url right (it usually ends in /v1)?"
                    ) from error
            else:
                if response.status_code < 400:
                    return response.json()
                if response.status_code not in _RETRY_STATUS or last:
                    raise ServerError(
                        f"{where} answered {response.status_code}: {response.text[:500]}",
                        status=response.status_code,
                    )
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _thoughts(self, answer: dict[str, Any], n: int, delimiter: str) -> list[Thought]:
        choices = sorted(answer.get("choices", []), key=lambda c: c.get("index", 0))
        if len(choices) != n:
            raise ServerError(
                f"asked {self.base_url} for n={n} completions and got {len(choices)}: the server "
                "ignores `n`; pass supports_n=False to send one request per thought"
            )
        texts = [_choice_text(choice, self.api) for choice in choices]
        usage = answer.get("usage") or {}
        total = usage.get("completion_tokens")
        # Servers report the tokens of all n choices together: split them by text length.
        weights = [max(1, len(text)) for text in texts]
        thoughts = []
        for choice, text, weight in zip(choices, texts, weights, strict=True):
            cut, found = cut_at_delimiter(text, delimiter)
            reason = _finish_reason(choice, found) if cut else "empty"
            if total is not None:
                tokens, estimated = round(total * weight / sum(weights)), False
            else:
                tokens, estimated = max(1, len(text) // 4), True
            thoughts.append(
                Thought(text=cut, tokens=tokens, finish_reason=reason, tokens_estimated=estimated)
            )
        return thoughts

    def close(self) -> None:
        self.client.close()


def _choice_text(choice: dict[str, Any], api: str) -> str:
    if api == "chat":
        return str((choice.get("message") or {}).get("content") or "")
    return str(choice.get("text") or "")


def _finish_reason(choice: dict[str, Any], found: bool) -> FinishReason:
    """Why a choice ended. A "stop" finish is the delimiter (the only stop string sent) unless
    the server says the model's end-of-sequence stopped it (vLLM: ``stop_reason`` None)."""
    if found:
        return "delimiter"
    finish = choice.get("finish_reason")
    if finish == "length":
        return "length"
    if finish == "stop" and not ("stop_reason" in choice and choice["stop_reason"] is None):
        return "delimiter"
    return "eos"
