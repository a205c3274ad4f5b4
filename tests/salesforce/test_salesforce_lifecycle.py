"""Re-runs, crashes, faults, budgets, Bulk vs Collections, pre-flight, rollback and configuration."""

from __future__ import annotations

import itertools
import json
import time

import pytest
import requests

from helpdesk_migrate.plugins.salesforce.client import MeteredAdapter, mount_instance
from helpdesk_migrate.plugins.salesforce.emulator.org import ValidationRule
from helpdesk_migrate.plugins.salesforce.plugin import SalesforceDestination
from helpdesk_migrate.plugins.salesforce.settings import SalesforceConfig
from migration_assets.hookspecs import ConfigurationError
from migration_assets.registry import emulator_for
from migration_assets.store import MigrationStore

from .sf_support import SOURCE, Harness, login_session, workspace

ORDER = ["agents", "teams", "channels", "tags", "contacts", "conversations", "messages"]


def existing_for(data):
    return {"agents": data["agents"], "teams": data["teams"], "tags": data["tags"]}


def ours(emu, obj):
    return [r for r in emu.dump(obj) if r.get("Trengo_Id__c")]


def test_a_rerun_creates_zero_records_and_changes_nothing(harness):
    data = workspace()
    h = harness(existing=existing_for(data))
    h.load_all(data, ORDER)
    before = h.emu.snapshot()
    again = h.load_all(data, ORDER)
    assert not [o for outs in again.values() for o in outs.values() if o.action == "created"]
    assert h.emu.diff(before) == {}


@pytest.mark.parametrize("threshold", ["2000", "3"], ids=["collections", "bulk"])
def test_a_run_that_died_before_the_id_map_was_written_is_recovered_without_duplicates(harness, tmp_path, threshold):
    data = workspace()
    first = harness(existing=existing_for(data), env={"SALESFORCE_BULK_THRESHOLD": threshold})
    first.load_all(data, ORDER)
    before = first.emu.snapshot()
    # Same org, empty id map: as if every outcome of the first run had been lost.
    fresh = Harness(tmp_path / "lost.sqlite", first.emu, {"SALESFORCE_BULK_THRESHOLD": threshold})
    try:
        outcomes = {c: fresh.load(c, data[c]) for c in ORDER}
    finally:
        fresh.close()
    created = [(c, sid) for c, outs in outcomes.items() for sid, o in outs.items() if o.action == "created"]
    assert created == [] and first.emu.diff(before) == {}
    assert {o.action for o in outcomes["messages"].values()} == {"unchanged"}


def test_a_changed_conversation_is_updated_in_place_and_keeps_its_original_dates(harness):
    data = workspace()
    h = harness(existing=existing_for(data))
    for c in ("agents", "teams", "tags", "contacts", "conversations"):
        h.load(c, data[c])
    conv = dict(data["conversations"][0], status="closed", subject="Question 1 (answered)")
    case_before = [r for r in h.emu.dump("Case") if r.get("Trengo_Id__c") == conv["id"]][0]
    out = h.load("conversations", [conv])[conv["id"]]
    case = [r for r in h.emu.dump("Case") if r.get("Trengo_Id__c") == conv["id"]][0]
    assert out.action == "updated" and out.before_image["Subject"] == "Question 1"
    assert case["Id"] == case_before["Id"] and case["Status"] == "Closed" and case["Subject"] == conv["subject"]
    assert case["CreatedDate"] == case_before["CreatedDate"]
    entry = h.store.id_map_entries(SOURCE, "salesforce", "conversations")[0]
    assert entry["action"] == "created"  # still ours: rollback deletes it


def test_schema_creation_survives_a_lost_answer(harness):
    h = harness(faults={"lose_response_next": 1})
    out = h.load("contacts", workspace()["contacts"][:2])
    assert {o.action for o in out.values()} == {"created"}
    names = [r["FullName"] for r in h.emu.dump("CustomField")]
    assert len(names) == len(set(names))


