"""The Salesforce emulator: a local HTTP stand-in for the real API, for tests, demos and rehearsals.

Never imported by the plugin's production code (an architecture contract checks it)."""

from .server import SalesforceEmulator, start_emulator

__all__ = ["SalesforceEmulator", "start_emulator"]
