"""What a real org does that a kind emulator would not: ClosedDate refused on insert, Enhanced Email's Tasks,
Bulk 2.0 results in any order, Tooling ids of custom objects, tokens without userinfo, email threads whose
messages say 'text' — each against the emulator's documented default and its profile variant."""

from __future__ import annotations

import json

import pytest
import requests

from helpdesk_migrate.plugins.salesforce.plugin import SalesforceDestination
from helpdesk_migrate.plugins.salesforce.writer import RecordWriter, RowMatcher
from migration_assets.registry import emulator_for

from .sf_support import SOURCE, login_session, workspace


def existing_for(data):
    return {"agents": data["agents"], "teams": data["teams"], "tags": data["tags"]}


def records(emu, obj, **where):
    return [r for r in emu.dump(obj) if all(r.get(k) == v for k, v in where.items())]


def base_loaded(harness, *, conversations=True, **options):
    data = workspace()
    h = harness(existing=existing_for(data), **options)
    for canonical in ("agents", "teams", "tags", "contacts") + (("conversations",) if conversations else ()):
        h.load(canonical, data[canonical])
    return h, data


# -- profiles ------------------------------------------------------------------------------------------


def test_the_plugin_lists_its_emulator_profiles_default_first_and_refuses_unknown_ones():
    plugin = SalesforceDestination()
    profiles = emulator_for(plugin).profiles()
    assert next(iter(profiles)) == "default"
    assert {"closeddate-createable", "no-enhanced-email", "no-userinfo"} <= set(profiles)
    assert "000386065" in profiles["default"] and all(profiles.values())
    with pytest.raises(ValueError, match="no-such-thing"):
        emulator_for(plugin).start(port=0, profile="no-userinfo,no-such-thing")


# -- Case.ClosedDate ---------------------------------------------------------------------------------------


def test_closed_date_is_refused_on_insert_and_the_original_close_time_is_kept_in_the_closed_at_field(harness):
    h, data = base_loaded(harness, conversations=False)
    describe = h.conn.client.fields("Case")
    assert describe["CreatedDate"]["createable"] and not describe["ClosedDate"]["createable"]
    with pytest.raises(requests.HTTPError) as refused:  # the org refuses it the way Salesforce does
        response = requests.post(f"{h.emu.url}/services/data/v62.0/sobjects/Case", json={
            "Status": "Closed", "ClosedDate": "2024-03-01T12:00:00.000+0000"},
            headers={"Authorization": f"Bearer {h.emu.session_id}"}, timeout=10)
        response.raise_for_status()
    assert refused.value.response.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    conv = data["conversations"]
    conv[0].update(status="closed", closed_at="2024-03-01T12:00:00+00:00")
    conv[1].update(status="open", closed_at=None)
    out = h.load("conversations", conv)
    assert {o.action for o in out.values()} == {"created"}
    case = records(h.emu, "Case", Trengo_Id__c=conv[0]["id"])[0]
    assert case["IsClosed"] and not case["ClosedDate"].startswith("2024-03-01")  # Salesforce stamped the load time
    assert case["Trengo_Closed_At__c"].startswith("2024-03-01T12:00:00")
    change = next(c for c in out[conv[0]["id"]].changes if c.rule == "closed-date-not-settable")
    assert (change.field, change.original, change.kept_in) == ("ClosedDate", "2024-03-01T12:00:00+00:00",
                                                              "Case.Trengo_Closed_At__c")
    assert not any(c.rule == "closed-date-not-settable" for c in out[conv[1]["id"]].changes)
    finding = h.conn.evaluate_check("audit_fields", "conversations", context=h.context())
    assert "Trengo_Closed_At__c" in finding.description
    preflight = h.conn.preflight(context=h.context())
    assert ("permission", "ClosedDate") in {(i["kind"], i["name"]) for i in preflight.items}


# -- Enhanced Email ----------------------------------------------------------------------------------------


