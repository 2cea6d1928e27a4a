"""Many searches, one engine: concurrent calls to an in-process model run as one batch.

When ``batch``/``abatch`` run several searches at once, or a LangGraph server serves several
threads, each search's draft and correct stages call the same in-process model from their own
threads. A lock would run those calls one after another, each with a small batch; on a CPU (and
more so on a GPU) one decoding step costs little more for 18 rows than for 6, so that wastes most
of the engine. :class:`CallMerger` is the scheduling idea of SeeD (the peer the SpecSearch paper
cites) in its simplest form: while the engine runs one batch, the calls that arrive wait; when it
is free, the first waiting caller runs every waiting call with the same settings as one batch and
hands each caller its own rows back. A single search never waits, so it runs exactly as before.

The engine's ``run(key, payloads)`` gets the payloads of the calls it merges (each call keeps its
own seed inside its payload, so a call's rows are sampled from its own random stream) and returns
one result per payload. If a merged batch fails, each of its calls is retried alone, so a bad
input in one search fails that search only.

Every engine run of a device happens on that device's own thread. llama.cpp and torch parallelise
with OpenMP, which keeps a team of worker threads for each thread that calls in; a LangGraph
search calls its models from several threads, and once two teams are alive on a machine with
fewer cores than their threads, libgomp stops spinning at its barriers and every decode step
waits on the kernel instead: on this package's 2-core CI machine a llama.cpp decode step of 3
rows took 117 ms instead of 65, and of 12 rows 162 instead of 126
(``benchmarks/engine_thread.py``). One calling thread keeps one team.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

P = TypeVar("P")
R = TypeVar("R")
T = TypeVar("T")


@dataclass
class MergeStats:
    """How the engine's calls were run: ``batches`` engine runs for ``calls`` calls;
    ``merged_batches`` of the runs held more than one call; ``widest`` is the most calls in one."""

    calls: int = 0
    batches: int = 0
    merged_batches: int = 0
    widest: int = 0


class _Call(Generic[P, R]):
    __slots__ = ("error", "key", "merger", "payload", "result", "settled")

    def __init__(self, key: Hashable, payload: P, merger: object = None) -> None:
        self.key = key
        self.payload = payload
        self.merger = merger  # the CallMerger it belongs to; None: an exclusive turn
        self.result: R | None = None
        self.error: BaseException | None = None
        self.settled = False  # result or error is final

    def finish(self, result: R) -> None:
        self.result, self.settled = result, True

    def fail(self, error: BaseException) -> None:
        self.error, self.settled = error, True


class DeviceQueue:
    """The turns of one device: the models on it run one engine call at a time, oldest first.

    Two models on one CPU (or one GPU) that run at the same time do not run faster than one after
    the other: on a CPU each call's threads fight for the same cores. Every :class:`CallMerger`
    (and every scorer's ``exclusive`` turn) given the same queue therefore waits for the device,
    and while one model runs, the calls that arrive for any model queue and merge: a SpecSearch
    search drafting while another corrects gets bigger batches instead of two half-speed ones.
    A lone search never waits. :func:`device_queue` gives the process's queue for a device name.

    The engine runs themselves happen on the device's own thread (:meth:`on_thread`; see the
    module docstring for why): the caller whose turn it is waits for it there.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._condition = threading.Condition()
        self._pending: list[_Call] = []
        self._owner: int | None = None  # the thread whose batch runs; None: the device is free
        self._executor: ThreadPoolExecutor | None = None
        self._thread_id: int | None = None

    def __repr__(self) -> str:
        return f"DeviceQueue({self.name!r})"

    def held_here(self) -> bool:
        """Whether this thread holds the device (a call made inside a batch runs at once)."""
        ident = threading.get_ident()
        return self._owner == ident or (self._owner is not None and self._thread_id == ident)

    def on_thread(self, fn: Callable[..., T], /, *args: object) -> T:
        """``fn(*args)`` run on the device's own thread, in the caller's context variables (run
        at once when called there). Its exceptions reach the caller."""
        if self._thread_id == threading.get_ident():
            return fn(*args)
        with self._condition:
            if self._executor is None:
                prefix = f"specsearch-device-{self.name or id(self)}"
                self._executor = ThreadPoolExecutor(1, thread_name_prefix=prefix)
                self._thread_id = self._executor.submit(threading.get_ident).result()
            executor = self._executor
        return executor.submit(contextvars.copy_context().run, fn, *args).result()

    def run(self, fn: Callable[..., T], /, *args: object) -> T:
        """Hold the device and run ``fn(*args)`` on its thread: a call that merges with nothing
        (a scoring pass). Inside a batch (the device held here) it runs at once."""
        if self.held_here():
            return fn(*args)
        with self.exclusive():
            return self.on_thread(fn, *args)

    def _wait_turn(self, call: _Call) -> bool:
        """Queue ``call`` and wait (holding the condition) until it is settled by another
        caller's batch (False) or it is the oldest waiting call on a free device (True)."""
        self._pending.append(call)
        try:
            while not call.settled and (self._owner is not None or self._pending[0] is not call):
                self._condition.wait()
        except BaseException:  # interrupted while waiting: leave the queue, wake the next call
            if call in self._pending:
                self._pending.remove(call)
                self._condition.notify_all()
            raise
        return not call.settled

    def _release(self) -> None:
        with self._condition:
            self._owner = None
            self._condition.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the device for a call that merges with nothing (e.g. a scoring pass)."""
        if self.held_here():
            yield
            return
        call: _Call = _Call(None, None)
        with self._condition:
            self._wait_turn(call)
            self._pending.remove(call)
            self._owner = threading.get_ident()
        try:
            yield
        finally:
            self._release()


_DEVICES: dict[str, DeviceQueue] = {}
_DEVICES_LOCK = threading.Lock()


def device_queue(name: str) -> DeviceQueue:
    """The process's queue for device ``name`` ("cpu", "cuda:0", ...): in-process engines on the
    same device share it, so their calls take turns and merge (:class:`DeviceQueue`)."""
    with _DEVICES_LOCK:
        if name not in _DEVICES:
            _DEVICES[name] = DeviceQueue(name)
        return _DEVICES[name]


def run_locked(
    queue: DeviceQueue, lock: AbstractContextManager[object], fn: Callable[..., T], /, *args: object
) -> T:
    """``fn(*args)`` with the device's turn taken and ``lock`` (a model's) held, on the device's
    thread (:meth:`DeviceQueue.run`): a generator's scoring pass."""

    def locked() -> T:
        with lock:
            return fn(*args)

    return queue.run(locked)


