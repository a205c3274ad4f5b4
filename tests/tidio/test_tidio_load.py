"""Plugin-level loads of a dirty canonical workspace into the Tidio emulator, driven as the engine does."""

from __future__ import annotations

from helpdesk_migrate.plugins.tidio.plugin import TidioDestination
from migration_assets.runtime import EngineLoadContext, connect_destination, reconcile

from .conftest import ORDER
from .dirty_workspace import EXISTING, PRE_EXISTING_EMAIL, REFUSED_MARK, SOURCE


def test_everything_is_loaded_or_quarantined_with_a_reason(harness):
    emu = harness.start(faults={"refuse_contacts_matching": REFUSED_MARK})
    harness.load()
    for canonical in ORDER:
        rec = reconcile(harness.store, SOURCE, "tidio", canonical)
        assert rec.balanced, (canonical, rec.as_dict())
    quarantined = {c: {sid: q["rule"] for sid, q in harness.quarantine(c).items()} for c in ORDER}
    assert quarantined["agents"] == {"a4": "operator-unmatched"}
    assert quarantined["teams"] == {"t3": "department-unmatched"}
    assert quarantined["tags"] == {"g4": "tag-missing", "g5": "contact-tag"}
    assert quarantined["contacts"] == {"c8": "tidio-validation_error"}  # c3, c6 load without the bad value
    assert quarantined["conversations"] == {"v2": "operator-unmatched"}  # v4, v5, v6 load with their changes
    for canonical in ("attachments", "articles", "quick_replies", "contact_groups", "workflows", "channels"):
        assert set(quarantined[canonical].values()) == {"manual-configuration"}
    assert all(q["reason"] and q["fix"] for c in ORDER for q in harness.quarantine(c).values())
    assert emu.emailed() == [] and emu.counts()["bot_messages"] == 0


def test_batches_are_bisected_and_only_the_refused_record_is_quarantined(harness):
    emu = harness.start(faults={"refuse_contacts_matching": REFUSED_MARK})
    harness.load(["agents", "custom_fields", "contacts"])
    refused = harness.quarantine("contacts")["c8"]
    assert "refused by a rule of this project" in refused["reason"]  # Tidio's own words
    created = [c for c in emu.dump()["contacts"] if (c["distinct_id"] or "").startswith("trengo:")]
    assert len(created) == 27  # 30 contacts - c8 (refused) - c5 (same email as c2) - c7 (pre-existing)
    assert emu.state.requests["POST /contacts/batch"] >= 2  # the refused batch was split, the rest loaded


def test_contacts_are_found_before_they_are_created(harness):
    emu = harness.start()
    harness.load(["agents", "custom_fields", "contacts"])
    entries = harness.entries("contacts")
    assert entries["c5"]["action"] == "linked" and entries["c5"]["destination_id"] == entries["c2"]["destination_id"]
    pre = next(c for c in emu.dump()["contacts"] if c["email"] == PRE_EXISTING_EMAIL)
    assert entries["c7"]["destination_id"] == pre["id"] and entries["c7"]["action"] == "updated"
    assert {"name": "plan", "value": "Gold"} in pre["properties"]  # custom data written, restorable
    assert entries["c7"]["before_image"] == {"fields": {}, "properties": {"plan": None}}
    assert sum(1 for c in emu.dump()["contacts"] if c["email"] == PRE_EXISTING_EMAIL) == 1


def test_custom_data_is_patched_after_creation_as_strings(harness):
    emu = harness.start()
    harness.load(["agents", "custom_fields", "contacts"])
    one = next(c for c in emu.dump()["contacts"] if c["distinct_id"] == "trengo:c1")
    assert {p["name"]: p["value"] for p in one["properties"]} == {"company": "Acme", "customer_number": "123",
                                                                   "plan": "Gold"}
    assert one["phone"] == "+31612345678" and one["first_name"] == "Clean One"
    assert emu.state.requests["PATCH /contacts/batch"] == 1


def test_phone_only_contacts_get_a_never_delivered_placeholder_by_default(harness):
    emu = harness.start()
    harness.load(["agents", "teams", "tags", "custom_fields", "contacts", "conversations"])
    four = next(c for c in emu.dump()["contacts"] if c["distinct_id"] == "trengo:c4")
    assert four["email"] == "trengo-contact-c4@example.com" and four["phone"] == "+31687654321"
    assert harness.ticket("v3")["contact_email"] == four["email"]


def test_phone_only_contacts_can_skip_their_tickets_instead(harness):
    emu = harness.start()
    harness.setenv(TIDIO_PHONE_ONLY_POLICY="skip_tickets")
    harness.load(["agents", "teams", "tags", "custom_fields", "contacts", "conversations"])
    four = next(c for c in emu.dump()["contacts"] if c["distinct_id"] == "trengo:c4")
    assert four["email"] is None
    skipped = harness.quarantine("conversations")["v3"]
    assert skipped["kind"] == "skipped" and skipped["rule"] == "phone-only-contact"


