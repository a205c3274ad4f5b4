"""Request budgets shared by every process that uses the same API credential.

A platform's budget (say 120 requests a minute) belongs to the credential, not to a process: Dagster runs
each step in its own process, so a limiter kept in memory would let N steps spend N budgets. This module
hands out pyrate-limiter limiters whose state lives where all those processes see it:

- a SQLite file under the migration home (``MIGRATION_HOME``, default ``./.migration``), the default;
- Redis when ``MIGRATION_RATE_LIMIT_URL=redis://...`` (several machines);
- ``memory://`` for a limiter private to one process (quick scripts).

The policy is pyrate-limiter's GCRA (a token bucket): requests are spaced evenly, so throughput stays at
the limit instead of arriving in bursts that must then sit out the rest of a window. The period is
stretched by a small headroom (2%); half of it allows a small burst (so a request that comes late can be
caught up, and the limiter's millisecond rounding costs nothing), the other half absorbs the jitter
between when a slot is granted and when the request reaches the server. So any window the server counts
in, fixed or sliding, holds fewer requests than its limit.

A server that still answers "too many requests" says how long to wait; ``SharedRateLimit.pause`` records
that in the same shared place, so every process spending the credential holds off, not only the one that
was refused.

Requests have a priority (``Priority``), set for a whole step by the engine (``request_priority``): a request
waits while one of a higher priority has a slot booked, so what a person's go-ahead and the loads wait for
is read first, and what only an inventory needs fills the budget at the end, while the last loads run. The
budget stays as full as before: a lower priority takes every slot the higher ones leave.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path

from pyrate_limiter import (
    GCRA,
    InMemoryStateStore,
    Limiter,
    Rate,
    RedisStateStore,
    StateBucket,
    StateStore,
    WallClock,
)

RATE_LIMIT_URL_ENV = "MIGRATION_RATE_LIMIT_URL"
HOME_ENV = "MIGRATION_HOME"
# 1% below the stated limit: 0.6 s of request jitter on a 60-second window before a server's window could see
# one request too many (half of it, with the burst below); 99% of the budget is spent.
DEFAULT_HEADROOM = 0.01


class Priority(IntEnum):
    """How soon a request is needed; a lower value goes first."""

    URGENT = 0  # what a person's go-ahead, and so every load, waits for (the root objects a pair writes)
    NORMAL = 1  # the rest of what is loaded (messages, read per conversation)
    BACKGROUND = 2  # what no destination writes: read for the inventory and the archive, last


# How long a booking holds less urgent requests off: until this many intervals after its slot, the time its
# sender needs to answer, hand the answer over and book again (a crawl's threads do, one after another). One
# interval would let a less urgent request into every answer that comes a little late.
HOLD_INTERVALS = 2

_PRIORITY = [Priority.NORMAL]  # this process's requests (a step runs alone in its process, or one after another)


@contextmanager
def request_priority(priority: Priority) -> Iterator[None]:
    """Every request this process makes meanwhile, from any thread, has ``priority`` (the engine sets it around
    an extract step: plugins never choose it)."""
    before, _PRIORITY[0] = _PRIORITY[0], Priority(priority)
    try:
        yield
    finally:
        _PRIORITY[0] = before


def current_priority() -> Priority:
    return _PRIORITY[0]


def credential_key(secret: str, namespace: str = "") -> str:
    """A stable key for a credential's budget that reveals nothing about the credential."""
    return hashlib.sha256(f"{namespace}\0{secret}".encode()).hexdigest()[:32]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SQLiteStateStore(StateStore):
    """GCRA state (a few integers) and pauses in one SQLite file, updated atomically across processes.

    pyrate-limiter ships a SQLite bucket only for its log algorithms; the state stores it ships are in
    memory or Redis. ``BEGIN IMMEDIATE`` takes SQLite's write lock, so the read-step-write of one check
    never interleaves with another process's.
    """

    is_async = False
    default_clock = WallClock()  # shared between processes: a monotonic clock would not compare

    def __init__(self, path: Path, key: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.key = key
        self._lock = threading.Lock()  # one connection per store, shared by this process's threads
        self._conn = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # No fsync per commit: a budget's last milliseconds need not survive a power cut, and an fsync
            # per request would cap a fast limit at the disk's pace.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS rate_state (key TEXT PRIMARY KEY, state TEXT NOT NULL DEFAULT '', "
                "paused_until_ms INTEGER NOT NULL DEFAULT 0)"
            )
            # Until when each priority has a slot booked (see SharedRateLimit.acquire). Its own table, so a file
            # an earlier version wrote needs no migration.
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS rate_booked (key TEXT NOT NULL, priority INTEGER NOT NULL, "
                "until_ms INTEGER NOT NULL, PRIMARY KEY (key, priority))"
            )

    def _transaction(self, fn):
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn()
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return result

    def _row(self) -> tuple[str, int] | None:
        return self._conn.execute(
            "SELECT state, paused_until_ms FROM rate_state WHERE key = ?", (self.key,)
        ).fetchone()

    def check(self, algorithm, rates, now, weight):
        def step():
            row = self._row()
            values = row[0].split(",") if row and row[0] else []
            state = algorithm.decode(values) if len(values) == len(rates) else algorithm.initial(rates)
            new_state, decision = algorithm.step(rates, state, now, weight)
            if decision.allowed:
                self._conn.execute(
                    "INSERT INTO rate_state (key, state) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET state = excluded.state",
                    (self.key, ",".join(str(int(v)) for v in new_state)),
                )
            return decision

        return self._transaction(step)

    def read(self, algorithm, rates):
        with self._lock:
            row = self._row()
        values = row[0].split(",") if row and row[0] else []
        return algorithm.decode(values) if len(values) == len(rates) else algorithm.initial(rates)

    def reset(self) -> None:
        self._transaction(lambda: self._conn.execute("DELETE FROM rate_state WHERE key = ?", (self.key,)))

    def paused_until_ms(self) -> int:
        with self._lock:
            row = self._row()
        return int(row[1]) if row else 0

    def pause_until_ms(self, until_ms: int) -> None:
        self._transaction(lambda: self._conn.execute(
            "INSERT INTO rate_state (key, paused_until_ms) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
            "paused_until_ms = MAX(paused_until_ms, excluded.paused_until_ms)",
            (self.key, until_ms),
        ))

    def booked_until_ms(self, above: int) -> int:
        """The latest slot booked by a priority more urgent than ``above``, plus one interval (0: none)."""
        with self._lock:
            row = self._conn.execute("SELECT MAX(until_ms) FROM rate_booked WHERE key = ? AND priority < ?",
                                     (self.key, above)).fetchone()
        return int(row[0] or 0)

    def book_until_ms(self, priority: int, until_ms: int) -> None:
        with self._lock:  # one statement: atomic without an explicit transaction
            self._conn.execute(
                "INSERT INTO rate_booked (key, priority, until_ms) VALUES (?, ?, ?) ON CONFLICT(key, priority) "
                "DO UPDATE SET until_ms = MAX(until_ms, excluded.until_ms)", (self.key, priority, until_ms))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _RedisPause:
    def __init__(self, client, key: str):
        self._client, self._key = client, f"{key}:paused_until_ms"
        self._booked = f"{key}:booked_until_ms:"

    def paused_until_ms(self) -> int:
        value = self._client.get(self._key)
        return int(value) if value else 0

    def pause_until_ms(self, until_ms: int) -> None:
        ttl = max(1, until_ms - _now_ms())
        if until_ms > self.paused_until_ms():  # a shorter pause must not cut a longer one short
            self._client.set(self._key, until_ms, px=ttl)

    def booked_until_ms(self, above: int) -> int:
        if above <= 0:
            return 0
        values = self._client.mget([f"{self._booked}{p}" for p in range(above)])
        return max((int(v) for v in values if v), default=0)

    def book_until_ms(self, priority: int, until_ms: int) -> None:
        # A plain SET: two processes of one priority may race and keep the earlier of two close times, which
        # lets a lower priority in one interval early; nothing is over budget either way.
        self._client.set(f"{self._booked}{priority}", until_ms, px=max(1, until_ms - _now_ms()) + 1_000)