class CallMerger(Generic[P, R]):
    """Run concurrent calls with equal keys as one engine call (see the module docstring).

    ``run(key, payloads)`` must return one result per payload, in order. Calls whose keys differ
    never share a batch; a key of None means "never merge this call". ``max_calls`` caps the
    calls in one batch (the engine still splits big batches into chunks of its own). ``queue``
    is the device the engine runs on; mergers sharing one take turns on it (:class:`DeviceQueue`;
    default: a queue of this merger's own).
    """

    def __init__(
        self,
        run: Callable[[Hashable, Sequence[P]], Sequence[R]],
        max_calls: int = 64,
        queue: DeviceQueue | None = None,
    ):
        if max_calls < 1:
            raise ValueError(f"max_calls must be >= 1, got {max_calls}")
        self._run = run
        self.max_calls = max_calls
        self.queue = queue if queue is not None else DeviceQueue()
        self.stats = MergeStats()

    @property
    def _pending(self) -> list[_Call[P, R]]:
        """This merger's calls waiting for the device."""
        return [call for call in self.queue._pending if call.merger is self]

    def submit(self, key: Hashable, payload: P) -> R:
        """Run ``payload`` (with any waiting calls of the same key) and return its result."""
        call: _Call[P, R] = _Call(key, payload, self)
        queue = self.queue
        if queue.held_here():  # called from inside a batch on this device: run now, here
            self._count([call])
            self._run_group([call], here=True)
        else:
            group: list[_Call[P, R]] = []
            with queue._condition:
                if queue._wait_turn(call):  # the device is free and this call is next: lead
                    group = self._take_group(call)
                    queue._owner = threading.get_ident()
            if group:
                try:
                    self._run_group(group)
                finally:  # the one wake-up: every call of the group is settled, the device free
                    queue._release()
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]

    def _results(self, group: Sequence[_Call[P, R]], here: bool) -> list[R]:
        payloads = [call.payload for call in group]
        key = group[0].key
        ran = self._run(key, payloads) if here else self.queue.on_thread(self._run, key, payloads)
        results = list(ran)
        if len(results) != len(group):
            raise RuntimeError(f"the engine returned {len(results)} results for {len(group)} calls")
        return results

    def _take_group(self, leader: _Call[P, R]) -> list[_Call[P, R]]:
        """The leader's call and the waiting calls that may join it, oldest first."""
        group = [leader]
        if leader.key is not None:
            others = [c for c in self._pending if c is not leader and c.key == leader.key]
            group += others[: self.max_calls - 1]
        for call in group:
            self.queue._pending.remove(call)
        self._count(group)
        return group

    def _count(self, group: Sequence[_Call[P, R]]) -> None:
        stats = self.stats
        stats.calls += len(group)
        stats.batches += 1
        stats.merged_batches += len(group) > 1
        stats.widest = max(stats.widest, len(group))

    def _run_group(self, group: list[_Call[P, R]], here: bool = False) -> None:
        """Settle every call of ``group``: one engine run, or, if it fails, one run per call
        (on the device's thread, or ``here`` in this one)."""
        try:
            try:
                results = self._results(group, here)
            except Exception:
                if len(group) == 1:
                    raise
                for call in group:  # one search's bad input must not fail the others
                    try:
                        call.finish(self._results([call], here)[0])
                    except Exception as error:
                        call.fail(error)
            else:
                for call, result in zip(group, results, strict=True):
                    call.finish(result)
        except BaseException as error:  # an interrupt, or the single call's own failure
            for call in group:
                if not call.settled:
                    call.fail(error)
