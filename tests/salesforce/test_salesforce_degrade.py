"""Degrade, don't discard: the unit of loss is a value. A value Salesforce can't take as it is costs that value
(kept on the record), a Case whose contact is not in Salesforce loads unlinked and is linked by a later run,
children follow their parent, and a file over the JSON limit goes as a multipart upload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from helpdesk_migrate.plugins.salesforce.mapping import carry, carry_email
from helpdesk_migrate.plugins.salesforce.originals import CUT_NOTE, ORIGINAL_VALUES_LENGTH, Originals
from helpdesk_migrate.plugins.salesforce.preflight import build_preflight

from .sf_support import SOURCE, workspace

ORIGINALS = "Trengo_Original_Values__c"


def records(emu, obj, **where):
    return [r for r in emu.dump(obj) if all(r.get(k) == v for k, v in where.items())]


def base(h, data, contacts=True):
    for canonical in ("agents", "teams", "tags") + (("contacts",) if contacts else ()):
        h.load(canonical, data[canonical])


# -- values, without Salesforce -------------------------------------------------------------------------


@pytest.mark.parametrize("value, sf_type, written, rule", [
    ("n.v.t.", "double", None, "value-not-carried"),  # "no value": empty, the original still reported
    ("N/A", "int", None, "value-not-carried"),
    ("-", "double", None, "value-not-carried"),
    ("?", "date", None, "value-not-carried"),
    ("ja", "boolean", True, "value-converted"),
    ("nee", "boolean", False, "value-converted"),
    ("1.234,56", "double", 1234.56, "value-converted"),
    ("31-12-2024", "date", "2024-12-31", "value-converted"),
    ("42", "int", 42, None),  # a plain number is no conversion worth reporting
    ("12.5", "double", 12.5, None),
    (7, "double", 7, None),
    ("true", "boolean", True, None),
    ("0", "boolean", False, None),
    ("2024-12-31", "date", "2024-12-31", None),
    ("maybe", "boolean", None, "value-not-carried"),
    ("12.5", "int", None, "value-not-carried"),
    ("someday", "date", None, "value-not-carried"),
    ("not@@valid", "email", None, "value-not-carried"),
    ("Golf, Chess", "multipicklist", "Golf;Chess", None),
])
def test_custom_values_convert_where_the_meaning_is_clear_else_are_left_out(value, sf_type, written, rule):
    carried = carry(value, sf_type)
    assert (carried.value, carried.rule) == (written, rule)
    assert bool(carried.detail) == bool(rule)


def test_a_text_too_long_for_its_field_is_cut_and_reported():
    carried = carry("abcdefghij", "string", length=4)
    assert (carried.value, carried.rule) == ("abcd", "text-truncated") and "10 characters" in carried.detail
    assert carry("abcd", "string", length=4).rule is None


def test_emails_are_idn_encoded_when_only_the_domain_is_international_else_left_out():
    assert carry_email("Jan@Example.ORG").value == "Jan@example.org" and carry_email("Jan@Example.ORG").rule is None
    idn = carry_email("jan@müller.de")
    assert (idn.value, idn.rule) == ("jan@xn--mller-kva.de", "email-idn-encoded")
    local = carry_email("zoë.döring7@example.com")
    assert (local.value, local.rule) == (None, "email-not-carried") and "before the @" in local.detail
    for bad in ("jan@@voorbeeld", "info@localhost"):
        assert (carry_email(bad).value, carry_email(bad).rule) == (None, "email-not-carried")
    assert carry_email("  ").rule is None and carry_email(None).value is None


def test_the_original_values_list_reads_as_field_value_lines_and_fits_its_field():
    kept = Originals("Contact", ORIGINALS)
    assert kept.text() is None
    kept.keep("value-not-carried", "custom_fields.orders", "n.v.t.", "x", label="orders")
    kept.keep("value-converted", "custom_fields.vip", ["a", 1], "y", label="vip")
    assert kept.text() == 'orders: n.v.t.\nvip: ["a", 1]'
    assert [(c.field, c.original, c.kept_in) for c in kept.changes] == [
        ("custom_fields.orders", "n.v.t.", "Contact." + ORIGINALS), ("custom_fields.vip", ["a", 1], "Contact." + ORIGINALS)]
    kept.keep("text-truncated", "notes", "z" * 40_000, "cut")
    text = kept.text()
    assert len(text) == ORIGINAL_VALUES_LENGTH and text.endswith(CUT_NOTE)


# -- contacts ---------------------------------------------------------------------------------------------


def test_a_contact_with_an_unconvertible_custom_number_loads_without_it(harness):
    h = harness(env={"SALESFORCE_CREATE_SCHEMA": "true"})
    h.load("custom_fields", [{"id": "cf1", "name": "Orders", "key": "orders", "entity": "contact",
                              "data_type": "number"}])
    out = h.load("contacts", [{"id": "c1", "name": "Ann de Vries", "email": "ann@example.org",
                               "custom_fields": {"orders": "n.v.t."}},
                              {"id": "c2", "name": "Bo Jansen", "custom_fields": {"orders": "twaalf"}}])
    assert {o.action for o in out.values()} == {"created"}
    ann, bo = records(h.emu, "Contact", Trengo_Id__c="c1")[0], records(h.emu, "Contact", Trengo_Id__c="c2")[0]
    assert ann.get("Trengo_Orders__c") is None and ann[ORIGINALS] == "orders: n.v.t."
    assert [(c.rule, c.field, c.original) for c in out["c1"].changes] == [
        ("value-not-carried", "custom_fields.orders", "n.v.t.")]
    assert bo.get("Trengo_Orders__c") is None and bo[ORIGINALS] == "orders: twaalf"
    assert [c.rule for c in out["c2"].changes] == ["value-not-carried"]
    # A re-run writes the same thing: nothing changes, and the changes are reported again.
    again = h.load("contacts", [{"id": "c1", "name": "Ann de Vries", "email": "ann@example.org",
                                 "custom_fields": {"orders": "n.v.t."}}])["c1"]
    assert again.action == "unchanged" and [c.rule for c in again.changes] == ["value-not-carried"]


def test_contacts_without_a_carried_email_still_match_duplicates_by_the_emails_that_are(harness):
    h = harness(existing={"contacts": [{"id": "x", "first_name": "Pre", "last_name": "Existing",
                                        "email": "jan@xn--mller-kva.de"}]})
    out = h.load("contacts", [{"id": "u1", "name": "Jan Müller", "email": "jan@müller.de"},
                              {"id": "u2", "name": "Zoë Döring", "email": "zoë.döring7@example.com"},
                              {"id": "u3", "name": "Zoë Twin", "email": "zoë.döring7@example.com"}])
    existing = next(c for c in h.emu.dump("Contact") if c.get("Email") == "jan@xn--mller-kva.de")
    # The IDN-encoded address is the one the org holds: linked, not duplicated.
    assert out["u1"].action == "linked" and out["u1"].destination_id == existing["Id"]
    # Two contacts without a carried email are two Contacts (nothing to match them by).
    assert out["u2"].action == out["u3"].action == "created"
    assert out["u2"].destination_id != out["u3"].destination_id


# -- conversations and their contact -----------------------------------------------------------------------


def test_a_case_loaded_before_its_contact_is_linked_by_the_next_run(harness):
    data = workspace()
    h = harness(existing={"agents": data["agents"], "teams": data["teams"], "tags": data["tags"]})
    base(h, data, contacts=False)
    conv = next(c for c in data["conversations"] if c["contact_id"] == "5001")
    contact = next(c for c in data["contacts"] if c["id"] == "5001")
    h.store.stage(SOURCE, "contacts", [contact], "extract")  # extracted, not loaded (yet)
    first = h.load("conversations", [conv])[conv["id"]]
    assert first.action == "created"
    [change] = first.changes
    assert (change.rule, change.field, change.original, change.kept_in, change.pending) == (
        "contact-unlinked", "ContactId", "5001", "Case.SuppliedEmail/SuppliedName", True)
    case = records(h.emu, "Case", Id=first.destination_id)[0]
    assert case.get("ContactId") is None
    assert (case["SuppliedEmail"], case["SuppliedName"]) == ("customer1@example.org", "Customer N1")
    loaded = h.load("contacts", [contact])["5001"]
    assert loaded.action == "created"
    again = h.load("conversations", [conv])[conv["id"]]  # the engine re-sends the pending record
    assert again.action == "updated" and again.destination_id == first.destination_id
    assert not [c for c in again.changes if c.pending] and again.before_image["ContactId"] is None
    assert records(h.emu, "Case", Id=first.destination_id)[0]["ContactId"] == loaded.destination_id
    assert h.load("conversations", [conv])[conv["id"]].action == "unchanged"


def test_a_case_whose_contact_is_gone_from_the_source_loads_and_keeps_the_id(harness):
    data = workspace()
    h = harness(existing={"agents": data["agents"], "teams": data["teams"], "tags": data["tags"]})
    base(h, data)
    conv = {**data["conversations"][0], "contact_id": "999999"}
    out = h.load("conversations", [conv])[conv["id"]]
    assert out.action == "created"
    [change] = out.changes
    # Not pending: only a fix in the source can link it, and that changes the conversation (so it is re-sent).
    assert (change.rule, change.original, change.pending) == ("contact-unlinked", "999999", False)
    assert change.kept_in == "Case." + ORIGINALS and "not in the trengo extract" in change.detail
    case = records(h.emu, "Case", Id=out.destination_id)[0]
    assert case.get("ContactId") is None and case[ORIGINALS] == "contact (not in the source): 999999"
    # Its messages follow it.
    msgs = [m for m in data["messages"] if m["conversation_id"] == conv["id"]]
    assert {o.action for o in h.load("messages", msgs).values()} <= {"created", "skipped"}


def test_children_of_a_conversation_that_truly_failed_are_collateral(harness, home):
    data = workspace()
    h = harness(existing={"agents": data["agents"], "teams": data["teams"], "tags": data["tags"]},
                env={"SALESFORCE_STATUS_MAP": json.dumps({"assigned": "No Such Status"})})
    base(h, data)
    conv = next(c for c in data["conversations"] if c["status"] == "assigned")
    assert h.load("conversations", [conv])[conv["id"]].action == "failed"
    msgs = [m for m in data["messages"] if m["conversation_id"] == conv["id"]]
    out = h.load("messages", msgs)
    assert msgs and {(o.rule, o.caused_by) for o in out.values()} == {("parent-missing", f"conversations/{conv['id']}")}
    folder = home / "files" / SOURCE
    folder.mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"hello")
    att = {"id": "a1", "message_id": msgs[0]["id"], "conversation_id": conv["id"], "file_name": "a.txt",
           "local_path": "a.txt"}
    got = h.load("attachments", [att])["a1"]
    assert (got.rule, got.caused_by) == ("parent-missing", f"conversations/{conv['id']}")


# -- files over the JSON limit ---------------------------------------------------------------------------


def test_a_file_over_the_json_limit_is_streamed_as_a_multipart_upload(harness, home, monkeypatch):
    data = workspace()
    h = harness(existing={"agents": data["agents"], "teams": data["teams"], "tags": data["tags"]},
                env={"SALESFORCE_MAX_FILE_BYTES": "1000"})
    base(h, data)
    conv = data["conversations"][0]
    h.load("conversations", [conv])
    folder = home / "files" / SOURCE
    folder.mkdir(parents=True)
    content = bytes(range(256)) * 40 + b"\r\n--boundary-lookalike\r\n"
    (folder / "big.pdf").write_bytes(content)
    (folder / "empty.pdf").write_bytes(b"")
    real_read = Path.read_bytes

    def read_bytes(path):  # the large file must be streamed, never read whole into memory
        assert path.name != "big.pdf", "the large file was read into memory"
        return real_read(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    atts = [{"id": "big", "conversation_id": conv["id"], "file_name": "big.pdf", "local_path": "big.pdf"},
            {"id": "empty", "conversation_id": conv["id"], "file_name": "empty.pdf", "local_path": "empty.pdf"}]
    out = h.load("attachments", atts)
    version = records(h.emu, "ContentVersion", Trengo_Id__c="big")[0]
    assert out["big"].action == "created" and out["big"].destination_id == version["Id"]
    assert h.emu.org.blobs[version["Id"]] == content and version["Title"] == "big"
    assert version["FirstPublishLocationId"] == h.context().lookup("conversations", [conv["id"]])[conv["id"]]
    assert ("POST", "/services/data/v62.0/sobjects/ContentVersion", 201) in h.emu.request_log
    assert (out["empty"].action, out["empty"].rule) == ("failed", "file-empty")  # can't exist: still quarantined
    assert h.load("attachments", atts)["big"].action == "unchanged"  # found by its id, not uploaded twice


def test_the_emulator_refuses_a_multipart_insert_without_fields_or_blob_field(emulator):
    from requests_toolbelt import MultipartEncoder

    emu = emulator()
    token = emu.env()["SALESFORCE_SESSION_ID"]
    url = f"{emu.url}/services/data/v62.0/sobjects/ContentVersion"

    def post(fields):
        body = MultipartEncoder(fields=fields)
        return requests.post(url, data=body.to_string(), timeout=10,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": body.content_type})

    entity = ("entity_content", (None, json.dumps({"PathOnClient": "a.txt", "Title": "a"}), "application/json"))
    assert post([entity, ("VersionData", ("a.txt", b"abc", "application/octet-stream"))]).status_code == 201
    wrong = post([entity, ("Body", ("a.txt", b"abc", "application/octet-stream"))])
    assert wrong.status_code == 400 and wrong.json()[0]["errorCode"] == "INVALID_FIELD"
    bare = post([("VersionData", ("a.txt", b"abc", "application/octet-stream"))])
    assert bare.status_code == 400 and "entity_" in bare.json()[0]["message"]


# -- the migration field and the pre-flight -----------------------------------------------------------------


def test_the_preflight_lists_the_original_values_fields_to_create(harness):
    h = harness()
    items = build_preflight(h.conn.svc).items
    planned = {(i["object"], i["name"]) for i in items if i["kind"] == "schema"}
    assert {("Contact", ORIGINALS), ("Case", ORIGINALS)} <= planned
    ready = harness(schema="prepared")
    planned = {(i["object"], i["name"]) for i in build_preflight(ready.conn.svc).items if i["kind"] == "schema"}
    assert ("Contact", ORIGINALS) not in planned


def test_a_contact_linked_to_an_existing_one_keeps_its_originals_in_the_report_only(harness):
    h = harness(env={"SALESFORCE_CREATE_SCHEMA": "true"},
                existing={"contacts": [{"id": "x", "first_name": "Pre", "last_name": "Existing",
                                        "email": "ann@example.org"}]})
    h.load("custom_fields", [{"id": "cf1", "name": "Orders", "key": "orders", "entity": "contact",
                              "data_type": "number"}])
    out = h.load("contacts", [{"id": "c1", "name": "Ann", "email": "ann@example.org",
                               "custom_fields": {"orders": "twaalf"}}])["c1"]
    assert out.action == "linked"
    [change] = out.changes
    assert change.original == "twaalf" and "migration report" in change.kept_in
    existing = next(c for c in h.emu.dump("Contact") if c.get("Email") == "ann@example.org")
    assert not existing.get(ORIGINALS)  # someone else's Contact is not written


def test_an_unmapped_priority_leaves_the_orgs_default_and_keeps_the_original(harness):
    data = workspace()
    h = harness(existing={"agents": data["agents"], "teams": data["teams"], "tags": data["tags"]})
    base(h, data)
    conv = {**data["conversations"][0], "priority": "Sky-high"}
    out = h.load("conversations", [conv])[conv["id"]]
    assert out.action == "created"
    assert [(c.rule, c.field, c.original) for c in out.changes] == [("value-not-carried", "priority", "Sky-high")]
    case = records(h.emu, "Case", Id=out.destination_id)[0]
    assert case["Priority"] == "Medium" and case[ORIGINALS] == "priority: Sky-high"  # the emulated org's default


def test_a_refused_contact_note_costs_the_note_not_the_contact_and_is_retried(harness):
    h = harness(env={"SALESFORCE_LOCK_RETRIES": "0"}, faults={"lock_errors": 1, "lock_objects": ["Task"]})
    contact = {"id": "c1", "name": "Noted Person", "notes": [{"id": "n1", "body": "Prefers phone calls"}]}
    out = h.load("contacts", [contact])["c1"]
    assert out.action == "created" and not records(h.emu, "Task", Trengo_Id__c="contact-note-n1")
    [change] = out.changes
    assert (change.rule, change.original, change.pending) == ("note-not-carried", "Prefers phone calls", True)
    again = h.load("contacts", [contact])["c1"]  # the engine re-sends the pending contact
    assert again.action == "unchanged" and not again.changes
    assert records(h.emu, "Task", Trengo_Id__c="contact-note-n1")[0]["WhoId"] == out.destination_id
