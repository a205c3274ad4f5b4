"""The emulator against simple-salesforce's real calls over real HTTP (no mocks)."""

from __future__ import annotations

import csv
import io

import pytest
import requests
from simple_salesforce import Salesforce, format_external_id
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from helpdesk_migrate.plugins.salesforce.client import ApiMeter, MeteredAdapter
from helpdesk_migrate.plugins.salesforce.emulator.org import ValidationRule, decode_valid_for, id18
from helpdesk_migrate.plugins.salesforce.emulator.seed import add_validation_rule


def client(emu, version="62.0") -> Salesforce:
    session = requests.Session()
    session.mount(f"https://127.0.0.1:{emu.port}/", MeteredAdapter(ApiMeter(), plain_http=True))
    return Salesforce(session_id=emu.session_id, instance_url=emu.url, session=session, version=version)


def add_field(sf, obj, name, meta):
    """Create a custom field through the Tooling API and grant it, as the plugin does."""
    sf.toolingexecute("sobjects/CustomField", method="POST", data={"FullName": f"{obj}.{name}", "Metadata": meta})
    user = sf.oauth2("userinfo")["user_id"]
    found = sf.query("SELECT Id FROM PermissionSet WHERE Name = 'T'")["records"]
    ps = found[0]["Id"] if found else sf.PermissionSet.create({"Name": "T", "Label": "T"})["id"]
    if not found:
        sf.PermissionSetAssignment.create({"AssigneeId": user, "PermissionSetId": ps})
    sf.FieldPermissions.create({"ParentId": ps, "SobjectType": obj, "Field": f"{obj}.{name}", "PermissionsRead": True,
                                "PermissionsEdit": True})


EXT = {"label": "Ext", "type": "Text", "length": 255, "externalId": True, "unique": True}


def test_ids_are_18_characters_with_a_valid_checksum(emulator):
    emu = emulator()
    sf = client(emu)
    rid = sf.Contact.create({"LastName": "Checksum"})["id"]
    assert len(rid) == 18 and rid.startswith("003") and id18(rid[:15]) == rid
    assert sf.Contact.get(rid[:15])["Id"] == rid  # the 15-character form works too


def test_crud_and_single_record_errors_match_the_reference(emulator):
    sf = client(emulator())
    created = sf.Contact.create({"LastName": "Doe", "Email": "jane.doe@example.org"})
    assert created["success"] and created["errors"] == []
    assert sf.Contact.update(created["id"], {"FirstName": "Jane"}) == 204
    assert sf.Contact.get(created["id"])["Name"] == "Jane Doe"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"FirstName": "no last name"})
    assert exc.value.content == [{"message": "Required fields are missing: [LastName]",
                                  "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["LastName"]}]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "x", "Email": "not-an-email"})
    assert exc.value.content[0]["errorCode"] == "INVALID_EMAIL_ADDRESS"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "x" * 81})
    assert exc.value.content[0]["errorCode"] == "STRING_TOO_LONG"
    assert "(max length=80)" in exc.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "x", "Nope__c": 1})
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Case.create({"Status": "Bogus"})
    assert exc.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sf.Contact.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get(created["id"])


def test_duplicate_rule_refuses_a_second_contact_with_the_same_email(emulator):
    sf = client(emulator())
    sf.Contact.create({"LastName": "One", "Email": "same@example.org"})
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Two", "Email": "SAME@example.org"})
    error = exc.value.content[0]
    assert error["errorCode"] == "DUPLICATES_DETECTED"
    assert error["duplicateResult"]["matchResults"][0]["matchRecords"][0]["record"]["Id"].startswith("003")


def test_upsert_by_external_id_answers_201_200_and_300(emulator):
    emu = emulator()
    sf = client(emu)
    add_field(sf, "Contact", "Ext__c", EXT)
    key = format_external_id("Ext__c", "a/b 1")
    assert sf.Contact.upsert(key, {"LastName": "First"}) == 201
    assert sf.Contact.upsert(key, {"LastName": "Second"}) == 200
    assert sf.Contact.get_by_custom_id("Ext__c", "a/b 1")["LastName"] == "Second"
    raw = sf.Contact.upsert(format_external_id("Ext__c", "k2"), {"LastName": "x"}, raw_response=True)
    assert raw.status_code == 201 and raw.json()["created"] is True
    with pytest.raises(SalesforceMalformedRequest):  # the key may not also sit in the body
        sf.Contact.upsert(format_external_id("Ext__c", "k3"), {"LastName": "x", "Ext__c": "k3"})
    # A non-unique external id matching two records: 300 Multiple Choices.
    add_field(sf, "Contact", "Loose__c", {"label": "Loose", "type": "Text", "length": 20, "externalId": True})
    sf.Contact.create({"LastName": "a", "Loose__c": "dup"})
    sf.Contact.create({"LastName": "b", "Loose__c": "dup"})
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Contact.upsert("Loose__c/dup", {"LastName": "c"})


