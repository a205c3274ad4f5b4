"""Entry point module of the Zendesk plugin (``zendesk = "helpdesk_migrate.plugins.zendesk.plugin"``)."""

from helpdesk_migrate.sdk import hookimpl

from .source import ZendeskSource


@hookimpl
def register_sources(register) -> None:
    register(ZendeskSource())