class _LocalPause:
    def __init__(self):
        self._until = 0
        self._booked: dict[int, int] = {}

    def paused_until_ms(self) -> int:
        return self._until

    def pause_until_ms(self, until_ms: int) -> None:
        self._until = max(self._until, until_ms)

    def booked_until_ms(self, above: int) -> int:
        return max((u for p, u in self._booked.items() if p < above), default=0)

    def book_until_ms(self, priority: int, until_ms: int) -> None:
        self._booked[priority] = max(self._booked.get(priority, 0), until_ms)


_ACQUIRED = [0]  # requests this process was admitted under any shared budget (see requests_acquired)
_ACQUIRED_LOCK = threading.Lock()


def requests_acquired() -> int:
    """Requests this process has been admitted under every shared budget so far. The engine reads it before and
    after an extract step (each runs alone in its process, or one after another in-process) to learn what the
    step cost its platform, whatever the plugin: the throughput plan's measured basis."""
    return _ACQUIRED[0]


_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(key: str) -> threading.Lock:
    """This process's turn to wait on the budget of ``key`` (a forked process starts with fresh locks)."""
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(key, threading.Lock())


def _fresh_locks_after_fork() -> None:
    # A lock held by a thread that does not exist in the child would hang it for good.
    global _PROCESS_LOCKS_GUARD
    _PROCESS_LOCKS_GUARD = threading.Lock()
    _PROCESS_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_locks_after_fork)


