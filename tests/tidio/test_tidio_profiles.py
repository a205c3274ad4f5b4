"""The plugin against the real Tidio's unconfirmed variants, each served by an emulator profile."""

from __future__ import annotations

import pytest

from helpdesk_migrate.plugins.tidio.contacts import PreparedContact, match_rows
from helpdesk_migrate.plugins.tidio.emulator.server import TidioEmulator
from helpdesk_migrate.plugins.tidio.plugin import TidioDestination
from migration_assets.registry import emulator_for
from migration_assets.runtime import EngineLoadContext, connect_destination

from .dirty_workspace import SOURCE

CONTACT_OBJECTS = ["agents", "teams", "tags", "custom_fields", "contacts"]


def test_every_profile_is_described_default_first_and_accepted():
    profiles = emulator_for(TidioDestination()).profiles()
    assert list(profiles)[0] == "default"
    assert {"batch-ids-only", "batch-201", "subject-limit", "ticket-without-tags"} <= set(profiles)
    assert all(text.strip() for text in profiles.values())
    emu = emulator_for(TidioDestination()).start(seed=1, size=0, profile=",".join(profiles))
    emu.stop()
    with pytest.raises(ValueError, match="unknown emulator profile"):
        TidioEmulator(seed=1, size=0, profile="batch-ids-only,no-such-thing")


def _assert_contacts_bound_to_their_records(harness, emu):
    """Each source contact's id-map entry points at the Tidio contact carrying its distinct_id, and custom data
    went to that contact (a mismatched row would put c1's company on someone else)."""
    by_id = {c["id"]: c for c in emu.dump()["contacts"]}
    for sid, entry in harness.entries("contacts").items():
        if entry["action"] == "created":
            assert by_id[entry["destination_id"]]["distinct_id"] == f"trengo:{sid}", sid
    one = by_id[harness.ids("contacts")["c1"]]
    assert {p["name"]: p["value"] for p in one["properties"]}["company"] == "Acme"


@pytest.mark.parametrize("profile", ["batch-ids-only", "batch-201", "batch-ids-only,batch-201"])
def test_batch_answers_of_any_documented_shape_are_matched_to_their_records(harness, profile):
    emu = harness.start(profile=profile)
    harness.load(CONTACT_OBJECTS)
    assert not harness.quarantine("contacts")
    assert len(harness.entries("contacts")) == 30
    _assert_contacts_bound_to_their_records(harness, emu)


def test_rows_naming_no_record_are_read_back_by_id(harness):
    """ids-only rows of contacts without email (TIDIO_PHONE_ONLY_POLICY=skip_tickets) name nothing: the plugin
    reads each back (GET /contacts/{id} has the distinct_id) instead of guessing or crashing."""
    emu = harness.start(profile="batch-ids-only")
    harness.setenv(TIDIO_PHONE_ONLY_POLICY="skip_tickets")
    harness.load(CONTACT_OBJECTS)
    assert harness.entries("contacts")["c4"]["action"] == "created"
    _assert_contacts_bound_to_their_records(harness, emu)
    assert any(key.startswith("GET /contacts/") for key in emu.state.requests)


def _prepared(sid, email):
    return PreparedContact({}, sid, {"distinct_id": f"trengo:{sid}", "email": email}, {})


def test_match_rows_never_pairs_a_row_with_a_record_it_does_not_name():
    items = [_prepared("a", "a@x.org"), _prepared("b", "b@x.org"), _prepared("c", None)]
    rows = [{"id": "2", "email": "B@x.org"}, {"id": "1", "email": "a@x.org"}, {"id": "3", "email": None}]
    pairs, left_items, left_rows = match_rows(items, rows)
    assert {p.source_id: row["id"] for p, row in pairs} == {"a": "1", "b": "2"}  # by email, case aside
    assert [p.source_id for p in left_items] == ["c"] and left_rows == [{"id": "3", "email": None}]
    in_order = [{"id": "1", "distinct_id": "trengo:a"}, {"id": "2", "email": "b@x.org"}, {"id": "3"}]
    pairs, left_items, _ = match_rows(items, in_order)
    assert {p.source_id: row["id"] for p, row in pairs} == {"a": "1", "b": "2"}  # by position where they agree
    assert [p.source_id for p in left_items] == ["c"]


def _conversation(sid, subject):
    return {"id": sid, "subject": subject, "status": "open", "contact_id": "c1", "created_at": "2024-01-02T11:00:00Z"}


def _load_conversations(harness, records, run_id):
    conn = connect_destination(harness.plugin)
    try:
        ctx = EngineLoadContext(harness.store, SOURCE, "tidio", run_id)
        return {o.source_id: o for o in conn.load("conversations", records, context=ctx)}
    finally:
        conn.close()


def test_a_subject_limit_cannot_cut_the_marker_and_re_runs_create_nothing_twice(harness):
    emu = harness.start(profile="subject-limit")
    harness.load(CONTACT_OBJECTS)
    long_subject = "Re: Fwd: " + "order 4711 still not delivered, " * 12
    conv = _conversation("v-long", long_subject)
    first = _load_conversations(harness, [conv], "crashed")  # the id map never hears of it
    [change] = first["v-long"].changes
    assert (change.rule, change.field) == ("text-truncated", "subject")
    assert change.original == " ".join(long_subject.split())
    again = _load_conversations(harness, [conv], "run-2")
    assert again["v-long"].destination_id == first["v-long"].destination_id
    tickets = [t for t in emu.dump()["tickets"] if "#v-long]" in t["subject"]]
    assert len(tickets) == 1 and tickets[0]["subject"].startswith("[Trengo #v-long] Re: Fwd:")
    assert len(tickets[0]["subject"]) <= 255
    assert "Subject in Trengo: Re: Fwd: order 4711" in tickets[0]["messages"][0]["message_content"]


