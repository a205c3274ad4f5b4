"""Fixtures for the Salesforce plugin tests: a private migration home, emulators that stop themselves,
and a harness that loads canonical records the way the engine does (real store, real id map)."""

from __future__ import annotations

import pytest

from .sf_support import Harness


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MIGRATION_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def emulator(home):
    """A factory: ``emulator(size=..., **options)``; every emulator started is stopped after the test."""
    from helpdesk_migrate.plugins.salesforce.emulator.server import SalesforceEmulator

    started = []

    def start(seed: int = 3, size: int = 20, **options):
        emu = SalesforceEmulator(seed=seed, size=size, port=0, **options).start()
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


@pytest.fixture
def harness(tmp_path, emulator):
    """A factory: ``harness(env={...}, **emulator_options)`` -> Harness over a fresh emulator and store."""
    made = []

    def make(env=None, emu=None, **options):
        h = Harness(tmp_path / f"store{len(made)}.sqlite", emu or emulator(**options), env or {})
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()
