"""Trengo source plugin: a read-only API client, the canonical mapping, and an emulator of the API.

Registered through ``helpdesk_migrate.plugins.trengo.plugin`` (entry point group ``helpdesk_migrate.plugins``).
"""

__version__ = "0.1.0"
