"""The field map seen from Salesforce: the fields offered to the proposer (describe_fields), and the
confirmed map applied to Contacts and Cases, with what is and isn't overridable."""

from __future__ import annotations

import pytest

from migration_assets.mapping import map_fingerprint, map_path, write_map

from .sf_support import SOURCE, workspace

DEFS = [
    {"id": "cf1", "name": "Customer number", "key": "customer-number", "entity": "contact", "data_type": "text"},
    {"id": "cf2", "name": "Birthday", "key": "birthday", "entity": "contact", "data_type": "date"},
    {"id": "cf3", "name": "Mobile", "key": "mobile", "entity": "contact", "data_type": "phone"},
    {"id": "cf4", "name": "Newsletter", "key": "newsletter", "entity": "contact", "data_type": "boolean"},
    {"id": "cf5", "name": "Tier", "key": "tier", "entity": "contact", "data_type": "select",
     "options": ["gold", "silver"]},
    {"id": "cf6", "name": "Order number", "key": "order-number", "entity": "conversation", "data_type": "text"},
    {"id": "cf7", "name": "Reason", "key": "reason", "entity": "conversation", "data_type": "select",
     "options": ["Shoes", "Late"]},
]
CONTACT_MAP = [
    {"destination": "Customer_Number__c", "source": "custom_fields.customer-number", "confidence": 0.9},
    {"destination": "Birthdate", "source": "custom_fields.birthday", "confidence": 0.9},
    {"destination": "MobilePhone", "source": "custom_fields.mobile", "confidence": 0.9},
    {"destination": "HasOptedOutOfEmail", "source": "custom_fields.newsletter", "confidence": 0.7},
    {"destination": "Phone", "source": None, "confidence": 0.0},
    {"destination": "HomePhone", "source": "phone", "confidence": 0.8},
    {"destination": "Title", "source": "custom_fields.tier", "confidence": 0.7},  # env wins
    {"destination": "Description", "source": "created_at", "confidence": 0.6},  # a time into text: unsafe
    {"destination": "LastName", "source": "name", "confidence": 0.8},  # set by the plugin
    {"destination": "Department", "source": "custom_fields.mobile", "confidence": 0.6},  # one source, one field
    {"destination": "LeadSource", "source": "id", "confidence": 0.64},  # already the external id
    {"destination": "Title", "source": "identifier", "confidence": 0.5},  # a duplicate entry for Title
]
CASE_MAP = [
    {"destination": "Order_Number__c", "source": "custom_fields.order-number", "confidence": 0.95},
    {"destination": "Subject", "source": None, "confidence": 0.0},
    {"destination": "Description", "source": "subject", "confidence": 0.7},
    {"destination": "Reason", "source": "custom_fields.reason", "confidence": 0.8},  # Type stays empty
    {"destination": "SuppliedName", "source": "contact_id", "confidence": 0.6},  # a source id: unsafe
    {"destination": "Origin", "source": "priority", "confidence": 0.6},  # value-mapped by the plugin
]


def contact_records(data):
    out = []
    for i, c in enumerate(data["contacts"][:2]):
        out.append({**c, "phone": "020 555 0101", "custom_fields": {
            "customer-number": f"C-{i}", "birthday": "31-12-1990", "mobile": "06 12345678", "newsletter": "ja",
            "tier": "gold"}})
    return out


def ours(emu, obj):
    return {r["Trengo_Id__c"]: r for r in emu.dump(obj) if r.get("Trengo_Id__c")}


