"""Extraction of a Zendesk account's dirt: archived tickets are extracted, merged and follow-up tickets kept,
deleted tickets reported, deleted authors kept as placeholders, broken HTML turned into plain text; resume from a
saved cursor and a delta from the export's start time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from zendesk_support import ORDER, api_requests, env_for, extract, quarantined, staged

from helpdesk_migrate.plugins.zendesk.emulator.ids import DELETED_AGENT_ID
from helpdesk_migrate.plugins.zendesk.mapping import safe_file_name
from helpdesk_migrate.plugins.zendesk.settings import ZendeskConfig
from helpdesk_migrate.plugins.zendesk.source import ZendeskConnection
from helpdesk_migrate.plugins.zendesk.text import html_to_text
from migration_assets.runtime import extract_object


def connect(em, **extra: str) -> ZendeskConnection:
    return ZendeskConnection(ZendeskConfig.from_env(env_for(em, **extra)))


@pytest.fixture
def extracted(emulator, source, store):
    em = emulator(size=30)
    conn = connect(em)
    try:
        extract(store, source, conn)
    finally:
        conn.close()
    return em, store


def by_id(store, canonical: str) -> dict[str, dict]:
    return {r["id"]: r for r in staged(store, canonical)}


def test_archived_merged_and_follow_up_tickets_are_extracted(extracted):
    _, store = extracted
    convs = by_id(store, "conversations")
    assert convs["1"]["status"] == "closed" and convs["1"]["source_status"] == "closed"  # archived
    assert convs["3"]["result"] == "merged" and "closed_by_merge" in convs["3"]["tags"]
    assert "5" in convs
    follow_up = [c for c in store.change_entries("zendesk", "", "conversations") if c["source_id"] == "5"]
    assert [c["rule"] for c in follow_up] == ["follow-up-link"] and "#3" in follow_up[0]["detail"]
    merge_note = [m for m in staged(store, "messages") if m["conversation_id"] == "3"][-1]
    assert merge_note["author_type"] == "system" and merge_note["kind"] == "note" and "merged" in merge_note["body_text"]


def test_a_deleted_ticket_is_reported_with_who_and_when_and_its_comments_are_not_read(extracted):
    em, store = extracted
    held = quarantined(store, "conversations")
    assert set(held) == {"6"} and held["6"]["rule"] == "ticket-deleted"
    assert "deleted in Zendesk by" in held["6"]["reason"] and held["6"]["fix"]
    assert not [m for m in staged(store, "messages") if m["conversation_id"] == "6"]
    assert not [r for r in em.request_log() if r["path"] == "/api/v2/tickets/6/comments.json"]


def test_comments_of_a_deleted_agent_keep_the_author_id_under_a_placeholder_name(extracted):
    _, store = extracted
    old = [m for m in staged(store, "messages") if m["author_id"] == str(DELETED_AGENT_ID)]
    assert old and all(m["author_name"] == f"Deleted user {DELETED_AGENT_ID}" and m["author_type"] == "agent"
                       for m in old)
    changes = {c["source_id"]: c for c in store.change_entries("zendesk", "", "messages")}
    assert all(changes[m["id"]]["rule"] == "author-placeholder" for m in old)


def test_broken_html_keeps_its_html_and_gets_a_plain_text_without_script(extracted):
    _, store = extracted
    messages = {m["conversation_id"]: m for m in staged(store, "messages") if m["sequence"] == 2}
    scripted, unclosed = messages["7"], messages["8"]
    assert "<script>" in scripted["body_html"] and "document.cookie" not in scripted["body_text"]
    assert "onerror" in unclosed["body_html"] and "alert" not in unclosed["body_text"]
    assert messages["10"]["body_text"] == "CafÃ© â€“ naÃ¯ve? Thanks 👍🏽🎉 🇧🇪"  # mojibake kept verbatim
    assert "\u200b" in messages["9"]["body_text"]


def test_html_to_text_copes_with_broken_markup():
    assert html_to_text("<p>Hi<br>there<script>x()</script><style>p{}</style>") == "Hi\nthere"
    assert html_to_text("<div><p>Click <a href='javascript:alert(1)'>here<p><b>now") == "Click here\nnow"
    assert html_to_text("<p>unclosed <script>alert(1)") == "unclosed"
    assert html_to_text("&lt;b&gt; &amp; caf&eacute;") == "<b> & café"
    assert html_to_text(None) is None


def test_attachments_are_downloaded_gone_ones_rejected_and_names_made_safe(extracted):
    em, store = extracted
    files = by_id(store, "attachments")
    held = quarantined(store, "attachments")
    assert [q["rule"] for q in held.values()] == ["attachment-missing"]
    traversal = next(a for a in files.values() if a["file_name"] == "../../etc/passwd")
    assert ".." not in traversal["local_path"] and traversal["local_path"].startswith("attachments/")
    inline = next(a for a in files.values() if a["file_name"] == "pasted-image.png")
    assert inline["inline"] is True and inline["sha256"]
    assert safe_file_name("9", "/etc/shadow") == "9-shadow"
    empty_body = next(m for m in staged(store, "messages") if m["conversation_id"] == "16" and m["sequence"] == 2)
    assert "body_text" not in empty_body and empty_body["attachment_ids"]


def test_people_teams_and_fields(extracted):
    em, store = extracted
    agents = by_id(store, "agents")
    suspended = str(em.account.agents[2]["id"])
    assert agents[suspended]["is_active"] is False
    contacts = by_id(store, "contacts")
    twin_a, twin_b = (contacts[str(em.account.end_users[k]["id"])] for k in (2, 3))
    assert twin_a["email"].lower() == twin_b["email"].lower() and twin_a["email"] != twin_b["email"]
    phone_only = contacts[str(em.account.end_users[5]["id"])]
    assert "email" not in phone_only and phone_only["phone"]
    with_org = next(c for c in contacts.values() if c.get("company"))
    assert with_org["group_ids"] and with_org["custom_fields"]["organization_region"] in ("EMEA", "Americas", "APAC")
    teams = by_id(store, "teams")
    assert all(t["member_ids"] for t in teams.values())
    fields = {f["key"]: f for f in staged(store, "custom_fields")}
    assert fields["product"]["data_type"] == "select" and fields["product"]["options"] == ["Widget", "Gadget", "Gizmo"]
    assert fields["satisfaction_rating"]["entity"] == "conversation"
    convs = staged(store, "conversations")
    assert any((c.get("custom_fields") or {}).get("product") in ("Widget", "Gadget", "Gizmo") for c in convs)
    assert {w["kind"] for w in staged(store, "workflows")} == {"trigger", "automation", "sla_policy", "view"}
    assert {a["locale"] for a in staged(store, "articles")} == {"en-us", "nl"}


def test_without_side_loads_the_authors_come_from_the_staged_people(emulator, source, store):
    em = emulator(size=30, profile="no-sideload")
    conn = connect(em)
    try:
        extract(store, source, conn)
    finally:
        conn.close()
    by_author = {m["author_id"]: m for m in staged(store, "messages")}
    requester = str(em.account.tickets[0].requester_id)
    assert by_author[requester]["author_name"] and by_author[requester]["author_type"] == "contact"
    assert set(by_id(store, "messages")) == {str(r["id"]) for r in em.seed_records("messages")}


def test_the_ticket_export_resumes_after_its_saved_cursor(emulator, source, store, tmp_path):
    em = emulator(size=30)
    conn = connect(em, ZENDESK_EXPORT_PAGE_SIZE="7")
    try:
        chunks = conn.extract("conversations", context=_Context(store, tmp_path), cursor=None)
        first = next(chunks)
        chunks.close()
        assert first.cursor and len(first.records) + len(first.rejected) == 7
        em.clear_log()
        rest = list(conn.extract("conversations", context=_Context(store, tmp_path), cursor=first.cursor))
    finally:
        conn.close()
    ids = {r["id"] for r in first.records} | {r["id"] for c in rest for r in c.records}
    rejected = {r.source_id for r in first.rejected} | {r.source_id for c in rest for r in c.rejected}
    assert ids | rejected == {str(i) for i in range(1, 31)}
    assert not {r["id"] for r in first.records} & {r["id"] for c in rest for r in c.records}
    exports = [r for r in api_requests(em) if r["path"].startswith("/api/v2/incremental/tickets")]
    assert "cursor=" in exports[0]["query"] and "start_time" not in exports[0]["query"]


def test_a_delta_reads_the_export_from_the_watermark_and_only_changed_threads(emulator, source, store):
    em = emulator(size=30)
    conn = connect(em)
    try:
        extract(store, source, conn)
        em.account.apply_update(4, {"comment": {"body": "Late note", "public": False}})
        em.clear_log()
        since = datetime.now(UTC) - timedelta(seconds=5)
        summaries = extract(store, source, conn, [o for o in ORDER if o in ("conversations", "messages")],
                            run_id="delta", delta=True, since=since)
    finally:
        conn.close()
    assert summaries["conversations"].records == 1
    exports = [r for r in api_requests(em) if r["path"] == "/api/v2/incremental/tickets/cursor.json"]
    assert exports and "cursor=" in exports[0]["query"]  # on from where the full export ended, as Zendesk says
    threads = [r["path"] for r in api_requests(em) if r["path"].endswith("/comments.json")]
    assert threads == ["/api/v2/tickets/4/comments.json"]
    note = next(m for m in staged(store, "messages") if m.get("body_text") == "Late note")
    assert note["kind"] == "note" and note["conversation_id"] == "4"


def test_a_saved_messages_cursor_skips_the_finished_tickets(emulator, source, store):
    em = emulator(size=40)
    conn = connect(em)
    try:
        for canonical in ("agents", "contacts", "conversations"):
            extract_object(store, source, canonical, run_id="deps", connection=conn)
        em.clear_log()
        store.set_cursor("zendesk", "messages", {"done": 20}, "crashed")
        extract_object(store, source, "messages", run_id="resumed", connection=conn)
    finally:
        conn.close()
    threads = [r for r in api_requests(em) if r["path"].endswith("/comments.json")]
    assert len({r["path"] for r in threads}) == 39 - 20  # 40 tickets, one deleted


class _Context:
    """The least an extract needs outside the engine (conversations read no staged records)."""

    def __init__(self, store, files_dir):
        self.store, self.run_id, self.partition, self.files_dir = store, "t", None, files_dir
        import logging

        self.log = logging.getLogger("test")

    def staged(self, canonical):
        return iter(())

    def changed_ids(self, canonical):
        return set()


@pytest.mark.parametrize("profile", ["default", "no-html-body,no-sideload,offset-pagination"])
def test_the_shape_audit_finds_every_declared_payload_key(profile, emulator, source, store):
    from migration_assets.audit import source_audits
    from migration_assets.partitions import shard_keys

    em = emulator(size=30, profile=profile)
    conn = connect(em)
    try:
        extract(store, source, conn, [o for o in ORDER if o != "messages"])
        for shard in shard_keys():  # the engine reads threads shard by shard, and audits them so
            extract_object(store, source, "messages", run_id="shards", connection=conn, shard=shard)
    finally:
        conn.close()
    audits = source_audits(store, source)
    declared = {o.canonical for o in source.objects() if o.payload_keys}
    assert declared <= set(audits) and declared == {"agents", "contacts", "conversations", "messages", "articles"}
    for canonical in declared:
        assert audits[canonical].payloads and not audits[canonical].never_present, (canonical, audits[canonical])
