"""Many searches, one engine: concurrent calls merged into one batch (generators/merging.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from langgraph_specsearch.generators.merging import CallMerger, DeviceQueue, MergeStats


class _Engine:
    """Records each run's payloads; the first run blocks until ``release`` so others queue."""

    def __init__(self, fail_on: object = None) -> None:
        self.runs: list[tuple[Any, list[Any]]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, key: Any, payloads: Sequence[Any]) -> list[Any]:
        self.runs.append((key, list(payloads)))
        if len(self.runs) == 1:
            self.started.set()
            assert self.release.wait(5)
        if self.fail_on in payloads:
            raise ValueError(f"bad payload {self.fail_on!r}")
        return [f"out:{payload}" for payload in payloads]


def _submit_all(merger: CallMerger, calls: list[tuple[Any, Any]], engine: _Engine) -> list[Any]:
    """Submit the first call, wait until the engine runs it, queue the rest, then release."""
    results: list[Any] = [None] * len(calls)

    def worker(index: int) -> None:
        try:
            results[index] = merger.submit(*calls[index])
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(calls))]
    threads[0].start()
    assert engine.started.wait(5)
    for thread in threads[1:]:
        thread.start()
    _wait_until(lambda: len(merger._pending) == len(calls) - 1)
    engine.release.set()
    for thread in threads:
        thread.join(10)
    return results


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_lone_call_runs_alone_and_gets_its_result():
    engine = _Engine()
    engine.release.set()
    merger = CallMerger(engine)
    assert merger.stats == MergeStats(calls=0, batches=0, merged_batches=0, widest=0)
    assert merger.submit("k", 1) == "out:1"
    assert engine.runs == [("k", [1])]
    assert (merger.stats.calls, merger.stats.batches, merger.stats.merged_batches) == (1, 1, 0)


def test_calls_that_wait_for_the_engine_run_as_one_batch_and_each_gets_its_own_rows():
    engine = _Engine()
    merger = CallMerger(engine)
    results = _submit_all(merger, [("k", 0), ("k", 1), ("k", 2), ("k", 3)], engine)
    assert results == ["out:0", "out:1", "out:2", "out:3"]
    assert engine.runs[0] == ("k", [0])
    assert sorted(engine.runs[1][1]) == [1, 2, 3]  # the three waiting calls, merged
    assert len(engine.runs) == 2
    assert merger.stats.merged_batches == 1 and merger.stats.widest == 3


def test_calls_with_other_keys_or_no_key_are_never_merged():
    engine = _Engine()
    merger = CallMerger(engine)
    calls = [("a", 0), ("a", 1), ("b", 2), ("a", 3), (None, 4), (None, 5)]
    results = _submit_all(merger, calls, engine)
    assert results == [f"out:{i}" for i in range(6)]
    for key, payloads in engine.runs:
        assert all(calls[p][0] == key for p in payloads)
        if key is None:
            assert len(payloads) == 1
    merged = [sorted(p) for k, p in engine.runs if len(p) > 1]
    assert merged == [[1, 3]]


def test_max_calls_caps_a_batch():
    engine = _Engine()
    merger = CallMerger(engine, max_calls=2)
    results = _submit_all(merger, [("k", i) for i in range(5)], engine)
    assert results == [f"out:{i}" for i in range(5)]
    assert max(len(p) for _, p in engine.runs) == 2
    with pytest.raises(ValueError, match="max_calls"):
        CallMerger(engine, max_calls=0)


def test_max_calls_1_never_merges():
    engine = _Engine()
    merger = CallMerger(engine, max_calls=1)
    assert _submit_all(merger, [("k", i) for i in range(3)], engine) == ["out:0", "out:1", "out:2"]
    assert [len(p) for _, p in engine.runs] == [1, 1, 1]


def test_one_bad_call_fails_alone_and_the_others_still_get_their_rows():
    engine = _Engine(fail_on=2)
    merger = CallMerger(engine)
    results = _submit_all(merger, [("k", 0), ("k", 1), ("k", 2), ("k", 3)], engine)
    assert results[0] == "out:0" and results[1] == "out:1" and results[3] == "out:3"
    assert isinstance(results[2], ValueError) and "bad payload 2" in str(results[2])
    assert [p for _, p in engine.runs[2:]] == [[p] for p in engine.runs[1][1]]  # retried alone


def test_a_lone_failure_is_raised_as_is():
    engine = _Engine(fail_on=7)
    engine.release.set()
    merger = CallMerger(engine)
    with pytest.raises(ValueError, match="bad payload 7"):
        merger.submit("k", 7)
    assert engine.runs == [("k", [7])]  # a lone call is not run again
    assert merger.submit("k", 8) == "out:8"  # the engine is free again


