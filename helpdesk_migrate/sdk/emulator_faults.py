"""What every emulator shares besides serving: one fault vocabulary, a request log, a token bucket and named
shape profiles. Part of the emulator kit (``helpdesk_migrate.sdk.emulator`` re-exports it).

One fault vocabulary for every platform, so a reliability campaign or a test says the same thing to any
emulator. A fault is armed by how often it fires:

- ``<fault>_next``: the next N matching requests;
- ``<fault>_every``: every k-th matching request;
- ``<fault>_rate``: each matching request with this probability (a seeded generator: runs repeat).

The faults, in the order an emulator checks them:

- ``reset``: the connection is reset before any answer;
- ``rate_limit``: the platform's 429; with ``storm_seconds``, every request of that many seconds gets one;
- ``expired_auth``: the platform's answer to an expired session or token;
- ``server_error``: a 5xx (``server_error_status``, else the platform's usual one) instead of processing;
- ``lose_response``: a write is processed, then its answer is lost (a 502): the client cannot tell;
- ``reset_mid_body``: the answer's headers and part of its body, then a reset;
- ``slow_body``: the answer waits ``slow_ms`` before it goes out.

Parameters: ``latency_ms`` (every request waits that long first), ``slow_ms``, ``storm_seconds``,
``server_error_status``, and the filters ``fault_path`` (a path prefix) and ``fault_method``. A platform adds its
own switches (Salesforce's row locks, say) as ``extra``; they are armed and read through the same object.
What the answers look like is the platform's: the kit decides *whether* a fault fires, the emulator answers.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

BEFORE = ("reset", "rate_limit", "expired_auth", "server_error")
AFTER = ("lose_response", "reset_mid_body", "slow_body")
FAULTS = BEFORE + AFTER
ARMS = ("next", "every", "rate")
PARAMS = ("latency_ms", "slow_ms", "storm_seconds", "server_error_status", "fault_path", "fault_method")
VOCABULARY = frozenset(f"{f}_{a}" for f in FAULTS for a in ARMS) | frozenset(PARAMS)


class Faults:
    """The fault switches of one emulator, thread-safe. ``arm(server_error_next=2)``; ``due("server_error",
    method, path)`` says whether one fires now (and counts it in ``fired``)."""

    def __init__(self, switches: Mapping[str, Any] | None = None, *, extra: Iterable[str] = (), seed: int = 0):
        self.extra = frozenset(extra)
        self.values: dict[str, Any] = {}
        self.fired: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._seen: Counter[str] = Counter()  # matching requests per fault, for _every
        self._storm_until = 0.0
        self.arm(**dict(switches or {}))

    @property
    def known(self) -> frozenset[str]:
        return VOCABULARY | self.extra

    def arm(self, **switches: Any) -> None:
        """Set switches (0, None or "" clears one); an unknown name is refused with the vocabulary."""
        unknown = set(switches) - self.known
        if unknown:
            raise ValueError(f"unknown fault switch(es) {sorted(unknown)}; known: {', '.join(sorted(self.known))}")
        with self._lock:
            for name, value in switches.items():
                if value in (None, 0, "", False):
                    self.values.pop(name, None)
                else:
                    self.values[name] = value

    def update(self, switches: Mapping[str, Any] | None = None, **more: Any) -> None:
        self.arm(**{**dict(switches or {}), **more})

    def clear(self) -> None:
        with self._lock:
            self.values.clear()
            self._storm_until = 0.0

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def take(self, name: str) -> bool:
        """One of a counted platform switch (``extra``), if any is left: decrements it."""
        with self._lock:
            left = int(self.values.get(name) or 0)
            if left <= 0:
                return False
            if left == 1:
                self.values.pop(name, None)
            else:
                self.values[name] = left - 1
            return True

    def _applies(self, method: str, path: str) -> bool:
        prefix, only = self.values.get("fault_path"), self.values.get("fault_method")
        return (not prefix or path.startswith(str(prefix))) and (not only or method.upper() == str(only).upper())

    def due(self, fault: str, method: str = "GET", path: str = "/") -> bool:
        """Whether ``fault`` fires for this request (counted in ``fired`` when it does)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        with self._lock:
            if fault == "rate_limit" and time.monotonic() < self._storm_until:
                return True
            if not any(f"{fault}_{a}" in self.values for a in ARMS) or not self._applies(method, path):
                return False
            self._seen[fault] += 1
            every = int(self.values.get(f"{fault}_every") or 0)
            rate = float(self.values.get(f"{fault}_rate") or 0)
            hit = self.take(f"{fault}_next") or bool(every and self._seen[fault] % every == 0) or \
                bool(rate and self._rng.random() < rate)
            if hit:
                self.fired[fault] += 1
                storm = float(self.values.get("storm_seconds") or 0)
                if fault == "rate_limit" and storm:
                    self._storm_until = time.monotonic() + storm
            return hit

    def storm_left(self) -> float:
        """Seconds left of a 429 storm under way (0 when none is)."""
        return max(0.0, self._storm_until - time.monotonic())

    def wait_latency(self) -> None:
        latency = float(self.values.get("latency_ms") or 0)
        if latency > 0:
            time.sleep(latency / 1000)

    def slow_seconds(self) -> float:
        return float(self.values.get("slow_ms") or 0) / 1000

    def server_error_status(self, usual: int = 503) -> int:
        return int(self.values.get("server_error_status") or usual)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"switches": dict(self.values), "fired": dict(self.fired), "vocabulary": sorted(self.known)}


