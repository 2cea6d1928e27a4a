"""Run a call under LangGraph ``RetryPolicy`` objects (attempts, backoff, retry_on), with a timeout.

LangGraph retries whole nodes; some calls need their retries inside a node: the drafter's, so
that when they run out the target can take the step, and the scoring of corrections, so that a
retry does not write the corrections again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from langgraph.types import RetryPolicy

T = TypeVar("T")


def call_with_retry(
    call: Callable[[], T],
    policy: RetryPolicy | Sequence[RetryPolicy] | None,
    timeout_s: float | None = None,
) -> T:
    """Call ``call`` until it succeeds or the policy gives up.

    As in LangGraph, of a sequence of policies the first whose ``retry_on`` covers the error
    decides. A timed-out call is abandoned, not killed: its thread finishes in the background.
    """
    policies = [] if policy is None else [policy] if isinstance(policy, RetryPolicy) else policy
    attempt = 0
    while True:
        attempt += 1
        try:
            return _call(call, timeout_s)
        except Exception as error:
            chosen = next((p for p in policies if should_retry(p, error)), None)
            if chosen is None or attempt >= chosen.max_attempts:
                raise
            interval = chosen.initial_interval * chosen.backoff_factor ** (attempt - 1)
            pause = min(interval, chosen.max_interval)
            time.sleep(pause * (1 + random.random()) if chosen.jitter else pause)


def _call(call: Callable[[], T], timeout_s: float | None) -> T:
    if timeout_s is None:
        return call()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="specsearch-call")
    try:
        return pool.submit(call).result(timeout=timeout_s)
    except FutureTimeout as error:
        raise TimeoutError(f"model call took longer than {timeout_s} s") from error
    finally:
        pool.shutdown(wait=False)


def should_retry(policy: RetryPolicy, error: Exception) -> bool:
    """Whether ``policy.retry_on`` (a type, types, or a predicate) covers ``error``."""
    retry_on = policy.retry_on
    if isinstance(retry_on, type):
        return isinstance(error, retry_on)
    if isinstance(retry_on, Sequence):
        return isinstance(error, tuple(retry_on))
    return bool(retry_on(error))