def test_an_engine_that_returns_the_wrong_number_of_results_is_an_error():
    merger = CallMerger(lambda key, payloads: [])
    with pytest.raises(RuntimeError, match="0 results for 1 calls"):
        merger.submit("k", 1)


class _Interrupt(BaseException):
    """Stands for KeyboardInterrupt, which must not be swallowed (nor raised in the test run)."""


def test_an_interrupt_while_retrying_fails_only_the_calls_not_yet_settled():
    """A merged batch fails; while its calls are retried one by one, the second retry is
    interrupted: the first keeps its result, the second and third get the interrupt."""
    runs: list[list[int]] = []

    def run(key, payloads):
        runs.append(list(payloads))
        if len(payloads) > 1:
            raise ValueError("the merged batch fails")
        if payloads == [1]:
            raise _Interrupt()
        return [f"out:{payloads[0]}"]

    merger = CallMerger(run)
    group = [_call(0), _call(1), _call(2)]
    merger._run_group(group)
    assert runs == [[0, 1, 2], [0], [1]]
    assert (group[0].result, group[0].error) == ("out:0", None)
    assert all(isinstance(call.error, _Interrupt) for call in group[1:])
    assert all(call.settled for call in group)


def test_an_error_a_retry_settled_is_kept_when_a_later_retry_is_interrupted():
    def run(key, payloads):
        if len(payloads) > 1:
            raise ValueError("the merged batch fails")
        raise ValueError(f"bad {payloads[0]}") if payloads == [0] else _Interrupt()

    group = [_call(0), _call(1)]
    CallMerger(run)._run_group(group)
    assert isinstance(group[0].error, ValueError) and str(group[0].error) == "bad 0"
    assert isinstance(group[1].error, _Interrupt)


def _call(payload):
    from langgraph_specsearch.generators.merging import _Call

    return _Call("k", payload)