@dataclass
class RequestLog:
    """Every request an emulator answered (or reset), in order: method, path, query, status (0 for a reset
    before any answer), body bytes in and out, and when. Bounded (``limit``) so a long benchmark cannot grow it
    without end."""

    limit: int = 1_000_000
    entries: deque = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, path: str, query: str, status: int, *, bytes_in: int = 0,
               bytes_out: int = 0) -> None:
        with self._lock:
            self.entries.append({"method": method, "path": path, "query": query, "status": status,
                                 "bytes_in": bytes_in, "bytes_out": bytes_out, "time": time.time()})
            while len(self.entries) > self.limit:
                self.entries.popleft()

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.entries)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def by_status(self) -> Counter[int]:
        return Counter(e["status"] for e in self.all())


class TokenBucket:
    """A budget of ``per_minute`` requests, refilled continuously, holding at most ``burst`` (default: a
    minute's worth), as most platforms' limits behave."""

    def __init__(self, per_minute: float, burst: float | None = None):
        self.limit = per_minute
        self.capacity = float(burst if burst is not None else per_minute)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, int]:
        """(allowed, whole tokens left)."""
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.limit / 60.0)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True, int(self.tokens)
            return False, 0

    def seconds_to_next(self) -> float:
        with self._lock:
            return max(0.0, (1 - self.tokens) * 60.0 / self.limit) if self.limit else float("inf")


class RegisteredEmulator:
    """What an emulator package registers (``register_emulators``): the platform's name, its profiles and how
    to start it. ``start(seed=, size=, port=, profile=, **options)`` calls ``factory`` with the same."""

    def __init__(self, name: str, profiles: Mapping[str, str], factory: Any):
        self.name, self._profiles, self._factory = name, dict(profiles), factory

    def profiles(self) -> dict[str, str]:
        """Emulator variants by name ("default" first): what differs, and the public evidence for it."""
        return dict(self._profiles)

    def start(self, *, seed: int = 42, size: int = 100, port: int = 0, profile: str = "default",
              **options: Any) -> Any:
        return self._factory(seed=seed, size=size, port=port, profile=profile, **options)


def parse_profiles(profile: str | None, known: Mapping[str, str], *, platform: str = "emulator") -> frozenset[str]:
    """``"a,b"`` -> {"a", "b"}: the variants an emulator serves combined ("default" or empty: none). An unknown
    name is refused, naming the known ones."""
    names = {p.strip() for p in (profile or "").split(",") if p.strip() and p.strip() != "default"}
    unknown = sorted(names - set(known))
    if unknown:
        raise ValueError(f"the {platform} emulator has no profile {', '.join(map(repr, unknown))}; its profiles: "
                         f"{', '.join(known)}")
    return frozenset(names)


__all__ = ["AFTER", "BEFORE", "FAULTS", "PARAMS", "VOCABULARY", "Faults", "RegisteredEmulator", "RequestLog", "TokenBucket",
           "parse_profiles"]
