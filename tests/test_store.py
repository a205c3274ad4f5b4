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


def test_changes_are_recorded_replaced_and_shown_only_for_loaded_records(store):
    from migration_assets.hookspecs import EVERY_RECORD, Change

    trimmed = Change("email-trimmed", "email ' a@b.nl ' trimmed")
    store.stage("src", "contacts", [{"id": "1"}, {"id": "2"}, {"id": "3"}], "run1")
    store.record_changes("src", "contacts", {"1": [trimmed], "2": [trimmed],
                                             EVERY_RECORD: [Change("tz", "read in Europe/Amsterdam")]},
                         ids=["1", "2", "3"], stage="extract", run_id="run1")
    store.record_outcomes("src", "dst", "contacts", [
        LoadOutcome("1", "created", "D1", "Contact", changes=[Change("text-truncated", "LastName cut to 80")]),
        LoadOutcome("2", "failed", reason="refused", rule="R"),
        LoadOutcome("3", "created", "D3", "Contact"),
    ], "run1")
    got = [(c["source_id"], c["stage"], c["rule"]) for c in store.change_entries("src", "dst")]
    # record 2 did not load: its source-side change is not a change to anything in the destination
    assert got == [(EVERY_RECORD, "extract", "tz"), ("1", "extract", "email-trimmed"), ("1", "load", "text-truncated")]
    # a re-extract that maps record 1 cleanly forgets its old change; a re-load without changes forgets the load's
    store.record_changes("src", "contacts", {}, ids=["1"], stage="extract", run_id="run2")
    store.record_outcomes("src", "dst", "contacts", [LoadOutcome("1", "unchanged", "D1", "Contact")], "run2")
    assert [c["rule"] for c in store.change_entries("src", "dst")] == ["tz"]
    assert store.has_changes("src", "contacts") and not store.has_changes("src", "tickets")
    # rolled back: no longer loaded, so no longer listed (the object-wide entry stays: it describes the source)
    store.record_outcomes("src", "dst", "contacts", [LoadOutcome("3", "created", "D3", "Contact",
                                                                  changes=[trimmed])], "run3")
    store.mark_rolled_back("src", "dst", "contacts", ["3"])
    assert [c["source_id"] for c in store.change_entries("src", "dst")] == [EVERY_RECORD]


def test_records_loaded_into_one_destination_record_are_reported_as_merged(store):
    store.record_outcomes("src", "dst", "contacts", [
        LoadOutcome("1", "created", "D1", "Contact"), LoadOutcome("2", "linked", "D1", "Contact"),
        LoadOutcome("3", "created", "D3", "Contact")], "run1")
    merged = {r["source_id"]: r["with"] for r in store.merged_records("src", "dst")}
    assert merged == {"1": ["2"], "2": ["1"]}


def test_a_later_update_adds_to_the_before_image_and_never_overwrites_it(store):
    store.record_outcomes("src", "dst", "contacts", [
        LoadOutcome("1", "updated", "D1", "Contact", before_image={"Email": "original@example.com"})], "run1")
    store.record_outcomes("src", "dst", "contacts", [
        LoadOutcome("1", "updated", "D1", "Contact",
                    before_image={"Email": "written-by-run1@example.com", "Phone": "+31 20 000"})], "run2")
    entry = store.id_map_entries("src", "dst", "contacts")[0]
    # rollback must restore what the record held before the migration: run1's email image, run2's phone image
    assert entry["before_image"] == {"Email": "original@example.com", "Phone": "+31 20 000"}
    assert entry["action"] == "updated"
