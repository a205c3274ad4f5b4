"""The field map is reviewed in the UI as a table of decisions: the field-map asset's metadata shows, like
`helpdesk-migrate mapping show`, each destination field a person decides (proposed source, confidence, evidence,
sample values), not the identity entries of objects that map one to one."""

from __future__ import annotations

import dagster as dg
import pytest

from tests.e2e_support import start_migration, stop_migration

pytestmark = pytest.mark.slow


def test_the_field_map_asset_shows_the_decisions_only(tmp_path, monkeypatch):
    monkeypatch.setenv("MIGRATION_EXECUTOR", "in_process")
    m = start_migration("salesforce", tmp_path, monkeypatch)
    try:
        m.run("discover")
        key = dg.AssetKey(["salesforce", "from_trengo", "field_map"])
        event = m.instance.get_latest_materialization_event(key)
        assert event is not None, "\n".join(m.output)
        metadata = event.asset_materialization.metadata
        table = metadata["map"].value
        assert metadata["decisions"].value > 0 and metadata["decisions"].value < metadata["fields"].value
        header = table.splitlines()[0]
        assert all(col in header for col in ("destination", "source", "confidence", "evidence", "samples"))
        assert "| messages |" not in table and "| agents |" not in table  # objects that map one to one
        assert "| contacts |" in table
    finally:
        stop_migration(m)
