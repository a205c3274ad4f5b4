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


def _as_schema_2(s: MigrationStore) -> None:
    """Turn a fresh store into the version-2 layout: no degrade columns on changes, no caused_by on quarantine."""
    with s.engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_changes_pending"))
        conn.execute(sa.text("DROP INDEX ix_changes_stage"))
        for table, column in (("changes", "field"), ("changes", "original"), ("changes", "kept_in"),
                              ("changes", "pending"), ("quarantine", "caused_by")):
            conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(sa.text("UPDATE store_meta SET value = '2' WHERE key = 'schema_version'"))
        conn.execute(sa.text("INSERT INTO changes (source, destination, object, source_id, rule, stage, detail, "
                             "run_id, created_at) VALUES ('src', 'dst', 'contacts', '1', 'text-truncated', 'load', "
                             "'LastName cut to 80', 'run1', CURRENT_TIMESTAMP)"))
        conn.execute(sa.text("INSERT INTO quarantine (source, destination, object, source_id, stage, kind, rule, "
                             "reason, fix, run_id, created_at) VALUES ('src', 'dst', 'contacts', '2', 'load', "
                             "'quarantined', 'R', 'refused', '', 'run1', CURRENT_TIMESTAMP)"))
        conn.execute(sa.text("INSERT INTO id_map (source, destination, object, source_id, destination_object, "
                             "destination_id, action, run_id, last_run_id, updated_at) VALUES ('src', 'dst', "
                             "'contacts', '1', 'Contact', 'D1', 'created', 'run1', 'run1', CURRENT_TIMESTAMP)"))


def test_a_schema_2_store_is_upgraded_in_place_and_keeps_its_rows(store):
    from migration_assets.hookspecs import Change

    _as_schema_2(store)
    assert "pending" not in {c["name"] for c in sa.inspect(store.engine).get_columns("changes")}
    upgraded = MigrationStore(store.url if "sqlite" in store.url else None, engine=store.engine)
    assert upgraded.schema_version == SCHEMA_VERSION == 3
    inspector = sa.inspect(upgraded.engine)
    assert {"field", "original", "kept_in", "pending"} <= {c["name"] for c in inspector.get_columns("changes")}
    assert "caused_by" in {c["name"] for c in inspector.get_columns("quarantine")}
    assert {"ix_changes_pending", "ix_changes_stage"} <= {i["name"] for i in inspector.get_indexes("changes")}
    # The rows written before read as they meant: no field, settled, own fault.
    old = upgraded.change_entries("src", "dst", "contacts")
    assert [(c["rule"], c["field"], c["original"], c["pending"]) for c in old] == \
        [("text-truncated", None, None, False)]
    assert upgraded.quarantine_entries("src", "dst", "contacts")[0]["caused_by"] is None
    assert not upgraded.has_pending("src", "dst", "contacts")
    # And the new columns take new rows.
    upgraded.record_outcomes("src", "dst", "contacts", [
        LoadOutcome("1", "updated", "D1", "Contact", changes=[
            Change("contact-missing", "link pending", field="AccountId", original={"id": 7}, kept_in="Description",
                   pending=True)]),
        LoadOutcome("3", "failed", reason="parent failed", rule="parent-missing", caused_by="conversations/9")], "run2")
    assert upgraded.pending_ids("src", "dst", "contacts", ["1", "2", "3"]) == {"1"}
    assert upgraded.quarantine_entries("src", "dst", "contacts")[1]["caused_by"] == "conversations/9"
    # Opening it again changes nothing (idempotent upgrade).
    assert MigrationStore(store.url if "sqlite" in store.url else None, engine=store.engine).schema_version == 3


def test_degrade_fields_round_trip_and_a_load_without_the_pending_change_settles_the_record(store):
    from migration_assets.hookspecs import Change

    pending = Change("contact-missing", "link to contact 9 pending", field="contact_id", original="9",
                     kept_in="the Case's Description", pending=True)
    store.stage("src", "conversations", [{"id": "1"}, {"id": "2"}], "run1")
    store.record_outcomes("src", "dst", "conversations", [
        LoadOutcome("1", "created", "C1", "Case", changes=[pending]),
        LoadOutcome("2", "failed", reason="its contact failed", rule="contact-missing", caused_by="contacts/8")],
        "run1", {"1": "sum1"})
    (entry,) = store.change_entries("src", "dst", "conversations")
    assert (entry["field"], entry["original"], entry["kept_in"], entry["pending"]) == \
        ("contact_id", "9", "the Case's Description", True)
    assert store.has_pending("src", "dst", "conversations") and not store.has_pending("src", "other", "conversations")
    assert store.pending_ids("src", "dst", "conversations", ["1", "2"]) == {"1"}
    rec = reconcile(store, "src", "dst", "conversations")
    assert (rec.quarantined, rec.collateral) == (1, 1)
    # A load that no longer reports the change settles the record: the entry is gone, nothing is pending.
    store.record_outcomes("src", "dst", "conversations", [LoadOutcome("1", "updated", "C1", "Case")], "run2",
                          {"1": "sum1"})
    assert store.change_entries("src", "dst", "conversations") == []
    assert not store.has_pending("src", "dst", "conversations")
    # Validation's value changes are replaced as a whole: a record that passes now loses its entry, and the
    # extract stage's own entries are left alone.
    store.record_changes("src", "conversations", {"2": [Change("phone-normalised", "E.164")]}, ids=["2"],
                         stage="extract", run_id="run1")
    store.replace_stage_changes("src", "conversations", {"1": [Change("email-invalid", "cleared", field="email",
                                                                      original="x")]}, stage="validate",
                                run_id="run1")
    assert store.cleared_values("src", "conversations", ["1", "2"]) == {"1": {"email": "email-invalid"}}
    store.replace_stage_changes("src", "conversations", {}, stage="validate", run_id="run2")
    assert store.cleared_values("src", "conversations", ["1", "2"]) == {}
    assert [c["rule"] for c in store.change_entries("src", "", "conversations")] == ["phone-normalised"]
