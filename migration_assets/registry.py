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
from typing_extensions import get_protocol_members

from . import hookspecs
from .hookspecs import (
    ENTRY_POINT_GROUP,
    PLUGIN_CAPABILITIES,
    PROJECT_NAME,
    DestinationPlugin,
    EmulatorPlugin,
    FieldMapProposer,
    SourcePlugin,
)

PLUGINS_ENV = "HELPDESK_MIGRATE_PLUGINS"
OWN_DISTRIBUTION = "helpdesk-migrate"


class PluginLoadWarning(UserWarning):
    pass


class PluginContractError(TypeError):
    """A registered plugin does not follow its Protocol; the message names the plugin and each member."""


def missing_members(obj: Any, protocol: type) -> list[str]:
    """Members of ``protocol`` that ``obj`` lacks, or has in a form the engine cannot call."""
    missing = []
    for member in sorted(get_protocol_members(protocol)):
        value = getattr(obj, member, None)
        wanted_callable = callable(getattr(protocol, member, None))
        if value is None or (wanted_callable and not callable(value)) or (member == "name" and not value):
            missing.append(member)
    return missing


def capability_problems(obj: Any, capabilities: Iterable[type]) -> list[str]:
    """A capability half there: ``obj`` has one of its members, but not callable (a typo'd attribute, a
    property where a method belongs). Such a plugin would silently lose the capability, so it is refused."""
    problems = []
    for capability in capabilities:
        for member in sorted(get_protocol_members(capability)):
            value = getattr(obj, member, None)
            if value is not None and not callable(value):
                problems.append(f"{member} (of {capability.__name__}) is not callable")
    return problems


def check_plugin(obj: Any, protocol: type, label: str, capabilities: Iterable[type] = ()) -> None:
    """Refuse, at start-up, a plugin that misses a member of its Protocol, naming every one."""
    missing = missing_members(obj, protocol)
    problems = [f"missing {m}" for m in missing] + capability_problems(obj, capabilities)
    if problems:
        name = getattr(obj, "name", None) or type(obj).__name__
        raise PluginContractError(f"{label} plugin {name!r} ({type(obj).__module__}.{type(obj).__qualname__}) does "
                                  f"not follow {protocol.__name__}: {'; '.join(problems)}")


@dataclass
class Registry:
    sources: dict[str, SourcePlugin] = field(default_factory=dict)
    destinations: dict[str, DestinationPlugin] = field(default_factory=dict)
    proposers: dict[str, FieldMapProposer] = field(default_factory=dict)
    emulators: dict[str, EmulatorPlugin] = field(default_factory=dict)
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

    def emulator(self, name: str) -> EmulatorPlugin:
        """The emulator of platform ``name`` (registered by the plugin's ``emulator`` package)."""
        if name not in self.emulators:
            raise KeyError(f"no emulator for {name!r}; installed emulators: "
                           f"{', '.join(sorted(self.emulators)) or 'none'} (an emulator registers through "
                           "register_emulators from its own entry point)")
        return self.emulators[name]


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
            # Its version, known here for free (a scan of every distribution takes ~0.6 s).
            version = getattr(getattr(ep, "dist", None), "version", None)
            if version:
                _ENTRY_POINT_VERSIONS[ep.name] = version
    for plugin in extra_plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm


def build_registry(pm: pluggy.PluginManager | None = None) -> Registry:
    pm = pm or get_plugin_manager()
    registry = Registry()

    def add(kind: dict[str, Any], label: str, protocol: type, capabilities: Iterable[type] = ()):
        def register(plugin: Any) -> None:
            check_plugin(plugin, protocol, label, capabilities)
            name = plugin.name
            if name in kind:
                warnings.warn(f"{label} {name!r} registered twice; the later one wins", PluginLoadWarning,
                              stacklevel=2)
            kind[name] = plugin

        return register

    pm.hook.register_sources(register=add(registry.sources, "source", SourcePlugin, PLUGIN_CAPABILITIES))
    pm.hook.register_destinations(register=add(registry.destinations, "destination", DestinationPlugin,
                                               PLUGIN_CAPABILITIES))
    pm.hook.register_field_proposers(register=add(registry.proposers, "field proposer", FieldMapProposer))
    pm.hook.register_emulators(register=add(registry.emulators, "emulator", EmulatorPlugin))
    for name, plugin in pm.list_name_plugin():
        dist = pm.get_plugin(name)
        registry.plugin_modules[name] = (getattr(dist, "__version__", "") or _ENTRY_POINT_VERSIONS.get(name)
                                         or _dist_version(plugin))
    return registry


OWN_PACKAGES = ("migration_assets", "helpdesk_migrate")
_ENTRY_POINT_VERSIONS: dict[str, str] = {}  # entry-point name -> the version of the distribution declaring it


def _dist_version(module: Any) -> str:
    """The version of the distribution that installed ``module``, for a plugin registered by hand (no entry
    point to ask)."""
    # A module, or a plugin object (its class's module).
    top = (getattr(module, "__name__", None) or type(module).__module__ or "").split(".")[0]
    if top in OWN_PACKAGES:  # the engine's own (the built-in proposer): no scan needed
        try:
            return metadata.version(OWN_DISTRIBUTION)
        except metadata.PackageNotFoundError:  # a source tree that is not installed
            return ""
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


def emulator_for(plugin: Any) -> EmulatorPlugin:
    """The registered emulator of a source or destination plugin (the same name)."""
    return default_registry().emulator(plugin.name)
