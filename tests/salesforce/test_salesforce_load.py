"""Each canonical object's mapping into Salesforce, through the real client against the emulator."""

from __future__ import annotations

import base64
import json

import pytest

from migration_assets.hookspecs import ConfigurationError

from .sf_support import SOURCE, workspace


def existing_for(data):
    return {"agents": data["agents"], "teams": data["teams"], "tags": data["tags"]}


def records(emu, obj, **where):
    return [r for r in emu.dump(obj) if all(r.get(k) == v for k, v in where.items())]


# -- agents and teams ------------------------------------------------------------------------------------


def test_agents_link_to_users_by_email_and_unmatched_ones_form_the_reconciliation_queue(harness):
    data = workspace()
    provisioned = data["agents"][:2]  # agent 3 has no User
    h = harness(existing={"agents": provisioned})
    extra = {"id": "9999", "email": "not an email", "name": "Broken", "is_active": True}
    out = h.load("agents", data["agents"] + [extra])
    users = {u["Id"]: u for u in h.emu.dump("User")}
    first = out[data["agents"][0]["id"]]
    assert first.action == "linked" and users[first.destination_id]["Email"].lower() == "agent1@example.com"
    inactive = out[data["agents"][1]["id"]]  # agent 2 is inactive in the source
    assert inactive.action == "linked" and users[inactive.destination_id]["IsActive"] is False
    missing = out[data["agents"][2]["id"]]
    assert missing.action == "failed" and missing.rule == "user-not-provisioned" and "agent3@example.com" in missing.reason
    assert out["9999"].rule == "invalid-email"
    assert not [d for d in h.emu.diff(h.emu.snapshot()).values()]  # nothing written
    # Agent 3 owns conversations: the blocking check fails without a fallback owner...
    h.store.stage(SOURCE, "agents", data["agents"], "s")
    h.store.stage(SOURCE, "conversations", data["conversations"], "s")
    finding = h.conn.evaluate_check("owners_matched", "agents", context=h.context())
    assert not finding.passed and finding.severity == "ERROR"
    queue = finding.metadata["reconciliation_queue"]
    assert [q["email"] for q in queue] == ["agent3@example.com", "not an email"]
    assert queue[0]["conversations_owned"] > 0 and queue[1]["conversations_owned"] == 0
    json.dumps(finding.metadata)
    # ... and passes as a warning once one is named.
    admin = h.emu.admin_id
    h.reconnect(SALESFORCE_FALLBACK_OWNER_ID=admin)
    finding = h.conn.evaluate_check("owners_matched", "agents", context=h.context())
    assert finding.severity == "WARN"


def test_teams_become_case_queues_with_members(harness):
    data = workspace()
    h = harness(existing={"agents": data["agents"]})
    h.load("agents", data["agents"])
    out = h.load("teams", data["teams"])
    support = out["8001"]
    assert support.action == "created" and support.destination_object == "Group"
    group = records(h.emu, "Group", Id=support.destination_id)[0]
    assert group["Type"] == "Queue" and group["Name"] == "Support"
    assert records(h.emu, "QueueSobject", QueueId=group["Id"])[0]["SobjectType"] == "Case"
    members = {m["UserOrGroupId"] for m in records(h.emu, "GroupMember", GroupId=group["Id"])}
    assert len(members) == 2 and {x[0] for x in support.extra_ids} == {"QueueSobject", "GroupMember"}
    again = h.load("teams", data["teams"])
    assert {o.action for o in again.values()} == {"unchanged"}


def test_an_existing_queue_with_the_teams_name_is_linked(harness):
    data = workspace()
    h = harness(existing={"agents": data["agents"], "teams": data["teams"]})
    h.load("agents", data["agents"])
    before = h.emu.snapshot()
    out = h.load("teams", data["teams"])
    assert {o.action for o in out.values()} <= {"linked", "updated"}
    assert "Group" not in h.emu.diff(before)


# -- contacts -----------------------------------------------------------------------------------------


def test_contacts_link_by_email_upsert_by_external_id_and_derive_last_names(harness):
    data = workspace()
    existing_contact = {"id": "x", "first_name": "Pre", "last_name": "Existing", "email": "customer2@example.org"}
    h = harness(existing={"contacts": [existing_contact]})
    contacts = data["contacts"][:4] + [
        {"id": "n1", "name": "Madonna", "email": "madonna@example.org"},
        {"id": "n2", "email": "no.name@example.org"},
        {"id": "n3", "phone": "+31 6 12345678"},
        {"id": "n4"},
        {"id": "bad", "name": "Bad Email", "email": "bad@@example"},
        {"id": "d1", "name": "Dup One", "email": "twice@example.org"},
        {"id": "d2", "name": "Dup Two", "email": "TWICE@example.org"},
    ]
    out = h.load("contacts", contacts)
    by_ext = {c.get("Trengo_Id__c"): c for c in h.emu.dump("Contact") if c.get("Trengo_Id__c")}
    assert out["5002"].action == "linked" and "5002" not in by_ext  # the pre-existing Contact, not a duplicate
    assert out["5001"].action == "created" and by_ext["5001"]["LastName"] == "N1"
    assert by_ext["n1"]["LastName"] == "Madonna" and by_ext["n2"]["LastName"] == "no.name"
    assert by_ext["n3"]["LastName"] == "+31 6 12345678" and by_ext["n3"]["Phone"] == "+31612345678"
    assert by_ext["n4"]["LastName"] == "Unknown" and "placeholder" in by_ext["n4"]["Description"]
    # An invalid address costs the value, not the contact: loaded without Email, the original kept on it.
    assert out["bad"].action == "created" and by_ext["bad"]["Email"] is None
    assert [c.rule for c in out["bad"].changes] == ["email-not-carried"]
    assert by_ext["bad"]["Trengo_Original_Values__c"] == "email: bad@@example"
    assert out["d1"].action == "created" and out["d2"].action == "linked"
    assert out["d2"].destination_id == out["d1"].destination_id
    again = h.load("contacts", contacts)
    assert {o.action for o in again.values()} <= {"unchanged", "linked"}


