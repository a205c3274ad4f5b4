"""helpdesk-migrate: helpdesk migrations as Dagster assets, with pluggy platform plugins."""

__version__ = "0.1.0"
