"""The shared rate limit (migration_assets.ratelimit) under concurrent extracts: the emulator, which
enforces Trengo's fixed window, never has to refuse a request when processes and threads share a token."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from trengo_support import env_for

from helpdesk_migrate.plugins.trengo.client import TrengoClient, TrengoConfig
from migration_assets.ratelimit import credential_key, shared_rate_limit

ROOT = Path(__file__).resolve().parents[2]

# One extract process: its own client (and limiter instance) on the shared token.
WORKER = """
import sys
from helpdesk_migrate.plugins.trengo.client import TrengoClient, TrengoConfig
import os
client = TrengoClient(TrengoConfig.from_env(os.environ))
for _ in range(int(sys.argv[1])):
    client.get("channels")
client.close()
print(client.stats.rate_limited)
"""


def run_processes(em, home: Path, n_processes: int, requests_each: int, **extra: str) -> list[int]:
    env = {**os.environ, **env_for(em, **extra), "MIGRATION_HOME": str(home), "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(requests_each)], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n_processes)]
    refused = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        refused.append(int(out.strip().splitlines()[-1]))
    return refused


# A 3-second window with 30 requests keeps the test short while the limit is really under test.
LIMIT, WINDOW = 30, 3


def test_processes_sharing_a_token_never_exceed_the_limit(emulator, home):
    em = emulator(size=5, rate_limit=LIMIT, window_seconds=WINDOW)
    run_processes(em, home, n_processes=3, requests_each=11)  # 33 requests: more than one window allows
    assert em.throttle.refused == 0
    assert em.throttle.max_hits_in_window <= LIMIT
    assert len([r for r in em.request_log() if r["status"] == 200]) == 33


def test_without_sharing_the_same_load_is_refused(emulator, home):
    """The control: limiters private to each process (memory://) overrun the token's budget."""
    em = emulator(size=5, rate_limit=LIMIT, window_seconds=WINDOW)
    refused = run_processes(em, home, n_processes=3, requests_each=11, MIGRATION_RATE_LIMIT_URL="memory://")
    assert em.throttle.refused > 0 and sum(refused) == em.throttle.refused


def test_threads_sharing_one_client_never_exceed_the_limit(emulator):
    em = emulator(size=5, rate_limit=LIMIT, window_seconds=2)
    client = TrengoClient(TrengoConfig.from_env(env_for(em)))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: client.get("labels"), range(33)))
    client.close()
    assert em.throttle.refused == 0 and client.stats.total_requests == 33


def test_a_pause_reaches_every_process_sharing_the_key(home):
    key = credential_key("token", "test")
    first = shared_rate_limit(key, 6000)
    second = shared_rate_limit(key, 6000)  # another process would open the same SQLite file
    first.pause(0.3)
    assert second.paused_for() > 0.2
    second.acquire()  # waits the pause out
    assert first.paused_for() == 0
    first.close()
    second.close()


def test_the_key_reveals_nothing_about_the_token():
    key = credential_key("super-secret-token", "trengo")
    assert "super-secret" not in key and len(key) == 32
    assert key == credential_key("super-secret-token", "trengo") != credential_key("other", "trengo")


def test_a_bad_backend_url_is_refused(home):
    with pytest.raises(ValueError, match="MIGRATION_RATE_LIMIT_URL"):
        shared_rate_limit("k", 60, url="ftp://nowhere")




@pytest.mark.redis
def test_redis_shares_the_budget_between_processes(emulator, home, redis_url):
    em = emulator(size=5, rate_limit=LIMIT, window_seconds=WINDOW)
    run_processes(em, home, n_processes=3, requests_each=11, MIGRATION_RATE_LIMIT_URL=redis_url)
    assert em.throttle.refused == 0


@pytest.mark.redis
def test_redis_pause_is_shared(redis_url):
    key = credential_key(f"token-{time.time()}", "test")
    first = shared_rate_limit(key, 6000, url=redis_url)
    second = shared_rate_limit(key, 6000, url=redis_url)
    first.pause(0.3)
    assert second.paused_for() > 0.2 and second.backend == "redis"
    first.close()
    second.close()
