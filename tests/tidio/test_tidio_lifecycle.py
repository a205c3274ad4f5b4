"""Re-runs, crashes, rollback, checks and pre-flight of the Tidio plugin."""

from __future__ import annotations

from migration_assets.factory import Pair
from migration_assets.hookspecs import SourceObject
from migration_assets.rollback import rollback_pair
from migration_assets.runtime import EngineLoadContext, connect_destination

from .conftest import ORDER
from .dirty_workspace import PRE_EXISTING_EMAIL, SOURCE


class StubSource:
    name, title, version = SOURCE, "Trengo", "0"

    def objects(self):
        return [SourceObject(c) for c in ORDER]


def _context(harness, run_id="run-2"):
    return EngineLoadContext(harness.store, SOURCE, "tidio", run_id)


def _migrated(emu) -> tuple[int, int, int]:
    dump = emu.dump()
    contacts = sum(1 for c in dump["contacts"] if (c["distinct_id"] or "").startswith("trengo:"))
    tickets = [t for t in dump["tickets"] if "[Trengo" in t["subject"]]
    return contacts, len(tickets), sum(len(t["messages"]) for t in tickets)


def test_sending_everything_again_duplicates_nothing(harness):
    emu = harness.start()
    harness.load()
    before = _migrated(emu)
    conn = connect_destination(harness.plugin)
    try:
        ctx = _context(harness)
        for canonical in ORDER:
            outcomes = conn.load(canonical, harness.data[canonical], context=ctx)
            assert len(outcomes) == len(harness.data[canonical])
            assert not [o for o in outcomes if o.action == "created"], canonical
        assert conn.count("contacts") == before[0] and conn.count("conversations") == 6  # all but v2 (its agent has no operator)
    finally:
        conn.close()
    assert _migrated(emu) == before and emu.emailed() == []


def _crash(harness, objects):
    """Tidio gets the records, the id map never hears of them (a crash between the two)."""
    conn = connect_destination(harness.plugin)
    try:
        for canonical in objects:
            conn.load(canonical, harness.data[canonical], context=_context(harness, "crashed"))
    finally:
        conn.close()


def test_a_crash_after_tidio_saved_but_before_the_id_map_never_duplicates(harness):
    emu = harness.start()
    harness.load(["agents", "teams", "tags", "custom_fields"])
    _crash(harness, ["contacts"])
    contacts_before = _migrated(emu)
    harness.load(["contacts"])
    assert _migrated(emu) == contacts_before
    assert harness.entries("contacts")["c1"]["action"] == "created"  # found by distinct_id: ours, rollback deletes it
    for canonical in ("conversations", "messages"):
        _crash(harness, [canonical])
        before = _migrated(emu)
        harness.load([canonical])
        assert _migrated(emu) == before, canonical
    assert harness.entries("conversations")["v1"]["action"] == "created"
    assert len(harness.entries("messages")) == 6


def test_lost_responses_are_looked_up_before_anything_is_sent_again(harness):
    emu = harness.start()
    emu.set_faults(lose_response_next=1, fault_path="/contacts/batch")
    harness.load(["agents", "teams", "tags", "custom_fields", "contacts"])
    emu.set_faults(lose_response_next=1, fault_path="/tickets/as-contact")
    harness.load(["conversations"])
    emu.set_faults(lose_response_next=2, fault_path="/tickets/1")  # replies on tickets 10000+
    harness.load(["messages"])
    dump = emu.dump()
    distinct = [c["distinct_id"] for c in dump["contacts"] if (c["distinct_id"] or "").startswith("trengo:")]
    assert len(distinct) == len(set(distinct)) == 28  # 30 - c5 (c2's email) - c7 (pre-existing)
    subjects = [t["subject"] for t in dump["tickets"]]
    assert len(subjects) == len(set(subjects))
    markers = [m["message_content"].split("]")[0] for t in dump["tickets"] for m in t["messages"]
               if m["message_content"].startswith("[Trengo")]
    assert len(markers) == len(set(markers))
    assert not emu.faults.values.get("lose_response_next")  # every injected loss really happened


