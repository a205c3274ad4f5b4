"""The Tidio emulator follows the reference's checklist: auth, versioning, pagination, rate limits,
contact batch rules, property types, tickets, reply bookkeeping, read-only fixtures and faults."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from helpdesk_migrate.plugins.tidio.emulator.server import TidioEmulator


@pytest.fixture
def emu():
    e = TidioEmulator(seed=5, size=12, rate_limit=600_000, page_size=5,
                      properties=[{"name": "shoe_size", "type": "number"}, {"name": "work_email", "type": "email"}])
    yield e
    e.stop()


def api(e: TidioEmulator, method: str, path: str, body=None, **params):
    headers = {"X-Tidio-Openapi-Client-Id": e.client_id, "X-Tidio-Openapi-Client-Secret": e.client_secret,
               "Accept": "application/json; version=1"}
    return requests.request(method, e.url + path, json=body, params=params or None, headers=headers, timeout=5)


def test_auth_and_version_headers_are_required(emu):
    assert requests.get(emu.url + "/operators", timeout=5).status_code == 401
    wrong = requests.get(emu.url + "/operators", timeout=5, headers={
        "X-Tidio-Openapi-Client-Id": emu.client_id, "X-Tidio-Openapi-Client-Secret": "cs_wrong",
        "Accept": "application/json; version=1"})
    assert wrong.status_code == 401 and wrong.json()["errors"][0]["code"] == "unauthorized"
    no_version = requests.get(emu.url + "/operators", timeout=5, headers={
        "X-Tidio-Openapi-Client-Id": emu.client_id, "X-Tidio-Openapi-Client-Secret": emu.client_secret})
    assert no_version.status_code == 406
    assert no_version.json() == {"errors": [{"code": "missing_api_version",
                                             "message": "Accept: application/json; version=1 is required"}]}
    assert emu.env()["TIDIO_CLIENT_ID"].startswith("ci_") and emu.env()["TIDIO_CLIENT_SECRET"].startswith("cs_")


def test_cursor_pagination_walks_everything_and_refuses_a_bad_cursor(emu):
    seen, cursor = [], None
    while True:
        body = api(emu, "GET", "/contacts", **({"cursor": cursor} if cursor else {})).json()
        assert body["meta"]["limit"] == 5 and len(body["contacts"]) <= 5
        seen += [c["id"] for c in body["contacts"]]
        cursor = body["meta"]["cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 12
    bad = api(emu, "GET", "/contacts", cursor="bm90LWEtY3Vyc29y")
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "invalid_cursor"
    assert api(emu, "GET", "/contacts", cursor="%%%").status_code == 400
    # Unpaginated shapes: departments without meta, tags and ticket fields as bare arrays.
    assert set(api(emu, "GET", "/departments").json()) == {"departments"}
    assert isinstance(api(emu, "GET", "/tickets/tags").json(), list)
    assert isinstance(api(emu, "GET", "/tickets/custom-fields").json(), list)


def test_rate_limit_answers_429_with_tidios_body_and_no_retry_after():
    e = TidioEmulator(seed=1, size=0, rate_limit=3)
    try:
        answers = [api(e, "GET", "/project") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["x-ratelimit-limit"] == "3"
        assert answers[3].json() == {"errors": [{"code": "too_many_requests",
                                                 "message": "You have reached the limit of allowed attempts"}]}
        assert "Retry-After" not in answers[3].headers
    finally:
        e.stop()
    plans = TidioEmulator(seed=1, size=0, plan="premium")
    try:
        assert plans.env()["TIDIO_RATE_LIMIT_PER_MINUTE"] == "120"
    finally:
        plans.stop()


def test_contact_create_always_inserts_and_batches_are_all_or_nothing(emu):
    before = emu.counts()["contacts"]
    one = {"distinct_id": "x:1", "email": "dup@example.org"}
    assert api(emu, "POST", "/contacts", one).status_code == 201
    assert api(emu, "POST", "/contacts", one).status_code == 201  # no dedup on email or distinct_id
    assert emu.counts()["contacts"] == before + 2
    assert api(emu, "POST", "/contacts", {"email": "a@example.org"}).status_code == 422  # distinct_id required
    assert api(emu, "POST", "/contacts", {"distinct_id": "x" * 56, "email": "a@example.org"}).status_code == 422
    assert api(emu, "POST", "/contacts", {"distinct_id": "x:2"}).status_code == 422  # no identity at all
    assert api(emu, "POST", "/contacts/batch", {"contacts": []}).status_code == 422
    too_many = [{"distinct_id": f"b:{n}", "email": f"b{n}@example.org"} for n in range(101)]
    assert api(emu, "POST", "/contacts/batch", {"contacts": too_many}).status_code == 422
    mixed = too_many[:3] + [{"distinct_id": "b:bad", "email": "nope"}]
    refused = api(emu, "POST", "/contacts/batch", {"contacts": mixed})
    assert refused.status_code == 422 and "contacts[3].email" in refused.json()["errors"][0]["message"]
    assert emu.counts()["contacts"] == before + 2  # nothing of the refused batch was saved
    ok = api(emu, "POST", "/contacts/batch", {"contacts": too_many[:100]})
    assert ok.status_code == 200
    assert [c["distinct_id"] for c in ok.json()["contacts"]] == [f"b:{n}" for n in range(100)]
    assert api(emu, "GET", "/contacts", email="b7@example.org").json()["contacts"][0]["distinct_id"] == "b:7"
    assert api(emu, "GET", "/contacts", email="B7@example.org").json()["contacts"] == []  # exact match


def test_property_types_are_enforced_and_values_come_back_as_strings(emu):
    cid = api(emu, "POST", "/contacts", {"distinct_id": "p:1", "first_name": "Pat"}).json()["id"]
    assert api(emu, "PATCH", f"/contacts/{cid}", {"properties": [{"name": "shoe_size", "value": "abc"}]}).status_code == 422
    assert api(emu, "PATCH", f"/contacts/{cid}", {"properties": [{"name": "nope", "value": "1"}]}).status_code == 422
    assert api(emu, "PATCH", f"/contacts/{cid}", {"properties": [{"name": "work_email", "value": "x"}]}).status_code == 422
    assert api(emu, "PATCH", f"/contacts/{cid}", {"properties": [{"name": "shoe_size", "value": 44}],
                                                  "phone": "+31 6 1111 2222"}).status_code == 204
    contact = api(emu, "GET", f"/contacts/{cid}").json()
    assert {"name": "shoe_size", "value": "44"} in contact["properties"] and contact["first_name"] == "Pat"
    assert api(emu, "PATCH", f"/contacts/{cid}", {"phone": None}).status_code == 204  # null clears
    assert api(emu, "GET", f"/contacts/{cid}").json()["phone"] is None
    batch = api(emu, "PATCH", "/contacts/batch", {"contacts": [{"id": cid, "first_name": "P"},
                                                               {"id": "nope", "first_name": "Q"}]})
    assert batch.status_code == 422 and api(emu, "GET", f"/contacts/{cid}").json()["first_name"] == "Pat"


def test_tickets_and_reply_bookkeeping(emu):
    op = next(o for o in emu.dump()["operators"] if o["role"] == "owner")
    ticket = api(emu, "POST", "/tickets/as-contact", {"contact_email": "new@example.org", "subject": "Hi",
                                                       "message_content": "Hello"})
    assert ticket.status_code == 201 and ticket.json()["id"] >= 10000
    tid = ticket.json()["id"]
    assert api(emu, "POST", "/tickets/as-contact", {"contact_email": "new@example.org"}).status_code == 422
    assert api(emu, "PATCH", f"/tickets/{tid}", {"status": "closed"}).status_code == 422
    assert api(emu, "PATCH", f"/tickets/{tid}", {"priority": "high"}).status_code == 422
    assert api(emu, "PATCH", f"/tickets/{tid}", {"status": "solved", "priority": "urgent",
                                                 "assigned": {"type": "operator", "id": op["id"]}}).status_code == 204
    note = api(emu, "POST", f"/tickets/{tid}/reply", {"author_type": "operator", "operator_id": op["id"],
                                                       "content": "internal", "message_type": "internal"})
    assert note.status_code == 201 and len(note.json()["id"]) == 26
    assert emu.emailed() == []
    unknown = api(emu, "POST", f"/tickets/{tid}/reply", {"author_type": "operator", "operator_id": "x",
                                                          "content": "hi", "message_type": "internal"})
    assert unknown.status_code == 422
    public = api(emu, "POST", f"/tickets/{tid}/reply", {"author_type": "operator", "operator_id": op["id"],
                                                         "content": "Dear customer", "message_type": "public"})
    assert public.status_code == 201
    assert [m["to"] for m in emu.emailed()] == ["new@example.org"]  # a public operator reply is an email
    got = api(emu, "GET", f"/tickets/{tid}").json()
    assert got["status"] == "solved" and got["assigned_operator_id"] == op["id"] and len(got["messages"]) == 3
    assert api(emu, "DELETE", f"/tickets/{tid}").status_code == 204
    assert api(emu, "GET", f"/tickets/{tid}").status_code == 404


def test_fixtures_are_read_only_and_bot_messages_are_recorded(emu):
    assert api(emu, "POST", "/operators", {"email": "x@example.org"}).status_code == 404
    assert api(emu, "POST", "/departments", {"name": "X"}).status_code == 404
    assert api(emu, "POST", "/tickets/tags", {"name": "X"}).status_code == 404
    assert api(emu, "POST", "/contact-properties", {"name": "x", "type": "text"}).status_code == 404
    cid = api(emu, "GET", "/contacts").json()["contacts"][0]["id"]
    assert api(emu, "POST", f"/contacts/{cid}/messages", {"message": "hi"}).status_code == 202
    assert emu.counts()["bot_messages"] == 1


def test_existing_records_become_fixtures_with_realistic_dirt():
    agents = [{"id": str(n), "email": f"agent{n}@example.com", "name": f"Agent {n}", "is_active": True}
              for n in range(6)]
    e = TidioEmulator(seed=2, size=0, existing={"agents": agents, "teams": [{"id": "t", "name": "Support"}],
                                                 "custom_fields": [{"id": "f", "name": "Size", "key": "size",
                                                                    "entity": "contact", "data_type": "number"}]})
    try:
        emails = [o["email"] for o in e.dump()["operators"]]
        assert "Agent1@example.com" in emails  # retyped by hand: a case difference to match through
        assert any(o["name"] is None for o in e.dump()["operators"])
        assert {"name": "size", "label": "Size", "type": "number"} in e.dump()["properties"]
        assert {d["name"] for d in e.dump()["departments"]} >= {"General", "Support"}
        assert {a["email"] for a in e.seed_records("agents")} >= {a["email"] for a in agents}
    finally:
        e.stop()


def test_switchable_faults(emu):
    emu.set_faults(server_error_next=1)
    assert api(emu, "GET", "/project").status_code == 503
    assert api(emu, "GET", "/project").status_code == 200
    emu.set_faults(rate_limit_next=1, fault_path="/contacts")
    assert api(emu, "GET", "/project").status_code == 200
    assert api(emu, "GET", "/contacts").status_code == 429
    before = emu.counts()["contacts"]
    emu.set_faults(lose_response_next=1, fault_path="/contacts")
    lost = api(emu, "POST", "/contacts", {"distinct_id": "l:1", "email": "lost@example.org"})
    assert lost.status_code == 502 and emu.counts()["contacts"] == before + 1  # saved, answer lost
    over_http = requests.post(emu.url + "/_emulator/faults", json={"server_error_every": 2}, timeout=5)
    assert over_http.json()["switches"]["server_error_every"] == 2 and "reset_mid_body_rate" in over_http.json()["vocabulary"]
    assert requests.post(emu.url + "/_emulator/faults", json={"nope": 1}, timeout=5).status_code == 400
    snapshot = emu.snapshot()
    emu.set_faults(server_error_every=0, fault_path=None)
    api(emu, "POST", "/contacts", {"distinct_id": "l:2", "email": "new2@example.org"})
    assert len(emu.diff(snapshot, emu.snapshot())["contacts"]["created"]) == 1


def test_module_runs_standalone_and_prints_its_environment():
    proc = subprocess.Popen([sys.executable, "-m", "helpdesk_migrate.plugins.tidio.emulator.server", "--port", "0", "--seed", "4",
                             "--size", "3"], stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline().strip() for _ in range(4)]
        env = dict(line.split("=", 1) for line in lines)
        assert env["TIDIO_BASE_URL"].startswith("http://127.0.0.1:")
        assert env["TIDIO_RATE_LIMIT_PER_MINUTE"] == "60"
    finally:
        proc.terminate()
        proc.wait(timeout=60)  # SIGTERM stops it (a loaded machine may take a while to get there)


def _profiled(profile: str) -> TidioEmulator:
    return TidioEmulator(seed=6, size=0, rate_limit=600_000, profile=profile)


def test_profiles_serve_the_recorded_variants():
    batch = {"contacts": [{"distinct_id": f"d{n}", "email": f"p{n}@example.org"} for n in range(8)]}
    plain, varied = _profiled("default"), _profiled("batch-ids-only,batch-201,subject-limit,ticket-without-tags")
    try:
        full = api(plain, "POST", "/contacts/batch", batch)
        assert full.status_code == 200 and [c["distinct_id"] for c in full.json()["contacts"]] == \
            [f"d{n}" for n in range(8)]
        short = api(varied, "POST", "/contacts/batch", batch)
        rows = short.json()["contacts"]
        assert short.status_code == 201 and all("distinct_id" not in r for r in rows)
        assert set(rows[0]) == {"id", "email", "messenger_id", "instagram_id"}  # W6W's fixture
        assert sorted(r["email"] for r in rows) == sorted(c["email"] for c in batch["contacts"])
        assert [r["email"] for r in rows] != [c["email"] for c in batch["contacts"]]  # order not promised
        for e in (plain, varied):
            created = api(e, "POST", "/tickets/as-contact", {"contact_email": "p1@example.org", "subject": "s" * 300,
                                                            "message_content": "hi"}).json()
            ticket = api(e, "GET", f"/tickets/{created['id']}").json()
            if e is plain:
                assert len(ticket["subject"]) == 300 and "tag_ids" in ticket
            else:
                assert len(ticket["subject"]) == 255
                assert "tag_ids" not in ticket and "custom_fields" not in ticket  # the documented shape
    finally:
        plain.stop()
        varied.stop()


def test_email_addresses_must_be_ascii(emu):
    refused = api(emu, "POST", "/contacts", {"distinct_id": "x1", "email": "jan@bücher.de"})
    assert refused.status_code == 422
    assert api(emu, "POST", "/contacts", {"distinct_id": "x2", "email": "jan@xn--bcher-kva.de"}).status_code == 201
