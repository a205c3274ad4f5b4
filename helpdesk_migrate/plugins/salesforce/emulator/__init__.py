"""The Salesforce emulator: a local HTTP stand-in for the real API, for tests, demos and rehearsals.

It registers itself through its own entry point (``register_emulators``), so the plugin's production code never
imports it (an architecture contract in tests/test_architecture.py checks that)."""

from helpdesk_migrate.sdk import emulator as kit
from helpdesk_migrate.sdk import hookimpl

from .profiles import PROFILES
from .server import SalesforceEmulator, start_emulator

emulator = kit.RegisteredEmulator("salesforce", PROFILES, lambda **kw: SalesforceEmulator(**kw).start())


@hookimpl
def register_emulators(register) -> None:
    register(emulator)


__all__ = ["SalesforceEmulator", "emulator", "start_emulator"]