def test_describe_offers_the_fields_a_person_can_choose(harness):
    h = harness()
    fields = {f["name"]: f for f in h.conn.describe_fields("contacts")}
    assert {"Phone", "MobilePhone", "HomePhone", "Birthdate", "Customer_Number__c", "LeadSource"} <= set(fields)
    # Set by the plugin, lookups, audit fields and the migration's own fields are not offered.
    assert not {"FirstName", "LastName", "Email", "OwnerId", "AccountId", "CreatedDate", "Id"} & set(fields)
    assert not [n for n in fields if n.startswith("Trengo_")]
    assert fields["Birthdate"]["type"] == "date" and fields["HasOptedOutOfEmail"]["type"] == "boolean"
    assert fields["LeadSource"]["picklist_values"] == ["Web", "Phone Inquiry", "Partner Referral", "Purchased List",
                                                      "Other"]  # the standard values
    assert all(set(f) == {"name", "label", "type", "required", "picklist_values"} for f in fields.values())
    case = {f["name"] for f in h.conn.describe_fields("conversations")}
    assert {"Subject", "Description", "Type", "Reason", "Order_Number__c"} <= case
    assert not {"Status", "Priority", "Origin", "ContactId", "OwnerId", "ClosedDate", "CaseNumber"} & case
    assert h.conn.describe_fields("messages") is None and h.conn.describe_fields("agents") is None


def test_the_offer_and_the_preflight_do_not_change_as_the_load_creates_fields(harness):
    data = workspace()
    h = harness(existing={"agents": data["agents"], "teams": data["teams"]})
    before = {c: h.conn.describe_fields(c) for c in ("contacts", "conversations")}
    preflight = h.conn.preflight(context=h.context()).fingerprint
    h.load("custom_fields", DEFS)
    for c in ("agents", "teams", "tags", "contacts", "conversations"):
        h.load(c, data[c])
    h.reconnect()
    assert {c: h.conn.describe_fields(c) for c in ("contacts", "conversations")} == before
    assert h.conn.preflight(context=h.context()).fingerprint == preflight


def test_a_confirmed_map_places_custom_values_and_overrides_defaults(harness):
    data = workspace()
    h = harness(existing={"agents": data["agents"], "teams": data["teams"]},
                env={"SALESFORCE_CONTACT_FIELD_MAP": '{"tier": "Tier__c"}'})
    options = {"field_map": {"contacts": CONTACT_MAP, "conversations": CASE_MAP}}
    defs = h.load("custom_fields", DEFS, options=options)
    assert defs["cf1"].action == "linked" and defs["cf1"].destination_id == "Contact.Customer_Number__c"
    assert defs["cf2"].destination_id == "Contact.Birthdate" and defs["cf6"].destination_id == "Case.Order_Number__c"
    assert defs["cf5"].action == "created"  # env: Tier__c
    created = {r["FullName"] for r in h.emu.dump("CustomField")}
    assert "Contact.Tier__c" in created and "Contact.Trengo_Customer_number__c" not in created
    assert "Contact.Trengo_Birthday__c" not in created and "Case.Trengo_Reason__c" in created  # reason not applied
    for c in ("agents", "teams", "tags"):
        h.load(c, data[c])
    contacts = contact_records(data)
    out = h.load("contacts", contacts, options=options)
    assert {o.action for o in out.values()} == {"created"}
    row = ours(h.emu, "Contact")[contacts[0]["id"]]
    assert row["Customer_Number__c"] == "C-0" and row["Birthdate"] == "1990-12-31"
    assert row["MobilePhone"] == "+31612345678" and row["HasOptedOutOfEmail"] is True
    assert row.get("Phone") in (None, "") and row["HomePhone"] == "+31205550101" and row["Tier__c"] == "gold"
    assert row.get("Description") in (None, "") and not row.get("Department")
    convs = [dict(c, custom_fields={"order-number": "A-17", "reason": "Shoes"}) for c in data["conversations"][:2]
             if c["contact_id"] in {x["id"] for x in contacts}]
    res = h.load("conversations", convs, options=options)
    assert {o.action for o in res.values()} == {"created"}, [o.reason for o in res.values()]
    case = ours(h.emu, "Case")[convs[0]["id"]]
    assert case["Order_Number__c"] == "A-17" and case.get("Subject") in (None, "")
    assert case["Description"] == convs[0]["subject"] and case["Trengo_Reason__c"] == "Shoes"
    assert case["Origin"] == "Email" and not case.get("SuppliedName")
    finding = h.conn.evaluate_check("field_map", "contacts", context=h.context())
    reasons = {(e["destination"], e["source"]): e["reason"] for e in finding.metadata["not_applied"]}
    assert "environment wins" in reasons[("Title", "custom_fields.tier")]
    assert "date" in reasons[("Description", "created_at")]
    assert "set by the plugin" in reasons[("LastName", "name")]
    assert "one source fills one field" in reasons[("Department", "custom_fields.mobile")]
    assert "already fills the external id" in reasons[("LeadSource", "id")]
    assert "more than once" in reasons[("Title", "identifier")] and not row.get("LeadSource")
    assert not finding.passed and finding.severity == "WARN"
    cases = h.conn.evaluate_check("field_map", "conversations", context=h.context()).metadata["not_applied"]
    why = {e["destination"]: e["reason"] for e in cases}
    assert "depends on Type" in why["Reason"] and "ids" in why["SuppliedName"] and "ORIGIN_MAP" in why["Origin"]


