"""Make concurrent calls to one engine queue behind a held batch, so they merge every time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def run_behind_a_held_batch(engine: Any, hold: str, work: list[Callable[[], Any]]) -> list[Any]:
    """Run ``work[0]`` until ``engine.<hold>`` starts, hold it there until the other calls wait
    in ``engine.merger``, then let everything run; each call's result (or error), in order."""
    gate, started = threading.Event(), threading.Event()
    original = getattr(engine, hold)

    def held(*args: Any, **kwargs: Any) -> Any:
        if not started.is_set():
            started.set()
            assert gate.wait(10), "the held batch was never released"
        return original(*args, **kwargs)

    results: list[Any] = [None] * len(work)

    def call(index: int) -> None:
        try:
            results[index] = work[index]()
        except Exception as error:  # the test inspects it
            results[index] = error

    setattr(engine, hold, held)
    try:
        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(work))]
        threads[0].start()
        assert started.wait(10), "the first call never reached the engine"
        for thread in threads[1:]:
            thread.start()
        deadline = time.monotonic() + 10
        while len(engine.merger._pending) < len(work) - 1:
            assert time.monotonic() < deadline, "the other calls never queued"
            time.sleep(0.001)
        gate.set()
        for thread in threads:
            thread.join(30)
    finally:
        setattr(engine, hold, original)
    return results
