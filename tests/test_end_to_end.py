"""End to end on the emulators, for every destination: Trengo -> Salesforce and Trengo -> Tidio.

full run reconciles -> a re-run creates nothing -> a delta picks up edits -> rollback restores the
destination to its pre-migration state; the source is never written to.

Each pair runs twice: on the emulators' default profiles, and with every variant profile of both emulators at
once (``EmulatorPlugin.profiles()``: the real-world shapes and defaults we could not confirm, e.g. a Trengo ticket
list that shows only the inbox without a status filter, a Tidio batch answer with ids only, an org where
Case.ClosedDate is not createable). Nothing may be lost under either."""

from __future__ import annotations

import dagster as dg
import pytest

from migration_assets.registry import emulator_for
from tests.e2e_support import data_snapshot, start_migration, stop_migration

pytestmark = pytest.mark.slow


def variant_profiles(plugin) -> str:
    """Every non-default emulator profile of a plugin, comma-joined ("default" when it has none)."""
    names = [n for n in emulator_for(plugin).profiles() if n != "default"]
    return ",".join(names) or "default"


@pytest.fixture(params=[("salesforce", False), ("tidio", False), ("salesforce", True), ("tidio", True)],
                ids=["salesforce", "tidio", "salesforce-variants", "tidio-variants"])
def migration(request, tmp_path, monkeypatch):
    destination, variants = request.param
    options: dict = {}
    if variants:
        from migration_assets.registry import default_registry

        reg = default_registry()
        for side, plugin in (("source_options", reg.source("trengo")), ("destination_options", reg.destination(destination))):
            if variant_profiles(plugin) != "default":
                options[side] = {"profile": variant_profiles(plugin)}
        if not options:
            pytest.skip("neither emulator declares variant profiles")
    m = start_migration(destination, tmp_path, monkeypatch, **options)
    yield m
    stop_migration(m)


def loaded_ids(m, canonical):
    return {e["source_id"]: e for e in m.store.id_map_entries(m.pair.source.name, m.pair.destination.name, canonical)}


def test_full_rerun_delta_and_rollback(migration):
    m = migration
    source_before = m.source_emulator.snapshot()
    m.run("discover")
    destination_before = data_snapshot(m.destination_emulator)  # schema prepared, no record loaded yet

    m.approve("mapping")
    m.approve("preflight")
    m.approve("sample", waive="end-to-end test")
    m.run("full")
    assert any("_full): succeeded" in line for line in m.output), "\n".join(m.output)
    assert m.unbalanced() == {}
    report = m.report()
    assert report["objects"]["conversations"]["loaded"] > 0
    assert report["objects"]["messages"]["loaded"] > 0
    for q in report["quarantine"]:
        assert q["reason"] and q["stage"] in ("extract", "validate", "load"), q

    # The migration never wrote to Trengo: the workspace is exactly as it was.
    assert m.source_emulator.snapshot() == source_before

    # The run is visibly not clean when records were quarantined, and the loads carry Dagster's standard
    # metadata: row counts and, from the confirmed map, column lineage back to the extract.
    contacts_key = dg.AssetKey([m.pair.destination.name, f"from_{m.pair.source.name}", "contacts"])
    materialized = m.instance.get_latest_materialization_event(contacts_key).asset_materialization.metadata
    assert materialized["dagster/row_count"].value == report["objects"]["contacts"]["loaded"]
    lineage = materialized["dagster/column_lineage"].value.deps_by_column
    assert lineage and all(dep.asset_key == dg.AssetKey([m.pair.source.name, "contacts"])
                           for deps in lineage.values() for dep in deps)
    full_run = m.instance.get_runs(limit=1)[0]
    materializations = [r.event_log_entry.dagster_event.event_specific_data.materialization
                        for r in m.instance.get_records_for_run(
                            full_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=1000).records]
    assert len(materializations) > 20
    assert [x.asset_key.to_user_string() for x in materializations if "dagster/row_count" not in x.metadata] == []
    assert full_run.tags["helpdesk_migrate/quarantined"] == str(len(report["quarantine"]))

    # Ownership and lookups: every loaded conversation's contact and owner were loaded first.
    convs = loaded_ids(m, "conversations")
    assert convs

    # A re-run creates nothing and changes nothing.
    after_full = data_snapshot(m.destination_emulator)
    m.output.clear()
    m.run("full")
    assert any("_full): succeeded" in line for line in m.output), "\n".join(m.output)
    assert data_snapshot(m.destination_emulator) == after_full

    # Delta: an agent adds a note to a migrated conversation and closes another one.
    ticket_ids = sorted(convs)
    noted, closed = ticket_ids[0], ticket_ids[-1]
    messages_before = set(loaded_ids(m, "messages"))
    assert m.trengo("POST", f"/tickets/{noted}/messages", {"message": "Cutover note", "internal_note": True}).ok
    assert m.trengo("POST", f"/tickets/{closed}/close").ok
    m.output.clear()
    m.run("delta")
    assert any("_delta): succeeded" in line for line in m.output), "\n".join(m.output)
    new_messages = set(loaded_ids(m, "messages")) - messages_before
    assert len(new_messages) == 1, new_messages
    staged_closed = next(r for chunk in m.store.iter_staged("trengo", "conversations", ids=[closed]) for r in chunk)
    assert staged_closed["status"] == "closed"
    assert loaded_ids(m, "conversations")[closed]["last_run_id"] != convs[closed]["last_run_id"]
    assert m.unbalanced() == {}

    # Rollback of the whole migration restores the destination exactly.
    m.output.clear()
    assert m.run("rollback") == 0, "\n".join(m.output)
    after_rollback = data_snapshot(m.destination_emulator)
    if after_rollback != destination_before:
        import json
        a, b = json.loads(destination_before), json.loads(after_rollback)
        diff = {obj: {"gone": sorted(set(a.get(obj, {})) - set(b.get(obj, {})))[:5],
                      "new": sorted(set(b.get(obj, {})) - set(a.get(obj, {})))[:5],
                      "changed": [k for k in a.get(obj, {}) if k in b.get(obj, {}) and a[obj][k] != b[obj][k]][:5]}
                for obj in set(a) | set(b) if a.get(obj) != b.get(obj)}
        raise AssertionError(f"rollback left differences: {diff}")
    if hasattr(m.destination_emulator, "emailed"):
        assert m.destination_emulator.emailed() == [], "the migration must never email a customer"
