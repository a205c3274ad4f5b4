"""The read-only probe: on each emulator profile it matches that profile, and it writes shapes only."""

from __future__ import annotations

import json

import pytest

from migration_assets import probe as probe_module
from migration_assets.probe import run_probe
from migration_assets.registry import default_registry, emulator_for


@pytest.mark.parametrize("profile", list(emulator_for(default_registry().source("zendesk")).profiles()))
def test_the_probe_matches_the_profile_it_ran_against_and_writes_no_value(profile, home, tmp_path, monkeypatch):
    home.mkdir(parents=True, exist_ok=True)
    plugin = default_registry().source("zendesk")
    monkeypatch.setattr(probe_module, "_emulator_shapes", {})
    em = emulator_for(plugin).start(seed=42, size=30, port=0, rate_limit=60_000, profile=profile)
    try:
        env = em.env()
        result = run_probe(plugin, env, out_dir=tmp_path, echo=lambda _line: None)
    finally:
        em.stop()
    own = next(d for d in result.diffs if d.profile == profile)
    assert own.count == 0, own.lines()
    assert result.best.profile == profile
    assert len(result.shapes) >= 8
    text = result.path.read_text()
    assert env["ZENDESK_API_TOKEN"] not in text and "Support team" not in text
    assert json.loads(text)["plugin"] == "zendesk"
