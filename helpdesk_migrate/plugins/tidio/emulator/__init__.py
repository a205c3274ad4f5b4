"""The Tidio emulator: a local HTTP stand-in for the real API, for tests, demos and rehearsals.

Never imported by the plugin's production code (an architecture contract checks it)."""

from .server import TidioEmulator, start_emulator

__all__ = ["TidioEmulator", "start_emulator"]
