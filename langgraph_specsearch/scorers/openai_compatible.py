"""Step scorers for a search whose models are behind a server: the target's likelihood from the
server's prompt log-probabilities, and a process reward model served by vLLM.

:class:`RemoteLikelihoodScorer` is the target-likelihood score of the local scorers (``exp`` of the
mean log-prob of the step's tokens given everything before) computed by the server: one
``/v1/completions`` request per step with ``echo`` and ``logprobs`` returns the log-prob of every
prompt token (vLLM does; llama-server and ``transformers serve`` do not, and get a clear error
naming the alternatives). :class:`VLLMRewardScorer` reads a PRM such as Qwen2.5-Math-PRM served by
vLLM's pooling API (``vllm serve ... --runner pooling`` with the STEP pooler): one request per
path returns a [bad, good] probability for each step separator, and the last step's good
probability is its score. Neither was run against a live vLLM here (vLLM ships CUDA wheels only);
their tests replay vLLM's documented responses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langgraph_specsearch.generators.openai_compatible import (
    OpenAICompatibleThoughtGenerator,
    PromptTemplate,
    ServerError,
)

ALTERNATIVES = (
    "score with a local model instead (LikelihoodScorer or LlamaCppLikelihoodScorer on the "
    "target's weights), a PRM served by vLLM (VLLMRewardScorer), or an LLM judge "
    "(scorers.judge), see docs/engines.md"
)


class RemoteLikelihoodScorer:
    """The target's likelihood of a step, from a server's prompt log-probabilities.

    ``generator`` is the target's :class:`OpenAICompatibleThoughtGenerator`: its server, model
    and prompt template (the step is scored in the prompt the target continues). Scores are in
    (0, 1]; ``raw=True`` gives the mean log-prob per token.
    """

    def __init__(
        self,
        generator: OpenAICompatibleThoughtGenerator,
        *,
        delimiter: str = "\n\n",
        raw: bool = False,
        prompt_template: PromptTemplate | None = None,
    ) -> None:
        self.generator = generator
        self.delimiter = delimiter
        self.raw = raw
        self.prompt_template = prompt_template or generator.prompt_template
        self.name = f"likelihood[{generator.name}]"

    def score_last(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[float]:
        """The last step of each path, one request per path, concurrently."""
        jobs = list(zip(questions, step_lists, strict=True))
        if not jobs:
            return []
        workers = max(1, min(self.generator.max_concurrency, len(jobs)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda job: self._score(*job), jobs))

    def __call__(self, question: str, steps: Sequence[str]) -> float:
        return self.score_last([question], [steps])[0]

    def _score(self, question: str, steps: Sequence[str]) -> float:
        if not steps:
            raise ValueError("a path to score needs at least one step")
        context = self.prompt_template(question, steps[:-1], self.delimiter)
        prompt = context + steps[-1]
        body = {
            "model": self.generator.model,
            "prompt": prompt,
            "echo": True,
            "logprobs": 1,
            "max_tokens": 1,
            "temperature": 0.0,
        }
        answer = self.generator._send("POST", "/completions", body)
        logprobs = (answer.get("choices") or [{}])[0].get("logprobs") or {}
        offsets = logprobs.get("text_offset") or []
        values = logprobs.get("token_logprobs") or []
        start, end = len(context), len(prompt)
        # the step's tokens: those starting inside it (the one generated token starts at its end)
        picked = [v for o, v in zip(offsets, values, strict=False) if start <= o < end]
        if not offsets or not picked or any(v is None for v in picked):
            raise ServerError(
                f"{self.generator.base_url} returned no log-probabilities of prompt tokens "
                f"(`echo` with `logprobs`): it cannot score steps; {ALTERNATIVES}. "
                "llama-server ignores `echo` (ggml-org/llama.cpp#27174)"
            )
        mean = sum(picked) / len(picked)
        return mean if self.raw else math.exp(mean)


class VLLMRewardScorer:
    """A process reward model served by vLLM's pooling API (Qwen2.5-Math-PRM style).

    The path is sent as the PRM's chat (``system``, the question, then the steps each followed by
    ``step_separator``) to ``/pooling``; vLLM's STEP pooler returns, for every separator, the
    probabilities of the labels, and ``label_index`` (1: "good") of the last one is the score.
    ``render`` may replace the default chat layout (ChatML as Qwen's PRMs use).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        step_separator: str = "<extra_0>",
        label_index: int = 1,
        system: str = "Please reason step by step, and put your final answer within \\boxed{}.",
        api_key: str | None = None,
        max_concurrency: int = 8,
        timeout: float = 120.0,
        transport: Any = None,
    ) -> None:
        # the generator's HTTP client, retries and errors; it never generates here
        self.client = OpenAICompatibleThoughtGenerator(
            base_url,
            model,
            api_key=api_key,
            max_concurrency=max_concurrency,
            timeout=timeout,
            transport=transport,
        )
        self.base_url = self.client.base_url
        # vLLM serves the pooling API at the server's root, beside (not under) /v1
        self.pooling_url = self.base_url.removesuffix("/v1") + "/pooling"
        self.model = model
        self.step_separator = step_separator
        self.label_index = label_index
        self.system = system
        self.name = f"prm[{model}]"

    def render(self, question: str, steps: Sequence[str]) -> str:
        answer = "".join(step + self.step_separator for step in steps)
        return (
            f"<|im_start|>system\n{self.system}<|im_end|>\n"
            f"<|im_start|>user\n{question}<|im_end|>\n"
            f"<|im_start|>assistant\n{answer}<|im_end|><|endoftext|>"
        )

    def score(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        """Every step's score, for each path (search-and-learn's PRM interface)."""
        jobs = list(zip(questions, step_lists, strict=True))
        if not jobs:
            return []
        workers = max(1, min(self.client.max_concurrency, len(jobs)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda job: self._score(*job), jobs))

    def score_last(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[float]:
        return [scores[-1] for scores in self.score(questions, step_lists)]

    def _score(self, question: str, steps: Sequence[str]) -> list[float]:
        body = {"model": self.model, "input": self.render(question, steps)}
        answer = self.client._send("POST", self.pooling_url, body)
        try:
            rows = answer["data"][0]["data"]
            scores = [float(row[self.label_index]) for row in rows]
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ServerError(
                f"{self.pooling_url} did not answer with per-step label probabilities "
                f"({type(error).__name__}: {error}); serve the PRM with vLLM's STEP pooler "
                "(docs/engines.md)"
            ) from error
        if len(scores) != len(steps):
            raise ServerError(
                f"{self.pooling_url} scored {len(scores)} steps of {len(steps)}: is "
                f"{self.step_separator!r} the PRM's step token (step_tag_id)?"
            )
        return scores
