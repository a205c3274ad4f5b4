"""Dagster resources. The store URL comes from ``MIGRATION_STORE_URL`` (resolved at run time, so the
definitions load without it). A platform's settings are its connection resource (``<platform>_connection``):
its fields are EnvVar references to the plugin's environment variables, so secrets stay in the environment
and never pass through run config."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import dagster as dg
from pydantic import Field, PrivateAttr, create_model

from .hookspecs import DestinationPlugin, Setting, SourcePlugin
from .settings import forget_resolved_settings, use_resolved_settings
from .store import MigrationStore, check_home


class MigrationStoreResource(dg.ConfigurableResource):
    """The migration store: SQLite under ./.migration by default, PostgreSQL (or any SQLAlchemy URL) when
    ``url`` or ``MIGRATION_STORE_URL`` is set."""

    url: str | None = None
    _store: MigrationStore | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Every step starts here: a worker whose migration home is not the run's stops before it writes anything.
        if context.dagster_run is not None:
            check_home(context.dagster_run.tags)

    def get(self) -> MigrationStore:
        if self._store is None:
            self._store = MigrationStore(self.url or None)
        return self._store



class PlatformConnectionResource(dg.ConfigurableResource):
    """A platform's connection settings as a Dagster resource: one field per environment variable its plugin
    declares (the field is the variable's name in lower case). A variable the code location's environment sets
    is an ``EnvVar`` reference, resolved in each step and never copied into run config, so a secret stays in the
    environment; an unset one is None, leaving the plugin's default, and can be given in the run's resource
    config. The engine opens the platform's connections with these values over the process environment."""

    def publish(self) -> None:
        """Hands the resolved values to the engine for this step (runtime opens connections with them)."""
        platform, variables = type(self).__platform__, type(self).__variables__  # type: ignore[attr-defined]
        use_resolved_settings(platform, {name.upper(): str(value) for name, value in self.model_dump().items()
                                         if value is not None and name.upper() in variables})


class PlatformConnectionsResource(dg.ConfigurableResource):
    """Every registered platform's connection settings, one nested resource per platform (set once in the code
    location, like the store). A step that talks to a platform requires it, so the UI shows which variables a
    run needs, and each step resolves them before it opens a connection."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        for value in dict(self).values():
            if isinstance(value, PlatformConnectionResource):
                value.publish()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        # What one run resolved must not outlive it: a later run in this process (or the command line after it)
        # reads its own environment.
        for value in dict(self).values():
            if isinstance(value, PlatformConnectionResource):
                forget_resolved_settings(type(value).__platform__)  # type: ignore[attr-defined]


_CONNECTIONS: dict[tuple, PlatformConnectionResource] = {}


def connection_resource(plugin: SourcePlugin | DestinationPlugin,
                        env: Mapping[str, str] | None = None) -> PlatformConnectionResource:
    """A plugin's connection resource: an EnvVar reference for each of its variables ``env`` sets."""
    env = os.environ if env is None else env
    settings = list(plugin.settings())
    given = tuple(s.env_var for s in settings if env.get(s.env_var))
    cache_key = (plugin.name, given)
    if cache_key not in _CONNECTIONS:
        fields = {s.env_var.lower(): (str | None, Field(default=None, description=_described(s))) for s in settings}
        model = create_model(f"{_camel(plugin.name)}Connection", __base__=PlatformConnectionResource, **fields)
        model.__platform__ = plugin.name
        model.__variables__ = frozenset(s.env_var for s in settings)
        model.__doc__ = f"{plugin.name}'s connection settings (its plugin's environment variables)."
        _CONNECTIONS[cache_key] = model(**{var.lower(): dg.EnvVar(var) for var in given})
    return _CONNECTIONS[cache_key]


def connections_resource(plugins: Sequence[SourcePlugin | DestinationPlugin],
                         env: Mapping[str, str] | None = None) -> PlatformConnectionsResource:
    """The resource ``connections``: each plugin's connection resource under its name."""
    unique = {p.name: p for p in plugins}
    fields = {name: (PlatformConnectionResource, Field(description=f"{name}'s connection settings"))
              for name in unique}
    model = create_model("PlatformConnections", __base__=PlatformConnectionsResource, **fields)
    return model(**{name: connection_resource(p, env) for name, p in unique.items()})


def _described(setting: Setting) -> str:
    return f"{setting.env_var}{' (secret: use an EnvVar)' if setting.secret else ''}: {setting.help}"


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
