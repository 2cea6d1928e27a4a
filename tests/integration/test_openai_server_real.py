"""A search through a real OpenAI-compatible server on 127.0.0.1 (issue 16.3).

The server is llama-cpp-python's own (``python -m llama_cpp.server``, the ``[server]`` extra)
serving the shipped 0.5B GGUF. It ignores ``n`` (one choice per request), which is what the
generator must notice and name; with ``supports_n=False`` it sends one seeded request per thought.
The steps are scored in-process by the llama.cpp likelihood scorer on the same weights, as a user
with a generation-only server would.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from extras import require_extra

from langgraph_specsearch import SpecSearch, SpecSearchConfig
from langgraph_specsearch.generators.base import GenerationSettings

pytestmark = pytest.mark.real_models

QUESTION = "Tom has 3 boxes of 4 apples. He eats 2 apples. How many apples are left?"
MODEL = "qwen-0.5b"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(require_models) -> Iterator[str]:
    """The base URL of a llama_cpp.server serving the drafter GGUF, stopped after the module."""
    require_models("drafter")
    require_extra("llama_cpp", "llamacpp")
    require_extra("fastapi", "server")
    require_extra("starlette_context", "server")
    import httpx

    from langgraph_specsearch.presets.assets import default_gguf_path

    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(default_gguf_path("drafter")),
    ]
    command += ["--model_alias", MODEL, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--n_ctx", "4096", "--verbose", "False"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {process.stderr.read()[-2000:]!r}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not answer within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _generator(url: str, **kwargs):
    from langgraph_specsearch.generators.openai_compatible import OpenAICompatibleThoughtGenerator

    return OpenAICompatibleThoughtGenerator(url, MODEL, **kwargs)


def test_a_server_that_ignores_n_is_named(server: str) -> None:
    from langgraph_specsearch.generators.openai_compatible import ServerError

    with pytest.raises(ServerError, match="ignores `n`"):
        _generator(server).generate(QUESTION, [[]], [2], GenerationSettings(max_new_tokens=16))


def test_a_wrong_model_name_is_refused_before_the_search(server: str) -> None:
    from langgraph_specsearch.generators.openai_compatible import (
        OpenAICompatibleThoughtGenerator,
        ServerError,
    )

    wrong = OpenAICompatibleThoughtGenerator(server, "llama-70b")
    reasoner = SpecSearch(drafter=wrong, target=_generator(server), scorer=lambda q, s: 0.5)
    refused = r"does not serve model 'llama-70b'; it serves qwen-0\.5b"
    with pytest.raises(ServerError, match=refused):
        reasoner.invoke(QUESTION)
    assert wrong.requests == 1  # only the model check: no generation was attempted


def test_a_seeded_search_through_the_server_counts_its_requests_and_repeats(server: str) -> None:
    from langgraph_specsearch.presets.assets import load_default_llamacpp_generator
    from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer

    scorer = LlamaCppLikelihoodScorer.from_generator(
        load_default_llamacpp_generator("drafter", n_ctx=2048)
    )
    config = SpecSearchConfig(
        beam_width=1, width=2, n_drafts=2, max_depth=3, max_step_tokens=32, seed=7
    )

    def run():
        drafter = _generator(server, supports_n=False, name="drafter")
        target = _generator(server, supports_n=False, name="target")
        result = SpecSearch(drafter=drafter, target=target, scorer=scorer, config=config).invoke(
            QUESTION
        )
        return result, drafter.requests, target.requests

    first, drafter_requests, target_requests = run()
    nodes = list(first.tree.nodes.values())
    drafted = sum(1 for node in nodes if node["model"] == "drafter")
    corrected = sum(1 for node in nodes if node["model"] == "target")
    assert drafted >= 2 and first.steps
    # one request per thought (the server ignores n), plus one model check per generator
    assert drafter_requests == drafted + 1 and target_requests == corrected + 1
    again, _, _ = run()
    assert again.steps == first.steps  # seeds sent and honoured: the run repeats