def test_query_escaping_paging_and_count(emulator):
    emu = emulator(size=10)
    sf = client(emu)
    for i in range(450):
        sf.Contact.create({"LastName": f"Page{i:03d}", "FirstName": "O'Brien" if i == 7 else None})
    first = sf.query("SELECT Id, LastName FROM Contact WHERE LastName LIKE 'Page%'",
                     headers={"Sforce-Query-Options": "batchSize=200"})
    assert first["totalSize"] == 450 and not first["done"] and first["nextRecordsUrl"].endswith("-200")
    assert len(list(sf.query_all_iter("SELECT Id FROM Contact WHERE LastName LIKE 'Page%'",
                                      headers={"Sforce-Query-Options": "batchSize=200"}))) == 450
    assert sf.query("SELECT COUNT() FROM Contact WHERE FirstName = 'O\\'Brien'")["totalSize"] == 1
    ids = [r["Id"] for r in first["records"][:3]]
    found = sf.query(f"SELECT Id FROM Contact WHERE Id IN ('{ids[0]}', '{ids[1]}') AND LastName != null LIMIT 1")
    assert found["totalSize"] == 1
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM Contact WHERE LastName = 'unterminated")
    assert exc.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Nope FROM Contact")
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD"
    long_in = "(" + ",".join(f"'{i:020d}'" for i in range(800)) + ")"
    with pytest.raises(SalesforceGeneralError) as exc:  # the URL limit: 414
        sf.query(f"SELECT Id FROM Contact WHERE LastName IN {long_in}")
    assert exc.value.status == 414


def test_describe_carries_field_metadata_picklists_and_valid_for(emulator):
    sf = client(emulator())
    fields = {f["name"]: f for f in sf.Case.describe()["fields"]}
    assert fields["Status"]["restrictedPicklist"] and "Closed" in [v["value"] for v in fields["Status"]["picklistValues"]]
    assert fields["OwnerId"]["referenceTo"] == ["User", "Group"]
    reason = fields["Reason"]
    assert reason["dependentPicklist"] and reason["controllerName"] == "Type"
    types = [v["value"] for v in fields["Type"]["picklistValues"]]
    valid = {v["value"]: {types[i] for i in decode_valid_for(v["validFor"])} for v in reason["picklistValues"]}
    assert valid["Breakdown"] == {"Problem"}
    assert not fields["CaseNumber"]["createable"]
    names = [o["name"] for o in sf.describe()["sobjects"]]
    assert "Knowledge__kav" in names and "CustomField" not in names