def test_contact_custom_properties_are_converted_and_tags_become_a_multiselect(harness):
    h = harness(env={"SALESFORCE_CREATE_SCHEMA": "true"})
    defs = [{"id": "cf1", "name": "Birthday", "key": "birthday", "entity": "contact", "data_type": "date"},
            {"id": "cf2", "name": "VIP", "key": "vip", "entity": "contact", "data_type": "boolean"},
            {"id": "cf3", "name": "Orders", "key": "orders", "entity": "contact", "data_type": "number"},
            {"id": "cf4", "name": "Interests", "key": "interests", "entity": "contact", "data_type": "multiselect",
             "options": ["Golf", "Tennis", "Chess"]},
            {"id": "cf5", "name": "Account manager", "key": "acct", "entity": "profile", "data_type": "text"}]
    out = h.load("custom_fields", defs)
    assert [out[f"cf{i}"].action for i in range(1, 5)] == ["created"] * 4 and out["cf5"].action == "skipped"
    contact = {"id": "c1", "name": "Ann Smith", "email": "ann@example.org", "tags": ["vip", "Returning"],
               "custom_fields": {"birthday": "31-12-1990", "vip": "ja", "orders": "1.234,5",
                                 "interests": "Golf; Chess"}}
    wrong = {"id": "c2", "name": "Bo", "custom_fields": {"orders": "many"}}
    result = h.load("contacts", [contact, wrong])
    saved = records(h.emu, "Contact", Trengo_Id__c="c1")[0]
    assert saved["Trengo_Birthday__c"] == "1990-12-31" and saved["Trengo_Vip__c"] is True
    assert saved["Trengo_Orders__c"] == 1234.5 and saved["Trengo_Interests__c"] == "Golf;Chess"
    assert set(saved["Trengo_Tags__c"].split(";")) == {"vip", "Returning"}
    assert {c.rule for c in result["c1"].changes} == {"value-converted"}  # 'ja', '1.234,5', '31-12-1990'
    assert result["c2"].action == "created"
    [change] = result["c2"].changes
    assert change.rule == "value-not-carried" and "not a number" in change.detail
    assert (change.field, change.original, change.kept_in) == ("custom_fields.orders", "many",
                                                               "Contact.Trengo_Original_Values__c")
    bo = records(h.emu, "Contact", Trengo_Id__c="c2")[0]
    assert bo["Trengo_Orders__c"] is None and bo["Trengo_Original_Values__c"] == "orders: many"


def test_contact_notes_become_tasks_with_author_and_time(harness):
    h = harness()
    contact = {"id": "c1", "name": "Noted Person", "notes": [
        {"id": "n1", "body": "Prefers phone calls", "author_name": "Agent 1", "created_at": "2023-04-05T06:07:08+00:00"}]}
    out = h.load("contacts", [contact])
    task = records(h.emu, "Task", Trengo_Id__c="contact-note-n1")[0]
    assert task["WhoId"] == out["c1"].destination_id and task["CreatedDate"].startswith("2023-04-05T06:07:08")
    assert "Agent 1" in task["Description"] and ("Task", task["Id"]) in out["c1"].extra_ids


# -- conversations -------------------------------------------------------------------------------------


def load_base(h, data):
    for c in ("agents", "teams", "tags", "contacts"):
        h.load(c, data[c])