# ------------------------------------------------------------------------ one device, many models
class _Timeline:
    """Engines that record when each run starts and ends, to check that runs never overlap."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, list[Any]]] = []
        self.lock = threading.Lock()
        self.running = 0
        self.overlapped = False

    def engine(self, name: str, hold: threading.Event | None = None, started=None):
        def run(key: Any, payloads: Sequence[Any]) -> list[Any]:
            with self.lock:
                self.running += 1
                self.overlapped |= self.running > 1
                self.events.append(("start", name, list(payloads)))
            if started is not None:
                started.set()
            if hold is not None:
                assert hold.wait(5)
            time.sleep(0.01)
            with self.lock:
                self.running -= 1
                self.events.append(("end", name, list(payloads)))
            return [f"{name}:{payload}" for payload in payloads]

        return run


def _in_threads(work: list[Callable[[], Any]]) -> tuple[list[threading.Thread], list[Any]]:
    results: list[Any] = [None] * len(work)

    def call(index: int) -> None:
        try:
            results[index] = work[index]()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(work))]
    return threads, results


def test_models_sharing_a_device_take_turns_and_the_calls_that_wait_merge():
    """While the drafter's batch runs, a target call and three more drafter calls arrive: none
    runs beside it; the target call (oldest) runs next, then the drafter calls as one batch."""
    timeline = _Timeline()
    hold, started = threading.Event(), threading.Event()
    queue = DeviceQueue("cpu")
    drafter = CallMerger(timeline.engine("drafter", hold, started), queue=queue)
    target = CallMerger(timeline.engine("target"), queue=queue)
    threads, results = _in_threads(
        [lambda: drafter.submit("k", 0), lambda: target.submit("k", 1)]
        + [lambda i=i: drafter.submit("k", i) for i in (2, 3, 4)]
    )
    threads[0].start()
    assert started.wait(5)
    threads[1].start()
    _wait_until(lambda: len(queue._pending) == 1)  # the target call waits first: it is oldest
    for thread in threads[2:]:
        thread.start()
    _wait_until(lambda: len(queue._pending) == 4)
    hold.set()
    for thread in threads:
        thread.join(10)
    assert results == ["drafter:0", "target:1", "drafter:2", "drafter:3", "drafter:4"]
    assert not timeline.overlapped
    starts = [(name, sorted(p)) for kind, name, p in timeline.events if kind == "start"]
    assert starts == [("drafter", [0]), ("target", [1]), ("drafter", [2, 3, 4])]
    assert len(target._pending) == 0 and drafter.stats.merged_batches == 1


def test_separate_devices_run_side_by_side():
    timeline = _Timeline()
    hold, started = threading.Event(), threading.Event()
    first = CallMerger(timeline.engine("gpu0", hold, started), queue=DeviceQueue("cuda:0"))
    second = CallMerger(timeline.engine("gpu1"), queue=DeviceQueue("cuda:1"))
    threads, results = _in_threads([lambda: first.submit("k", 0), lambda: second.submit("k", 1)])
    threads[0].start()
    assert started.wait(5)
    threads[1].start()
    threads[1].join(5)
    assert results[1] == "gpu1:1"  # ran while the other device was still busy
    hold.set()
    threads[0].join(5)
    assert timeline.overlapped and results[0] == "gpu0:0"


def test_an_exclusive_turn_waits_for_the_running_batch_and_holds_off_the_next():
    timeline = _Timeline()
    hold, started = threading.Event(), threading.Event()
    queue = DeviceQueue()
    merger = CallMerger(timeline.engine("model", hold, started), queue=queue)

    def score() -> str:
        with queue.exclusive():
            timeline.events.append(("start", "scorer", []))
            time.sleep(0.02)
            timeline.events.append(("end", "scorer", []))
        return "scored"

    threads, results = _in_threads(
        [lambda: merger.submit("k", 0), score, lambda: merger.submit("k", 2)]
    )
    threads[0].start()
    assert started.wait(5)
    threads[1].start()
    _wait_until(lambda: len(queue._pending) == 1)
    threads[2].start()
    _wait_until(lambda: len(queue._pending) == 2)
    assert len(timeline.events) == 1  # the scoring turn waits for the batch
    hold.set()
    for thread in threads:
        thread.join(10)
    assert results == ["model:0", "scored", "model:2"]
    assert [(kind, name) for kind, name, _ in timeline.events] == [
        ("start", "model"),
        ("end", "model"),
        ("start", "scorer"),
        ("end", "scorer"),
        ("start", "model"),
        ("end", "model"),
    ]


def test_a_call_made_inside_a_batch_on_the_same_device_runs_at_once():
    """A model's run that calls another model on its device (an assistant, a scorer) holds the
    device already: waiting for it would deadlock."""
    queue = DeviceQueue()
    inner = CallMerger(lambda key, payloads: [f"inner:{p}" for p in payloads], queue=queue)

    def outer_run(key, payloads):
        with queue.exclusive():
            scored = "scored"
        return [f"{inner.submit('k', p)}+{scored}" for p in payloads]

    outer = CallMerger(outer_run, queue=queue)
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(outer.submit("k", 1)))
    thread.start()
    thread.join(5)
    assert done == ["inner:1+scored"]
    assert (inner.stats.calls, inner.stats.batches) == (1, 1)  # counted like any other call
    assert queue._owner is None  # the device is free again
    assert inner.submit("k", 2) == "inner:2"


def test_every_engine_run_happens_on_the_devices_own_thread():
    """OpenMP engines keep a thread team per calling thread, and two live teams on a small
    machine make every decode step wait on the kernel (module docstring): whichever thread calls,
    merged batches, lone calls and exclusive runs all run on the device's one thread."""
    queue = DeviceQueue("test")
    ran_on: list[int] = []

    def run(key: Any, payloads: Sequence[Any]) -> list[Any]:
        ran_on.append(threading.get_ident())
        return list(payloads)

    models = [CallMerger(run, queue=queue), CallMerger(run, queue=queue)]
    callers: list[int] = []

    def caller(index: int) -> None:
        callers.append(threading.get_ident())
        models[index % 2].submit("k", index)
        queue.run(lambda: ran_on.append(threading.get_ident()))

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    models[0].submit("k", "main")
    callers.append(threading.get_ident())
    assert sum(model.stats.calls for model in models) == 5
    assert len(ran_on) == 4 + sum(model.stats.batches for model in models)  # 4 exclusive runs
    assert len(set(ran_on)) == 1
    assert not set(ran_on) & set(callers)


def test_a_device_run_sees_the_callers_context_variables_and_raises_its_errors():
    """LangGraph passes the stream writer and the run's config in context variables."""
    import contextvars

    queue = DeviceQueue()
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="unset")
    variable.set("the caller's")
    assert queue.run(variable.get) == "the caller's"

    def bad() -> None:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        queue.run(bad)
    assert queue._owner is None  # released after the error


