"""Degrade, don't discard: a value Tidio cannot hold costs the value (kept where a person finds it), never the
record, and a ticket never waits for a contact, team or tag that is not in Tidio."""

from __future__ import annotations

from migration_assets.runtime import EngineLoadContext, connect_destination

from .dirty_workspace import SOURCE

LONG_NAME = "Maria " + "-".join(["Van den Berg-Oosterhout"] * 12)  # 6 + 12*23 + 11 = 293 characters


def _load(harness, canonical, records, run_id="run-1"):
    conn = connect_destination(harness.plugin)
    try:
        return {o.source_id: o for o in conn.load(canonical, records, context=EngineLoadContext(
            harness.store, SOURCE, "tidio", run_id))}
    finally:
        conn.close()


def _contact(emu, source_id):
    return next(c for c in emu.dump()["contacts"] if c["distinct_id"] == f"trengo:{source_id}")


def _props(contact):
    return {p["name"]: p["value"] for p in contact["properties"]}


def test_a_too_long_name_is_cut_and_the_whole_name_kept(harness):
    emu = harness.start()
    harness.load(["agents", "custom_fields"])
    out = _load(harness, "contacts", [{"id": "long1", "name": LONG_NAME, "email": "long@example.org"}])
    assert out["long1"].action == "created"
    [change] = out["long1"].changes
    assert (change.rule, change.field, change.original) == ("text-truncated", "name", LONG_NAME)
    assert change.kept_in == "Tidio contact property 'original_values'" and not change.pending
    contact = _contact(emu, "long1")
    assert contact["first_name"] == LONG_NAME[:127].rstrip()
    assert _props(contact)["original_values"] == f"name: {LONG_NAME}"


def test_emails_are_idn_encoded_where_that_makes_them_valid_else_not_carried(harness):
    emu = harness.start()
    harness.load(["agents", "custom_fields"])
    out = _load(harness, "contacts", [
        {"id": "idn", "name": "Jan", "email": "jan@bücher.de"},
        {"id": "utf8local", "name": "José", "email": "josé@example.com"},
        {"id": "broken", "name": "Broken", "email": "not-an-email"},
    ])
    assert all(o.action == "created" for o in out.values()), out
    idn = out["idn"].changes[0]
    assert (idn.rule, idn.original) == ("email-idn-encoded", "jan@bücher.de")
    assert _contact(emu, "idn")["email"] == "jan@xn--bcher-kva.de"
    for sid, original in (("utf8local", "josé@example.com"), ("broken", "not-an-email")):
        change = out[sid].changes[0]
        assert (change.rule, change.field, change.original) == ("email-not-carried", "email", original)
        contact = _contact(emu, sid)
        # the placeholder policy keeps its tickets loadable; the address the person typed is kept
        assert contact["email"] == f"trengo-contact-{sid}@example.com"
        assert _props(contact)["original_values"] == f"email: {original}"


def test_property_values_are_converted_where_clear_else_left_out_with_the_original(harness):
    emu = harness.start()
    harness.load(["agents", "custom_fields"])
    out = _load(harness, "contacts", [
        {"id": "num1", "name": "Decimal Comma", "email": "n1@example.org", "custom_fields": {"customer_number": "1.234,5"}},
        {"id": "num2", "name": "No Value", "email": "n2@example.org", "custom_fields": {"customer_number": "n.v.t."}},
        {"id": "num3", "name": "Words", "email": "n3@example.org", "custom_fields": {"customer_number": "about ten"}},
    ])
    assert _props(_contact(emu, "num1"))["customer_number"] == "1234.5"  # written the European way
    assert out["num1"].changes[0].rule == "value-converted" and out["num1"].changes[0].original == "1.234,5"
    for sid, original in (("num2", "n.v.t."), ("num3", "about ten")):
        change = out[sid].changes[0]
        assert (change.rule, change.field, change.original) == ("value-not-carried", "custom_fields.customer_number",
                                                                original)
        assert _props(_contact(emu, sid)) == {"original_values": f"custom_fields.customer_number: {original}"}


def test_quarantine_of_bad_values_is_still_available_on_request(harness):
    harness.start()
    harness.setenv(TIDIO_INVALID_PROPERTY_VALUES="quarantine")
    harness.load(["agents", "custom_fields"])
    out = _load(harness, "contacts", [{"id": "q1", "name": "Q", "email": "q@example.org",
                                       "custom_fields": {"customer_number": "about ten"}}])
    assert out["q1"].action == "failed" and out["q1"].rule == "property-type"


def test_without_the_originals_property_the_change_says_where_the_value_still_is(harness):
    existing = {"agents": [], "custom_fields": []}
    emu = harness.start(existing=existing, properties=[{"name": "customer_number", "type": "number"}])
    emu.state.properties.pop("original_values", None)
    out = _load(harness, "contacts", [{"id": "np", "name": LONG_NAME, "email": "np@example.org"}])
    change = out["np"].changes[0]
    assert change.rule == "text-truncated" and "migration store" in change.kept_in
    assert "original_values" not in _props(_contact(emu, "np"))
    conn = connect_destination(harness.plugin)
    try:
        preflight = conn.preflight(context=EngineLoadContext(harness.store, SOURCE, "tidio", "run-1"))
    finally:
        conn.close()
    assert {"kind": "originals_property_missing", "name": "original_values", "type": "text"} in preflight.items
    assert "Create the contact property `original_values`" in preflight.markdown
    assert not any("original_values" in b for b in preflight.blocking_problems)  # a place to keep, not a stop