def test_conversations_become_cases_with_mapping_owner_and_original_dates(harness):
    data = workspace()
    # The org variant where ClosedDate is an audit field (the default org refuses it; see test_salesforce_real_org).
    h = harness(existing=existing_for(data), profile="closeddate-createable",
                env={"SALESFORCE_STATUS_MAP": json.dumps({"assigned": "Escalated"}),
                     "SALESFORCE_RECORD_TYPES": json.dumps({"chat": "Chat_Support"})})
    load_base(h, data)
    conv = data["conversations"]
    conv[0].update(status="closed", closed_at="2024-03-01T12:00:00+00:00", tags=["vip", "refund"],
                   first_response_seconds=95.5, priority="urgent")
    conv[1].update(assignee_id=None, status="assigned")
    out = h.load("conversations", conv)
    cases = {c["Trengo_Id__c"]: c for c in h.emu.dump("Case") if c.get("Trengo_Id__c")}
    first = cases[conv[0]["id"]]  # an email conversation
    assert first["Status"] == "Closed" and first["IsClosed"] and first["Priority"] == "High"
    assert first["CreatedDate"].startswith(conv[0]["created_at"][:19])
    assert first["ClosedDate"].startswith("2024-03-01T12:00:00")
    assert first["Origin"] == "Email" and first["Trengo_Channel__c"] == "email" and "RecordTypeId" not in first
    assert set(first["Trengo_Tags__c"].split(";")) == {"vip", "refund"}
    assert first["Trengo_First_Response_Seconds__c"] == 95.5 and first["Trengo_Message_Count__c"] == 3
    assert first["ContactId"] == h.context().lookup("contacts", [conv[0]["contact_id"]])[conv[0]["contact_id"]]
    owner = first["OwnerId"]
    assert owner.startswith("005") and owner == h.context().lookup("agents", [conv[0]["assignee_id"]]).get(
        conv[0]["assignee_id"])
    second = cases[conv[1]["id"]]  # a chat conversation without assignee: the team's queue owns it
    assert second["OwnerId"].startswith("00G") and second["Status"] == "Escalated" and second["Origin"] == "Web"
    assert second["RecordTypeId"] == records(h.emu, "RecordType", DeveloperName="Chat_Support")[0]["Id"]
    assert {o.action for o in out.values()} == {"created"}
    assert not any(c.rule == "closed-date-not-settable" for o in out.values() for c in o.changes)


def test_without_audit_permission_cases_are_upserted_and_keep_dates_in_custom_fields(harness):
    data = workspace()
    h = harness(existing=existing_for(data), permissions={"audit_fields": False})
    load_base(h, data)
    out = h.load("conversations", data["conversations"])
    assert {o.action for o in out.values()} == {"created"}
    case = records(h.emu, "Case", Trengo_Id__c=data["conversations"][0]["id"])[0]
    assert case["Trengo_Created_At__c"].startswith(data["conversations"][0]["created_at"][:19])
    assert not case["CreatedDate"].startswith("2024-03")
    assert any("/composite/sobjects/Case/Trengo_Id__c" in p for _, p, _ in h.emu.request_log)
    finding = h.conn.evaluate_check("audit_fields", "conversations", context=h.context())
    assert not finding.passed and "Trengo_Created_At__c" in finding.description


def test_unmatched_owner_is_stopped_unless_a_fallback_owner_is_configured(harness):
    data = workspace()
    h = harness(existing={"agents": data["agents"][:2], "teams": data["teams"], "tags": data["tags"]})
    load_base(h, data)
    orphans = [c for c in data["conversations"] if c["assignee_id"] == data["agents"][2]["id"]]
    out = h.load("conversations", orphans)
    assert {o.rule for o in out.values()} == {"owner-unmatched"}
    assert all("SALESFORCE_FALLBACK_OWNER_ID" in o.fix for o in out.values())
    h.reconnect(SALESFORCE_FALLBACK_OWNER_ID="admin@acme-support.example")
    out = h.load("conversations", orphans)
    assert {o.action for o in out.values()} == {"created"}
    assert {records(h.emu, "Case", Id=o.destination_id)[0]["OwnerId"] for o in out.values()} == {h.emu.admin_id}


def test_unmapped_status_is_refused_and_an_invalid_dependent_value_is_left_out_before_sending(harness):
    data = workspace()
    h = harness(existing=existing_for(data),
                env={"SALESFORCE_STATUS_MAP": json.dumps({"pending": "Waiting on Customer"}),
                     "SALESFORCE_CASE_FIELD_MAP": json.dumps({"type": "Type", "reason": "Reason"})})
    load_base(h, data)
    conv = data["conversations"][:3]
    conv[0]["status"] = "pending"
    conv[1]["custom_fields"] = {"type": "Question", "reason": "Breakdown"}
    conv[2]["custom_fields"] = {"type": "Problem", "reason": "Breakdown"}
    before = h.emu.counts().get("Case", 0)
    out = h.load("conversations", conv)
    assert out[conv[0]["id"]].action == "failed" and "Waiting on Customer" in out[conv[0]["id"]].reason
    # 'Breakdown' is no Reason for Type 'Question': the Case loads without it, the original kept on it.
    question = out[conv[1]["id"]]
    assert question.action == "created"
    [change] = question.changes
    assert change.rule == "value-not-carried" and "dependent picklist" in change.detail
    assert (change.field, change.original) == ("Case.Reason", "Breakdown")
    saved = records(h.emu, "Case", Id=question.destination_id)[0]
    assert saved["Type"] == "Question" and saved.get("Reason") is None
    assert saved["Trengo_Original_Values__c"] == "Case.Reason: Breakdown"
    assert out[conv[2]["id"]].action == "created"
    assert records(h.emu, "Case", Id=out[conv[2]["id"]].destination_id)[0]["Reason"] == "Breakdown"
    assert h.emu.counts()["Case"] == before + 2


# -- messages -----------------------------------------------------------------------------------------


def loaded_workspace(harness, env=None, **options):
    data = workspace()
    h = harness(existing=existing_for(data), env=env, **options)
    load_base(h, data)
    h.load("conversations", data["conversations"])
    return h, data


