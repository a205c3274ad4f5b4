"""Migration store round trips on SQLite, and on PostgreSQL when TEST_POSTGRES_URL is set."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from migration_assets.hookspecs import ConfigurationError, LoadOutcome, Rejected
from migration_assets.runtime import reconcile
from migration_assets.store import SCHEMA_VERSION, MigrationStore


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = MigrationStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    else:
        s = MigrationStore(request.getfixturevalue("postgres_url"))
    yield s
    s.dispose()


def test_schema_is_created_on_first_use_with_a_version(store):
    assert store.schema_version == SCHEMA_VERSION
    names = set(sa.inspect(store.engine).get_table_names())
    assert {"staged_records", "cursors", "id_map", "quarantine", "approvals", "store_meta"} <= names
    MigrationStore(store.url if "sqlite" in store.url else None, engine=store.engine)  # idempotent


def test_staging_is_an_upsert_that_tracks_changes(store):
    r1 = store.stage("src", "contacts", [{"id": "1", "name": "A"}, {"id": "2", "name": "B"}], "run1")
    assert (r1.inserted, r1.changed, r1.unchanged) == (2, 0, 0)
    r2 = store.stage("src", "contacts", [{"id": "1", "name": "A"}, {"id": "2", "name": "B2"}], "run2")
    assert (r2.inserted, r2.changed, r2.unchanged) == (0, 1, 1)
    assert store.staged_ids("src", "contacts", run_id="run2") == {"2"}
    chunks = list(store.iter_staged("src", "contacts", chunk_size=1))
    assert [c[0]["name"] for c in chunks] == ["A", "B2"]
    assert store.count_staged("src", "contacts") == 2


def test_cursor_and_watermark_round_trip(store):
    assert store.get_cursor("src", "tickets") == (None, None)
    store.set_cursor("src", "tickets", {"page": 3}, "run1")
    assert store.get_cursor("src", "tickets")[0] == {"page": 3}
    from datetime import UTC, datetime

    wm = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    store.set_cursor("src", "tickets", None, "run1", watermark=wm)
    cursor, watermark = store.get_cursor("src", "tickets")
    assert cursor is None and watermark == wm


def test_id_map_quarantine_and_reconciliation(store):
    store.stage("src", "contacts", [{"id": str(i)} for i in range(5)], "run1")
    store.quarantine_records("src", "contacts", [Rejected("4", "bad email", rule="gx:email")], stage="validate",
                             run_id="run1")
    store.record_outcomes("src", "dst", "contacts", [
        LoadOutcome("0", "created", "D0", "Contact"),
        LoadOutcome("1", "updated", "D1", "Contact", before_image={"Email": "old@example.com"}),
        LoadOutcome("2", "linked", "D2", "Contact"),
        LoadOutcome("3", "failed", reason="DUPLICATES_DETECTED: use one of these records?", rule="DUPLICATES_DETECTED"),
    ], "run1")
    assert store.lookup("src", "dst", "contacts", ["0", "1", "2", "3"]) == {"0": "D0", "1": "D1", "2": "D2"}
    entries = {e["source_id"]: e for e in store.id_map_entries("src", "dst", "contacts")}
    assert entries["1"]["before_image"] == {"Email": "old@example.com"}
    rec = reconcile(store, "src", "dst", "contacts")
    assert (rec.extracted, rec.loaded, rec.quarantined, rec.skipped, rec.unaccounted) == (5, 3, 2, 0, 0)
    # A failed record that loads on a re-run leaves the quarantine.
    store.record_outcomes("src", "dst", "contacts", [LoadOutcome("3", "created", "D3", "Contact")], "run2")
    assert reconcile(store, "src", "dst", "contacts").quarantined == 1
    # First sight of an already-present record (an interrupted run created it) is ours to roll back.
    store.stage("src", "contacts", [{"id": "9"}], "run3")
    store.record_outcomes("src", "dst", "contacts", [LoadOutcome("9", "unchanged", "D9", "Contact")], "run3")
    assert {e["source_id"]: e["action"] for e in store.id_map_entries("src", "dst", "contacts")}["9"] == "created"
    store.mark_rolled_back("src", "dst", "contacts", ["0"])
    assert "0" not in store.lookup("src", "dst", "contacts", ["0"])


def test_unaccounted_records_fail_reconciliation(store):
    store.stage("src", "tags", [{"id": "a"}, {"id": "b"}], "run1")
    store.record_outcomes("src", "dst", "tags", [LoadOutcome("a", "created", "T1", "Tag")], "run1")
    rec = reconcile(store, "src", "dst", "tags")
    assert not rec.balanced and rec.unaccounted == 1 and rec.unaccounted_sample == ["b"]


def test_approvals_keep_the_latest_decision(store):
    assert store.latest_approval("s", "d", "mapping") is None
    store.record_approval("s", "d", "mapping", fingerprint="abc", by="ann")
    store.record_approval("s", "d", "mapping", fingerprint="def", by="bob")
    assert store.latest_approval("s", "d", "mapping")["fingerprint"] == "def"


def test_a_bad_url_is_a_clear_error_that_hides_the_password():
    with pytest.raises(ConfigurationError) as exc:
        MigrationStore("postgresql://user:hunter2secret@127.0.0.1:1/nowhere")
    assert "MIGRATION_STORE_URL" in str(exc.value)
    assert "hunter2secret" not in str(exc.value)