def test_audit_fields_on_insert_only_behind_the_permission(emulator):
    emu = emulator()
    sf = client(emu)
    fields = {f["name"]: f for f in sf.Case.describe()["fields"]}
    assert fields["CreatedDate"]["createable"] and not fields["CreatedDate"]["updateable"]
    rid = sf.Case.create({"Subject": "old", "CreatedDate": "2020-01-02T03:04:05+00:00"})["id"]
    assert sf.Case.get(rid)["CreatedDate"] == "2020-01-02T03:04:05.000+0000"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Case.update(rid, {"CreatedDate": "2021-01-01T00:00:00Z"})
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    emu.set_permission("PermissionsCreateAuditFields", False)
    assert not {f["name"]: f for f in sf.Case.describe()["fields"]}["CreatedDate"]["createable"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Case.create({"Subject": "x", "CreatedDate": "2020-01-02T03:04:05Z"})
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_email_message_is_read_only_after_insert(emulator):
    sf = client(emulator())
    case = sf.Case.create({"Subject": "mail"})["id"]
    sent = sf.EmailMessage.create({"ParentId": case, "Status": "3", "Subject": "hi", "TextBody": "body"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.EmailMessage.update(sent, {"Subject": "changed"})
    assert exc.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    assert sf.EmailMessage.update(sent, {"IsExternallyVisible": True}) == 204
    draft = sf.EmailMessage.create({"ParentId": case, "Status": "5", "Subject": "draft"})["id"]
    assert sf.EmailMessage.update(draft, {"Subject": "edited"}) == 204


def test_validation_rule_and_inactive_owner_refusals(emulator):
    emu = emulator()
    add_validation_rule(emu.org, ValidationRule("Needs_Contact_Detail", "Contact", "Email or phone please",
                                                [("Email", "blank", None), ("Phone", "blank", None)], "Email"))
    sf = client(emu)
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Bare"})
    assert exc.value.content[0] == {"message": "Email or phone please", "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                    "fields": ["Email"]}
    inactive = sf.User.create({"Username": "gone@example.org", "Email": "gone@example.org", "LastName": "Gone",
                               "Alias": "gone", "IsActive": False})["id"]
    emu.set_permission("PermissionsUpdateWithInactiveOwner", False)
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Case.create({"Subject": "x", "OwnerId": inactive})
    assert exc.value.content[0]["errorCode"] == "INACTIVE_OWNER_OR_USER"


def test_collections_return_per_record_results_and_honour_all_or_none(emulator):
    emu = emulator()
    sf = client(emu)
    records = [{"attributes": {"type": "Contact"}, "LastName": "Ok"}, {"attributes": {"type": "Contact"}}]
    res = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    assert res[0]["success"] and not res[1]["success"]
    assert res[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    before = emu.counts()["Contact"]
    res = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    assert res[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert emu.counts()["Contact"] == before
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite/sobjects", method="POST",
                   json={"allOrNone": False, "records": [{"attributes": {"type": "Contact"}, "LastName": "x"}] * 201})
    assert exc.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
            {"attributes": {"type": "Contact"}, "LastName": "x"}, {"attributes": {"type": "Group"}, "Name": "g"}]})
    assert exc.value.content[0]["errorCode"] == "MIXED_DML_OPERATION"
    add_field(sf, "Contact", "Ext__c", EXT)
    up = sf.restful("composite/sobjects/Contact/Ext__c", method="PATCH", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Contact"}, "Ext__c": "u1", "LastName": "U"},
        {"attributes": {"type": "Contact"}, "Ext__c": "u2", "LastName": "V"},
        {"attributes": {"type": "Contact"}, "Ext__c": "u2", "LastName": "W"}]})
    assert up[0]["created"] is True and up[1]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    again = sf.restful("composite/sobjects/Contact/Ext__c", method="PATCH", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Contact"}, "Ext__c": "u1", "LastName": "U2"}]})
    assert again[0]["created"] is False
    gone = sf.restful("composite/sobjects", method="DELETE", params={"ids": f"{again[0]['id']},001000000000000AAA",
                                                                     "allOrNone": "false"})
    assert gone[0]["success"] and not gone[1]["success"]


def test_bulk2_ingest_lifecycle_with_csv_results(emulator):
    emu = emulator()
    sf = client(emu)
    add_field(sf, "Contact", "Ext__c", EXT)
    rows = [{"Ext__c": str(i), "LastName": f"B{i}", "Email": "bad" if i == 2 else f"b{i}@example.org"}
            for i in range(6)]
    result = sf.bulk2.Contact.upsert(records=rows, external_id_field="Ext__c", wait=0.01)
    assert result[0]["numberRecordsProcessed"] == 6 and result[0]["numberRecordsFailed"] == 1
    job = result[0]["job_id"]
    results = sf.bulk2.Contact.get_all_ingest_records(job)
    ok, failed = results["successfulRecords"], results["failedRecords"]
    unprocessed = results["unprocessedRecords"]
    assert len(ok) == 5 and {r["sf__Created"] for r in ok} == {"true"}
    assert failed[0]["sf__Error"].startswith("INVALID_EMAIL_ADDRESS:Email: invalid email address: bad:Email --")
    assert unprocessed == []
    again = sf.bulk2.Contact.upsert(records=rows[:2], external_id_field="Ext__c", wait=0.01)
    ok2 = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_successful_records(again[0]["job_id"]))))
    assert {r["sf__Created"] for r in ok2} == {"false"}
    assert sf.restful(f"jobs/ingest/{job}")["state"] == "JobComplete"


def test_bulk2_faults_unprocessed_rows_and_failed_jobs(emulator):
    emu = emulator(faults={"bulk_unprocessed": 2})
    sf = client(emu)
    from simple_salesforce.exceptions import SalesforceOperationError

    with pytest.raises(SalesforceOperationError):
        sf.bulk2.Contact.insert(records=[{"LastName": f"U{i}"} for i in range(5)], wait=0.01)
    job = [j for j in sf.restful("jobs/ingest")["records"]][-1]
    assert job["state"] == "Failed" and job["numberRecordsProcessed"] == 3
    unprocessed = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_unprocessed_records(job["id"]))))
    assert [r["LastName"] for r in unprocessed] == ["U3", "U4"]
    emu.faults.arm(bulk_job_fail="InvalidBatch : simulated")
    with pytest.raises(SalesforceOperationError, match="simulated"):
        sf.bulk2.Contact.insert(records=[{"LastName": "x"}], wait=0.01)