class SharedRateLimit:
    """A credential's budget: ``acquire()`` before every request, ``pause(seconds)`` when the server says
    to wait. ``limiter`` is the underlying pyrate-limiter ``Limiter``."""

    def __init__(self, key: str, limiter: Limiter, pauses, per_minute: float, backend: str,
                 bucket: StateBucket | None = None, interval_ms: float | None = None):
        self.key = key
        self.limiter = limiter
        self.per_minute = per_minute
        self.backend = backend  # "sqlite:<path>", "redis" or "memory": where the budget is shared
        self._pauses = pauses
        self._bucket = bucket
        # The spacing of two requests under the budget: how long a priority's booking holds the lower ones off.
        self.interval_ms = interval_ms if interval_ms is not None else 60_000 / max(per_minute, 1e-9)

    def acquire(self, priority: Priority | None = None) -> None:
        """Block until a request may go out under the shared budget.

        The slot is reserved first, then waited for: callers are served in the order they asked, whatever
        process they are in. (Waiting first and racing for each slot as it opens would let a step with a
        pool of threads, the message crawl, win nearly every slot from a step with one request to make, a
        small extract that the gates and the first loads wait for.) One thread per process reserves at a
        time, so a pool holds at most one slot ahead of everyone else.

        ``priority`` (default: this process's, ``request_priority``): a request waits, before it reserves, while
        a more urgent one has a slot booked (until HOLD_INTERVALS after that slot, the time its sender needs to
        book the next); each booking is recorded for the less urgent ones to see."""
        level = int(current_priority() if priority is None else priority)
        while True:
            # Outside this process's turn: a more urgent thread of this process must be able to take it.
            self._wait_for_more_urgent(level)
            with _process_lock(self.key):
                if level and self._pauses.booked_until_ms(level) > _now_ms():
                    continue  # a more urgent request booked while this one waited for its turn
                while True:
                    wait_ms = self._pauses.paused_until_ms() - _now_ms()
                    if wait_ms <= 0:
                        break
                    time.sleep(min(wait_ms, 5_000) / 1000)  # re-read: another process may have extended it
                slot = self.reserve()
                if level < max(Priority):  # nothing waits on the least urgent: no need to say when it is done
                    self._pauses.book_until_ms(level, slot + round(HOLD_INTERVALS * self.interval_ms))
                while (wait_ms := slot - _now_ms()) > 0:
                    time.sleep(wait_ms / 1000)
            break
        with _ACQUIRED_LOCK:
            _ACQUIRED[0] += 1

    def _wait_for_more_urgent(self, level: int) -> None:
        if level <= 0:
            return
        while (wait_ms := self._pauses.booked_until_ms(level) - _now_ms()) > 0:
            time.sleep(min(wait_ms, 5_000) / 1000)  # re-read: it may have booked again meanwhile

    def reserve(self) -> int:
        """Take the earliest free slot (epoch ms) and return it; the request may go out from then on.

        The state store admits a request "arriving" at that future time and commits it at once (its
        check is atomic across processes), so the budget's algorithm holds exactly as if the request had
        been sent then, and everyone asking later is given a later slot."""
        bucket = self._bucket
        if bucket is None:  # a limiter without a state store: its own blocking wait
            if not self.limiter.try_acquire(self.key):
                raise RuntimeError(f"rate limit {self.per_minute}/min can never admit a request")
            return _now_ms()
        at = _now_ms()
        for _ in range(10_000):
            decision = bucket.store.check(bucket.algorithm, bucket._rates, at, 1)
            if decision.allowed:
                return at
            if not decision.retry_after_ms:
                raise RuntimeError(f"rate limit {self.per_minute}/min can never admit a request")  # burst >= 1
            at += decision.retry_after_ms  # a slot someone else reserved meanwhile: the next one
        raise RuntimeError(f"rate limit {self.per_minute}/min: no free slot found")

    def pause(self, seconds: float) -> None:
        """Hold every process sharing this key off for ``seconds`` (a server's Retry-After)."""
        if seconds > 0:
            self._pauses.pause_until_ms(_now_ms() + int(seconds * 1000))

    def paused_for(self) -> float:
        return max(0.0, (self._pauses.paused_until_ms() - _now_ms()) / 1000)

    def close(self) -> None:
        self.limiter.close()


