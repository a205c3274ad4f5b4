"""jsforce (https://jsforce.github.io), a Salesforce client nobody on this project wrote, against the emulator.

tests/peer/jsforce_driver.js runs every call once (describe, CRUD, SOQL with relationships, sObject Collections,
composite, Bulk API 2.0 ingest and query) and prints what jsforce returned; each test below checks one area
against Salesforce's documentation, cited next to the assertion. jsforce uploads Bulk 2.0 CSV by piping a
stream into the request, i.e. with ``Transfer-Encoding: chunked``: the emulator must read such bodies.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from .peer_support import PEER_DIR, require_node_package

API = "62.0"


@pytest.fixture(scope="module")
def run():
    """The emulator (prepared schema: Contact.Trengo_Id__c is an external id) and jsforce's observations."""
    require_node_package("jsforce")
    from helpdesk_migrate.plugins.salesforce.emulator.server import start_emulator

    # size 600: more than 200 Contacts, so a batchSize=200 query has a second page
    emu = start_emulator(seed=5, size=600, schema="prepared")
    try:
        env = {**os.environ, "SF_INSTANCE_URL": emu.url, "SF_SESSION_ID": emu.session_id,
               "SF_USERNAME": emu.credentials["username"],
               "SF_PASSWORD": emu.credentials["password"] + emu.credentials["security_token"],
               "SF_API_VERSION": API}
        proc = subprocess.run(["node", str(PEER_DIR / "jsforce_driver.js")], env=env, capture_output=True, text=True,
                              timeout=180, check=False)
        assert proc.returncode == 0, proc.stderr[-4000:]
        seen = json.loads(proc.stdout)
        assert "fatal" not in seen, seen["fatal"]
        yield emu, seen
    finally:
        emu.stop()


def ok(seen: dict, step: str):
    value = seen[step]
    assert not (isinstance(value, dict) and "error" in value), f"{step}: {value}"
    return value


def error(seen: dict, step: str) -> dict:
    value = seen[step]
    assert isinstance(value, dict) and "error" in value, f"{step} should have failed: {value}"
    return value["error"]


def test_soap_login_gives_a_working_session(run):
    # Partner WSDL LoginResult: serverUrl, sessionId, userId and userInfo.organizationId (jsforce needs all four)
    emu, seen = run
    login = ok(seen, "soap_login")
    assert login["userId"] == emu.admin_id and login["organizationId"] == emu.org.org_id and login["hasToken"]
    assert login["instanceUrl"] == emu.url  # the server it gave is the one that answers
    assert login["username"] == emu.credentials["username"]
    assert "INVALID_LOGIN" in error(seen, "soap_login_bad_password")["message"]


def test_describe(run):
    _, seen = run
    # describeGlobal: encoding, maxBatchSize 200, sobjects with urls (resources_describeGlobal.htm)
    g = ok(seen, "describe_global")
    assert g["encoding"] == "UTF-8" and g["maxBatchSize"] == 200
    assert {"Account", "Contact", "Case", "User"} <= set(g["names"])
    assert g["contact"]["keyPrefix"] == "003" and g["contact"]["urls"]["describe"].endswith("/Contact/describe")
    d = ok(seen, "describe_contact")
    assert d["name"] == "Contact" and d["keyPrefix"] == "003"
    assert d["accountId"]["type"] == "reference" and d["accountId"]["referenceTo"] == ["Account"]
    assert d["accountId"]["relationshipName"] == "Account"
    assert d["lastName"]["nillable"] is False and d["id"]["type"] == "id"
    # 404 NOT_FOUND for an unknown sObject (errorcodes.htm)
    assert error(seen, "describe_unknown")["errorCode"] == "NOT_FOUND"