def test_per_record_failures_are_quarantined_with_salesforces_code_and_a_fix(harness):
    h = harness(validation_rules=[ValidationRule("Email_Or_Phone_Required", "Contact", "A contact needs an email "
                                                 "address or a phone number.", [("Email", "blank", None),
                                                                                ("Phone", "blank", None)])])
    out = h.load("contacts", [{"id": "ok", "name": "Has Mail", "email": "has@example.org"},
                              {"id": "bare", "name": "No Details"}])
    assert out["ok"].action == "created"
    bad = out["bare"]
    assert bad.action == "failed" and bad.rule == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert "A contact needs an email address or a phone number." in bad.reason and "validation rule" in bad.fix
    entry = h.store.quarantine_entries(SOURCE, "salesforce", "contacts")[0]
    assert entry["source_id"] == "bare" and entry["rule"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"


def test_the_threshold_picks_bulk_or_collections(harness):
    data = workspace(conversations=8)
    small = harness(existing=existing_for(data))
    small.load("contacts", data["contacts"])
    assert not [p for _, p, _ in small.emu.request_log if "/jobs/ingest" in p]
    assert [p for _, p, _ in small.emu.request_log if p.endswith("/composite/sobjects/Contact/Trengo_Id__c")]
    big = harness(existing=existing_for(data), env={"SALESFORCE_BULK_THRESHOLD": "3"})
    for c in ("agents", "teams", "tags"):
        big.load(c, data[c])
    out = big.load("contacts", data["contacts"])
    assert {o.action for o in out.values()} == {"created"}
    big.load("conversations", data["conversations"])
    msgs = big.load("messages", data["messages"])
    jobs = [p for m, p, _ in big.emu.request_log if m == "POST" and p.endswith("/jobs/ingest")]
    assert len(jobs) >= 4  # contacts, cases, email messages, case comments
    assert {o.action for o in msgs.values()} == {"created"}
    assert len(big.emu.dump("CaseComment")) == len([m for m in data["messages"] if m["body_type"] != "email"])
    before = big.emu.snapshot()
    big.load("messages", data["messages"])
    assert big.emu.diff(before) == {}


def test_bulk_rows_left_unprocessed_are_sent_again(harness):
    data = workspace(conversations=8)
    h = harness(env={"SALESFORCE_BULK_THRESHOLD": "3"}, faults={"bulk_unprocessed": 3})
    out = h.load("contacts", data["contacts"])
    assert {o.action for o in out.values()} == {"created"} and len(ours(h.emu, "Contact")) == 8


def test_a_bulk_job_is_polled_soon_then_less_often(harness, monkeypatch):
    from helpdesk_migrate.plugins.salesforce import writer

    waits = []
    monkeypatch.setattr(writer, "_sleep", waits.append)  # the emulator answers at once anyway
    data = workspace(conversations=8)
    h = harness(env={"SALESFORCE_BULK_THRESHOLD": "3", "SALESFORCE_BULK_POLL_SECONDS": "0.6"},
                faults={"bulk_in_progress_polls": 4})
    out = h.load("contacts", data["contacts"])
    assert {o.action for o in out.values()} == {"created"}
    polls = [p for m, p, _ in h.emu.request_log if m == "GET" and p.rsplit("/", 2)[-2] == "ingest"]
    assert waits == [0.25, 0.5, 0.6, 0.6, 0.6] and len(polls) == 5  # four "InProgress", then done
    assert list(itertools.islice(writer.poll_intervals(2.0), 6)) == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert list(itertools.islice(writer.poll_intervals(0.01), 2)) == [0.01, 0.01]


def test_locked_rows_are_retried(harness):
    h = harness(faults={"lock_errors": 2}, schema="prepared")
    out = h.load("contacts", workspace()["contacts"])
    assert {o.action for o in out.values()} == {"created"}
    h2 = harness(env={"SALESFORCE_LOCK_RETRIES": "0"}, faults={"lock_errors": 1}, schema="prepared")
    out = h2.load("contacts", workspace()["contacts"][:2])
    assert sorted(o.rule or "" for o in out.values()) == ["", "UNABLE_TO_LOCK_ROW"]


def test_an_insert_whose_answer_was_lost_is_not_duplicated(harness):
    data = workspace()
    h = harness(existing=existing_for(data), schema="prepared")
    for c in ("agents", "teams", "tags", "contacts", "conversations"):
        h.load(c, data[c])
    h.emu.faults.arm(lose_response_next=1)
    out = h.load("messages", data["messages"])
    assert {o.action for o in out.values()} == {"created"}
    assert len(ours(h.emu, "EmailMessage")) == len([m for m in data["messages"] if m["body_type"] == "email"])
    assert len(h.emu.dump("CaseComment")) == len([m for m in data["messages"] if m["body_type"] != "email"])


def test_server_errors_on_reads_are_retried(harness):
    h = harness(faults={"server_error_next": 2})
    out = h.load("contacts", workspace()["contacts"][:2])
    assert {o.action for o in out.values()} == {"created"}


def _rest_requests(emu) -> int:
    return sum(1 for _, path, _ in emu.request_log if path.startswith("/services/data"))


def test_an_answer_slower_than_the_timeout_is_given_up_and_asked_again(harness):
    h = harness(env={"SALESFORCE_TIMEOUT_SECONDS": "0.4"})
    client = h.conn.client
    assert client.session.get_adapter(f"https://{client.sf.sf_instance}/").timeout == 0.4
    expected = client.count("SELECT COUNT() FROM User")
    sent = _rest_requests(h.emu)
    h.emu.faults.update(slow_body_next=1, slow_ms=3000)
    started = time.monotonic()
    assert client.count("SELECT COUNT() FROM User") == expected
    # Without the timeout the client would simply wait the 3 s out; with it, it gives up and asks again.
    assert time.monotonic() - started < 2.5
    time.sleep(3)  # the slow answer is logged once the emulator has slept it out
    assert _rest_requests(h.emu) - sent == 2


def test_an_answer_cut_off_mid_body_is_asked_again(harness):
    h = harness()
    client = h.conn.client
    expected = client.query_all("SELECT Id, Email FROM User")
    h.emu.faults.update(reset_mid_body_next=1)
    assert client.query_all("SELECT Id, Email FROM User") == expected
    assert h.emu.faults.fired["reset_mid_body"] == 1 and not h.emu.faults.get("reset_mid_body_next")


def test_an_insert_cut_off_mid_answer_is_not_duplicated(harness):
    h = harness(schema="prepared")
    contacts = workspace()["contacts"]
    h.emu.faults.update(reset_mid_body_next=1)
    out = h.load("contacts", contacts)
    assert h.emu.faults.fired["reset_mid_body"] == 1 and not h.emu.faults.get("reset_mid_body_next")
    assert {o.action for o in out.values()} == {"created"}
    assert len(ours(h.emu, "Contact")) == len(contacts)


@pytest.mark.parametrize(("name", "default"), [("SALESFORCE_TIMEOUT_SECONDS", 120),
                                               ("SALESFORCE_BULK_POLL_SECONDS", 2)])
def test_the_seconds_settings_are_checked(name, default):
    base = {"SALESFORCE_SESSION_ID": "s", "SALESFORCE_INSTANCE_URL": "https://x.my.salesforce.com"}
    attribute = {"SALESFORCE_TIMEOUT_SECONDS": "timeout_seconds", "SALESFORCE_BULK_POLL_SECONDS": "bulk_poll_seconds"}
    assert getattr(SalesforceConfig.from_env(base), attribute[name]) == default
    assert getattr(SalesforceConfig.from_env({**base, name: "2.5"}), attribute[name]) == 2.5
    # A negative poll used to end in time.sleep's traceback, and nan in waits that doubled for ever.
    for bad in ("0", "-1", "soon", "nan", "inf"):
        with pytest.raises(ConfigurationError, match=name):
            SalesforceConfig.from_env({**base, name: bad})


def test_the_api_budget_is_respected_and_the_rest_loads_later(harness):
    contacts = [{"id": f"b{i}", "name": f"Budget {i}", "email": f"b{i}@example.org"} for i in range(250)]
    h = harness(env={"SALESFORCE_API_BUDGET": "3", "SALESFORCE_BULK_THRESHOLD": "1000"}, schema="prepared")
    out = h.load("contacts", contacts)
    stopped = [o for o in out.values() if o.action == "failed"]
    assert h.conn.client.meter.calls <= 3 and len(stopped) == 50
    assert stopped and {o.rule for o in stopped} == {"API_BUDGET"} and "SALESFORCE_API_BUDGET" in stopped[0].reason
    h.reconnect(SALESFORCE_API_BUDGET="")
    again = h.load("contacts", contacts)
    assert {o.action for o in again.values()} <= {"created", "unchanged"}
    assert len(ours(h.emu, "Contact")) == 250


def test_api_usage_is_tracked_from_sforce_limit_info(harness):
    h = harness(api_limit=5000)
    h.load("contacts", workspace()["contacts"][:1])
    meter = h.conn.client.meter
    assert meter.org_max == 5000 and meter.org_used == h.emu.api_calls and meter.calls > 0


def test_daily_limit_stops_the_load_with_a_clear_reason(harness):
    h = harness()
    h.load("contacts", workspace()["contacts"][:1])
    h.emu.faults.arm(daily_limit=h.emu.api_calls)
    out = h.load("contacts", workspace()["contacts"][1:3])
    assert {o.rule for o in out.values()} == {"REQUEST_LIMIT_EXCEEDED"}


def test_an_expired_session_names_the_variable_and_never_the_token(harness):
    h = harness()
    h.emu.faults.arm(expired_auth_next=1)
    with pytest.raises(ConfigurationError) as exc:
        h.load("contacts", workspace()["contacts"][:1])
    assert "SALESFORCE_SESSION_ID" in str(exc.value) and h.emu.session_id not in str(exc.value)


def test_password_login_logs_in_again_when_the_session_expires(emulator, home):
    emu = emulator()
    c = emu.credentials
    env = {"SALESFORCE_USERNAME": c["username"], "SALESFORCE_PASSWORD": c["password"],
           "SALESFORCE_SECURITY_TOKEN": c["security_token"], "SALESFORCE_CREATE_SCHEMA": "true"}
    conn = SalesforceDestination().connect(env, session=login_session(emu))
    try:
        assert conn.count("contacts") == 0
        emu.faults.arm(expired_auth_next=1)
        assert conn.count("contacts") == 0
    finally:
        conn.close()
    with pytest.raises(ConfigurationError) as exc:
        SalesforceDestination().connect({**env, "SALESFORCE_PASSWORD": "wrong-secret"}, session=login_session(emu))
    assert "SALESFORCE_PASSWORD" in str(exc.value) and "wrong-secret" not in str(exc.value)


def test_client_credentials_login_with_a_my_domain(emulator, home):
    emu = emulator()
    c = emu.credentials
    env = {"SALESFORCE_CONSUMER_KEY": c["consumer_key"], "SALESFORCE_CONSUMER_SECRET": c["consumer_secret"],
           "SALESFORCE_DOMAIN": "acme.my"}
    conn = SalesforceDestination().connect(env, session=login_session(emu, "acme.my.salesforce.com"))
    try:
        assert conn.client.user_id() == emu.admin_id
    finally:
        conn.close()


def test_preflight_lists_what_would_fire_with_the_bypass(harness):
    h = harness(env={"SALESFORCE_CREATE_SCHEMA": "false"}, permissions={"audit_fields": False})
    report = h.conn.preflight(context=h.context())
    kinds = {(i["kind"], i["name"]) for i in report.items}
    assert ("validation_rule", "Escalated_Case_Needs_Priority") in kinds
    assert ("validation_rule", "Email_Or_Phone_Required") not in kinds  # inactive
    assert ("workflow_rule", "Notify_Owner_New_Case") in kinds
    assert ("flow", "Case_Assignment_Flow") in kinds and ("flow", "Old_Case_Escalation") not in kinds
    assert ("apex_trigger", "CaseTrigger") in kinds and ("apex_trigger", "ContactTrigger") not in kinds
    assert ("duplicate_rule", "Standard_Contact_Duplicate_Rule") in kinds
    assert ("dependent_picklist", "Reason") in kinds
    assert ("permission", "Set Audit Fields upon Record Creation") in kinds
    assert report.requires_acknowledgement and report.blocking_problems
    assert "Case.Trengo_Id__c" in report.blocking_problems[0]
    assert "## Validation rules" in report.markdown and "Bypass_Migration" in report.markdown
    assert h.conn.preflight(context=h.context()).fingerprint == report.fingerprint
    h.reconnect(SALESFORCE_CREATE_SCHEMA="true")
    allowed = h.conn.preflight(context=h.context())
    assert not allowed.blocking_problems and allowed.fingerprint != report.fingerprint
    h.reconnect(SALESFORCE_STATUS_MAP=json.dumps({"pending": "On Hold"}))
    assert any("On Hold" in p for p in h.conn.preflight(context=h.context()).blocking_problems)


@pytest.mark.parametrize("threshold", ["2000", "3"], ids=["collections", "bulk"])
def test_rollback_deletes_what_was_created_and_leaves_existing_records(harness, threshold):
    data = workspace()
    h = harness(existing={"agents": data["agents"], "teams": data["teams"], "tags": data["tags"],
                          "contacts": [{"id": "pre", "last_name": "Before", "email": "customer1@example.org"}]},
                env={"SALESFORCE_BULK_THRESHOLD": threshold})
    before = h.emu.snapshot()
    h.load_all(data, ORDER)
    ctx = h.context("rollback")
    for canonical in reversed(ORDER):
        entries = [e for e in h.store.id_map_entries(SOURCE, "salesforce", canonical)
                   if not (e["action"] == "linked" and not e["before_image"])]
        undone = set(h.conn.rollback(canonical, entries, context=ctx))
        assert {e["source_id"] for e in entries} == undone, canonical
    diff = h.emu.diff(before)
    assert all(not d["created"] for obj, d in diff.items() if obj not in ("PermissionSet", "PermissionSetAssignment",
                                                                            "FieldPermissions", "CustomField")), diff
    assert not any(d["deleted"] for d in diff.values())
    assert h.conn.count("conversations") == 0 and h.conn.count("messages") == 0


def test_count_is_the_orgs_own_count_of_migrated_records(harness):
    data = workspace()
    h = harness(existing=existing_for(data))
    h.load_all(data, ORDER)
    assert h.conn.count("contacts") == len(data["contacts"]) - 0
    assert h.conn.count("conversations") == len(data["conversations"])
    assert h.conn.count("messages") == len(data["messages"])
    assert h.conn.count("agents") is None


# -- configuration ----------------------------------------------------------------------------------------


def test_configuration_errors_name_the_variable_and_hide_secrets():
    with pytest.raises(ConfigurationError, match="SALESFORCE_INSTANCE_URL"):
        SalesforceConfig.from_env({})
    with pytest.raises(ConfigurationError, match="SALESFORCE_STATUS_MAP is not valid JSON"):
        SalesforceConfig.from_env({"SALESFORCE_SESSION_ID": "s3cret", "SALESFORCE_INSTANCE_URL": "https://x.my."
                                   "salesforce.com", "SALESFORCE_STATUS_MAP": "{bad"})
    with pytest.raises(ConfigurationError, match="My Domain"):
        SalesforceConfig.from_env({"SALESFORCE_CONSUMER_KEY": "k", "SALESFORCE_CONSUMER_SECRET": "s"})
    cfg = SalesforceConfig.from_env({"SALESFORCE_USERNAME": "u", "SALESFORCE_PASSWORD": "p4ssw0rd",
                                     "SALESFORCE_SECURITY_TOKEN": "t0ken", "SALESFORCE_DOMAIN": "test"})
    assert cfg.auth_mode == "password" and "p4ssw0rd" not in repr(cfg) and "t0ken" not in repr(cfg)
    cc = SalesforceConfig.from_env({"SALESFORCE_CONSUMER_KEY": "k", "SALESFORCE_CONSUMER_SECRET": "s",
                                    "SALESFORCE_INSTANCE_URL": "https://acme.my.salesforce.com"})
    assert cc.auth_mode == "client_credentials" and cc.my_domain() == "acme.my"


def test_plain_http_is_only_for_loopback_hosts():
    from helpdesk_migrate.plugins.salesforce.client import ApiMeter

    session = requests.Session()
    mount_instance(session, "acme.my.salesforce.com", ApiMeter())
    mount_instance(session, "127.0.0.1:8765", ApiMeter())
    real = session.get_adapter("https://acme.my.salesforce.com/services/data/")
    local = session.get_adapter("https://127.0.0.1:8765/services/data/")
    assert isinstance(real, MeteredAdapter) and not real.plain_http
    assert isinstance(local, MeteredAdapter) and local.plain_http
    assert session.verify is True


def test_settings_are_declared_with_help_and_secret_flags():
    settings = {s.env_var: s for s in SalesforceDestination().settings()}
    for name in ("SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN", "SALESFORCE_CONSUMER_SECRET",
                 "SALESFORCE_SESSION_ID"):
        assert settings[name].secret
    assert "SALESFORCE_BULK_THRESHOLD" in settings and all(s.help for s in settings.values())


def test_emulator_cli_prints_the_environment(tmp_path):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "helpdesk_migrate.plugins.salesforce.emulator.server", "--port", "0", "--seed", "5",
                             "--size", "10"], stdout=subprocess.PIPE, text=True, cwd=str(__import__("pathlib").Path(
                                 __file__).resolve().parents[2]))
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("SALESFORCE_INSTANCE_URL=http://127.0.0.1:")
    finally:
        proc.terminate()
        proc.wait(timeout=60)  # SIGTERM stops it (a loaded machine may take a while to get there)
    assert MigrationStore  # the store module imports cleanly alongside the plugin