def _sqlite_path(url: str | None) -> Path:
    if url and url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):])
    home = Path(os.environ.get(HOME_ENV) or Path.cwd() / ".migration")
    return home / "ratelimit.sqlite"


def shared_rate_limit(
    key: str,
    per_minute: float,
    *,
    period_seconds: float = 60.0,
    headroom: float = DEFAULT_HEADROOM,
    url: str | None = None,
) -> SharedRateLimit:
    """The budget of ``key`` (use ``credential_key``): ``per_minute`` requests per ``period_seconds``
    (a minute unless an emulator rehearses a shorter window), shared through ``url`` or
    ``MIGRATION_RATE_LIMIT_URL``: ``redis://...``, ``sqlite:///path``, ``memory://``; default a SQLite file
    under ``MIGRATION_HOME``."""
    if per_minute <= 0:
        raise ValueError(f"a rate limit must be positive, got {per_minute}")
    url = url if url is not None else (os.environ.get(RATE_LIMIT_URL_ENV) or "").strip() or None
    # Spread `per_minute` requests over the period stretched by the headroom; Rate wants whole numbers.
    limit = max(1, round(per_minute))
    interval_ms = max(1, round(period_seconds * 1000 * (1 + headroom)))
    # GCRA lets at most limit/(1 + headroom) + burst requests into any period: keep the burst within half
    # the headroom, so the other half is left for jitter.
    burst = max(1, int(limit * headroom / (2 * (1 + headroom))))
    rate = Rate(limit, interval_ms, burst=burst)
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        client = redis.Redis.from_url(url)
        # pyrate-limiter's default expiry (twice the time a burst takes to drain) counts from the moment of the
        # check, but reserve() books slots ahead of it: the state must outlive the furthest booked slot, or it
        # expires with slots still booked and the next callers are admitted at once, over the budget (measured:
        # 122-134 a minute against 120). Two whole periods outlast any booking (one slot ahead per process).
        store: StateStore = RedisStateStore(client, key=f"ratelimit:{key}", ttl_ms=2 * interval_ms + 1_000)
        pauses, backend = _RedisPause(client, f"ratelimit:{key}"), "redis"
    elif url == "memory://":
        store, pauses, backend = InMemoryStateStore(), _LocalPause(), "memory"
    elif url is None or url.startswith("sqlite:///"):
        path = _sqlite_path(url)
        store = SQLiteStateStore(path, key)
        pauses, backend = store, f"sqlite:{path}"
    else:
        raise ValueError(f"{RATE_LIMIT_URL_ENV} must be redis://..., sqlite:///... or memory://")
    bucket = StateBucket([rate], algorithm=GCRA(), store=store, clock=WallClock())
    # No extra buffer: GCRA's wait is exact, and a buffer would be lost capacity on every request.
    limiter = Limiter(bucket, buffer_ms=0)
    return SharedRateLimit(key, limiter, pauses, per_minute, backend, bucket, interval_ms=interval_ms / limit)


__all__ = ["DEFAULT_HEADROOM", "RATE_LIMIT_URL_ENV", "Priority", "SQLiteStateStore", "SharedRateLimit",
           "credential_key", "current_priority", "request_priority", "requests_acquired", "shared_rate_limit"]
