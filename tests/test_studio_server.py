"""`langgraph dev` serves the SpecSearch graph from langgraph.json, used through langgraph-sdk.

This is what LangGraph Studio does: it talks to the local server over HTTP. The server runs
offline with the scripted demo models (SPECSEARCH_MODELS=fake) on a free loopback port.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from extras import require_extra, skip_unless_ci

require_extra("langgraph_api", "dev")
langgraph_sdk = require_extra("langgraph_sdk", "dev")

REPO = Path(__file__).resolve().parents[1]
QUESTION = "What is 99^2 + 99 + 1?"
START_TIMEOUT_S = 45


def _cli() -> str | None:
    beside = Path(sys.executable).parent / "langgraph"
    return str(beside) if beside.exists() else shutil.which("langgraph")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"langgraph dev exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/ok", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"langgraph dev not up after {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(tmp_path_factory, {"width": 3, "n_drafts": 4, "max_depth": 6})


@pytest.fixture(scope="module")
def mcts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(tmp_path_factory, {"search": "mcts", "width": 2, "n_drafts": 3})


def _serve(tmp_path_factory: pytest.TempPathFactory, config: dict[str, object]) -> Iterator[str]:
    """`langgraph dev` on a free loopback port serving the graph built with ``config``."""
    tmp_path = tmp_path_factory.mktemp("langgraph_dev")
    cli = _cli()
    if cli is None:
        skip_unless_ci("the `langgraph` command (langgraph-cli[inmem]) is not on PATH")
    port = _free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "SPECSEARCH_MODELS": "fake",
        "SPECSEARCH_CONFIG": json.dumps(config),
    }
    env.pop("LANGSMITH_API_KEY", None)
    log = tmp_path / "server.log"
    command = [cli, "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--config", str(REPO / "langgraph.json")]
    with log.open("wb") as sink:  # the server's own files (.langgraph_api) land in tmp_path
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_langgraph_dev_serves_the_graph(server: str) -> None:
    client = langgraph_sdk.get_sync_client(url=server)
    assert client.assistants.search(graph_id="specsearch"), "langgraph.json names it 'specsearch'"
    thread = client.threads.create()
    stages, finals = [], []
    for part in client.runs.stream(
        thread["thread_id"],
        "specsearch",
        input={"question": QUESTION},
        stream_mode=["custom", "values"],
    ):
        assert part.event != "error", part.data
        if part.event == "custom":
            stages.append(part.data["stage"])
        elif part.event == "values":
            finals.append(part.data)
    assert stages[:5] == ["draft", "evaluate", "reject", "correct", "select"]

    state = client.threads.get_state(thread["thread_id"])["values"]
    assert state["answer"] == "9901" and state["finished"]
    assert len(state["nodes"]) > 5 and state["nodes"]["root"]["text"] == QUESTION
    assert state["threshold_history"] and state["threshold_history"][0]["step"] == 1
    assert state["steps"] and state["steps"][-1].endswith("9901")
    assert finals and finals[-1]["answer"] == "9901"


def test_studio_sees_typed_input_and_output(server: str) -> None:
    client = langgraph_sdk.get_sync_client(url=server)
    assistant = client.assistants.search(graph_id="specsearch")[0]
    schemas = client.assistants.get_schemas(assistant["assistant_id"])
    assert set(schemas["input_schema"]["properties"]) == {"question", "messages"}
    assert {"answer", "steps", "stats", "nodes"} <= set(schemas["output_schema"]["properties"])


def test_a_server_run_tunes_its_settings_and_bad_ones_are_refused(server: str) -> None:
    """Studio and SDK users set any SpecSearchConfig field per run (context or configurable)."""
    client = langgraph_sdk.get_sync_client(url=server)
    assistant = client.assistants.search(graph_id="specsearch")[0]
    schemas = client.assistants.get_schemas(assistant["assistant_id"])
    assert {"width", "theta", "mode"} <= set(schemas["context_schema"]["properties"])
    for run in ({"context": {"width": 2}}, {"config": {"configurable": {"width": 2}}}):
        thread = client.threads.create()
        client.runs.wait(thread["thread_id"], "specsearch", input={"question": QUESTION}, **run)
        nodes = client.threads.get_state(thread["thread_id"])["values"]["nodes"].values()
        kept = [n["parent"] for n in nodes if n["status"] in ("accepted", "corrected")]
        assert {kept.count(parent) for parent in kept} == {2}, run
    thread = client.threads.create()
    with pytest.raises(Exception, match="beam_width"):
        client.runs.wait(
            thread["thread_id"],
            "specsearch",
            input={"question": QUESTION},
            context={"beam_width": 9},
            raise_error=True,
        )


def test_studio_shows_an_mcts_run(mcts_server: str) -> None:
    """A server started with ``SPECSEARCH_CONFIG='{"search": "mcts"}'`` runs MCTS: its stage
    events name the MCTS nodes, and the tree Studio shows carries visits and values."""
    client = langgraph_sdk.get_sync_client(url=mcts_server)
    thread = client.threads.create()
    stages = [
        part.data["stage"]
        for part in client.runs.stream(
            thread["thread_id"], "specsearch", input={"question": QUESTION}, stream_mode="custom"
        )
        if part.event == "custom"
    ]
    assert {"select_leaf", "draft", "backup", "choose_move"} <= set(stages)
    state = client.threads.get_state(thread["thread_id"])["values"]
    assert state["answer"] == "9901"
    root = state["nodes"]["root"]
    assert root["visits"] > 0 and root["value"] is not None
    assert state["mcts"] is not None