def test_each_email_gets_enhanced_emails_task_which_the_load_counts_and_rollback_removes(harness):
    h, data = base_loaded(harness)
    emails = [m for m in data["messages"] if m["body_type"] == "email"]
    h.store.stage(SOURCE, "messages", data["messages"], "staged")
    preflight = h.conn.preflight(context=h.context())
    effect = next(i for i in preflight.items if i["kind"] == "side_effect")
    assert f"{len(emails)} Task(s)" in effect["detail"] and "load time" in effect["detail"]
    before = h.emu.snapshot()
    out = h.load("messages", emails)
    for msg in emails:
        em = records(h.emu, "EmailMessage", Trengo_Id__c=msg["id"])[0]
        task = h.emu.org.records["Task"][em["ActivityId"]]
        assert task["Subject"] == f"Email: {msg['subject']}" and task["WhatId"] == em["ParentId"]
        assert not task["CreatedDate"].startswith(msg["created_at"][:10])  # dated at insert, not the email's date
        assert ("Task", task["Id"]) in out[msg["id"]].extra_ids
    finding = h.conn.evaluate_check("bodies_and_images", "messages", context=h.context())
    assert finding.metadata["email_activity_tasks"] == len(emails)
    assert f"created {len(emails)} activity Task(s)" in finding.description
    ctx = h.context("rollback")
    entries = h.store.id_map_entries(SOURCE, "salesforce", "messages")
    assert set(h.conn.rollback("messages", entries, context=ctx)) == {m["id"] for m in emails}
    diff = h.emu.diff(before)
    assert not diff.get("Task", {}).get("created") and not diff.get("EmailMessage", {}).get("created"), diff


def test_rollback_finds_the_task_of_an_email_whose_outcome_did_not_record_it(harness):
    h, data = base_loaded(harness)
    email = next(m for m in data["messages"] if m["body_type"] == "email")
    before = h.emu.snapshot()
    h.load("messages", [email])
    entries = [{**e, "extra_ids": []} for e in h.store.id_map_entries(SOURCE, "salesforce", "messages")]
    assert h.conn.rollback("messages", entries, context=h.context("rollback")) == [email["id"]]
    assert not h.emu.diff(before).get("Task", {}).get("created")


def test_without_enhanced_email_no_task_is_created_or_announced(harness):
    h, data = base_loaded(harness, profile="no-enhanced-email")
    emails = [m for m in data["messages"] if m["body_type"] == "email"]
    tasks = len(h.emu.dump("Task"))
    out = h.load("messages", emails)
    assert len(h.emu.dump("Task")) == tasks
    assert not any(obj == "Task" for o in out.values() for obj, _ in o.extra_ids)
    assert not any(i["kind"] == "side_effect" for i in h.conn.preflight(context=h.context()).items)


# -- Bulk 2.0 result correlation ----------------------------------------------------------------------------


def test_bulk_results_in_any_order_are_matched_even_when_rows_share_their_columns(harness):
    h, _ = base_loaded(harness, env={"SALESFORCE_BULK_THRESHOLD": "50"})
    cases = [r["Id"] for r in h.emu.dump("Case") if r.get("Trengo_Id__c")][:4]
    gone = cases[3]
    h.emu.org.delete("Case", gone)  # its comments fail: the failure must reach exactly their keys
    items = []
    for i in range(80):  # the same body everywhere; the same (ParentId, body) 20 times per case
        items.append((f"k{i}", {"ParentId": cases[i % 4], "CommentBody": "Same text\nover two lines",
                                "IsPublished": False}))
    writer = RecordWriter(h.conn.client, h.conn.cfg)
    results = writer.insert("CaseComment", items, match_on="CommentBody")
    assert writer.used_bulk == 1 and len(results) == len(items)
    for key, values in items:
        res = results[key]
        if values["ParentId"] == gone:
            assert not res.ok and res.code == "INVALID_CROSS_REFERENCE_KEY", res
        else:
            assert res.ok and h.emu.org.records["CaseComment"][res.id]["ParentId"] == values["ParentId"]
    ids = [r.id for r in results.values() if r.ok]
    assert len(ids) == len(set(ids)) == 60