def test_tickets_are_created_as_the_contact_with_mapped_status_priority_tags_and_owner(harness):
    emu = harness.start()
    harness.load(["agents", "teams", "tags", "custom_fields", "contacts", "conversations"])
    dump = emu.dump()
    tag_names = {t["id"]: t["name"] for t in dump["tags"]}
    v1 = harness.ticket("v1")
    ann = next(o for o in dump["operators"] if o["email"].lower() == "ann@example.com")
    support = next(d for d in dump["departments"] if d["name"].strip().lower() == "support")
    assert v1["subject"] == "[Trengo #v1] Refund please" and v1["contact_email"] == "one@example.org"
    assert (v1["status"], v1["priority"], v1["assigned_operator_id"]) == ("solved", "normal", ann["id"])
    order_ref = next(f for f in dump["ticket_custom_fields"] if f["name"] == "Order ref")
    assert v1["custom_fields"] == {order_ref["id"]: "A-1"}  # a ticket field of the same name carries the value
    assert v1["assigned_department_id"] == support["id"]
    assert sorted(tag_names[t].lower() for t in v1["tag_ids"]) == ["solved", "vip"]  # label + result
    assert "Originally created 2024-01-02T03:00:00+00:00, closed 2024-01-02T05:00:00+00:00" in \
        v1["messages"][0]["message_content"]
    v7 = harness.ticket("v7")
    assert (v7["status"], v7["priority"]) == ("open", "urgent")  # inactive agent still matched by email
    assert harness.ticket("v3")["status"] == "pending"


def test_history_goes_in_as_internal_notes_with_original_author_and_time(harness):
    emu = harness.start()
    harness.load(["agents", "teams", "tags", "custom_fields", "contacts", "conversations", "messages"])
    v1 = harness.ticket("v1")
    notes = v1["messages"][1:]
    assert all(m["message_type"] == "internal" and m["author_type"] == "operator" for m in notes)
    assert notes[0]["message_content"].startswith(
        "[Trengo message m1] Customer message via email by Clean One <one@example.org> (customer), originally at "
        "2024-01-02T03:00:00+00:00")
    assert "I want a refund" in notes[0]["message_content"]
    assert "[1 attachment(s) not copied" in notes[1]["message_content"]
    ann = next(o for o in emu.dump()["operators"] if o["email"].lower() == "ann@example.com")
    assert notes[1]["author_id"] == ann["id"]  # the agent's own operator
    parts = [m for m in notes if m["message_content"].startswith("[Trengo message m4 part")]
    assert len(parts) == 3 and all(len(m["message_content"]) <= 5000 for m in parts)
    assert emu.emailed() == [] and emu.counts()["public_operator_replies"] == 0
    assert harness.entries("messages")["m4"]["extra_ids"] and \
        harness.quarantine("messages")["m6"]["rule"] == "conversation-not-loaded"


def test_contact_notes_become_internal_notes_on_a_ticket_of_the_contact(harness):
    emu = harness.start()
    harness.load(["agents", "custom_fields", "contacts"])
    notes_ticket = next(t for t in emu.dump()["tickets"] if t["subject"].startswith("[Trengo contact c1 notes]"))
    assert notes_ticket["contact_email"] == "one@example.org" and notes_ticket["status"] == "solved"
    bodies = [m["message_content"] for m in notes_ticket["messages"][1:]]
    assert bodies[0].startswith("[Trengo note n1] Contact note by Ann Agent, originally at 2024-01-02T01:00:00")
    assert "VIP since 2019" in bodies[1] and "<b>" not in bodies[1]  # HTML to plain text
    assert all(m["message_type"] == "internal" for m in notes_ticket["messages"][1:])
    assert ("ticket", str(notes_ticket["id"])) in [tuple(x) for x in harness.entries("contacts")["c1"]["extra_ids"]]


def test_fallbacks_and_dropped_tags_are_explicit_choices(harness):
    emu = harness.start()
    owner = next(o for o in emu.dump()["operators"] if o["role"] == "owner")
    harness.setenv(TIDIO_FALLBACK_OPERATOR_ID=owner["email"], TIDIO_FALLBACK_DEPARTMENT="General",
                   TIDIO_DROP_MISSING_TAGS="true")
    harness.load(["agents", "teams", "tags", "custom_fields", "contacts", "conversations"])
    assert harness.ticket("v2")["assigned_operator_id"] == owner["id"]
    general = next(d for d in emu.dump()["departments"] if d["name"] == "General")
    assert harness.ticket("v6")["assigned_department_id"] == general["id"]
    v5 = harness.ticket("v5")
    assert "without a Tidio tag, not applied: escalated" in v5["messages"][0]["message_content"]
    assert v5["status"] == "solved"  # Trengo INVALID (spam) has no Tidio status
    assert harness.quarantine("tags")["g4"]["kind"] == "skipped"  # the drop is recorded