def test_limits_and_the_sforce_limit_info_header(emulator):
    emu = emulator(api_limit=50)
    sf = client(emu)
    sf.query("SELECT COUNT() FROM Contact")
    used = sf.api_usage["api-usage"]
    assert used.total == 50 and used.used == emu.api_calls
    assert sf.limits()["DailyApiRequests"]["Max"] == 50
    emu.faults.arm(daily_limit=emu.api_calls)
    with pytest.raises(SalesforceRefusedRequest) as exc:
        sf.query("SELECT COUNT() FROM Contact")
    assert exc.value.status == 403 and exc.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_tooling_custom_field_needs_field_permissions_before_it_is_visible(emulator):
    sf = client(emulator())
    res = sf.toolingexecute("sobjects/CustomField", method="POST", data={"FullName": "Case.Color__c", "Metadata": {
        "label": "Color", "type": "Picklist", "valueSet": {"restricted": True, "valueSetDefinition": {
            "value": [{"fullName": "Red", "default": False}]}}}})
    assert res["success"] and res["id"].startswith("00N")
    assert "Color__c" not in [f["name"] for f in sf.Case.describe()["fields"]]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.toolingexecute("sobjects/CustomField", method="POST", data={"FullName": "CaseComment.X__c",
                                                                       "Metadata": {"label": "X", "type": "Text",
                                                                                    "length": 5}})
    assert exc.value.content[0]["errorCode"] == "INVALID_TYPE"
    add_field(sf, "Case", "Size__c", {"label": "Size", "type": "Number", "precision": 18, "scale": 0})
    assert "Size__c" in [f["name"] for f in sf.Case.describe()["fields"]]
    rows = sf.toolingexecute("query/?q=SELECT+Id,DeveloperName+FROM+CustomField+WHERE+DeveloperName+=+'Color'")
    meta = sf.toolingexecute(f"sobjects/CustomField/{rows['records'][0]['Id']}")["Metadata"]
    meta["valueSet"]["valueSetDefinition"]["value"].append({"fullName": "Blue", "default": False})
    sf.toolingexecute(f"sobjects/CustomField/{rows['records'][0]['Id']}", method="PATCH", data={"Metadata": meta})


def test_switchable_faults_locks_5xx_expired_sessions(emulator):
    emu = emulator()
    sf = client(emu)
    emu.faults.update(lock_errors=1)
    res = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Contact"}, "LastName": "a"}, {"attributes": {"type": "Contact"}, "LastName": "b"}]})
    assert res[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW" and res[1]["success"]
    emu.faults.update(server_error_next=1)
    with pytest.raises(SalesforceGeneralError) as exc:
        sf.query("SELECT COUNT() FROM Contact")
    assert exc.value.status == 503
    sf.query("SELECT COUNT() FROM Contact")
    emu.faults.update(expired_auth_next=1)
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT COUNT() FROM Contact")


def test_state_inspection_counts_dump_snapshot_and_diff(emulator):
    emu = emulator()
    sf = client(emu)
    before = emu.snapshot()
    rid = sf.Case.create({"Subject": "new"})["id"]
    existing = next(c["Id"] for c in emu.dump("Contact"))
    sf.Contact.update(existing, {"Title": "Changed"})
    diff = emu.diff(before)
    assert diff["Case"]["created"] == [rid] and diff["Contact"]["changed"] == [existing]
    assert emu.counts()["Case"] == len(before["Case"]) + 1
    state = requests.get(f"{emu.url}/_emulator/counts").json()
    assert state["counts"]["Case"] == emu.counts()["Case"]


def test_seeded_org_is_deterministic(emulator):
    a, b = emulator(seed=9, size=30), emulator(seed=9, size=30)
    assert a.dump("Contact") == b.dump("Contact") and a.counts() == b.counts()
    assert emulator(seed=10, size=30).dump("Contact") != a.dump("Contact")


def test_login_with_password_and_client_credentials_through_the_emulator(emulator):
    from .sf_support import login_session

    emu = emulator()
    c = emu.credentials
    session = login_session(emu, "login.salesforce.com", "acme.my.salesforce.com")
    sf = Salesforce(username=c["username"], password=c["password"], security_token=c["security_token"],
                    session=session, version="62.0")
    session.mount(f"https://{sf.sf_instance}/", MeteredAdapter(ApiMeter(), plain_http=True))
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] >= 1
    session2 = login_session(emu, "acme.my.salesforce.com")
    sf2 = Salesforce(consumer_key=c["consumer_key"], consumer_secret=c["consumer_secret"], domain="acme.my",
                     session=session2, version="62.0")
    session2.mount(f"https://{sf2.sf_instance}/", MeteredAdapter(ApiMeter(), plain_http=True))
    assert sf2.query("SELECT COUNT() FROM User")["totalSize"] >= 1
