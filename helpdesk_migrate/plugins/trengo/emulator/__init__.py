"""The Trengo emulator: a local HTTP stand-in for the real API, for tests, demos and rehearsals.

It registers itself through its own entry point (``register_emulators``), so the plugin's production code never
imports it (an architecture contract in tests/test_architecture.py checks that)."""

from helpdesk_migrate.sdk import emulator as kit
from helpdesk_migrate.sdk import hookimpl

from .profiles import PROFILES
from .server import TrengoEmulator, start_emulator

emulator = kit.RegisteredEmulator("trengo", PROFILES, lambda seed, size, port, profile, **options: TrengoEmulator(seed, size, port=port, profile=profile, **options))


@hookimpl
def register_emulators(register) -> None:
    register(emulator)


__all__ = ["TrengoEmulator", "emulator", "start_emulator"]
