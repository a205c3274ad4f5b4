"""The Tidio emulator: a local HTTP stand-in for the real API, for tests, demos and rehearsals.

It registers itself through its own entry point (``register_emulators``), so the plugin's production code never
imports it (an architecture contract in tests/test_architecture.py checks that)."""

from helpdesk_migrate.sdk import emulator as kit
from helpdesk_migrate.sdk import hookimpl

from .server import TidioEmulator, start_emulator
from .state import PROFILES

emulator = kit.RegisteredEmulator("tidio", PROFILES, TidioEmulator)


@hookimpl
def register_emulators(register) -> None:
    register(emulator)


__all__ = ["TidioEmulator", "emulator", "start_emulator"]
