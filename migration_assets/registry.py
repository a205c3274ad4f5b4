"""The plugin manager: loads platform plugins and collects what they register.

Load order, as tox does it: the project's own (built-in) entry points first, then third-party entry
points of the same group, then ``check_pending()`` so a misspelled hook fails loudly. A plugin that fails
to import is reported with a warning and the others still load. ``HELPDESK_MIGRATE_PLUGINS`` (a comma
list of entry-point names) restricts which plugins load.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .hookspecs import ENTRY_POINT_GROUP, PROJECT_NAME, DestinationPlugin, FieldMapProposer, SourcePlugin

PLUGINS_ENV = "HELPDESK_MIGRATE_PLUGINS"
OWN_DISTRIBUTION = "helpdesk-migrate"


class PluginLoadWarning(UserWarning):
    pass


@dataclass
class Registry:
    sources: dict[str, SourcePlugin] = field(default_factory=dict)
    destinations: dict[str, DestinationPlugin] = field(default_factory=dict)
    proposers: dict[str, FieldMapProposer] = field(default_factory=dict)
    plugin_modules: dict[str, str] = field(default_factory=dict)  # entry-point name -> distribution version

    def source(self, name: str) -> SourcePlugin:
        if name not in self.sources:
            raise KeyError(f"no source plugin named {name!r}; installed sources: {', '.join(sorted(self.sources)) or 'none'}")
        return self.sources[name]

    def destination(self, name: str) -> DestinationPlugin:
        if name not in self.destinations:
            raise KeyError(
                f"no destination plugin named {name!r}; installed destinations: "
                f"{', '.join(sorted(self.destinations)) or 'none'}"
            )
        return self.destinations[name]


def _entry_points() -> list[metadata.EntryPoint]:
    eps = list(metadata.entry_points(group=ENTRY_POINT_GROUP))

    def is_builtin(ep: metadata.EntryPoint) -> bool:
        dist = getattr(ep, "dist", None)
        return bool(dist and dist.metadata["Name"] == OWN_DISTRIBUTION)

    # Built-ins first, then third-party; stable by name within each group.
    return sorted(eps, key=lambda ep: (not is_builtin(ep), ep.name))


def _allowed() -> set[str] | None:
    raw = os.environ.get(PLUGINS_ENV, "").strip()
    if not raw:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


def get_plugin_manager(extra_plugins: Iterable[Any] = (), *, load_entry_points: bool = True) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    allowed = _allowed()
    if load_entry_points:
        for ep in _entry_points():
            if allowed is not None and ep.name not in allowed:
                continue
            if pm.has_plugin(ep.name):
                continue
            try:
                module = ep.load()
            except Exception as exc:  # an import error of one plugin must not take the others down
                warnings.warn(
                    f"plugin {ep.name!r} ({ep.value}) failed to load and is skipped: {type(exc).__name__}: {exc}",
                    PluginLoadWarning,
                    stacklevel=2,
                )
                continue
            pm.register(module, name=ep.name)
    for plugin in extra_plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm


def build_registry(pm: pluggy.PluginManager | None = None) -> Registry:
    pm = pm or get_plugin_manager()
    registry = Registry()

    def add(kind: dict[str, Any], label: str):
        def register(plugin: Any) -> None:
            name = getattr(plugin, "name", None)
            if not name:
                raise TypeError(f"a {label} plugin must have a non-empty 'name': {plugin!r}")
            if name in kind:
                warnings.warn(f"{label} {name!r} registered twice; the later one wins", PluginLoadWarning,
                              stacklevel=2)
            kind[name] = plugin

        return register

    pm.hook.register_sources(register=add(registry.sources, "source"))
    pm.hook.register_destinations(register=add(registry.destinations, "destination"))
    pm.hook.register_field_proposers(register=add(registry.proposers, "field proposer"))
    for name, plugin in pm.list_name_plugin():
        dist = pm.get_plugin(name)
        registry.plugin_modules[name] = getattr(dist, "__version__", "") or _dist_version(plugin)
    return registry


def _dist_version(module: Any) -> str:
    top = getattr(module, "__name__", "").split(".")[0]
    for dist_name in _distributions_by_package().get(top, []):
        try:
            return metadata.version(dist_name)
        except metadata.PackageNotFoundError:
            continue
    return ""


@lru_cache(maxsize=1)
def _distributions_by_package() -> dict[str, list[str]]:
    """Scans every installed distribution's file list (~0.3 s): once per process, not once per plugin."""
    return metadata.packages_distributions()


_default_registry: Registry | None = None


def default_registry() -> Registry:
    """The registry from installed entry points, built once per process."""
    global _default_registry
    if _default_registry is None:
        from .mapping import heuristic_proposer_plugin

        _default_registry = build_registry(get_plugin_manager([heuristic_proposer_plugin]))
    return _default_registry
