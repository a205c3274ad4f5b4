"""The shared limiter on Redis never admits more than the budget, whatever number of processes (and threads in
each) spend it: every admission (the slot a request may go out at) is recorded, and no window of the budget's
period, sliding, holds more than the limit; nor is a request sent before its slot, and the budget is used (not
held by admitting next to nothing). A short run is in the default suite; the one over a minute, at Trengo's real
120 a minute, runs with TEST_LONG=1 (the repository's `slow` marker runs by default)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# One process: threads spending one budget until the end; each admission's slot and send time (epoch ms).
SPEND = """
import json, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from migration_assets.ratelimit import shared_rate_limit
url, key, limit, period, start, end, threads = sys.argv[1:8]
budget = shared_rate_limit(key, float(limit), period_seconds=float(period), url=url)
slots, sent, lock = [], [], threading.Lock()
reserve = budget.reserve
def recording_reserve():
    slot = reserve()
    with lock:
        slots.append(slot)
    return slot
budget.reserve = recording_reserve
time.sleep(max(0.0, float(start) - time.time()))
def spend():
    while time.time() < float(end):
        budget.acquire()
        with lock:
            sent.append(time.time_ns() // 1_000_000)
with ThreadPoolExecutor(int(threads)) as pool:
    for _ in range(int(threads)):
        pool.submit(spend)
print(json.dumps({"slots": slots, "sent": sent}))
"""




def most_in_any_window(times_ms: list[int], window_ms: float) -> int:
    times, most, first = sorted(times_ms), 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= window_ms:
            first += 1
        most = max(most, last - first + 1)
    return most


def spend_from_processes(url: str, *, limit: int, period: float, seconds: float, processes: int, threads: int):
    key = f"budget-test-{uuid.uuid4().hex}"  # a fresh budget on a shared Redis
    start = time.time() + 3.0  # every process has imported and connected
    end = start + seconds
    procs = [subprocess.Popen([sys.executable, "-c", SPEND, url, key, str(limit), str(period), str(start), str(end),
                               str(threads)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(processes)]
    slots, sent = [], []
    for p in procs:
        out, err = p.communicate(timeout=seconds + 120)
        assert p.returncode == 0, err
        got = json.loads(out.strip().splitlines()[-1])
        assert got["slots"], "a process was never admitted"
        slots += got["slots"]
        sent += got["sent"]
    return slots, sent, start


def check(slots, sent, *, limit: int, period: float, seconds: float, start: float) -> None:
    window_ms = period * 1000
    assert most_in_any_window(slots, window_ms) <= limit
    # acquire() never lets a request out before its slot: in any window there are no more sent than admitted.
    assert len(sent) <= len(slots) and min(sent) >= min(slots)
    # The budget was used, not merely respected: at least 90% of what the period allows over the run.
    admitted_in_run = len([s for s in slots if s <= (start + seconds) * 1000])
    assert admitted_in_run >= 0.9 * limit * seconds / period, (admitted_in_run, limit * seconds / period)


@pytest.mark.redis
def test_processes_sharing_a_redis_budget_are_never_admitted_over_it(redis_url):
    limit, period, seconds = 30, 3.0, 7.0
    slots, sent, start = spend_from_processes(redis_url, limit=limit, period=period, seconds=seconds, processes=4,
                                              threads=4)
    check(slots, sent, limit=limit, period=period, seconds=seconds, start=start)


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("TEST_LONG"), reason="runs over a minute: TEST_LONG=1 runs it")
def test_over_a_minute_at_trengos_real_budget_processes_are_never_admitted_over_it(redis_url):
    limit, period, seconds = 120, 60.0, 75.0
    slots, sent, start = spend_from_processes(redis_url, limit=limit, period=period, seconds=seconds, processes=4,
                                              threads=4)
    check(slots, sent, limit=limit, period=period, seconds=seconds, start=start)
