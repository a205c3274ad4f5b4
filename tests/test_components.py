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


def test_what_shapes_a_migration_is_an_attribute_of_its_component(monkeypatch):
    """Owners, tags, step retries and the delta schedule come from the component's attributes, as defs.yaml
    writes them; the environment variables of the same meaning are only defaults."""
    from dagster.components.core.component_tree import ComponentTree

    from migration_assets.components import Migration, MigrationSource
    from migration_assets.factory import runtime_definitions

    monkeypatch.delenv("MIGRATION_PAIRS", raising=False)
    monkeypatch.setenv("MIGRATION_OWNERS", "team:from-the-environment")
    monkeypatch.setenv("MIGRATION_STEP_RETRIES", "5")
    context = ComponentTree.for_test().load_context
    source = MigrationSource.model_validate(yaml.safe_load(
        "source: trengo\nowners: [team:extract-crew]\ntags: {cost_center: cs-42}\nstep_retries: 0"))
    migration = Migration.model_validate(yaml.safe_load(
        "source: trengo\ndestination: tidio\nowners: [lead@example.com]\ntags: {cost_center: cs-42}\n"
        "delta_schedule: '*/10 * * * *'\ndelta_schedule_running: true"))
    defs = dg.Definitions.merge(source.build_defs(context), migration.build_defs(context), runtime_definitions())
    specs = {s.key.to_user_string(): s for a in defs.assets for s in a.specs}
    assert specs["trengo/contacts"].owners == ["team:extract-crew"]
    assert specs["tidio/from_trengo/contacts"].owners == ["lead@example.com"]
    assert specs["tidio/from_trengo/go_ahead"].tags["cost_center"] == "cs-42"
    assert specs["trengo/contacts"].tags["cost_center"] == "cs-42"
    extract = next(a for a in defs.assets if dg.AssetKey(["trengo", "contacts"]) in a.keys)
    assert extract.op.retry_policy is None  # step_retries: 0 wins over MIGRATION_STEP_RETRIES=5
    schedule = defs.resolve_schedule_def("trengo_to_tidio_delta_schedule")
    assert schedule.cron_schedule == "*/10 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert defs.resolve_job_def("trengo_to_tidio_full").tags["cost_center"] == "cs-42"
    # The defaults: the environment, then the product's own.
    plain = dg.Definitions.merge(MigrationSource(source="trengo").build_defs(context), runtime_definitions())
    assert next(a for a in plain.assets if dg.AssetKey(["trengo", "contacts"]) in a.keys).op.retry_policy.max_retries == 5
    assert {s.key.to_user_string(): s for a in plain.assets for s in a.specs}["trengo/contacts"].owners == [
        "team:from-the-environment"]
    with pytest.raises(Exception, match="step_retries|greater than or equal"):
        MigrationSource.model_validate({"source": "trengo", "step_retries": -1})


def test_a_defs_yaml_translates_groups_and_tags_with_dagsters_post_processing(monkeypatch):
    """What the components leave to Dagster: a defs.yaml's `post_processing` re-groups and re-tags a migration's
    assets (here its loads, into the team's own group), as for any component; keys stay the product's."""
    from dagster.components.testing.utils import create_defs_folder_sandbox

    monkeypatch.delenv("MIGRATION_PAIRS", raising=False)
    with create_defs_folder_sandbox() as sandbox:
        for name, text in {
            "trengo": "type: migration_assets.components.MigrationSource\nattributes: {source: trengo}\n",
            "trengo_to_tidio": (
                "type: migration_assets.components.Migration\n"
                "attributes: {source: trengo, destination: tidio, tags: {wave: first}}\n"
                "post_processing:\n  assets:\n"
                "    - target: 'group:trengo_to_tidio_load'\n"
                "      attributes: {group_name: cutover_wave_1, tags: {cutover: planned}}\n"),
        }.items():
            (sandbox.defs_folder_path / name).mkdir()
            (sandbox.defs_folder_path / name / "defs.yaml").write_text(text)
        with sandbox.build_all_defs() as built:
            from migration_assets.factory import runtime_definitions

            defs = dg.Definitions.merge(built, runtime_definitions())
            specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    load = specs["tidio/from_trengo/contacts"]
    assert load.group_name == "cutover_wave_1" and load.tags["cutover"] == "planned" and load.tags["wave"] == "first"
    assert specs["tidio/from_trengo/go_ahead"].group_name == "trengo_to_tidio_gates"  # outside the target
    assert specs["trengo/contacts"].group_name == "trengo_extract"
