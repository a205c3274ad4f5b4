"""The lifecycle's optional hooks: assess (scope report), fetch (sample spot-check), recommend (workflow
inventory) and the emulator's demo_env."""

from __future__ import annotations

from migration_assets.demo import demo_settings

from .sf_support import workspace

ORDER = ["agents", "teams", "channels", "tags", "contacts", "conversations", "messages"]
SCOPE = {"counts": {"agents": 5, "teams": 2, "contacts": 300, "conversations": 400, "messages": 4000,
                    "attachments": 500, "articles": 30, "custom_fields": 6},
         "conversations_by_channel": {"email": 250, "whatsapp": 100, "chat": 50},
         "help_center": {"articles": 15, "translations": 30},
         "custom_fields": [{"name": "Tier", "key": "tier", "entity": "contact", "type": "select"}]}


def features(conn, scope=SCOPE):
    rows = conn.assess(scope)
    assert all(set(r) == {"feature", "needed", "available", "note"} for r in rows)
    return {r["feature"]: r for r in rows}


def test_assess_finds_a_well_equipped_org_ready(harness):
    f = features(harness().conn)
    for name in ("Salesforce Knowledge", "Queues (Manage Users)", "Set Audit Fields upon Record Creation",
                 "Email-to-Case / Enhanced Email (EmailMessage)", "Custom fields", "Daily API requests"):
        assert f[name]["needed"] and f[name]["available"], f[name]
    assert "Tooling API" in f["Custom fields"]["note"] and "Contact.Trengo_Tier__c" in f["Custom fields"]["note"]
    assert "CaseComments" in f["Messaging / Voice channels"]["note"]
    assert not f["Messaging / Voice channels"]["needed"]


def test_assess_names_what_is_missing(harness, emulator):
    emu = emulator(knowledge=False, permissions={"audit_fields": False}, api_limit=150)
    emu.set_permission("PermissionsManageUsers", False)
    h = harness(emu=emu, env={"SALESFORCE_CREATE_SCHEMA": "false"})
    f = features(h.conn)
    assert not f["Salesforce Knowledge"]["available"] and "Lightning Knowledge" in f["Salesforce Knowledge"]["note"]
    assert not f["Queues (Manage Users)"]["available"] and "Manage Users" in f["Queues (Manage Users)"]["note"]
    assert not f["Set Audit Fields upon Record Creation"]["available"]
    assert not f["Custom fields"]["available"] and "SALESFORCE_CREATE_SCHEMA" in f["Custom fields"]["note"]
    api = f["Daily API requests"]
    assert not api["available"] and "needs about" in api["note"] and "several days" in api["note"]
    # Nothing to load for a feature: not needed.
    empty = features(h.conn, {"counts": {"contacts": 3}, "help_center": {"articles": 0}})
    assert not empty["Salesforce Knowledge"]["needed"] and not empty["Queues (Manage Users)"]["needed"]


