"""The shared limiter serves callers in the order they ask, whatever process they are in."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import pytest

from migration_assets.ratelimit import shared_rate_limit


@pytest.fixture(params=["sqlite", "redis"])
def budget_url(request, tmp_path):
    """Where the budget is shared: the default SQLite file, and Redis when TEST_REDIS_URL is set."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rl.sqlite'}"
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/15)")
    return url


def test_slots_are_reserved_in_order_so_a_late_small_caller_is_not_starved(budget_url):
    key = f"token-{uuid.uuid4().hex}"  # a fresh budget, also on a shared Redis
    crawl = shared_rate_limit(key, 60, url=budget_url)  # one request a second (plus a burst of 0-1)
    small = shared_rate_limit(key, 60, url=budget_url)  # another step spending the same credential
    taken = [crawl.reserve() for _ in range(5)]
    mine = small.reserve()
    assert taken == sorted(taken) and len(set(taken)) == 5
    gaps = [b - a for a, b in pairwise(taken[1:])]
    assert all(1000 <= g <= 1030 for g in gaps), gaps  # spaced by the rate (60/min, 2% headroom)
    # served right after what was reserved before it, not after whatever the crawl asks for next
    assert taken[-1] < mine <= taken[-1] + 1030
    assert crawl.reserve() > mine
    crawl.close(), small.close()


def test_one_thread_per_process_reserves_at_a_time(tmp_path):
    """A step's thread pool holds at most one slot ahead of the other processes."""
    budget = shared_rate_limit("token", 60_000, url=f"sqlite:///{tmp_path / 'rl.sqlite'}")
    inside, most, guard = [0], [0], threading.Lock()
    reserve = budget.reserve

    def counting_reserve() -> int:
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            return reserve()
        finally:
            with guard:
                inside[0] -= 1

    budget.reserve = counting_reserve
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: budget.acquire(), range(40)))
    assert most[0] == 1
    budget.close()


HOG = """
import sys, time
from concurrent.futures import ThreadPoolExecutor
from migration_assets.ratelimit import shared_rate_limit
budget = shared_rate_limit("token", 600, url=sys.argv[1])
end = time.time() + float(sys.argv[2])
def crawl():
    while time.time() < end:
        budget.acquire()
with ThreadPoolExecutor(8) as pool:
    for _ in range(8):
        pool.submit(crawl)
"""


def test_a_crawl_in_another_process_does_not_make_a_small_caller_wait_for_its_end(tmp_path):
    url = f"sqlite:///{tmp_path / 'rl.sqlite'}"
    hog = subprocess.Popen([sys.executable, "-c", HOG, url, "20"])
    try:
        small = shared_rate_limit("token", 600, url=url)
        before = small.reserve()  # once the crawl is under way (it reserves ahead by at most 8 slots)
        time.sleep(1.0)
        slots = [small.reserve() for _ in range(3)]
        # each of the small caller's slots comes within a few slots of asking, not after the 20 s crawl
        assert all(s - before < 20_000 for s in slots)
        assert slots[-1] - slots[0] < 5_000
        small.close()
    finally:
        hog.kill()
        hog.wait()


def test_a_less_urgent_request_waits_while_a_more_urgent_one_keeps_the_budget_busy(budget_url):
    """What a gate waits for is read first; what only an inventory needs takes the slots left over."""
    from migration_assets.ratelimit import Priority

    key = f"token-{uuid.uuid4().hex}"
    urgent = shared_rate_limit(key, 600, url=budget_url)  # a request every ~100 ms
    background = shared_rate_limit(key, 600, url=budget_url)
    granted: list[tuple[str, float]] = []

    def spend(limit, priority, n, label):
        for _ in range(n):
            limit.acquire(priority)
            granted.append((label, time.time()))

    with ThreadPoolExecutor(2) as pool:
        busy = pool.submit(spend, urgent, Priority.URGENT, 15, "urgent")
        time.sleep(0.05)  # the urgent caller has booked its first slot
        late = pool.submit(spend, background, Priority.BACKGROUND, 3, "background")
        busy.result(timeout=30)
        late.result(timeout=30)
    last_urgent = max(t for label, t in granted if label == "urgent")
    waited = sorted(t for label, t in granted if label == "background")
    assert waited[0] >= last_urgent, granted  # none before the urgent caller was done
    # ...and the budget was not left idle after it: the first leftover slot went to the background caller.
    assert waited[0] - last_urgent < 0.35, (waited[0] - last_urgent)
    # One budget: priorities never add requests to it (10 a second, and the limiter's burst of two).
    times = sorted(t for _, t in granted)
    assert max(sum(1 for u in times if t <= u < t + 1.0) for t in times) <= 12


def test_a_more_urgent_request_takes_the_next_slot_from_a_busy_less_urgent_caller(budget_url):
    from migration_assets.ratelimit import Priority

    key = f"token-{uuid.uuid4().hex}"
    crawl = shared_rate_limit(key, 600, url=budget_url)
    gate = shared_rate_limit(key, 600, url=budget_url)
    granted: list[tuple[str, float]] = []
    stop = threading.Event()

    def crawl_on():
        while not stop.is_set():
            crawl.acquire(Priority.BACKGROUND)
            granted.append(("crawl", time.time()))

    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(crawl_on)
        time.sleep(0.5)
        asked = time.time()
        for _ in range(5):
            gate.acquire(Priority.URGENT)
            granted.append(("gate", time.time()))
        took = time.time() - asked
        stop.set()
        running.result(timeout=30)
    # The crawl held at most the one slot it had booked when the urgent caller asked: no crawl request between
    # the urgent ones (counted in order, not in seconds: a loaded machine stretches every interval).
    last_gate = max(t for label, t in granted if label == "gate")
    during = [t for label, t in granted if label == "crawl" and asked < t < last_gate]
    assert len(during) <= 1, (during, took)


def test_request_priority_applies_to_the_whole_process_and_is_restored():
    from migration_assets.ratelimit import Priority, current_priority, request_priority

    assert current_priority() is Priority.NORMAL
    with request_priority(Priority.BACKGROUND):
        seen = []
        worker = threading.Thread(target=lambda: seen.append(current_priority()))
        worker.start()
        worker.join()
        assert seen == [Priority.BACKGROUND]  # the crawl's thread pool sends with the step's priority
    assert current_priority() is Priority.NORMAL
