"""Helpers for the Trengo plugin tests (a module with a unique name: tests/trengo has no __init__.py)."""

from __future__ import annotations

from helpdesk_migrate.plugins.trengo.source import OBJECTS
from migration_assets.runtime import extract_object

ORDER = [o.canonical for o in OBJECTS]  # already in dependency order
FAST = 600_000  # requests per minute: effectively unthrottled, for tests that are not about the limit


def env_for(em, **extra: str) -> dict[str, str]:
    """The emulator's environment with quick retries (tests never wait for real backoff)."""
    return {**em.env(), "TRENGO_RETRY_BASE_SECONDS": "0.01", **extra}


def extract(store, source, conn, objects=ORDER, *, run_id: str = "run-1", delta: bool = False, since=None):
    return {o: extract_object(store, source, o, run_id=run_id, connection=conn, delta=delta, since=since)
            for o in objects}


def staged(store, canonical: str) -> list[dict]:
    return [r for chunk in store.iter_staged("trengo", canonical) for r in chunk]


def api_requests(em, method: str | None = None) -> list[dict]:
    return [r for r in em.request_log() if r["path"].startswith("/api/") and (method is None or r["method"] == method)]
