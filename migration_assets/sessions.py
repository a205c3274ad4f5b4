"""HTTP sessions for a platform client used from a pool of threads.

A ``requests.Session`` is not safe to share between threads, yet each thread should keep its own connections
alive across requests (a crawl makes thousands). So a client keeps one session per thread, all with the same
headers, and closes them together when its connection closes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import requests


class ThreadSessions:
    """One ``requests.Session`` per thread, made on first use with ``headers``; ``close`` closes them all."""

    def __init__(self, headers: Mapping[str, str]):
        self._headers = dict(headers)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[requests.Session] = []

    def get(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self._headers)
            self._local.session = session
            with self._lock:
                self._open.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._open:
                session.close()
            self._open.clear()