def _tickets_of(emu, marker):
    return [t for t in emu.dump()["tickets"] if t["subject"].startswith(marker)]


def test_tickets_of_unmatched_teams_and_labels_load_with_the_values_in_the_opening_message(harness):
    emu = harness.start()
    harness.load(["agents", "teams", "tags", "custom_fields", "contacts", "conversations"])
    general = next(d for d in emu.dump()["departments"] if d["name"] == "General")
    v6 = harness.ticket("v6")
    assert v6["assigned_department_id"] == general["id"]
    assert "Team in Trengo (not carried into Tidio): Legacy desk (team t3)." in v6["messages"][0]["message_content"]
    v5 = harness.ticket("v5")
    assert "Labels without a Tidio tag, not applied: escalated." in v5["messages"][0]["message_content"]
    conn = connect_destination(harness.plugin)
    try:
        ctx = EngineLoadContext(harness.store, SOURCE, "tidio", "run-2")
        out = {o.source_id: o for o in conn.load("conversations", harness.data["conversations"], context=ctx)}
    finally:
        conn.close()
    [dep] = out["v6"].changes
    assert (dep.rule, dep.field, dep.original, dep.kept_in) == (
        "department-fallback", "team_id", "t3", "the ticket's opening message")
    assert "Legacy desk (team t3) has no Tidio department" in dep.detail
    [tag] = out["v5"].changes
    assert (tag.rule, tag.field, tag.original) == ("tag-dropped", "tags", ["escalated"])


def test_a_ticket_whose_contact_did_not_load_is_filed_under_its_address_and_linked_when_it_loads(harness):
    from .dirty_workspace import REFUSED_MARK

    emu = harness.start(faults={"refuse_contacts_matching": REFUSED_MARK})
    harness.load(["agents", "teams", "tags", "custom_fields", "contacts"])
    assert "c8" in harness.quarantine("contacts")
    conv = {"id": "v8", "subject": "From a refused contact", "status": "open", "contact_id": "c8",
            "created_at": "2024-01-02T11:00:00+00:00"}
    out = _load(harness, "conversations", [conv])
    assert out["v8"].action == "created"
    [change] = out["v8"].changes
    assert (change.rule, change.field, change.original, change.pending) == ("contact-unlinked", "contact_id", "c8",
                                                                           True)
    ticket = _tickets_of(emu, "[Trengo #v8]")[0]
    assert ticket["contact_email"] == f"{REFUSED_MARK}@example.org"
    assert "Contact in Trengo (not carried into Tidio): Refused By Tidio" in ticket["messages"][0]["message_content"]
    # The rule is fixed: the contact loads (found by that address), and the re-sent ticket reports no change.
    emu.set_faults(refuse_contacts_matching=None)
    harness.load(["contacts"], run_id="run-2")
    c8 = harness.entries("contacts")["c8"]
    assert c8["destination_id"] == ticket["contact_id"]
    conn = connect_destination(harness.plugin)
    try:
        ctx = EngineLoadContext(harness.store, SOURCE, "tidio", "run-2")
        again = {o.source_id: o for o in conn.load("conversations", [conv], context=ctx)}
    finally:
        conn.close()
    assert again["v8"].changes == [] and again["v8"].destination_id == str(ticket["id"])
    assert len(_tickets_of(emu, "[Trengo #v8]")) == 1


def test_a_ticket_whose_contact_no_longer_exists_loads_under_a_placeholder_for_good(harness):
    emu = harness.start()
    harness.load(["agents", "teams", "tags", "custom_fields", "contacts"])
    out = _load(harness, "conversations", [{"id": "v9", "subject": "Orphan", "status": "open",
                                            "contact_id": "c-gone", "created_at": "2024-01-02T11:00:00+00:00"}])
    [change] = out["v9"].changes
    assert change.rule == "contact-unlinked" and not change.pending  # Tidio cannot move a ticket to a contact
    assert "cannot move a ticket" in change.detail
    ticket = _tickets_of(emu, "[Trengo #v9]")[0]
    assert ticket["contact_email"] == "trengo-contact-c-gone@example.com"
    # Tidio made a contact for that address: it is the migration's, so rollback deletes it with the ticket
    assert out["v9"].extra_ids == [("contact", ticket["contact_id"])]
    conn = connect_destination(harness.plugin)
    try:
        ctx = EngineLoadContext(harness.store, SOURCE, "tidio", "rollback")
        undone = conn.rollback("conversations", [{"source_id": "v9", "action": "created",
                                                  "destination_id": str(ticket["id"]),
                                                  "extra_ids": [list(x) for x in out["v9"].extra_ids]}], context=ctx)
    finally:
        conn.close()
    assert undone == ["v9"]
    assert ticket["contact_id"] not in {c["id"] for c in emu.dump()["contacts"]}
    assert not _tickets_of(emu, "[Trengo #v9]")


def test_messages_of_a_ticket_that_failed_name_it_as_their_cause(harness):
    harness.start()
    harness.load(["agents", "teams", "tags", "custom_fields", "contacts", "conversations"])
    out = _load(harness, "messages", harness.data["messages"], run_id="run-1")
    assert out["m6"].action == "failed" and out["m6"].caused_by == "conversations/v2"  # v2: operator unmatched
    assert out["m1"].action == "created" and out["m1"].caused_by is None