def test_public_replies_mode_is_explicit_and_the_emulator_proves_the_emails(harness):
    emu = harness.start()
    harness.setenv(TIDIO_HISTORY_MODE="public_replies")
    harness.load(["agents", "teams", "tags", "custom_fields", "contacts", "conversations", "messages"])
    assert len(emu.emailed()) == 5  # m2, m4 (3 parts), m7: every agent reply went to a customer
    conn = connect_destination(harness.plugin)
    try:
        ctx = EngineLoadContext(harness.store, SOURCE, "tidio", "run-1")
        conn.load("messages", [], context=ctx)
        finding = conn.evaluate_check("customers_not_emailed", "messages", context=ctx)
    finally:
        conn.close()
    assert not finding.passed and finding.severity == "WARN"


def test_a_missing_or_mistyped_property_stops_the_contact_load(harness):
    existing = dict(EXISTING)
    existing["custom_fields"] = [dict(existing["custom_fields"][0], data_type="email")]  # number -> email: wrong
    emu = harness.start(existing=existing)
    harness.load(["custom_fields"])
    q = harness.quarantine("custom_fields")
    assert q["cf1"]["rule"] == "property-mistyped" and q["cf2"]["rule"] == "property-missing"
    conn = connect_destination(harness.plugin)
    try:
        ctx = EngineLoadContext(harness.store, SOURCE, "tidio", "run-1")
        finding = conn.evaluate_check("properties_defined", "custom_fields", context=ctx)
        preflight = conn.preflight(context=ctx)
    finally:
        conn.close()
    assert not finding.passed and finding.severity == "ERROR" and "'plan'" in finding.description
    assert any("'customer_number'" in p and "mistyped" in p for p in preflight.blocking_problems)
    assert any("'plan'" in p and "missing" in p for p in preflight.blocking_problems)
    harness.load(["agents", "contacts"])
    assert harness.quarantine("contacts")["c1"]["rule"] in ("property-missing", "property-mistyped")
    assert not any(c["distinct_id"] == "trengo:c1" for c in emu.dump()["contacts"])


def test_refused_custom_values_are_left_out_and_listed_with_the_original_kept(harness):
    emu = harness.start()
    harness.load(["agents", "custom_fields"])
    conn = connect_destination(harness.plugin)
    try:
        ctx = EngineLoadContext(harness.store, SOURCE, "tidio", "run-1")
        outcomes = {o.source_id: o for o in conn.load("contacts", harness.data["contacts"], context=ctx)}
        finding = conn.evaluate_check("contacts_unique", "contacts", context=ctx)
    finally:
        conn.close()
    assert outcomes["c6"].action == "created"
    six = next(c for c in emu.dump()["contacts"] if c["distinct_id"] == "trengo:c6")
    assert six["properties"] == [{"name": "original_values", "value": "custom_fields.customer_number: n/a"}]
    assert finding.passed and finding.severity == "WARN"
    assert finding.metadata["values_left_out"] == [{
        "source_id": "c6", "field": "custom_fields.customer_number", "value": "n/a",
        "reason": "custom field 'customer_number' (Tidio property 'customer_number', number): n/a means 'no value'; "
                  "left empty"}]
    change = outcomes["c6"].changes[0]
    assert (change.rule, change.field, change.original) == ("value-not-carried", "custom_fields.customer_number", "n/a")
    assert change.kept_in == "Tidio contact property 'original_values'"



def test_the_throughput_estimate_matches_what_loading_costs(monkeypatch, tmp_path):
    """The plan's Tidio figures (PlansRequests) against the requests the emulator counted, per object, on the
    load benchmark's workspace (half open, half closed, every conversation assigned, three messages each)."""
    import os

    from benchmarks.tidio_load import run, workspace

    saved = dict(os.environ)
    try:
        result = run(conversations=12, rate_limit=600_000)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    data = workspace(12)
    unassigned: dict[str, int] = {}
    for c in data["conversations"]:
        if not c.get("assignee_id"):
            unassigned[c["status"]] = unassigned.get(c["status"], 0) + 1
    scope = {"counts": {k: len(v) for k, v in data.items()}, "conversations_unassigned_by_status": unassigned}
    monkeypatch.setenv("TIDIO_COUNT_MESSAGES_MAX_TICKETS", "0")  # as the benchmark loads: the count apart
    estimate = {e.canonical: e.requests for e in TidioDestination().estimate_requests(scope)}
    spent = {r["object"]: r["requests"] for r in result["rows"]}
    assert spent["messages"] <= len(data["messages"]) + 2  # one reply each (and a listing): no ticket is read
    # Contacts: batches of 100, plus listings of the project's contacts whose size the scope cannot know.
    for canonical in ("conversations", "messages"):
        assert abs(estimate[canonical] - spent[canonical]) <= max(2, 0.1 * spent[canonical]), (canonical, estimate,
                                                                                             spent)