def test_email_messages_carry_their_fields(harness):
    h, data = loaded_workspace(harness)
    emails = [m for m in data["messages"] if m["body_type"] == "email"]
    out = h.load("messages", emails)
    assert {o.destination_object for o in out.values()} == {"EmailMessage"}
    inbound = next(m for m in emails if m["kind"] == "inbound")
    em = records(h.emu, "EmailMessage", Trengo_Id__c=inbound["id"])[0]
    assert em["FromAddress"] == inbound["from_address"] and em["ToAddress"] == "support@example.com"
    assert em["Incoming"] is True and em["Status"] == "1" and em["Subject"] == inbound["subject"]
    assert em["HtmlBody"] == inbound["body_html"] and em["TextBody"] == inbound["body_text"]
    assert em["MessageDate"].startswith(inbound["created_at"][:19]) and em["CreatedDate"] == em["MessageDate"]
    outbound = next(m for m in emails if m["kind"] == "outbound")
    sent = records(h.emu, "EmailMessage", Trengo_Id__c=outbound["id"])[0]
    assert sent["Status"] == "3" and sent["Incoming"] is False
    assert sent["CreatedById"] == h.context().lookup("agents", [outbound["author_id"]])[outbound["author_id"]]


def test_long_email_bodies_are_truncated_flagged_and_attached_in_full(harness):
    h, data = loaded_workspace(harness, env={"SALESFORCE_EMAIL_BODY_LIMIT": "1000"})
    msg = next(m for m in data["messages"] if m["body_type"] == "email")
    msg["body_html"] = "<p>" + "long line " * 500 + "</p>"
    msg["body_text"] = "long line " * 500
    out = h.load("messages", [msg])
    em = records(h.emu, "EmailMessage", Trengo_Id__c=msg["id"])[0]
    assert len(em["HtmlBody"]) <= 1000 and "[truncated at 1000 characters" in em["HtmlBody"]
    assert em["Trengo_Body_Truncated__c"] is True
    files = [x for x in out[msg["id"]].extra_ids if x[0] == "ContentVersion"]
    blob = h.emu.org.blobs[files[0][1]]
    assert blob.decode() == msg["body_html"]
    finding = h.conn.evaluate_check("bodies_and_images", "messages", context=h.context())
    assert finding.metadata["truncated"][0]["message"] == msg["id"]


class Killed(Exception):
    pass


def test_an_email_found_after_a_crash_gets_its_full_body_and_image_links_once(harness, home, monkeypatch, tmp_path):
    from helpdesk_migrate.plugins.salesforce import load_messages

    from .sf_support import Harness

    env = {"SALESFORCE_EMAIL_BODY_LIMIT": "1000"}
    h, data = loaded_workspace(harness, env=env)
    msg = next(m for m in data["messages"] if m["body_type"] == "email")
    msg["body_html"] = '<p><img src="cid:logo123@mail">' + "long line " * 500 + "</p>"
    (home / "files" / SOURCE).mkdir(parents=True)
    (home / "files" / SOURCE / "logo.png").write_bytes(b"\x89PNG fake image")
    att = {"id": "a1", "message_id": msg["id"], "conversation_id": msg["conversation_id"], "file_name": "logo.png",
           "mime_type": "image/png", "inline": True, "content_id": "logo123@mail", "local_path": "logo.png"}
    h.store.stage(SOURCE, "attachments", [att], "s")

    def killed(*args, **kw):
        raise Killed()

    # The process dies right after the EmailMessage insert: no image link, no full body, no outcome.
    monkeypatch.setattr(load_messages, "_link_inline_images", killed)
    with pytest.raises(Killed):
        h.load("messages", [msg])
    monkeypatch.undo()
    [email] = records(h.emu, "EmailMessage", Trengo_Id__c=msg["id"])
    assert email["Trengo_Body_Truncated__c"] and not records(h.emu, "ContentVersion",
                                                             Trengo_Id__c=f"message-body-{msg['id']}")
    h.reconnect()
    out = h.load("messages", [msg])[msg["id"]]
    assert out.action == "unchanged" and out.destination_id == email["Id"]
    [body] = records(h.emu, "ContentVersion", Trengo_Id__c=f"message-body-{msg['id']}")
    assert h.emu.org.blobs[body["Id"]].decode() == msg["body_html"] and ("ContentVersion", body["Id"]) in out.extra_ids
    image = records(h.emu, "ContentVersion", Trengo_Id__c="a1")[0]
    links = records(h.emu, "ContentDocumentLink", ContentDocumentId=image["ContentDocumentId"])
    assert email["Id"] in {link["LinkedEntityId"] for link in links}
    # Once more with the id map lost again: the follow-up work finds everything in place and adds nothing.
    before = h.emu.snapshot()
    lost = Harness(tmp_path / "lost.sqlite", h.emu, env)
    try:
        load_base(lost, data)
        lost.load("conversations", data["conversations"])
        lost.store.stage(SOURCE, "attachments", [att], "s")
        again = lost.load("messages", [msg])[msg["id"]]
    finally:
        lost.close()
    assert again.action == "unchanged" and h.emu.diff(before) == {}