def test_a_custom_value_the_mapped_field_cannot_hold_is_left_out_and_kept_with_the_reason(harness):
    h = harness()
    options = {"field_map": {"contacts": [{"destination": "Birthdate", "source": "custom_fields.birthday",
                                           "confidence": 0.9}]}}
    h.load("custom_fields", DEFS[1:2], options=options)
    out = h.load("contacts", [{"id": "c1", "name": "Ann Smith", "email": "ann@example.org",
                               "custom_fields": {"birthday": "someday"}}], options=options)["c1"]
    assert out.action == "created"
    [change] = out.changes
    assert change.rule == "value-not-carried" and "Contact.Birthdate" in change.detail and "not a date" in change.detail
    saved = next(c for c in h.emu.dump("Contact") if c.get("Trengo_Id__c") == "c1")
    assert saved["Birthdate"] is None and saved["Trengo_Original_Values__c"] == "birthday: someday"


def test_loads_the_engine_started_without_options_use_the_confirmed_map(harness, home):
    # The engine's sample run loads without options: the plugin reads the map the engine keeps, but only
    # while the version on disk is the one a person confirmed.
    h = harness()
    pair = f"{SOURCE}_to_salesforce"
    write_map(pair, {"pair": pair, "proposer": "test", "objects": {"contacts": CONTACT_MAP[:1]}})
    h.store.record_approval(SOURCE, "salesforce", "mapping", fingerprint=map_fingerprint(pair))
    h.load("custom_fields", DEFS[:1])
    h.load("contacts", [{"id": "c1", "name": "Ann Smith", "email": "ann@example.org",
                         "custom_fields": {"customer-number": "C-9"}}])
    assert ours(h.emu, "Contact")["c1"]["Customer_Number__c"] == "C-9"
    map_path(pair).write_text(map_path(pair).read_text() + "\n# edited, not confirmed\n")
    h.load("contacts", [{"id": "c2", "name": "Bo Jones", "email": "bo@example.org",
                         "custom_fields": {"customer-number": "C-10"}}])  # defaults: Trengo_ field, not there
    summary = h.conn.svc.state.field_maps["contacts"]
    assert summary["confirmed_map"] is False


@pytest.mark.parametrize("entries", [None, []])
def test_without_a_map_the_defaults_apply(harness, entries):
    h = harness()
    options = {} if entries is None else {"field_map": {"contacts": entries}}
    out = h.load("contacts", [{"id": "c1", "name": "Ann Smith", "email": "ann@example.org", "phone": "0201234567"}],
                 options=options)
    assert out["c1"].action == "created" and ours(h.emu, "Contact")["c1"]["Phone"] == "+31201234567"
