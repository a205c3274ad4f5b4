"""Entry point module of the Zendesk plugin (``zendesk = "helpdesk_migrate.plugins.zendesk.plugin"``)."""

from helpdesk_migrate.sdk import hookimpl

from .probe import probe
from .source import ZendeskSource


@hookimpl
def register_sources(register) -> None:
    source = ZendeskSource()
    source.probe = probe  # the read-only probe (helpdesk-migrate probe)
    register(source)
