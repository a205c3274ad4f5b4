"""Zendesk source plugin: a read-only client of Zendesk's Ticketing and Help Center APIs, the mapping into the
canonical model, and an emulator of the API (``emulator/``, registered on its own).

Registered through ``helpdesk_migrate.plugins.zendesk.plugin`` (entry point group ``helpdesk_migrate.plugins``),
like any third-party plugin; it imports nothing of the project but ``helpdesk_migrate.sdk``.
"""

__version__ = "0.1.0"
