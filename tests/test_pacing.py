"""Concurrency follows the budget and the measured latency (Little's law); the budget utilisation itself is
measured by benchmarks/budget_utilisation.py, not asserted here."""

from __future__ import annotations

import threading
import time

from helpdesk_migrate.sdk import BudgetPacedExecutor, concurrency_for


def test_in_flight_requests_are_rate_times_latency_with_headroom():
    assert concurrency_for(1, 0.15) == 2  # 60 a minute: one in flight is plenty, plus one
    assert concurrency_for(20, 0.15) == 6  # 1,200 a minute at 150 ms: 3 in flight, with headroom 5, plus one
    assert concurrency_for(100, 0.15) == 24  # 6,000 a minute
    assert concurrency_for(100, 2.0) == 64 and concurrency_for(100, 2.0, maximum=256) == 256  # 301 wanted
    assert concurrency_for(100, 2.0, maximum=40) == 40 and concurrency_for(0.01, 0.01) == 2  # never below 2


def test_the_pool_follows_the_measured_latency():
    pool = BudgetPacedExecutor(20, max_workers=64)
    try:
        start = pool.concurrency
        for _ in range(40):
            pool.observe_latency(1.0)  # the API slowed down: more requests must be in flight
        assert pool.concurrency > start and pool.concurrency == concurrency_for(20, pool.latency, maximum=64)
        for _ in range(60):
            pool.observe_latency(0.01)
        assert pool.concurrency <= 3
        pool.observe_latency(float("nan"))
        pool.observe_latency(-1)
        assert pool.latency < 0.02  # nonsense durations are ignored
    finally:
        pool.shutdown()


def test_the_gate_holds_running_tasks_to_the_concurrency_and_grows_with_it():
    pool = BudgetPacedExecutor(10, max_workers=16)
    pool.observe_latency(0.0)
    running, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def task():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1

    try:
        limit = pool.concurrency
        futures = [pool.submit(task) for _ in range(12)]
        time.sleep(0.2)
        assert peak[0] == limit < 12
        for _ in range(30):
            pool.observe_latency(1.0)
        time.sleep(0.2)
        assert peak[0] == min(12, pool.concurrency) > limit  # waiting tasks start once the gate widens
        release.set()
        for f in futures:
            f.result(5)
    finally:
        release.set()
        pool.shutdown()
