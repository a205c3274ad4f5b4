"""Entry point module of the Trengo plugin (``trengo = "plugins.trengo.plugin"``)."""

from migration_assets.hookspecs import hookimpl

from .source import TrengoSource


@hookimpl
def register_sources(register) -> None:
    register(TrengoSource())
