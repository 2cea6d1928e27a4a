"""Run a model call under a LangGraph ``RetryPolicy`` (attempts, backoff, retry_on), with a timeout.

LangGraph retries whole nodes; the drafter needs its retries inside ``draft`` so that, when they
run out, the target can take the step instead of the run failing.
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


def call_with_retry(call: Callable[[], T], policy: RetryPolicy, timeout_s: float | None) -> T:
    """Call ``call`` until it succeeds or the policy gives up.

    A timed-out call is abandoned, not killed: its thread finishes in the background.
    """
    interval = policy.initial_interval
    for attempt in range(1, policy.max_attempts + 1):
        try:
            if timeout_s is None:
                return call()
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="specsearch-draft")
            try:
                return pool.submit(call).result(timeout=timeout_s)
            except FutureTimeout as error:
                raise TimeoutError(f"drafter call took longer than {timeout_s} s") from error
            finally:
                pool.shutdown(wait=False)
        except Exception as error:
            if attempt == policy.max_attempts or not should_retry(policy, error):
                raise
            pause = min(interval, policy.max_interval)
            time.sleep(pause * (1 + random.random()) if policy.jitter else pause)
            interval *= policy.backoff_factor
    raise AssertionError("unreachable")  # pragma: no cover


def should_retry(policy: RetryPolicy, error: Exception) -> bool:
    """Whether ``policy.retry_on`` (a type, types, or a predicate) covers ``error``."""
    retry_on = policy.retry_on
    if isinstance(retry_on, type):
        return isinstance(error, retry_on)
    if isinstance(retry_on, Sequence):
        return isinstance(error, tuple(retry_on))
    return bool(retry_on(error))
