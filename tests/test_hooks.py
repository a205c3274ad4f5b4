"""Meta-tests of the plugin contract: every hook is documented and exercised, loading is robust."""

from __future__ import annotations

import inspect
import warnings
from importlib import metadata

import pluggy
import pytest

from migration_assets import hookspecs, registry
from migration_assets.mapping import heuristic_proposer, heuristic_proposer_plugin
from tests.tiny_pair import TinyDestination, TinyPlugin, TinySource

HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if hasattr(fn, "helpdesk_migrate_spec")]


def test_the_contract_declares_the_register_hooks():
    assert set(HOOKS) == {"register_sources", "register_destinations", "register_field_proposers",
                          "register_emulators"}


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    for part in ("Implemented by", "Called", "Returns"):
        assert part in doc, f"{hook}: the docstring must say '{part}'"
    assert list(inspect.signature(getattr(hookspecs, hook)).parameters) == ["register"]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_called_and_registers(hook):
    pm = registry.get_plugin_manager([TinyPlugin(TinySource(), TinyDestination()), heuristic_proposer_plugin],
                                     load_entry_points=False)
    reg = registry.build_registry(pm)
    got = {"register_sources": reg.sources, "register_destinations": reg.destinations,
           "register_field_proposers": reg.proposers, "register_emulators": reg.emulators}[hook]
    assert got, f"{hook} registered nothing"
    assert reg.proposers["heuristic"] is heuristic_proposer


def test_a_misspelled_hook_fails_loudly():
    class Typo:
        @hookspecs.hookimpl
        def register_source(self, register):  # missing "s"
            pass

    with pytest.raises(pluggy.PluginValidationError):
        registry.get_plugin_manager([Typo()], load_entry_points=False)


def test_the_plugin_protocols_match_the_tiny_pair():
    assert isinstance(TinySource().connect({}), hookspecs.SourceConnection)
    assert isinstance(TinyDestination().connect({}), hookspecs.DestinationConnection)


class _FakeEntryPoint:
    def __init__(self, name, value, loader, builtin=False):
        self.name, self.value, self._loader = name, value, loader
        self.dist = type("D", (), {"metadata": {"Name": "helpdesk-migrate" if builtin else "other"}})()

    def load(self):
        return self._loader()


def test_a_broken_plugin_warns_and_the_others_still_load(monkeypatch):
    class Good:
        @hookspecs.hookimpl
        def register_sources(self, register):
            register(TinySource())

    def broken():
        raise ImportError("No module named 'missing_dependency'")

    eps = [_FakeEntryPoint("broken", "x:y", broken), _FakeEntryPoint("good", "a:b", lambda: Good(), builtin=True)]
    monkeypatch.delenv(registry.PLUGINS_ENV, raising=False)
    monkeypatch.setattr(metadata, "entry_points", lambda group: eps)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = registry.build_registry(registry.get_plugin_manager())
    assert "tinysrc" in reg.sources
    assert any("broken" in str(w.message) and "missing_dependency" in str(w.message) for w in caught)


def test_builtins_load_first_and_the_env_var_restricts_plugins(monkeypatch):
    order = []

    def loader(name):
        def load():
            order.append(name)
            return type(name, (), {})()
        return load

    eps = [_FakeEntryPoint("zeta_third_party", "z:z", loader("zeta_third_party")),
           _FakeEntryPoint("builtin_b", "b:b", loader("builtin_b"), builtin=True),
           _FakeEntryPoint("builtin_a", "a:a", loader("builtin_a"), builtin=True)]
    monkeypatch.delenv(registry.PLUGINS_ENV, raising=False)
    monkeypatch.setattr(metadata, "entry_points", lambda group: eps)
    registry.get_plugin_manager()
    assert order == ["builtin_a", "builtin_b", "zeta_third_party"]
    order.clear()
    monkeypatch.setenv(registry.PLUGINS_ENV, "builtin_b")
    registry.get_plugin_manager()
    assert order == ["builtin_b"]


# --------------------------------------------------------------------------------------------------
# Registration holds plugins to their Protocols
# --------------------------------------------------------------------------------------------------


def _register(*plugins):
    class Registers:
        @hookspecs.hookimpl
        def register_sources(self, register):
            for p in plugins:
                if isinstance(p, TinySource):
                    register(p)

        @hookspecs.hookimpl
        def register_destinations(self, register):
            for p in plugins:
                if not isinstance(p, TinySource):
                    register(p)

    return registry.build_registry(registry.get_plugin_manager([Registers()], load_entry_points=False))


def test_a_source_missing_a_member_fails_at_start_up_naming_it():
    class NoSettings(TinySource):
        name = "nosettings"
        settings = None

    with pytest.raises(registry.PluginContractError, match=r"'nosettings'.*SourcePlugin: missing settings"):
        _register(NoSettings())


def test_a_destination_missing_several_members_names_every_one():
    class Bare:
        name = "bare"
        title = "Bare"

        def objects(self):
            return []

    with pytest.raises(registry.PluginContractError) as refused:
        _register(Bare())
    assert "missing connect; missing settings; missing version" in str(refused.value)


def test_a_half_there_capability_is_refused_naming_the_member():
    class ProbeAttribute(TinySource):
        name = "probeattr"
        probe = "yes"  # an attribute where the engine calls a method: the probe would silently vanish

    with pytest.raises(registry.PluginContractError, match=r"probe \(of ProbesPlatform\) is not callable"):
        _register(ProbeAttribute())


def test_a_proposer_without_propose_is_refused():
    class Lazy:
        name = "lazy"

    class Registers:
        @hookspecs.hookimpl
        def register_field_proposers(self, register):
            register(Lazy())

    with pytest.raises(registry.PluginContractError, match="FieldMapProposer: missing propose"):
        registry.build_registry(registry.get_plugin_manager([Registers()], load_entry_points=False))


def test_a_connection_missing_a_member_is_refused_when_the_engine_opens_it():
    from migration_assets.runtime import connect_destination

    class HalfConnection:
        def load(self, canonical, records, *, context):
            return []

        def close(self):
            pass

    class HalfDestination(TinyDestination):
        name = "half"

        def connect(self, env):
            return HalfConnection()

    with pytest.raises(registry.PluginContractError, match="missing count; missing evaluate_check; missing preflight"):
        connect_destination(HalfDestination(), {})


def test_capabilities_are_recognised_by_their_protocol():
    class Describes(TinyDestination):
        def connect(self, env):
            conn = super().connect(env)
            conn.describe_fields = lambda canonical: [{"name": "Email"}]
            return conn

    conn = Describes().connect({})
    assert isinstance(conn, hookspecs.DescribesFields)
    assert not isinstance(TinyDestination().connect({}), hookspecs.DescribesFields)


def test_the_built_in_emulators_register_on_their_own_entry_points():
    reg = registry.default_registry()
    assert {"trengo", "salesforce", "tidio"} <= set(reg.emulators)
    for name, emulator in reg.emulators.items():
        assert isinstance(emulator, hookspecs.EmulatorPlugin)
        assert next(iter(emulator.profiles())) == "default", name
    with pytest.raises(KeyError, match="no emulator for 'nowhere'; installed emulators: .*salesforce"):
        reg.emulator("nowhere")
    # The production plugin objects no longer carry their emulator.
    assert not hasattr(reg.source("trengo"), "start_emulator")
    assert not hasattr(reg.destination("tidio"), "emulator_profiles")
