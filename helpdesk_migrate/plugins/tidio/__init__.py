"""Tidio destination plugin: client, loaders, emulator. Registered by ``helpdesk_migrate.plugins.tidio.plugin``."""

__version__ = "0.1.0"
