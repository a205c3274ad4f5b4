"""Fixtures for the Zendesk plugin tests: a private migration home, emulators that stop themselves, a store.
Helpers that drive extraction as the engine does live in zendesk_support.py."""

from __future__ import annotations

import pytest
from zendesk_support import FAST

from helpdesk_migrate.plugins.zendesk.source import ZendeskSource
from migration_assets.registry import emulator_for
from migration_assets.store import MigrationStore


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MIGRATION_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MIGRATION_RATE_LIMIT_URL", raising=False)
    return tmp_path / "home"


@pytest.fixture
def source() -> ZendeskSource:
    return ZendeskSource()


@pytest.fixture
def emulator(home, source):
    """A factory: ``emulator(size=..., **options)``; every emulator started is stopped after the test."""
    started = []

    def start(seed: int = 7, size: int = 30, **options):
        options.setdefault("rate_limit", FAST)
        em = emulator_for(source).start(seed=seed, size=size, port=0, **options)
        started.append(em)
        return em

    yield start
    for em in started:
        em.stop()


@pytest.fixture
def store(tmp_path) -> MigrationStore:
    return MigrationStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
