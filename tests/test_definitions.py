"""The code location loads, validates with Dagster's own command, and its asset and check keys match the
committed snapshot (regenerate with UPDATE_SNAPSHOTS=1 when a change is intended)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = Path(__file__).parent / "snapshots" / "definition_keys.txt"
TWO_BY_TWO_SNAPSHOT = Path(__file__).parent / "snapshots" / "definition_keys_two_by_two.txt"


def keys_of(defs) -> list[str]:
    g = defs.resolve_asset_graph()
    keys = ["asset " + k.to_user_string() for k in g.get_all_asset_keys()]
    keys += ["check " + k.to_user_string() for k in g.asset_check_keys]
    keys += ["job " + j.name for j in defs.resolve_all_job_defs()]
    return sorted(keys)


def assert_matches_snapshot(keys: list[str], snapshot: Path) -> None:
    if os.environ.get("UPDATE_SNAPSHOTS"):
        snapshot.write_text("\n".join(keys) + "\n")
    expected = snapshot.read_text().strip().split("\n")
    missing, extra = sorted(set(expected) - set(keys)), sorted(set(keys) - set(expected))
    assert not missing and not extra, f"keys changed: missing {missing[:10]}, new {extra[:10]}"


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
    assert_matches_snapshot(keys, SNAPSHOT)
    assert "asset trengo/contacts" in keys and "check salesforce/from_trengo/contacts:reconciliation" in keys
    assert "check trengo/contacts:gx_critical" in keys and "job trengo_to_tidio_full" in keys


@pytest.mark.parametrize("pair", ["trengo:salesforce", "trengo:tidio"])
def test_one_pair_at_a_time(pair, monkeypatch):
    from migration_assets.factory import build_definitions, select_pairs
    from migration_assets.registry import default_registry

    defs = build_definitions(pairs=select_pairs(default_registry(), pair))
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    name = pair.replace(":", "_to_")
    assert {f"{name}_{k}" for k in ("discover", "sample", "full", "delta", "rollback")} <= jobs


def test_two_sources_and_two_destinations_build_together_with_keys_per_pair(monkeypatch):
    """Every source x destination by default, in one code location: extracts once per source, everything
    else once per pair, named after both sides (a second source used to collide on salesforce/preflight)."""
    from migration_assets.factory import build_definitions, select_pairs
    from migration_assets.registry import build_registry, get_plugin_manager
    from tests.tiny_pair import two_by_two_plugins

    monkeypatch.delenv("MIGRATION_PAIRS", raising=False)
    registry = build_registry(get_plugin_manager(two_by_two_plugins(), load_entry_points=False))
    pairs = select_pairs(registry)
    assert sorted(p.name for p in pairs) == ["tinysrc2_to_tinydst", "tinysrc2_to_tinydst2",
                                             "tinysrc_to_tinydst", "tinysrc_to_tinydst2"]
    defs = build_definitions(registry, pairs)
    keys = keys_of(defs)  # resolving the graph and the jobs raises on any duplicate key
    assert_matches_snapshot(keys, TWO_BY_TWO_SNAPSHOT)
    # Extracts are shared by the pairs of a source; each pair has its own gates and loads.
    assert "asset tinysrc/contacts" in keys and "asset tinysrc2/contacts" in keys
    for src in ("tinysrc", "tinysrc2"):
        for dst in ("tinydst", "tinydst2"):
            assert f"asset {dst}/from_{src}/preflight" in keys
            assert f"check {dst}/from_{src}/contacts:reconciliation" in keys
            assert f"job {src}_to_{dst}_full" in keys
    # The second source reads no conversations: its pairs load none, the first source's pairs do.
    assert "asset tinydst/from_tinysrc/conversations" in keys
    assert "asset tinydst/from_tinysrc2/conversations" not in keys
    # A pair's load waits for its own source's extract and its one go-ahead gate, never another pair's; the
    # go-ahead follows the pair's field map and pre-flight.
    graph = defs.resolve_asset_graph()
    parents = {k.to_user_string() for k in graph.get(dg.AssetKey(["tinydst2", "from_tinysrc2", "contacts"])).parent_keys}
    assert parents == {"tinysrc2/contacts", "tinydst2/from_tinysrc2/go_ahead"}
    gate = {k.to_user_string() for k in graph.get(dg.AssetKey(["tinydst2", "from_tinysrc2", "go_ahead"])).parent_keys}
    assert gate == {"tinydst2/from_tinysrc2/preflight", "tinydst2/from_tinysrc2/field_map"}


def test_the_suites_ship_inside_the_engine_package_one_per_canonical_object(monkeypatch):
    import migration_assets
    from migration_assets.canonical import SCHEMA
    from migration_assets.quality import EXPECTATIONS_DIR_ENV, expectations_dir

    monkeypatch.delenv(EXPECTATIONS_DIR_ENV, raising=False)
    assert expectations_dir() == Path(migration_assets.__file__).parent / "expectations"
    assert {p.stem for p in expectations_dir().glob("*.json")} == set(SCHEMA)


def test_a_declared_object_without_its_suite_stops_the_definitions_naming_it(tmp_path, monkeypatch):
    """Never a silent pass: without conversations.json the conversations' gx_critical would check nothing."""
    from migration_assets.factory import MissingSuiteError, build_definitions, select_pairs
    from migration_assets.quality import EXPECTATIONS_DIR_ENV, expectations_dir
    from migration_assets.registry import build_registry, get_plugin_manager
    from tests.tiny_pair import two_by_two_plugins

    shipped = expectations_dir()
    for name in ("agents", "contacts"):
        (tmp_path / f"{name}.json").write_text((shipped / f"{name}.json").read_text())
    monkeypatch.setenv(EXPECTATIONS_DIR_ENV, str(tmp_path))
    registry = build_registry(get_plugin_manager(two_by_two_plugins(), load_entry_points=False))
    with pytest.raises(MissingSuiteError) as err:
        build_definitions(registry, select_pairs(registry, "tinysrc:tinydst"))
    message = str(err.value)
    assert "'conversations' (declared by destination tinydst, source tinysrc): no suite conversations.json" in message
    assert "'contacts'" not in message and str(tmp_path) in message
    # The second source declares no conversations, but its pair with tinydst does (the destination).
    with pytest.raises(MissingSuiteError, match="'conversations' \\(declared by destination tinydst\\)"):
        build_definitions(registry, select_pairs(registry, "tinysrc2:tinydst"))
    # A suite that cannot be read is no suite either.
    (tmp_path / "conversations.json").write_text("{not json")
    with pytest.raises(MissingSuiteError, match="'conversations' .*cannot be read"):
        build_definitions(registry, select_pairs(registry, "tinysrc:tinydst"))
    (tmp_path / "conversations.json").write_text((shipped / "conversations.json").read_text())
    build_definitions(registry, select_pairs(registry, "tinysrc:tinydst"))