def test_inline_images_move_to_files_and_no_reference_points_back_at_the_source(harness, home):
    h, data = loaded_workspace(harness)
    msg = next(m for m in data["messages"] if m["body_type"] == "email")
    msg["body_html"] = ('<p>Hi <img src="cid:logo123@mail"> and <img src="https://app.trengo.com/files/gone.png">'
                        ' and <img src="https://cdn.example.com/keep.png"></p>')
    msg["attachment_ids"] = ["a1"]
    (home / "files" / SOURCE).mkdir(parents=True)
    (home / "files" / SOURCE / "logo.png").write_bytes(b"\x89PNG fake image")
    att = {"id": "a1", "message_id": msg["id"], "conversation_id": msg["conversation_id"], "file_name": "logo.png",
           "mime_type": "image/png", "inline": True, "content_id": "logo123@mail", "local_path": "logo.png"}
    h.store.stage(SOURCE, "attachments", [att], "s")
    out = h.load("messages", [msg])
    em = records(h.emu, "EmailMessage", Trengo_Id__c=msg["id"])[0]
    version = records(h.emu, "ContentVersion", Trengo_Id__c="a1")[0]
    assert f"/sfc/servlet.shepherd/version/download/{version['Id']}" in em["HtmlBody"]
    assert "trengo.com" not in em["HtmlBody"] and "cid:" not in em["HtmlBody"]
    assert "cdn.example.com/keep.png" in em["HtmlBody"]
    assert version["Trengo_Source_Ref__c"] == "cid:logo123@mail"
    links = records(h.emu, "ContentDocumentLink", ContentDocumentId=version["ContentDocumentId"])
    assert em["Id"] in {link["LinkedEntityId"] for link in links}
    assert any(x[0] == "ContentDocumentLink" for x in out[msg["id"]].extra_ids)
    unresolved = h.conn.evaluate_check("bodies_and_images", "messages", context=h.context())
    assert "gone.png" in unresolved.metadata["unresolved_images"][0]["reference"]
    # The attachments load finds the inline image already uploaded.
    again = h.load("attachments", [att])
    assert again["a1"].action == "unchanged"


def test_notes_become_case_comments_split_at_4000_bytes_with_attribution(harness):
    h, data = loaded_workspace(harness)
    note = next(m for m in data["messages"] if m["kind"] == "note")
    note["body_text"] = "€uro " * 1500  # 9,000 bytes in UTF-8
    out = h.load("messages", [note])
    outcome = out[note["id"]]
    assert outcome.destination_object == "CaseComment" and len(outcome.extra_ids) == 2
    comments = [c for c in h.emu.dump("CaseComment")
                if c["Id"] in {outcome.destination_id, *(x[1] for x in outcome.extra_ids)}]
    assert all(len(c["CommentBody"].encode()) <= 4000 for c in comments)
    bodies = sorted(c["CommentBody"] for c in comments)
    assert bodies[0].startswith("[Internal note by Agent 2 · 2024-03-01 ") and "part 1/3" in bodies[0]
    assert all(c["IsPublished"] is False for c in comments)
    assert comments[0]["CreatedDate"].startswith(note["created_at"][:19])
    assert comments[0]["CreatedById"] == h.context().lookup("agents", [note["author_id"]])[note["author_id"]]
    assert "".join(b.split("]\n", 1)[1] for b in bodies) == note["body_text"].strip()


def test_call_logs_become_completed_call_tasks_on_the_case_and_contact(harness):
    h, data = loaded_workspace(harness)
    conv = data["conversations"][0]
    call = {"id": "call1", "conversation_id": conv["id"], "kind": "inbound", "body_type": "call_log",
            "body_text": "Customer called about the invoice", "call_direction": "inbound",
            "call_duration_seconds": 192, "author_type": "contact", "author_id": conv["contact_id"],
            "created_at": "2024-03-02T09:30:00+00:00"}
    out = h.load("messages", [call])
    task = records(h.emu, "Task", Trengo_Id__c="call1")[0]
    case = records(h.emu, "Case", Trengo_Id__c=conv["id"])[0]
    assert out["call1"].destination_object == "Task"
    assert task["TaskSubtype"] == "Call" and task["Status"] == "Completed" and task["CallType"] == "Inbound"
    assert task["CallDurationInSeconds"] == 192 and task["ActivityDate"] == "2024-03-02"
    assert task["WhatId"] == case["Id"] and task["WhoId"] == case["ContactId"]
    assert task["CreatedDate"].startswith("2024-03-02T09:30:00") and "3m 12s" in task["Subject"]


def test_non_email_messages_follow_the_configuration(harness):
    h, data = loaded_workspace(harness, env={"SALESFORCE_NON_EMAIL_MESSAGES": "task"})
    chat = next(m for m in data["messages"] if m["body_type"] == "text" and m["kind"] == "inbound")
    assert h.load("messages", [chat])[chat["id"]].destination_object == "Task"
    h.reconnect(SALESFORCE_NON_EMAIL_MESSAGES="skip")
    other = next(m for m in data["messages"] if m["body_type"] == "text" and m["kind"] == "outbound")
    out = h.load("messages", [other])[other["id"]]
    assert out.action == "skipped" and "SALESFORCE_NON_EMAIL_MESSAGES" in out.reason