def test_fetch_reads_back_cases_and_threads_with_the_source_keys(harness):
    data = workspace()
    agents = data["agents"][:-1]  # the last agent has no User: its conversations go to the fallback owner
    h = harness(existing={"agents": agents, "teams": data["teams"], "tags": data["tags"]})
    h.reconnect(SALESFORCE_FALLBACK_OWNER_ID=h.emu.admin_id)
    h.load_all(data, ORDER)
    ctx = h.context()
    conv_ids = ctx.lookup("conversations", [c["id"] for c in data["conversations"]])
    before = len(h.emu.request_log)
    cases = h.conn.fetch("conversations", list(conv_ids.values()))
    queries = [p for m, p, _ in h.emu.request_log[before:] if "/query" in p]
    assert len(queries) == 1  # one SOQL query for every Case, never one call per record
    contacts = ctx.lookup("contacts", [c["id"] for c in data["contacts"]])
    source_keys = {"subject", "status", "created_at", "closed_at", "contact_id", "assignee_id", "team_id",
                   "channel_type", "tags"}
    for conv in data["conversations"]:
        got = cases[conv_ids[conv["id"]]]["_canonical"]
        assert source_keys <= set(got)
        assert got["subject"] == conv["subject"] and got["created_at"] == conv["created_at"]
        assert got["contact_id"] == contacts[conv["contact_id"]]
        assert (got["tags"] or []) == conv.get("tags", [])
        assert got["channel_type"].startswith(conv["channel_type"])
        if conv.get("assignee_id") == data["agents"][-1]["id"]:
            assert got["assignee_id"].startswith(h.emu.admin_id) and "fallback owner" in got["assignee_id"]
    msg_ids = ctx.lookup("messages", [m["id"] for m in data["messages"]])
    before = len(h.emu.request_log)
    thread = h.conn.fetch("messages", list(msg_ids.values()))
    objects = {i[:3] for i in msg_ids.values()}  # EmailMessage 02s, CaseComment 00a: one query each
    assert len([p for m, p, _ in h.emu.request_log[before:] if "/query" in p]) == len(objects) == 2
    assert set(thread) == set(msg_ids.values())
    for m in data["messages"]:
        got = thread[msg_ids[m["id"]]]["_canonical"]
        assert list(got)[:4] == ["time", "kind", "by", "text"]
        assert got["time"] == m["created_at"].replace("+00:00", "Z")
        assert got["kind"].startswith(m["kind"]) or (m["kind"] == "note" and got["kind"].startswith("note"))
        if m["body_type"] == "email":
            assert got["incoming"] is (m["kind"] == "inbound")
    assert h.conn.fetch("conversations", []) == {} and h.conn.fetch("agents", ["005x"]) == {}


def test_recommend_is_specific_to_the_trigger_and_the_actions(harness):
    conn = harness().conn

    def hook(trigger):
        return conn.recommend({"kind": "webhook", "trigger": trigger, "actions": {"post_to": "https://x.example/h"}})

    inbound, closed, label, missed = (hook(t) for t in ("INBOUND", "TICKET_CLOSED", "TICKET_LABEL_ADDED",
                                                        "VOICE_CALL_MISSED"))
    assert "EmailMessage" in inbound and "Incoming = TRUE" in inbound and "https://x.example/h" in inbound
    assert "Outbound Message" in inbound and "Platform Event" in inbound
    assert "IsClosed" in closed and "Trengo_Tags__c" in label and "VoiceCall" in missed
    assert len({inbound, closed, label, missed}) == 4
    assert "Assignment Rules" in conn.recommend({"kind": "rule", "actions": [{"type": "assign_team", "team": 3}]})
    assert "Auto-Response Rules" in conn.recommend({"kind": "rule", "actions": {"send": "auto reply message"}})
    assert "Omni-Channel" in conn.recommend({"kind": "routing"})
    assert "Einstein Bot" in conn.recommend({"kind": "flowbot"})
    assert "Entitlement" in conn.recommend({"kind": "sla"})
    generic = conn.recommend({"kind": "rule", "trigger": "not exposed by the Trengo API"})
    assert "Assignment Rules" in generic and "Escalation Rules" in generic


def test_demo_env_sends_the_unmatched_agents_conversations_to_the_admin(harness):
    data = workspace()
    h = harness(existing={"agents": data["agents"][:-1], "teams": data["teams"], "tags": data["tags"]})
    extra = demo_settings(h.emu)
    assert extra == {"SALESFORCE_FALLBACK_OWNER_ID": h.emu.admin_id}
    h.reconnect(**extra)
    out = h.load_all(data, ORDER)
    owned = [c["id"] for c in data["conversations"] if c.get("assignee_id") == data["agents"][-1]["id"]]
    assert owned and all(out["conversations"][sid].action == "created" for sid in owned)
    finding = h.conn.evaluate_check("owners_matched", "agents", context=h.context())
    assert not finding.passed and finding.severity == "WARN" and "fallback owner" in finding.description