def test_crud(run):
    emu, seen = run
    # create: 201 {id, success: true, errors: []} (dome_sobject_create.htm)
    created = ok(seen, "create_contact")
    assert created["success"] is True and created["errors"] == [] and created["id"].startswith("003")
    assert len(created["id"]) == 18
    assert error(seen, "create_contact_missing_required")["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert error(seen, "create_contact_missing_required")["data"]["fields"] == ["LastName"]
    assert error(seen, "create_contact_unknown_field")["errorCode"] == "INVALID_FIELD"
    got = ok(seen, "retrieve_contact")
    assert got["attributes"] == {"type": "Contact", "url": f"/services/data/v{API}/sobjects/Contact/{created['id']}"}
    assert got["FirstName"] == "Ada" and got["AccountId"] == seen["create_account"]["id"]
    # update (PATCH, 204; jsforce reports success) and null by JSON null
    assert ok(seen, "update_contact")["success"] is True and seen["retrieve_after_update"] == "Countess"
    assert ok(seen, "update_null")["success"] is True and seen["retrieve_after_null"] is None
    # a deleted record is NOT_FOUND
    assert error(seen, "retrieve_deleted")["errorCode"] == "NOT_FOUND"
    assert emu.org.records["Contact"][created["id"]]["Title"] is None


def test_soql_relationships_and_paging(run):
    _, seen = run
    # child-to-parent: the parent is an object with its own attributes (type and url), not the field's
    # (sforce_api_calls_soql_relationships_query_using.htm)
    rec = ok(seen, "query_child_to_parent")["records"][0]
    account_id = seen["create_account"]["id"]
    assert rec["Account"]["attributes"] == {"type": "Account",
                                            "url": f"/services/data/v{API}/sobjects/Account/{account_id}"}
    assert rec["Account"]["Name"].endswith(" Account")
    # COUNT(): totalSize is the count, records is empty (resources_query.htm)
    count = ok(seen, "query_count")
    assert count["records"] == [] and count["totalSize"] >= 1
    assert error(seen, "query_bad")["errorCode"] == "INVALID_FIELD"
    # Sforce-Query-Options batchSize=200: a first page of 200 with nextRecordsUrl; jsforce's autoFetch follows it
    paged = ok(seen, "query_paged")
    assert paged["firstPage"] == 200 and paged["done"] is False and paged["nextRecordsUrl"]
    assert paged["fetched"] == paged["distinct"] == paged["totalSize"] > 200


@pytest.mark.xfail(reason="the emulator's SOQL has no parent-to-child subqueries yet (MALFORMED_QUERY)", strict=True)
def test_soql_parent_to_child(run):
    _, seen = run
    rec = ok(seen, "query_parent_to_child")["records"][0]
    assert rec["Contacts"]["totalSize"] >= 1 and rec["Contacts"]["records"][0]["LastName"]


def test_sobject_collections(run):
    emu, seen = run
    # create: 200 with per-record results in request order, failures included (allOrNone false)
    # (resources_composite_sobjects_collections_create.htm)
    created = ok(seen, "collections_create")
    assert [r["success"] for r in created] == [True, False, True]
    assert created[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING" and created[1]["errors"][0]["fields"] == [
        "Name"]
    # allOrNone: the valid record is rolled back too, with ALL_OR_NONE_OPERATION_ROLLED_BACK
    aon = ok(seen, "collections_create_all_or_none")
    assert [r["success"] for r in aon] == [False, False]
    assert aon[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert ok(seen, "collections_all_or_none_left")["totalSize"] == 0
    # retrieve by POST {ids, fields} (resources_composite_sobjects_collections_retrieve.htm)
    made = [r["id"] for r in created if r["success"]]
    assert [r["Id"] for r in ok(seen, "collections_retrieve")] == made
    # update: jsforce names the id "id"; field names are case-insensitive
    assert all(r["success"] for r in ok(seen, "collections_update"))
    assert [r["Website"] for r in ok(seen, "collections_after_update")["records"]] == ["updated.example"] * 2
    # upsert by external id: created true, then false for the same key (collections_upsert.htm)
    first, again = ok(seen, "collections_upsert"), ok(seen, "collections_upsert_again")
    assert [r["created"] for r in first] == [True, True]
    assert again[0]["created"] is False and again[0]["id"] == first[0]["id"]
    assert all(r["success"] for r in ok(seen, "collections_destroy"))
    assert not any(rid in emu.org.records["Account"] for rid in made)


def test_composite(run):
    emu, seen = run
    # always 200; compositeResponse in order; @{ref.id} resolved; Location on creates (resources_composite_composite)
    parts = ok(seen, "composite")["compositeResponse"]
    assert [p["httpStatusCode"] for p in parts] == [201, 201, 200]
    assert parts[0]["httpHeaders"]["Location"].endswith(parts[0]["body"]["id"])
    assert parts[2]["body"]["AccountId"] == parts[0]["body"]["id"]
    # allOrNone with one failure: every subrequest answers 400, the rolled-back one PROCESSING_HALTED, with no
    # Location for a record that no longer exists
    halted = ok(seen, "composite_all_or_none_failure")["compositeResponse"]
    assert [p["httpStatusCode"] for p in halted] == [400, 400]
    assert halted[0]["body"][0]["errorCode"] == "PROCESSING_HALTED" and halted[0]["httpHeaders"] == {}
    assert halted[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert ok(seen, "composite_halted_left")["totalSize"] == 0


def test_bulk2_ingest_from_a_chunked_upload(run):
    emu, seen = run
    # Results: sf__Id, sf__Created then the uploaded columns; failures sf__Id, sf__Error "CODE:message:fields --"
    # (get_job_successful_results.htm, get_job_failed_results.htm). CSV quoting survives the round trip.
    res = ok(seen, "bulk2_insert_csv")
    # "The order of records in the response is not guaranteed" (get-job-successful-results): match by content.
    by_name = {r["Name"].rsplit(" ", 2)[-2] + " " + r["Name"].rsplit(" ", 1)[-1]: r for r in res["successfulResults"]}
    assert sorted(by_name) == ["Bulk 1", "Bulk 2"]
    assert by_name["Bulk 1"]["Website"] == 'has "quotes", and a comma'
    assert all(r["sf__Created"] == "true" and r["sf__Id"].startswith("001") for r in res["successfulResults"])
    assert res["failedResults"][0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING:")
    assert res["unprocessedRecords"] == []
    for r in res["successfulResults"]:  # really in the org, not only reported
        assert emu.org.records["Account"][r["sf__Id"]]["Name"] == r["Name"]
    recs = ok(seen, "bulk2_insert_records")["successfulResults"]
    assert len(recs) == 1 and recs[0]["sf__Id"] in emu.org.records["Contact"]
    # "#N/A" sets a field to null (datafiles_prepare_csv.htm); jsforce writes it for null values
    upd = ok(seen, "bulk2_update_null")["successfulResults"]
    assert upd[0]["sf__Created"] == "false" and upd[0]["Email"] == "#N/A"
    after = ok(seen, "bulk2_after_update")
    assert after["Email"] is None and after["Title"] == "Set by bulk"
    up = ok(seen, "bulk2_upsert")["successfulResults"]
    assert [r["sf__Created"] for r in up] == ["false", "true"]
    assert up[0]["sf__Id"] == seen["collections_upsert"][0]["id"]


def test_bulk2_ingest_job_info(run):
    emu, seen = run
    # create_job.htm: Open, the documented properties, createdById the caller; then JobComplete with counts
    info = ok(seen, "bulk2_job_info")
    opened, final = info["opened"], info["info"]
    assert opened["state"] == "Open" and opened["object"] == "Account" and opened["operation"] == "insert"
    assert opened["createdById"] == emu.admin_id and opened["contentType"] == "CSV"
    assert opened["columnDelimiter"] == "COMMA" and opened["lineEnding"] == "LF" and opened["apiVersion"] == 62
    assert final["state"] == "JobComplete" and final["numberRecordsProcessed"] == 1 and final["numberRecordsFailed"] == 0
    # an unknown column fails the whole job (InvalidBatch), which jsforce reports
    assert "InvalidBatch" in error(seen, "bulk2_unknown_field")["message"]


def test_bulk2_query(run):
    emu, seen = run
    rows = ok(seen, "bulk2_query")
    assert [r["Name"].rsplit(" ", 2)[-2:] for r in rows] == [["Bulk", "1"], ["Bulk", "2"]]
    assert rows[0]["Website"] == 'has "quotes", and a comma'
    # relationship fields are dotted columns in the CSV: Account.Name (query results, Bulk API 2.0)
    rel = ok(seen, "bulk2_query_relationship")
    assert rel == [{"Id": seen["create_contact"]["id"], "LastName": rel[0]["LastName"],
                    "Account.Name": seen["retrieve_contact"]["LastName"].replace("Lovelace", "Account")}]
    assert ok(seen, "bulk2_query_many") == len(emu.org.records["Contact"])
    # query_create_job.htm: the documented job properties, object from the query; delete_job_query.htm: a job
    # deletes only once finished, answers 204, and is gone after
    job = ok(seen, "bulk2_query_job")
    created = job["created"]
    assert created["state"] == "UploadComplete" and created["object"] == "Account"
    assert created["createdById"] == emu.admin_id
    assert {"concurrencyMode", "contentType", "apiVersion", "lineEnding", "columnDelimiter"} <= set(created)
    assert job["early"]["error"]["errorCode"] == "INVALIDJOBSTATE"
    assert job["finished"]["state"] == "JobComplete" and job["finished"]["jobType"] == "V2Query"
    assert job["deleted"] in (None, "")
    assert job["after"]["error"]["errorCode"] == "NOT_FOUND"
    assert error(seen, "bulk2_query_bad")["errorCode"] == "INVALID_FIELD"


def test_limits(run):
    _, seen = run
    limits = ok(seen, "limits")
    assert limits["DailyApiRequests"]["Max"] >= limits["DailyApiRequests"]["Remaining"] > 0
