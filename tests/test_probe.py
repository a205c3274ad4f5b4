"""The read-only probe against each emulator under each of its profiles: the shape file holds keys and types
only (no value the probe read, no secret), the emulator's own profile matches it exactly, and a platform whose
payloads differ is told apart key by key."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from migration_assets import cli, registry
from migration_assets import probe as probe_module
from migration_assets.probe import (
    EMULATOR_SIZE,
    ERROR_KEY,
    collect_shapes,
    diff_shapes,
    profiles_of,
    redact_endpoint,
    run_probe,
)
from migration_assets.registry import default_registry, emulator_for
from tests.tiny_pair import TinyDestination, TinyOrg, TinyPlugin, TinySource, TinyWorkspace

PLUGINS = ("trengo", "salesforce", "tidio")


def plugin_named(name: str):
    reg = default_registry()
    return reg.sources.get(name) or reg.destinations[name]


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)


class Recording:
    """Wraps a plugin's probe and keeps every payload it read, to check none of their values leaks."""

    def __init__(self, probe):
        self.probe, self.payloads = probe, []

    def __call__(self, env):
        for endpoint, payload in self.probe(env):
            self.payloads.append(payload)
            yield endpoint, payload


def cases() -> list[tuple[str, str]]:
    return [(name, profile) for name in PLUGINS for profile in profiles_of(plugin_named(name))]