def test_the_plugin_registers_through_its_hook_and_follows_the_protocols(emulator):
    from helpdesk_migrate.plugins.salesforce import plugin as module
    from migration_assets.hookspecs import DestinationPlugin, RunningEmulator
    from migration_assets.registry import build_registry, get_plugin_manager

    registry = build_registry(get_plugin_manager([module], load_entry_points=False))
    dest = registry.destination("salesforce")
    assert isinstance(dest, DestinationPlugin)
    names = [o.canonical for o in dest.objects()]
    assert names.index("agents") < names.index("teams") < names.index("contacts") < names.index("conversations") \
        < names.index("messages") < names.index("attachments")
    emu = emulator_for(dest).start(seed=1, size=10, port=0, rate_limit=120, existing={"agents": workspace()["agents"]})
    try:
        assert isinstance(emu, RunningEmulator) and emu.url.startswith("http://127.0.0.1:")
        assert {"agent1@example.com", "agent2@example.com"} <= {a["email"].lower() for a in emu.seed_records("agents")}
    finally:
        emu.stop()


def test_big_contact_loads_match_emails_against_one_bulk_query(harness):
    contacts = [{"id": f"m{i}", "name": f"Many {i}", "email": f"many{i}@example.org"} for i in range(1000)]
    h = harness(existing={"contacts": [{"id": "x", "last_name": "Already", "email": "MANY7@example.org"}]},
                schema="prepared")
    out = h.load("contacts", contacts)
    assert out["m7"].action == "linked" and sum(o.action == "created" for o in out.values()) == 999
    assert [p for m, p, _ in h.emu.request_log if m == "POST" and p.endswith("/jobs/query")]
    assert not [p for m, p, _ in h.emu.request_log if m == "GET" and "/query/" in p and "Email" in p]
    again = h.load("contacts", contacts)
    assert not [o for o in again.values() if o.action == "created"]