def test_tickets_marked_by_earlier_versions_are_recognised(harness):
    emu = harness.start()
    harness.load(CONTACT_OBJECTS)
    with emu.state.lock:  # a ticket an earlier version wrote: marker at the end of the subject
        legacy = emu.state.create_ticket({"contact_email": "one@example.org", "subject": "Old one [Trengo #v-old]",
                                          "message_content": "migrated before the upgrade"})
    out = _load_conversations(harness, [_conversation("v-old", "Old one")], "run-2")
    assert out["v-old"].destination_id == str(legacy["id"])
    assert sum(1 for t in emu.dump()["tickets"] if "#v-old]" in t["subject"]) == 1


def test_tags_are_applied_again_when_the_ticket_does_not_show_them(harness):
    emu = harness.start(profile="ticket-without-tags")
    harness.load(CONTACT_OBJECTS + ["conversations"])
    assert "tag_ids" not in harness.ticket("v1")  # the documented shape
    conv = next(c for c in harness.data["conversations"] if c["id"] == "v1")
    conv["tags"] = ["vip", "refund"]  # a label added at the source since
    _load_conversations(harness, [conv], "run-2")
    ticket_id = int(harness.ids("conversations")["v1"])
    names = {emu.state.tags[t]["name"].strip().lower() for t in emu.state.tickets[ticket_id]["tag_ids"]}
    assert names == {"vip", "refund", "solved"}


def test_an_answer_without_rows_is_resolved_by_listing_again_or_reported_precisely(harness, monkeypatch):
    emu = harness.start()
    harness.load(["agents", "custom_fields"])
    state = emu.state
    real = state.create_contacts_batch

    def answers_nothing(body):
        real(body)  # created, but the answer names none of them
        return {"contacts": []}

    monkeypatch.setattr(state, "create_contacts_batch", answers_nothing)
    conn = connect_destination(harness.plugin)
    try:
        ctx = EngineLoadContext(harness.store, SOURCE, "tidio", "run-1")
        out = {o.source_id: o for o in conn.load("contacts", [{"id": "r1", "name": "R One", "email": "r1@example.org"},
                                                              {"id": "r2", "name": "R Two"}], context=ctx)}
        by_id = {c["id"]: c for c in emu.dump()["contacts"]}
        assert {sid: by_id[o.destination_id]["distinct_id"] for sid, o in out.items()} == \
            {"r1": "trengo:r1", "r2": "trengo:r2"}  # found by listing again, by distinct_id

        monkeypatch.setattr(state, "create_contacts_batch", lambda body: {"contacts": []})  # and nothing saved
        lost = conn.load("contacts", [{"id": "r3", "name": "R Three", "email": "r3@example.org"}], context=ctx)
    finally:
        conn.close()
    assert lost[0].action == "failed" and lost[0].rule == "tidio-batch-answer"
    assert "'trengo:r3'" in lost[0].reason and "unknown" in lost[0].reason


def _ticket_states(emu):
    return {t["subject"].split("]")[0][len("[Trengo #"):]: (t["status"], t["priority"], bool(t["assigned_operator_id"]))
            for t in emu.dump()["tickets"] if t["subject"].startswith("[Trengo #v")}


# What the dirty workspace's tickets hold after a load, as the PATCH sets it on the documented API.
TICKET_STATES = {"v1": ("solved", "normal", True), "v3": ("pending", "normal", False),
                 "v4": ("open", "normal", False), "v5": ("solved", "normal", False),
                 "v6": ("open", "normal", True), "v7": ("open", "urgent", True)}


@pytest.mark.parametrize("profile, patches", [("default", True), ("create-ignores-unknown", True),
                                              ("create-sets-state", False)])
def test_a_ticket_gets_its_state_in_the_create_call_where_the_account_takes_it(harness, profile, patches):
    """Status, priority and operator go into the create call when this account's create sets them, so the
    ticket needs no PATCH; where create refuses them (the documented default) or ignores them, the one PATCH
    carries them. Whatever the account does, every ticket ends with the same state, and learning what it does
    costs at most one refused create and one read per state field per connection."""
    emu = harness.start(profile=profile)
    harness.load(CONTACT_OBJECTS + ["conversations"])
    expected = TICKET_STATES
    assert _ticket_states(emu) == expected
    requests = emu.state.requests
    creates = requests.get("POST /tickets/as-contact", 0)
    shells = len(expected) + len([t for t in emu.dump()["tickets"] if "Notes on" in t["subject"]])
    assert shells <= creates <= shells + (1 if profile == "default" else 0)  # one refused create, at most
    assert requests.get("GET /tickets/{id}", 0) <= 3 + 1  # a read per learnt field, and the one for a new contact
    if patches:
        assert requests.get("PATCH /tickets/{id}", 0) >= sum(s != ("open", "normal", None) for s in expected.values())
    else:
        notes_tickets = shells - len(expected)  # a contact's notes ticket is closed after its notes go in
        assert requests.get("PATCH /tickets/{id}", 0) == notes_tickets
