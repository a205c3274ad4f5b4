"""Entry point module of the Trengo plugin (``trengo = "helpdesk_migrate.plugins.trengo.plugin"``)."""

from helpdesk_migrate.sdk import hookimpl

from .probe import probe
from .source import TrengoSource


@hookimpl
def register_sources(register) -> None:
    source = TrengoSource()
    source.probe = probe  # the read-only probe (helpdesk-migrate probe)
    register(source)