def test_attachments_become_content_versions_on_the_email_or_case(harness, home):
    h, data = loaded_workspace(harness, env={"SALESFORCE_MAX_FILE_BYTES": "100"})
    h.load("messages", data["messages"])
    email = next(m for m in data["messages"] if m["body_type"] == "email")
    note = next(m for m in data["messages"] if m["kind"] == "note")
    folder = home / "files" / SOURCE
    folder.mkdir(parents=True)
    (folder / "invoice.pdf").write_bytes(b"%PDF tiny")
    (folder / "big.bin").write_bytes(b"x" * 500)
    atts = [{"id": "f1", "message_id": email["id"], "conversation_id": email["conversation_id"],
             "file_name": "invoice.pdf", "local_path": "invoice.pdf"},
            {"id": "f2", "message_id": note["id"], "conversation_id": note["conversation_id"],
             "file_name": "invoice.pdf", "local_path": "invoice.pdf"},
            {"id": "f3", "conversation_id": email["conversation_id"], "file_name": "big.bin", "local_path": "big.bin"},
            {"id": "f4", "conversation_id": email["conversation_id"], "file_name": "lost.txt"},
            # An outside image the source lists with its URL and never downloads (a tracking pixel).
            {"id": "f5", "message_id": email["id"], "conversation_id": email["conversation_id"], "file_name": "p.gif",
             "inline": True, "url": "https://track.example.net/p.gif?u=1", "content_id": "https://track.example.net/p.gif?u=1"},
            {"id": "f6", "conversation_id": email["conversation_id"], "file_name": "escape.txt",
             "local_path": "../../../escape.txt"}]
    (home.parent / "escape.txt").write_text("outside the files directory")
    out = h.load("attachments", atts)
    v1 = records(h.emu, "ContentVersion", Trengo_Id__c="f1")[0]
    assert v1["FirstPublishLocationId"].startswith("02s") and h.emu.org.blobs[v1["Id"]] == b"%PDF tiny"
    assert records(h.emu, "ContentVersion", Trengo_Id__c="f2")[0]["FirstPublishLocationId"].startswith("500")
    # Over the JSON limit (100 bytes here): uploaded as a multipart request instead of quarantined.
    v3 = records(h.emu, "ContentVersion", Trengo_Id__c="f3")[0]
    assert out["f3"].action == "created" and out["f3"].destination_id == v3["Id"]
    assert h.emu.org.blobs[v3["Id"]] == b"x" * 500 and v3["PathOnClient"] == "big.bin"
    assert out["f4"].rule == "file-missing"
    assert (out["f5"].action, out["f5"].rule) == ("skipped", "external-image")
    assert "track.example.net" in out["f5"].reason and "tracking pixel" in out["f5"].reason
    assert (out["f6"].action, out["f6"].rule) == ("failed", "file-outside-files-dir")
    assert not records(h.emu, "ContentVersion", Trengo_Id__c="f5") + records(h.emu, "ContentVersion", Trengo_Id__c="f6")


# -- knowledge, tags, channels ---------------------------------------------------------------------------


ARTICLES = [
    {"id": "11:en", "article_id": "11", "locale": "en", "title": "Reset your password", "status": "published",
     "body_html": "<p>Click <b>reset</b>.</p>", "category_path": ["Account"], "slug": "reset-password"},
    {"id": "11:nl", "article_id": "11", "locale": "nl", "title": "Wachtwoord herstellen", "status": "draft",
     "body_html": "<p>Klik op herstel.</p>", "category_path": ["Nowhere"]},
    {"id": "12:xx", "article_id": "12", "locale": "xx", "title": "Unknown language", "status": "draft"},
]


def test_articles_become_knowledge_drafts_or_published_versions_with_categories(harness):
    h = harness(env={"SALESFORCE_CREATE_SCHEMA": "true"})
    out = h.load("articles", ARTICLES)
    published = records(h.emu, "Knowledge__kav", Trengo_Id__c="11:en")[0]
    assert published["PublishStatus"] == "Online" and published["Trengo_Body__c"] == ARTICLES[0]["body_html"]
    assert published["Language"] == "en_US" and published["UrlName"] == "reset-password-11-en-us"
    selection = records(h.emu, "Knowledge__DataCategorySelection", ParentId=published["Id"])[0]
    assert (selection["DataCategoryGroupName"], selection["DataCategoryName"]) == ("Topics", "Account")
    draft = records(h.emu, "Knowledge__kav", Trengo_Id__c="11:nl")[0]
    assert draft["PublishStatus"] == "Draft" and draft["Language"] == "nl_NL"
    assert out["12:xx"].rule == "language-inactive"
    finding = h.conn.evaluate_check("knowledge_enabled", "articles", context=h.context())
    assert finding.metadata["uncategorized"][0]["id"] == "11:nl"
    assert {o.action for sid, o in h.load("articles", ARTICLES[:2]).items()} == {"unchanged"}