def test_a_second_source_installed_beside_trengo_builds_with_the_real_destinations(monkeypatch):
    """The issue as a new user met it: one more source next to Trengo, every pair by default."""
    from migration_assets.factory import build_definitions, select_pairs
    from migration_assets.registry import build_registry, get_plugin_manager
    from tests.tiny_pair import SecondTinySource, TinyPlugin

    monkeypatch.delenv("MIGRATION_PAIRS", raising=False)
    monkeypatch.delenv("HELPDESK_MIGRATE_PLUGINS", raising=False)

    class SourceOnly(TinyPlugin):
        def register_destinations(self, register):  # the built-in destinations only
            pass

    registry = build_registry(get_plugin_manager([SourceOnly(SecondTinySource(), None)]))
    assert {"trengo", "tinysrc2"} <= set(registry.sources) and {"salesforce", "tidio"} <= set(registry.destinations)
    keys = keys_of(build_definitions(registry, select_pairs(registry)))
    for dst in ("salesforce", "tidio"):
        assert f"asset {dst}/from_trengo/preflight" in keys and f"asset {dst}/from_tinysrc2/preflight" in keys
        assert f"job tinysrc2_to_{dst}_full" in keys


def test_every_asset_has_owners_code_references_and_its_objects_a_column_schema(monkeypatch):
    """Dagster's standard metadata, which the UI reads itself: owners on every asset (MIGRATION_OWNERS), the code
    that defines it, the canonical model as the column schema of every extract and load, and shards that a
    'Materialize all' or a backfill runs in one run, never one per shard."""
    from migration_assets.factory import build_definitions

    monkeypatch.setenv("MIGRATION_OWNERS", "team:support-platform, ops@example.com")
    defs = build_definitions()
    specs = [spec for a in defs.assets for spec in a.specs]
    assert specs and all(spec.owners == ["team:support-platform", "ops@example.com"] for spec in specs)
    assert all("dagster/code_references" in spec.metadata for spec in specs)
    by_key = {spec.key.to_user_string(): spec for spec in specs}
    schema = by_key["trengo/contacts"].metadata["dagster/column_schema"]
    columns = {c.name: c for c in schema.columns}
    assert "email" in columns and columns["id"].constraints.nullable is False
    assert by_key["salesforce/from_trengo/messages"].metadata["dagster/column_schema"].columns
    # Not only the objects: the discovery, gate, decision, report and archive assets say what their rows are.
    assert [k for k, spec in by_key.items() if not spec.metadata.get("dagster/column_schema")] == []
    assert [c.name for c in by_key["salesforce/from_trengo/reconciliation_report"].metadata[
        "dagster/column_schema"].columns][:3] == ["object", "extracted", "loaded"]
    sharded = [a for a in defs.assets if getattr(a, "partitions_def", None) is not None]
    assert sharded and all(a.backfill_policy == dg.BackfillPolicy.single_run() for a in sharded)
    monkeypatch.setenv("MIGRATION_OWNERS", "not an owner")
    with pytest.raises(ValueError, match="MIGRATION_OWNERS"):
        build_definitions()
