"""The Zendesk emulator: a local HTTP stand-in for Zendesk's API, for tests, demos and rehearsals.

It registers itself through its own entry point (``register_emulators``), so the plugin's production code never
imports it (tests/test_architecture.py holds that)."""

from helpdesk_migrate.sdk import emulator as kit
from helpdesk_migrate.sdk import hookimpl

from .profiles import PROFILES
from .server import ZendeskEmulator, start_emulator

emulator = kit.RegisteredEmulator(
    "zendesk", PROFILES,
    lambda seed, size, port, profile, **options: ZendeskEmulator(seed, size, port=port, profile=profile, **options))


@hookimpl
def register_emulators(register) -> None:
    register(emulator)


__all__ = ["ZendeskEmulator", "emulator", "start_emulator"]
