"""The Salesforce emulator: a local HTTP stand-in for the real API, for tests, demos and rehearsals.

It registers itself through its own entry point (``register_emulators``), so the plugin's production code never
imports it (an architecture contract in tests/test_architecture.py checks that)."""

from __future__ import annotations

from typing import Any

from helpdesk_migrate.sdk import hookimpl

from .profiles import PROFILES
from .server import SalesforceEmulator, start_emulator


class SalesforceEmulatorPlugin:
    """The registered emulator of the ``salesforce`` plugin."""

    name = "salesforce"

    def profiles(self) -> dict[str, str]:
        """Emulator variants by name ("default" first): what differs, and the public evidence for it."""
        return dict(PROFILES)

    def start(self, *, seed: int = 42, size: int = 100, port: int = 0, profile: str = "default",
              **options: Any) -> SalesforceEmulator:
        return SalesforceEmulator(seed=seed, size=size, port=port, profile=profile, **options).start()


emulator = SalesforceEmulatorPlugin()


@hookimpl
def register_emulators(register) -> None:
    register(emulator)


__all__ = ["SalesforceEmulator", "emulator", "start_emulator"]