def test_rollback_deletes_what_the_api_allows_and_restores_what_it_changed(harness):
    emu = harness.start()
    pre = next(c for c in emu.dump()["contacts"] if c["email"] == PRE_EXISTING_EMAIL)
    untouched = {c["id"] for c in emu.dump()["contacts"]}
    harness.load()
    report = rollback_pair(harness.store, Pair(StubSource(), harness.plugin))
    dump = emu.dump()
    assert _migrated(emu) == (0, 0, 0)
    assert not any("notes]" in t["subject"] for t in dump["tickets"])  # contact notes tickets too
    assert {c["id"] for c in dump["contacts"]} == untouched  # pre-existing customers stay
    restored = next(c for c in dump["contacts"] if c["id"] == pre["id"])
    assert restored["properties"] == []  # the plan property written by the migration is cleared again
    assert report.not_undone == 0, report.markdown


def test_a_partial_rollback_lists_notes_it_cannot_delete(harness):
    emu = harness.start()
    harness.load([c for c in ORDER if c != "messages"], run_id="run-1")
    harness.load(["messages"], run_id="run-2")  # notes added to tickets of an earlier run
    report = rollback_pair(harness.store, Pair(StubSource(), harness.plugin), run_id="run-2")
    assert report.per_object["messages"]["not_undone"] == 6  # Tidio cannot delete a single message
    assert _migrated(emu)[1] == 7  # the tickets of run-1 (6 conversations, 1 of contact notes) are still there


def test_checks_report_what_blocks_and_what_was_chosen(harness):
    emu = harness.start()
    harness.load()
    conn = connect_destination(harness.plugin)
    try:
        ctx = _context(harness, "run-1")
        findings = {name: conn.evaluate_check(name, obj, context=ctx) for name, obj in (
            ("operators_matched", "agents"), ("departments_matched", "teams"), ("tags_defined", "tags"),
            ("properties_defined", "custom_fields"), ("contacts_unique", "contacts"),
            ("customers_not_emailed", "messages"), ("manual_inventory", "articles"))}
    finally:
        conn.close()
    assert not findings["operators_matched"].passed and findings["operators_matched"].severity == "ERROR"
    assert findings["operators_matched"].metadata["unmatched"][0]["email"] == "ghost@example.com"
    # tickets of unmatched teams and labels load (department-fallback, tag-dropped): a warning, not a stop
    for name in ("departments_matched", "tags_defined"):
        assert findings[name].passed and findings[name].severity == "WARN", findings[name]
    assert "General" in findings["departments_matched"].description
    assert findings["properties_defined"].passed and findings["contacts_unique"].passed
    assert findings["customers_not_emailed"].passed
    inventory = findings["manual_inventory"].metadata["inventory"]
    for expected in ("How refunds work", "Within 14 days.", "Hi! Thanks for reaching out.", "Resellers",
                     "Route billing", "invoice.pdf", "ghost@example.com", "Legacy desk", "escalated",
                     "customer_number"):
        assert expected in inventory, expected
    assert emu.emailed() == []
    harness.setenv(TIDIO_FALLBACK_OPERATOR_ID="ann@example.com", TIDIO_DROP_MISSING_TAGS="true")
    conn = connect_destination(harness.plugin)
    try:
        ctx = _context(harness, "run-1")
        assert conn.evaluate_check("operators_matched", "agents", context=ctx).severity == "WARN"
        assert conn.evaluate_check("operators_matched", "agents", context=ctx).passed
        assert conn.evaluate_check("tags_defined", "tags", context=ctx).passed
    finally:
        conn.close()


def test_preflight_lists_what_an_admin_must_do_before_loading(harness):
    harness.start()
    conn = connect_destination(harness.plugin)
    try:
        report = conn.preflight(context=_context(harness, "preflight"))
    finally:
        conn.close()
    assert report.blocking_problems == []
    assert report.requires_acknowledgement
    kinds = {(i["kind"], i.get("email") or i.get("name")) for i in report.items}
    assert ("operator_unmatched", "ghost@example.com") in kinds
    assert ("department_unmatched", "Legacy desk") in kinds and ("tag_missing", "escalated") in kinds
    assert "No customer is emailed" in report.markdown and "placeholder" in report.markdown
    assert "cannot backdate" in report.markdown
    harness.setenv(TIDIO_HISTORY_MODE="public_replies", TIDIO_FALLBACK_OPERATOR_ID="nobody@example.com")
    conn = connect_destination(harness.plugin)
    try:
        loud = conn.preflight(context=_context(harness, "preflight"))
    finally:
        conn.close()
    assert "EMAILS" in loud.markdown.upper() and "WARNING" in loud.markdown
    assert loud.fingerprint != report.fingerprint
    assert any("TIDIO_FALLBACK_OPERATOR_ID" in p for p in loud.blocking_problems)