def test_a_run_that_calls_a_model_on_its_own_device_runs_it_at_once():
    """A scoring pass (``run``) that generates holds the device on its thread: waiting there
    for a turn would deadlock."""
    queue = DeviceQueue()
    model = CallMerger(lambda key, payloads: [f"out:{p}" for p in payloads], queue=queue)
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(queue.run(model.submit, "k", 1)))
    thread.start()
    thread.join(5)
    assert done == ["out:1"]
    assert queue._owner is None


def test_nested_device_runs_run_at_once_on_the_devices_named_thread():
    """A run on the device's thread that asks for the device's thread again (directly or with a
    turn) runs at once; the thread is named after the device, for profilers and tracebacks."""
    queue = DeviceQueue("cpu-test")

    def where() -> tuple[int, str]:
        return threading.get_ident(), threading.current_thread().name

    inner_on_thread = queue.run(queue.on_thread, where)
    inner_run = queue.run(queue.run, where)
    assert inner_on_thread == inner_run
    assert inner_run[0] != threading.get_ident()
    assert inner_run[1].startswith("specsearch-device-cpu-test")


def test_run_locked_holds_the_models_lock_on_the_devices_thread():
    from langgraph_specsearch.generators.merging import run_locked

    queue, lock = DeviceQueue(), threading.RLock()

    def inside() -> tuple[int, bool]:
        return threading.get_ident(), lock._is_owned()  # type: ignore[attr-defined]

    ident, owned = run_locked(queue, lock, inside)
    assert owned and ident != threading.get_ident()
    assert not lock._is_owned()  # type: ignore[attr-defined]


def test_a_call_made_while_holding_an_exclusive_turn_runs_on_the_holders_thread():
    """``generator.exclusive()`` holds the device and the model's lock on the caller's thread; a
    call made inside it must run there too (on the device's thread it would wait for that lock)."""
    queue, lock = DeviceQueue(), threading.RLock()

    def run(key: Any, payloads: Sequence[Any]) -> list[Any]:
        with lock:
            return [threading.get_ident() for _ in payloads]

    model = CallMerger(run, queue=queue)
    done: list[bool] = []

    def holder() -> None:
        with queue.exclusive(), lock:
            done.append(model.submit("k", 1) == threading.get_ident())

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    thread.join(5)
    assert done == [True]


def test_device_queue_is_one_per_device_name():
    from langgraph_specsearch.generators.merging import device_queue

    assert device_queue("cpu") is device_queue("cpu")
    assert repr(device_queue("cuda:0")) == "DeviceQueue('cuda:0')"
    assert device_queue("cpu") is not device_queue("cuda:0")
    assert CallMerger(lambda k, p: list(p)).queue is not CallMerger(lambda k, p: list(p)).queue


def test_a_new_call_does_not_jump_ahead_of_an_older_waiting_one():
    """The device is free but an older call still waits (its thread not yet woken): a call
    arriving now queues behind it instead of taking the device first."""
    from langgraph_specsearch.generators.merging import _Call

    queue = DeviceQueue()
    merger = CallMerger(lambda key, payloads: [f"out:{p}" for p in payloads], queue=queue)
    older: _Call = _Call(None, None)
    queue._pending.append(older)
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(merger.submit("k", 1)))
    thread.start()
    thread.join(0.2)
    assert done == [] and thread.is_alive()  # still behind the older call
    with queue._condition:
        queue._pending.remove(older)
        queue._condition.notify_all()
    thread.join(5)
    assert done == ["out:1"]


def test_a_call_interrupted_while_waiting_leaves_the_queue_to_the_others():
    """An interrupt that reaches a waiting caller must not leave its call at the head of the
    queue, where every later call would wait behind it for ever."""
    queue = DeviceQueue()
    merger = CallMerger(lambda key, payloads: [f"out:{p}" for p in payloads], queue=queue)
    original_wait = queue._condition.wait
    victim: list[int] = []

    def wait(timeout=None):
        if threading.get_ident() in victim:
            raise _Interrupt()
        return original_wait(timeout)

    queue._condition.wait = wait  # type: ignore[method-assign]
    interrupted: list[BaseException] = []

    def waiter() -> None:
        victim.append(threading.get_ident())
        try:
            merger.submit("k", 0)
        except _Interrupt as error:
            interrupted.append(error)

    with queue.exclusive():  # the device is busy, so the waiter waits (and is interrupted)
        thread = threading.Thread(target=waiter)
        thread.start()
        thread.join(5)
    assert interrupted and queue._pending == []
    assert merger.submit("k", 1) == "out:1"  # nothing is stuck at the head of the queue