@pytest.mark.parametrize(("name", "profile"), cases())
def test_probe_matches_the_emulator_profile_it_ran_against_and_leaks_no_value(name, profile, migration_home,
                                                                             tmp_path, monkeypatch):
    migration_home.mkdir(parents=True, exist_ok=True)
    plugin = plugin_named(name)
    recording = Recording(plugin.probe)
    monkeypatch.setattr(plugin, "probe", recording)
    # Every emulator profile probed afresh through the recording (the leak check reads the platform's share).
    monkeypatch.setattr(probe_module, "_emulator_shapes", {})
    emu = emulator_for(plugin).start(seed=42, size=EMULATOR_SIZE, port=0, rate_limit=60_000, profile=profile)
    lines: list[str] = []
    try:
        env = emu.env()
        result = run_probe(plugin, env, out_dir=tmp_path, echo=lines.append)
    finally:
        emu.stop()
    own = next(d for d in result.diffs if d.profile == profile)
    assert own.count == 0, own.lines()
    assert len(result.shapes) >= 8 and not any(ERROR_KEY in paths for paths in result.shapes.values())

    text = result.path.read_text()
    data = json.loads(text)
    assert data["plugin"] == name and data["endpoints"] == result.shapes
    output = "\n".join(lines)
    assert f"profile {profile!r}" in output
    # No value of any payload the probe read, and no secret, is in the file or the output. (Values that are
    # also a key name or a type name are part of the shape itself.)
    vocabulary = {seg.rstrip("[]") for paths in result.shapes.values() for p in paths for seg in p.split(".")}
    vocabulary |= {t for paths in result.shapes.values() for types in paths.values() for t in types}
    vocabulary |= {seg for ep in result.shapes for seg in ep.replace("/", " ").split()}
    # The profiles' own descriptions are product text printed beside the verdict (they name standard fields
    # such as ClosedDate, which a describe payload also holds as values): schema, not a customer's value.
    vocabulary |= {t.strip("[]{}()'\",.;") for text in emulator_for(plugin).profiles().values()
                   for t in re.split(r"[\s/:]+", text)}
    values = {v for payload in recording.payloads[: len(recording.payloads) // (1 + len(result.diffs))]
              for v in strings(payload) if len(v) >= 5 and v not in vocabulary and v.strip()}
    assert values, "the emulator served no values: the leak check would prove nothing"
    # A value would be written as a whole string or a whole segment of a key path: compare with those (a value
    # like "Queue" is a substring of the key "QueueId", which is schema, not a leak).
    written = set(strings(data)) | set(_keys(data)) | {output}
    tokens = {t.strip("[]{}()'\",") for w in written for t in re.split(r"[.\s/:]+", w)}
    leaked = sorted(v for v in values if v in written or v in tokens or (" " in v and v in output + text))
    assert not leaked, leaked[:5]
    secrets = [env[s.env_var] for s in plugin.settings() if s.secret and env.get(s.env_var)]
    assert all(s not in text and s not in output for s in secrets)


def test_a_platform_whose_payloads_differ_is_told_apart_key_by_key(migration_home, tmp_path, monkeypatch):
    migration_home.mkdir(parents=True, exist_ok=True)
    plugin = plugin_named("salesforce")
    real_probe = plugin.probe

    def renamed(env):  # a "real" org that calls the User's Email field EmailAddress, and types Id as a number
        for endpoint, payload in real_probe(env):
            if endpoint == "SOQL User":
                payload = {**payload, "records": [{**{k: v for k, v in r.items() if k != "Email"},
                                                   "EmailAddress": r.get("Email"), "Id": 1} for r in payload["records"]]}
            yield endpoint, payload

    emu = emulator_for(plugin).start(seed=42, size=EMULATOR_SIZE, port=0, rate_limit=60_000)
    try:
        env = emu.env()
        monkeypatch.setattr(plugin, "probe", renamed)
        real = collect_shapes(renamed(env))
        monkeypatch.setattr(plugin, "probe", real_probe)
        emulated = collect_shapes(real_probe(env))
    finally:
        emu.stop()
    diff = diff_shapes(real, emulated, "default")
    assert "SOQL User: records[].EmailAddress" in diff.only_real
    assert "SOQL User: records[].Email" in diff.only_emulator
    assert any(t.startswith("SOQL User: records[].Id platform ['integer'] emulator ['string']") for t in diff.types)
    assert diff.count == 3


def test_keys_and_endpoints_that_are_data_are_redacted_and_errors_keep_only_their_type():
    class Refused(Exception):
        status = 403

    shapes = collect_shapes([
        ("contacts/123", {"custom": {"ann@example.com": "x", "42": 1, "Plan": "gold"}, "id": 5}),
        ("sobjects/500Ab00000XyZ12AAA/describe", {"fields": [{"name": "Id"}]}),
        ("tickets", Refused("token sk-123-secret refused for ann@example.com")),
    ])
    assert shapes["contacts/{id}"] == {"custom": ["object"], "custom.Plan": ["string"], "custom.{key}": ["integer", "string"],
                                       "id": ["integer"]}
    assert "sobjects/{id}/describe" in shapes
    assert shapes["tickets"] == {ERROR_KEY: ["Refused (HTTP 403)"]}
    text = json.dumps(shapes)
    assert "ann@example.com" not in text and "sk-123" not in text and "gold" not in text
    assert redact_endpoint("help_center/7/articles?localeCode=en") == "help_center/{id}/articles"


@pytest.fixture
def tiny_registry(migration_home, monkeypatch):
    migration_home.mkdir(parents=True, exist_ok=True)
    source = TinySource(TinyWorkspace())
    reg = registry.build_registry(registry.get_plugin_manager([TinyPlugin(source, TinyDestination(TinyOrg()))],
                                                              load_entry_points=False))
    monkeypatch.setattr(registry, "_default_registry", reg)
    return source


def test_cli_probe_needs_a_plugin_and_one_that_can_probe(tiny_registry):
    runner = CliRunner()
    assert runner.invoke(cli.main, ["probe"]).exit_code == 2
    missing = runner.invoke(cli.main, ["probe", "--source", "nope"])
    assert missing.exit_code == 2 and "no source plugin named 'nope'" in missing.output
    refused = runner.invoke(cli.main, ["probe", "--source", "tinysrc"])
    assert isinstance(refused.exception, Exception) and "offers no read-only probe" in str(refused.exception)


def test_cli_probe_writes_the_shape_file_and_names_the_best_profile(migration_home, tmp_path, monkeypatch):
    migration_home.mkdir(parents=True, exist_ok=True)
    plugin = plugin_named("salesforce")
    emu = emulator_for(plugin).start(seed=42, size=EMULATOR_SIZE, port=0, rate_limit=60_000)
    try:
        for key, value in emu.env().items():
            monkeypatch.setenv(key, value)
        out = CliRunner().invoke(cli.main, ["probe", "--destination", "salesforce", "--out", str(tmp_path)])
    finally:
        emu.stop()
    assert out.exit_code == 0, out.output
    assert "emulator profile 'default' matches exactly" in out.output
    data = json.loads((tmp_path / "probe-salesforce.json").read_text())
    assert data["best_profile"] == "default" and "SOQL User" in data["endpoints"]


def test_cli_emulator_passes_the_profile(tiny_registry, monkeypatch):
    seen: dict[str, Any] = {}

    class Fake:
        def env(self):
            return {"TINY_URL": "http://127.0.0.1:1"}

        def stop(self):
            seen["stopped"] = True

    def start(**options):
        seen.update(options)
        return Fake()

    def interrupt(_seconds):
        raise KeyboardInterrupt

    emulator = SimpleNamespace(name="tinysrc", start=start, profiles=lambda: {"default": "as it is"})
    monkeypatch.setitem(registry.default_registry().emulators, "tinysrc", emulator)
    monkeypatch.setattr(cli.time, "sleep", interrupt)
    runner = CliRunner()
    refused = runner.invoke(cli.main, ["emulator", "tinysrc", "--profile", "w6w"])
    assert refused.exit_code == 2 and "has no profile 'w6w'" in refused.output and not seen
    monkeypatch.setattr(emulator, "profiles", lambda: {"default": "as it is", "w6w": "batch shape",
                                                       "simple-paginator": "no meta.total"})
    out = runner.invoke(cli.main, ["emulator", "tinysrc", "--profile", "w6w,simple-paginator"])
    assert out.exit_code == 0, out.output
    assert seen["profile"] == "w6w,simple-paginator" and seen["stopped"] and "TINY_URL=" in out.output


def test_a_refused_token_stops_the_probe_with_a_configuration_error_and_no_secret(migration_home, tmp_path,
                                                                                  monkeypatch, capsys):
    migration_home.mkdir(parents=True, exist_ok=True)
    plugin = plugin_named("trengo")
    emu = emulator_for(plugin).start(seed=42, size=EMULATOR_SIZE, port=0, rate_limit=60_000)
    try:
        for key, value in emu.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("TRENGO_API_TOKEN", "wrong-token-4242")
        monkeypatch.setattr("sys.argv", ["helpdesk-migrate", "probe", "--source", "trengo", "--out", str(tmp_path)])
        with pytest.raises(SystemExit) as exit_info:
            cli.run()
    finally:
        emu.stop()
    assert exit_info.value.code == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert "configuration error" in captured.err and "wrong-token-4242" not in captured.out + captured.err
    assert not (tmp_path / "probe-trengo.json").exists()


def test_a_missing_setting_is_named(migration_home, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TRENGO_API_TOKEN", raising=False)
    monkeypatch.setattr("sys.argv", ["helpdesk-migrate", "probe", "--source", "trengo", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_info:
        cli.run()
    assert exit_info.value.code == cli.EXIT_USAGE
    assert "TRENGO_API_TOKEN" in capsys.readouterr().err