def test_the_emulators_result_files_are_not_in_input_order(harness):
    h, _ = base_loaded(harness, conversations=False, env={"SALESFORCE_BULK_THRESHOLD": "20"})
    items = [(f"c{i}", {"Trengo_Id__c": f"bulk-{i}", "LastName": f"Row{i:03d}"}) for i in range(40)]
    writer = RecordWriter(h.conn.client, h.conn.cfg)
    results = writer.upsert("Contact", "Trengo_Id__c", items)
    assert all(r.ok for r in results.values())
    job = next(iter(h.emu.jobs.values()))
    csv_text = h.emu._results_csv(job, "successfulresults")
    order = [line.rsplit(",", 1)[-1] for line in csv_text.splitlines()[1:]]
    assert sorted(order) == sorted(f"bulk-{i}" for i in range(40)) and order != [f"bulk-{i}" for i in range(40)]


def test_a_row_whose_echo_differs_is_matched_by_its_unique_key_alone():
    matcher = RowMatcher("insert", [("a", {"Ext__c": "1", "Body": "x\r\ny"}), ("b", {"Ext__c": "2", "Body": "z"})],
                         ["Body", "Ext__c"], "Ext__c")
    assert matcher.take({"Body": "x\ny", "Ext__c": "1"}) == "a"  # line ending normalised by the echo
    assert matcher.take({"Body": "z", "Ext__c": "2"}) == "b"
    assert matcher.take({"Body": "z", "Ext__c": "2"}) is None  # each key once


def test_a_normalised_echo_is_never_handed_the_key_of_another_parents_row():
    # Review F3: A's body echoed with LF instead of CRLF used to match B (same body, another Case) by the body
    # alone: B's comment was recorded as loaded (lost) and A's sent again (a duplicate).
    items = [("a", {"ParentId": "500A", "CommentBody": "line1\r\nline2"}),
             ("b", {"ParentId": "500B", "CommentBody": "line1\nline2"})]
    matcher = RowMatcher("insert", items, ["ParentId", "CommentBody"], "CommentBody")
    assert matcher.take({"ParentId": "500A", "CommentBody": "line1\nline2"}) == "a"
    assert matcher.take({"ParentId": "500B", "CommentBody": "line1\nline2"}) == "b"
    emails = RowMatcher("insert", [("k1", {"LastName": "A", "Email": "Ann@X.org"}),
                                   ("k2", {"LastName": "B", "Email": "ann@x.org"})], ["LastName", "Email"], "Email")
    assert emails.take({"LastName": "A", "Email": "ann@x.org"}) == "k1"  # case-folded echo, its own row
    assert emails.take({"LastName": "B", "Email": "ann@x.org"}) == "k2"
    odd = RowMatcher("insert", [("c", {"ParentId": "500C", "CommentBody": "hi"})], ["ParentId", "CommentBody"],
                     "CommentBody")
    assert odd.take({"ParentId": "500D", "CommentBody": "hi"}) is None  # another parent: unknown, not guessed


# -- Tooling ids of custom objects ------------------------------------------------------------------------


def test_a_custom_objects_fields_are_found_by_the_objects_id_in_tooling(harness):
    h = harness()
    svc = h.conn.svc
    from helpdesk_migrate.plugins.salesforce.schema import plan_fields

    specs = [s for s in plan_fields(h.conn.cfg, knowledge=True) if s.object == "Knowledge__kav"]
    svc.schema.ensure(specs, what="articles")
    name = specs[0].name
    by_name = h.conn.client.tooling_query(f"SELECT Id FROM CustomField WHERE TableEnumOrId = 'Knowledge__kav' AND "
                                          f"DeveloperName = '{name[:-3]}'")
    assert by_name == []  # as in a real org: a custom object is named by its Id there
    table = svc.schema.table_id("Knowledge__kav")
    assert table.startswith("01I")
    fid = svc.schema.custom_field_id("Knowledge__kav", name)
    assert fid and h.emu.org.records["CustomField"][fid]["TableEnumOrId"] == table
    assert svc.schema.table_id("Case") == "Case" and svc.schema.table_id("Task") == "Activity"


def test_preflight_reads_tooling_rules_of_a_custom_object_by_its_id(harness):
    from helpdesk_migrate.plugins.salesforce.emulator.seed import _Seeder
    from helpdesk_migrate.plugins.salesforce.emulator.tooling import table_enum_or_id

    h = harness()
    table = table_enum_or_id(h.emu.org, "Knowledge__kav")
    _Seeder(h.emu.org).put("ApexTrigger", {"Name": "ArticleTrigger", "TableEnumOrId": table, "Status": "Active",
                                           "UsageBeforeInsert": True, "UsageAfterInsert": False})
    found = [i for i in h.conn.preflight(context=h.context()).items if i["name"] == "ArticleTrigger"]
    assert [(i["kind"], i["object"]) for i in found] == [("apex_trigger", "Knowledge__kav")]