def test_sample_fetch_shows_tidios_side(harness):
    harness.start()
    harness.load(["agents", "teams", "tags", "custom_fields", "contacts", "conversations", "messages"])
    conn = connect_destination(harness.plugin)
    try:
        tickets = conn.fetch("conversations", [harness.ids("conversations")["v1"]])
        notes = conn.fetch("messages", [harness.ids("messages")["m1"]])
    finally:
        conn.close()
    ticket = next(iter(tickets.values()))["_canonical"]
    assert ticket["status"] == "solved" and "vip" in [t.lower() for t in ticket["tags"]]
    assert next(iter(notes.values()))["_canonical"]["kind"] == "internal operator message"


def test_what_names_the_source_comes_from_the_context_not_from_the_plugin(harness):
    """Markers, placeholders and distinct_ids carry context.source; a fresh connection reads the exact name back
    (count() has no context), also for a name that capitalising does not round-trip."""
    emu = harness.start()
    source = "helpScout"
    conn = connect_destination(harness.plugin)
    try:
        ctx = EngineLoadContext(harness.store, source, "tidio", "run-1")
        conn.load("contacts", [{"id": "7", "name": "Pat", "phone": "+31 6 1111 2222"}], context=ctx)
        conn.load("conversations", [{"id": "70", "subject": "Hi", "status": "open", "contact_id": "7",
                                     "created_at": "2024-01-02T10:00:00Z"}], context=ctx)
    finally:
        conn.close()
    ticket = next(t for t in emu.dump()["tickets"] if t["subject"].startswith("[HelpScout #70] Hi"))
    assert ticket["contact_email"] == "helpscout-contact-7@example.com"
    assert "migrated from HelpScout" in ticket["messages"][0]["message_content"]
    assert "Trengo" not in ticket["messages"][0]["message_content"]
    fresh = connect_destination(harness.plugin)
    try:
        assert fresh.count("contacts") == 1 and fresh.count("conversations") == 1
    finally:
        fresh.close()


def _ticket_reads(emu) -> list[str]:
    """GET /tickets/{id}: reading a ticket's notes, what the reply journal saves."""
    return [r["path"] for r in emu.request_log() if r["method"] == "GET" and r["path"].count("/") == 2
            and r["path"].startswith("/tickets/") and r["path"].rsplit("/", 1)[1].isdigit()]


def test_history_goes_in_without_reading_tickets_and_a_crash_reads_only_the_tickets_it_touched(harness):
    emu = harness.start()
    # The reconciliation's own count of messages reads every ticket (a verification, bounded by this setting):
    # off here, so what is counted is what loading costs.
    harness.setenv(TIDIO_COUNT_MESSAGES_MAX_TICKETS="0")
    harness.load(["agents", "teams", "tags", "custom_fields", "contacts", "conversations"])
    emu.log.clear()
    harness.load(["messages"])  # a step of its own: a fresh connection that created none of the tickets
    assert harness.entries("messages") and _ticket_reads(emu) == []
    # A crash after Tidio saved a chunk's replies, before the engine recorded them: the re-run reads the tickets
    # of that chunk once each (their replies may be there) and posts nothing twice.
    crashed = [m for m in harness.data["messages"] if m["conversation_id"] == "v1"]
    extra = [dict(m, id=f"{m['id']}-late", sequence=(m.get("sequence") or 0) + 100) for m in crashed]
    harness.store.stage(SOURCE, "messages", extra, "extract-2")
    conn = connect_destination(harness.plugin)
    try:
        conn.load("messages", extra, context=_context(harness, "crashed"))
    finally:
        conn.close()
    before = _migrated(emu)
    emu.log.clear()
    harness.load(["messages"], run_id="run-3")
    assert _migrated(emu) == before  # nothing posted twice
    assert set(_ticket_reads(emu)) == {f"/tickets/{harness.ids('conversations')['v1']}"}
    assert {m["id"] for m in extra} <= set(harness.entries("messages"))
    emu.log.clear()
    harness.load(["messages"], run_id="run-4")  # all recorded now: the journal is done with, nothing is read
    assert _ticket_reads(emu) == []