def test_an_article_found_after_a_crash_gets_its_category_and_is_published_once(harness, monkeypatch):
    from helpdesk_migrate.plugins.salesforce import load_misc

    h = harness(env={"SALESFORCE_CREATE_SCHEMA": "true"})

    def killed(*args, **kw):
        raise Killed()

    # The process dies right after the article insert: no category, not published, no outcome.
    monkeypatch.setattr(load_misc, "_finish_articles", killed)
    with pytest.raises(Killed):
        h.load("articles", ARTICLES[:1])
    monkeypatch.undo()
    [draft] = records(h.emu, "Knowledge__kav", Trengo_Id__c="11:en")
    assert draft["PublishStatus"] == "Draft" and not records(h.emu, "Knowledge__DataCategorySelection")
    h.reconnect()
    out = h.load("articles", ARTICLES[:1])["11:en"]
    assert out.action == "unchanged" and out.destination_id == draft["Id"]
    [selection] = records(h.emu, "Knowledge__DataCategorySelection", ParentId=draft["Id"])
    assert selection["DataCategoryName"] == "Account" and selection["Id"] in {i for _, i in out.extra_ids}
    assert records(h.emu, "Knowledge__kav", Id=draft["Id"])[0]["PublishStatus"] == "Online"


def test_a_category_that_could_not_be_set_is_quarantined_and_set_by_the_rerun(harness):
    h = harness(env={"SALESFORCE_CREATE_SCHEMA": "true", "SALESFORCE_LOCK_RETRIES": "0"},
                faults={"lock_errors": 1, "lock_objects": ["Knowledge__DataCategorySelection"]})
    out = h.load("articles", ARTICLES[:1])["11:en"]
    assert out.action == "failed" and out.rule == "category-failed" and "Topics/Account" in out.reason
    [draft] = records(h.emu, "Knowledge__kav", Trengo_Id__c="11:en")
    assert draft["PublishStatus"] == "Draft", "published without its category, it could no longer get one"
    assert h.store.quarantined_ids(SOURCE, "articles", "salesforce") == {"11:en"}
    again = h.load("articles", ARTICLES[:1])["11:en"]
    assert again.action == "unchanged" and again.destination_id == draft["Id"]
    assert [s["DataCategoryName"] for s in records(h.emu, "Knowledge__DataCategorySelection", ParentId=draft["Id"])] \
        == ["Account"]
    assert records(h.emu, "Knowledge__kav", Id=draft["Id"])[0]["PublishStatus"] == "Online"
    assert h.store.quarantined_ids(SOURCE, "articles", "salesforce") == set()


def test_without_knowledge_articles_go_to_a_report(harness):
    h = harness(knowledge=False)
    out = h.load("articles", ARTICLES[:2])
    assert {o.action for o in out.values()} == {"skipped"} and {o.rule for o in out.values()} == {"knowledge-disabled"}
    finding = h.conn.evaluate_check("knowledge_enabled", "articles", context=h.context())
    assert not finding.passed and len(finding.metadata["articles_not_loaded"]) == 2


def test_tags_become_picklist_values_prefixed_on_a_case_only_collision(harness):
    h = harness(existing={"tags": [{"id": "t0", "name": "VIP", "applies_to": "conversation"}]})
    out = h.load("tags", [{"id": "t1", "name": "vip", "applies_to": "conversation"},
                          {"id": "t2", "name": "VIP", "applies_to": "conversation"},
                          {"id": "t3", "name": "newsletter", "applies_to": "contact"}])
    assert out["t1"].action == "created" and out["t1"].destination_id == "Tag: vip"
    assert out["t2"].action == "linked" and out["t2"].destination_id == "VIP"
    assert out["t3"].destination_object == "Contact.Trengo_Tags__c"
    values = [v["value"] for v in h.conn.client.fields("Case")["Trengo_Tags__c"]["picklistValues"]]
    assert {"VIP", "Tag: vip"} <= set(values)


def test_channels_give_origin_values_and_an_inventory(harness):
    data = workspace()
    h = harness()
    out = h.load("channels", data["channels"])
    assert {o.action for o in out.values()} == {"skipped"}
    assert "Origin 'Email'" in out["7001"].reason and "Email-to-Case" in out["7001"].fix
    finding = h.conn.evaluate_check("channel_inventory", "channels", context=h.context())
    assert [c["case_origin"] for c in finding.metadata["channels"]] == ["Email", "Web"]


# -- schema ---------------------------------------------------------------------------------------------


def test_without_schema_creation_the_load_stops_with_the_plan(harness):
    h = harness(env={"SALESFORCE_CREATE_SCHEMA": "false"})
    with pytest.raises(ConfigurationError) as exc:
        h.load("contacts", workspace()["contacts"][:1])
    assert "Contact.Trengo_Id__c" in str(exc.value) and "SALESFORCE_CREATE_SCHEMA" in str(exc.value)


def test_a_prepared_org_needs_no_schema_changes(harness):
    h = harness(env={"SALESFORCE_CREATE_SCHEMA": "false"}, schema="prepared")
    out = h.load("contacts", workspace()["contacts"][:2])
    assert {o.action for o in out.values()} == {"created"}
    assert not [p for _, p, _ in h.emu.request_log if "tooling/sobjects/CustomField" in p]