# -- the API user without userinfo -------------------------------------------------------------------------


def test_a_token_without_userinfo_finds_its_user_through_the_identity_url(emulator, home):
    emu = emulator(profile="no-userinfo")
    c = emu.credentials
    env = {"SALESFORCE_CONSUMER_KEY": c["consumer_key"], "SALESFORCE_CONSUMER_SECRET": c["consumer_secret"],
           "SALESFORCE_DOMAIN": "acme.my"}
    conn = SalesforceDestination().connect(env, session=login_session(emu, "acme.my.salesforce.com"))
    try:
        assert conn.client.user_id() == emu.admin_id
        paths = [p for _, p, _ in emu.request_log]
        assert any(p.startswith("/services/oauth2/userinfo") for p in paths)
        assert not any("chatter" in p for p in paths)  # the identity URL was enough
    finally:
        conn.close()


def test_a_session_without_userinfo_finds_its_user_through_chatter(emulator, home):
    emu = emulator(profile="no-userinfo")
    userinfo = requests.get(f"{emu.url}/services/oauth2/userinfo",
                            headers={"Authorization": f"Bearer {emu.session_id}"}, timeout=10)
    assert userinfo.status_code == 403
    identity = requests.get(f"{emu.url}/id/{emu.org.org_id}/{emu.admin_id}",
                            headers={"Authorization": f"Bearer {emu.session_id}"}, timeout=10)
    assert identity.json()["user_id"] == emu.admin_id
    conn = SalesforceDestination().connect(emu.env())
    try:
        assert conn.client.user_id() == emu.admin_id
        assert any("chatter/users/me" in p for _, p, _ in emu.request_log)
    finally:
        conn.close()


# -- email threads recognised by their channel ---------------------------------------------------------------


def test_messages_of_an_email_conversation_are_emails_even_when_they_say_text(harness):
    h, data = base_loaded(harness, conversations=False)
    h.store.stage(SOURCE, "messages", data["messages"], "staged")
    h.conn.preflight(context=h.context())  # looks at the channels before any conversation is staged
    h.load("conversations", data["conversations"])
    channel = {c["id"]: c["channel_type"] for c in data["conversations"]}
    email_conv = next(c for c, t in channel.items() if t == "email")
    chat_conv = next(c for c, t in channel.items() if t != "email")
    msgs = [m for m in data["messages"] if m["conversation_id"] in (email_conv, chat_conv)]
    for m in msgs:
        if m["kind"] != "note" and m.get("body_type") not in ("call_log", "call"):
            m.update(body_type="text", body_html=None, body_text=m.get("body_text") or "plain text")
    out = h.load("messages", msgs)
    for m in msgs:
        got = out[m["id"]].destination_object
        if m["kind"] == "note":
            assert got == "CaseComment"
        elif m["conversation_id"] == email_conv:
            assert got == "EmailMessage", m
        else:
            assert got == "CaseComment", m
    assert any(m["conversation_id"] == email_conv and m["kind"] != "note" for m in msgs)
    sent = [r for r in h.emu.dump("EmailMessage") if r.get("Trengo_Id__c") in {m["id"] for m in msgs}]
    assert sent and all(r["TextBody"] and not r.get("HtmlBody") for r in sent)


def test_preflight_fingerprint_does_not_move_with_the_number_of_staged_emails(harness):
    h, data = base_loaded(harness)
    h.store.stage(SOURCE, "messages", data["messages"][:2], "one")
    first = h.conn.preflight(context=h.context())
    h.reconnect()
    h.store.stage(SOURCE, "messages", data["messages"], "two")
    second = h.conn.preflight(context=h.context())
    details = [i["detail"] for p in (first, second) for i in p.items if i["kind"] == "side_effect"]
    assert len(details) == 2 and details[0] != details[1]
    assert first.fingerprint == second.fingerprint
    assert json.dumps(first.items)  # JSON-safe
