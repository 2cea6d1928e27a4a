"""Stage events reach every LangChain surface: the custom stream, ``astream_events`` (v2) and
callback handlers, so LangSmith and callback users see every decision (issue 15, item 6)."""

from __future__ import annotations

from typing import Any

from fakes import AuthorScorer, ScriptedGenerator
from langchain_core.callbacks import BaseCallbackHandler

from langgraph_specsearch import SpecSearchConfig, create_specsearch_graph

QUESTION = "Tom has 3 apples and buys 4 more. How many apples does he have?"
STAGES = ["draft", "evaluate", "reject", "correct", "select"]


def _graph() -> Any:
    return create_specsearch_graph(
        ScriptedGenerator("small"),
        ScriptedGenerator("big"),
        AuthorScorer({"small": 0.7, "big": 0.5}, jitter=0.2),
        config=SpecSearchConfig(beam_width=1, width=2, n_drafts=3, max_depth=3, seed=1),
    )


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.events.append((name, data))


def test_callback_handlers_get_the_same_events_as_the_custom_stream() -> None:
    streamed = [e for e in _graph().stream({"question": QUESTION}, stream_mode="custom")]
    recorder = Recorder()
    _graph().invoke({"question": QUESTION}, {"callbacks": [recorder]})
    assert [name for name, _ in recorder.events] == [f"specsearch.{e['stage']}" for e in streamed]
    assert [data for _, data in recorder.events] == streamed
    assert [e["stage"] for e in streamed[:5]] == STAGES
    rejects = [data for name, data in recorder.events if name == "specsearch.reject"]
    assert any(item["accepted"] for event in rejects for item in event["items"])
    assert all("threshold" in event for event in rejects)


async def test_astream_events_v2_carries_every_stage_event() -> None:
    names = [
        event["name"]
        async for event in _graph().astream_events({"question": QUESTION}, version="v2")
        if event["event"] == "on_custom_event"
    ]
    assert names[:5] == [f"specsearch.{stage}" for stage in STAGES]
    assert len(names) % 5 == 0 and len(names) >= 5
