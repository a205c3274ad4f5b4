"""The migrations as Dagster Components: `dg` validates the project, each pair is one defs.yaml, and two
migrations compose in one location with the store and executor set once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.test_definitions import SNAPSHOT, assert_matches_snapshot, keys_of

ROOT = Path(__file__).resolve().parent.parent
DEFS = ROOT / "migration_assets" / "defs"


def _dg() -> str:
    found = shutil.which("dg", path=str(Path(sys.executable).parent)) or shutil.which("dg")
    if not found:
        pytest.skip("dagster-dg-cli is not installed (pip install -e .)")
    return found


def test_dg_check_defs_validates_every_component_and_loads_the_definitions(tmp_path):
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {k: v for k, v in os.environ.items() if k != "MIGRATION_PAIRS"} | {"DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.run([_dg(), "check", "defs"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All component YAML validated successfully" in proc.stdout + proc.stderr
    listed = subprocess.run([_dg(), "list", "defs", "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert listed.returncode == 0, listed.stderr
    assert "salesforce/from_trengo/go_ahead" in listed.stdout and "tidio/from_trengo/contacts" in listed.stdout


def test_each_pair_is_one_defs_yaml_and_the_location_matches_the_snapshot():
    declared = {p.parent.name: yaml.safe_load(p.read_text()) for p in DEFS.glob("*/defs.yaml")}
    migrations = {(d["attributes"]["source"], d["attributes"]["destination"]) for d in declared.values()
                  if d["type"].endswith(".Migration")}
    assert migrations == {("trengo", "salesforce"), ("trengo", "tidio"), ("zendesk", "salesforce"), ("zendesk", "tidio")}
    assert {d["attributes"]["source"] for d in declared.values()
            if d["type"].endswith(".MigrationSource")} == {"trengo", "zendesk"}
    code = ("from migration_assets.definitions import defs\n"
            "from tests.test_definitions import keys_of\n"
            "print('\\n'.join(keys_of(defs)))")
    env = {k: v for k, v in os.environ.items() if k != "MIGRATION_PAIRS"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert_matches_snapshot([line for line in out.stdout.splitlines() if line.strip()], SNAPSHOT)


def test_two_migrations_built_as_components_compose_with_the_store_and_executor_set_once(monkeypatch):
    from migration_assets.components import Migration, MigrationSource
    from migration_assets.factory import runtime_definitions

    monkeypatch.delenv("MIGRATION_PAIRS", raising=False)
    from dagster.components.core.component_tree import ComponentTree

    context = ComponentTree.for_test().load_context
    parts = [MigrationSource(source="trengo").build_defs(context),
             Migration(source="trengo", destination="salesforce").build_defs(context),
             Migration(source="trengo", destination="tidio").build_defs(context)]
    assert all(not part.resources for part in parts)  # components carry no store and no executor
    defs = dg.Definitions.merge(*parts, runtime_definitions())
    keys = keys_of(defs)  # resolving raises on any duplicate key
    assert "job trengo_to_salesforce_full" in keys and "job trengo_to_tidio_full" in keys
    assert keys.count("asset trengo/contacts") == 1  # the source's extracts once, shared by both migrations
    # MIGRATION_PAIRS narrows the location: a migration it leaves out builds nothing.
    monkeypatch.setenv("MIGRATION_PAIRS", "trengo:tidio")
    assert not list(Migration(source="trengo", destination="salesforce").build_defs(context).assets or [])
