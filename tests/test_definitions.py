"""The code location loads, validates with Dagster's own command, and its asset and check keys match the
committed snapshot (regenerate with UPDATE_SNAPSHOTS=1 when a change is intended)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = Path(__file__).parent / "snapshots" / "definition_keys.txt"


def current_keys() -> list[str]:
    code = ("from migration_assets.definitions import defs\n"
            "g = defs.resolve_asset_graph()\n"
            "keys = ['asset ' + k.to_user_string() for k in g.get_all_asset_keys()]\n"
            "keys += ['check ' + k.to_user_string() for k in g.asset_check_keys]\n"
            "keys += ['job ' + j.name for j in defs.resolve_all_job_defs()]\n"
            "print('\\n'.join(sorted(keys)))")
    env = {k: v for k, v in os.environ.items() if k not in ("MIGRATION_PAIRS", "HELPDESK_MIGRATE_PLUGINS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    return [line for line in out.stdout.splitlines() if line.strip()]


def test_dagster_validates_the_code_location(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    proc = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful for code location helpdesk_migration" in proc.stdout + proc.stderr


def test_asset_and_check_keys_match_the_snapshot():
    keys = current_keys()
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text("\n".join(keys) + "\n")
    expected = SNAPSHOT.read_text().strip().split("\n")
    missing, extra = sorted(set(expected) - set(keys)), sorted(set(keys) - set(expected))
    assert not missing and not extra, f"keys changed: missing {missing[:10]}, new {extra[:10]}"
    assert "asset trengo/contacts" in keys and "check salesforce/contacts:reconciliation" in keys
    assert "check trengo/contacts:gx_critical" in keys and "job trengo_to_tidio_full" in keys


@pytest.mark.parametrize("pair", ["trengo:salesforce", "trengo:tidio"])
def test_one_pair_at_a_time(pair, monkeypatch):
    from migration_assets.factory import build_definitions, select_pairs
    from migration_assets.registry import default_registry

    defs = build_definitions(pairs=select_pairs(default_registry(), pair))
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    name = pair.replace(":", "_to_")
    assert {f"{name}_{k}" for k in ("discover", "sample", "full", "delta", "rollback")} <= jobs