def test_field_creation_grants_field_level_security(harness):
    h = harness()
    h.load("contacts", workspace()["contacts"][:1])
    perms = records(h.emu, "FieldPermissions", Field="Contact.Trengo_Id__c")
    assert perms and perms[0]["PermissionsRead"] and perms[0]["PermissionsEdit"]
    assert records(h.emu, "PermissionSet", Name="Helpdesk_Migration")


def test_a_field_permission_row_refused_as_locked_is_sent_again(harness):
    h = harness(faults={"lock_errors": 1, "lock_objects": ["FieldPermissions"]})
    out = h.load("contacts", workspace()["contacts"][:1])
    assert {o.action for o in out.values()} == {"created"}
    assert not h.emu.faults.get("lock_errors"), "the fault never fired"
    assert records(h.emu, "FieldPermissions", Field="Contact.Trengo_Id__c")


def fault_before_field_posts(h, times: int, **faults):
    """Arm the emulator's ``faults`` right before each of the first ``times`` CustomField creations."""
    client = h.conn.client
    original = client.tooling
    armed = []

    def tooling(path, method="GET", data=None, **kw):
        if method == "POST" and path == "sobjects/CustomField" and len(armed) < times:
            armed.append(data["FullName"])
            h.emu.faults.update(faults)
        return original(path, method, data, **kw)

    client.tooling = tooling
    return armed


def contact_id_fields(emu):
    return records(emu, "CustomField", TableEnumOrId="Contact", DeveloperName="Trengo_Id")


def test_a_custom_field_creation_refused_with_5xx_is_tried_again(harness):
    h = harness()
    armed = fault_before_field_posts(h, 2, server_error_next=1)
    out = h.load("contacts", workspace()["contacts"][:1])
    assert armed == ["Contact.Trengo_Id__c"] * 2
    assert {o.action for o in out.values()} == {"created"}
    assert len(contact_id_fields(h.emu)) == 1


def test_a_custom_field_whose_creation_answer_was_lost_is_not_created_twice(harness):
    h = harness()
    armed = fault_before_field_posts(h, 1, lose_response_next=1)
    out = h.load("contacts", workspace()["contacts"][:1])
    assert armed == ["Contact.Trengo_Id__c"] and not h.emu.faults.get("lose_response_next")
    assert {o.action for o in out.values()} == {"created"}
    assert len(contact_id_fields(h.emu)) == 1


def test_base64_helper_roundtrip():
    assert base64.b64decode(base64.b64encode(b"x")) == b"x"


def test_non_ascii_email_addresses_load_idn_encoded_or_without_the_email(harness):
    h = harness()
    out = h.load("contacts", [{"id": "u1", "name": "Zoë Döring", "email": "zoë.döring@example.com"},
                              {"id": "u2", "name": "Jan Müller", "email": "jan@müller.de"}])
    zoe = records(h.emu, "Contact", Trengo_Id__c="u1")[0]
    assert out["u1"].action == "created" and zoe["Email"] is None and zoe["LastName"] == "Döring"
    [change] = out["u1"].changes
    assert change.rule == "email-not-carried" and "non-ASCII" in change.detail
    assert (change.original, change.kept_in) == ("zoë.döring@example.com", "Contact.Trengo_Original_Values__c")
    assert zoe["Trengo_Original_Values__c"] == "email: zoë.döring@example.com"
    jan = records(h.emu, "Contact", Trengo_Id__c="u2")[0]
    assert jan["Email"] == "jan@xn--mller-kva.de" and [c.rule for c in out["u2"].changes] == ["email-idn-encoded"]


def test_an_empty_attachment_is_quarantined_with_the_reason(harness):
    from .sf_support import workspace

    data = workspace()
    h = harness(existing={"agents": data["agents"], "teams": data["teams"], "tags": data["tags"]})
    for c in ("agents", "teams", "tags", "contacts", "conversations"):
        h.load(c, data[c])
    files = h.context().files_dir
    files.mkdir(parents=True, exist_ok=True)
    (files / "empty.txt").write_bytes(b"")
    conv = data["conversations"][0]["id"]
    out = h.load("attachments", [{"id": "a0", "conversation_id": conv, "file_name": "empty.txt",
                                  "local_path": "empty.txt", "size_bytes": 0}])["a0"]
    assert out.action == "failed" and out.rule == "file-empty" and "0 bytes" in out.reason


def test_a_setup_record_another_worker_made_a_moment_ago_is_used_not_refused(harness):
    """Loads of one run on several workers each make sure the migration's permission set is assigned: the one
    that loses the race gets DUPLICATE_VALUE from Salesforce, and that record is the one it needed."""
    h = harness()
    schema = h.conn.svc.schema
    user = h.conn.client.user_id()
    ps = schema._create_once("PermissionSet", {"Name": "Race_Test", "Label": "Race test"},
                             "SELECT Id FROM PermissionSet WHERE Name = 'Race_Test'")
    find = f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '{user}' AND PermissionSetId = '{ps}'"
    first = schema._create_once("PermissionSetAssignment", {"AssigneeId": user, "PermissionSetId": ps}, find)
    again = schema._create_once("PermissionSetAssignment", {"AssigneeId": user, "PermissionSetId": ps}, find)
    assert again == first
    assert len(h.conn.client.query_all(find)) == 1
