"""Enough requests in flight to keep a rate budget full, at any budget and any latency.

A source that reads with a fixed number of threads fills its budget only when threads x (1 / latency) happens to
exceed it: three threads at 150 ms make 20 requests a second at best, so a 1,200-a-minute token ran at 0.74 of
its budget, and a 6,000-a-minute one far lower. What keeps a budget full is Little's law: requests in flight =
rate x latency. ``BudgetPacedExecutor`` is a thread pool whose concurrency follows that product as the latency it
is told about changes (an exponentially weighted mean of the requests' own durations, the limiter's waits left
out), with headroom for the latency's spread; the shared rate limiter still decides when each request goes.

Why not a library: the executors and limiters around (concurrent.futures, pyrate-limiter, aiolimiter) each do
one half; the adaptive part is this module's thirty lines over concurrent.futures.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

DEFAULT_LATENCY_SECONDS = 0.2  # until the first request is measured: a typical SaaS API round trip
SMOOTHING = 0.2  # weight of the newest latency in the running mean
HEADROOM = 1.5  # in flight beyond rate x mean latency: latencies vary, a slow answer must not idle the budget


def concurrency_for(requests_per_second: float, latency_seconds: float, *, headroom: float = HEADROOM,
                    minimum: int = 1, maximum: int = 64) -> int:
    """Requests to keep in flight so ``requests_per_second`` is reached at ``latency_seconds`` a request."""
    wanted = math.ceil(requests_per_second * latency_seconds * headroom) + 1
    return max(minimum, min(maximum, wanted))


class _ResizableGate:
    """A semaphore whose size can change while threads hold or wait for it."""

    def __init__(self, size: int):
        self.size = size
        self._held = 0
        self._cond = threading.Condition()

    def resize(self, size: int) -> None:
        with self._cond:
            self.size = size
            self._cond.notify_all()

    def __enter__(self) -> None:
        with self._cond:
            while self._held >= self.size:
                self._cond.wait()
            self._held += 1

    def __exit__(self, *exc: Any) -> None:
        with self._cond:
            self._held -= 1
            self._cond.notify()


class BudgetPacedExecutor(Executor):
    """A thread pool that runs as many tasks at once as the budget needs at the measured latency.

    ``requests_per_second``: the budget; ``max_workers``: the ceiling (a setting); the client reports each
    request's duration to ``observe_latency``."""

    def __init__(self, requests_per_second: float, *, max_workers: int = 32, min_workers: int = 1,
                 thread_name_prefix: str = "paced"):
        self.requests_per_second = requests_per_second
        self.min_workers, self.max_workers = min_workers, max_workers
        self.latency = DEFAULT_LATENCY_SECONDS
        self._lock = threading.Lock()
        self._gate = _ResizableGate(self._target())
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=thread_name_prefix)

    def _target(self) -> int:
        return concurrency_for(self.requests_per_second, self.latency, minimum=self.min_workers,
                               maximum=self.max_workers)

    @property
    def concurrency(self) -> int:
        return self._gate.size

    def observe_latency(self, seconds: float) -> None:
        """One request's duration (without waiting for the budget): the concurrency follows the mean."""
        if seconds < 0 or not math.isfinite(seconds):
            return
        with self._lock:
            self.latency += SMOOTHING * (seconds - self.latency)
            target = self._target()
        if target != self._gate.size:
            self._gate.resize(target)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        def gated() -> Any:
            with self._gate:
                return fn(*args, **kwargs)

        return self._pool.submit(gated)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


__all__ = ["BudgetPacedExecutor", "concurrency_for"]
