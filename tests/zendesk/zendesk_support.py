"""Helpers for the Zendesk plugin tests (a module with a unique name: tests/zendesk has no __init__.py)."""

from __future__ import annotations

from helpdesk_migrate.plugins.zendesk.source import OBJECTS
from migration_assets.canonical import dependency_order
from migration_assets.runtime import extract_object

ORDER = dependency_order([o.canonical for o in OBJECTS], {o.canonical: o.depends_on for o in OBJECTS})
FAST = 600_000  # requests per minute: effectively unthrottled, for tests that are not about the limit


def env_for(em, **extra: str) -> dict[str, str]:
    """The emulator's environment with quick retries (tests never wait for real backoff)."""
    return {**em.env(), "ZENDESK_RETRY_BASE_SECONDS": "0.01", **extra}


def extract(store, source, conn, objects=ORDER, *, run_id: str = "run-1", delta: bool = False, since=None):
    return {o: extract_object(store, source, o, run_id=run_id, connection=conn, delta=delta, since=since)
            for o in objects}


def staged(store, canonical: str) -> list[dict]:
    return [r for chunk in store.iter_staged("zendesk", canonical) for r in chunk]


def quarantined(store, canonical: str) -> dict[str, dict]:
    return {q["source_id"]: q for q in store.quarantine_entries("zendesk", "", canonical)}


def api_requests(em, method: str | None = None) -> list[dict]:
    return [r for r in em.request_log() if r["path"].startswith("/api/") and (method is None or r["method"] == method)]
