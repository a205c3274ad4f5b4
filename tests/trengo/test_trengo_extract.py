"""Full extraction against the emulator: exact counts, canonical conformance, read-only, files, dirt."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests
from trengo_support import FAST, ORDER, api_requests, env_for, extract, staged

from helpdesk_migrate.plugins.trengo.emulator.workspace import DIRT_CASES, TICKET_BASE
from helpdesk_migrate.plugins.trengo.source import TrengoSource
from migration_assets.canonical import SCHEMA, conformance_errors
from migration_assets.registry import emulator_for
from migration_assets.store import MigrationStore


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """One full extraction shared by the read-only checks of this module."""
    tmp = tmp_path_factory.mktemp("extract")
    home = tmp / "home"
    source = TrengoSource()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIGRATION_HOME", str(home))
        mp.delenv("MIGRATION_RATE_LIMIT_URL", raising=False)
        em = emulator_for(source).start(seed=7, size=60, rate_limit=FAST)
        store = MigrationStore(f"sqlite:///{tmp / 'store.sqlite'}")
        before = em.snapshot()
        conn = source.connect(env_for(em))
        try:
            summaries = extract(store, source, conn)
        finally:
            conn.close()
        yield em, store, summaries, before, home
        em.stop()


def test_every_object_matches_the_seeded_workspace_exactly(extracted):
    em, store, summaries, _, _ = extracted
    for canonical in ORDER:
        expected = [r for r in em.seed_records(canonical) if len(r) > 1]
        got = staged(store, canonical)
        assert sorted(got, key=lambda r: r["id"]) == sorted(expected, key=lambda r: r["id"]), canonical
        rejected = {q["source_id"] for q in store.quarantine_entries("trengo", "", canonical)}
        assert rejected == em.seed_rejections(canonical), canonical
        assert summaries[canonical].records == len(expected)


def test_every_record_fits_the_canonical_schema(extracted):
    _, store, _, _, _ = extracted
    for canonical in ORDER:
        for rec in staged(store, canonical):
            assert conformance_errors(SCHEMA[canonical], rec) == [], (canonical, rec["id"])


def test_objects_cover_the_whole_workspace(extracted):
    em, store, _, _, _ = extracted
    ws = em.workspace
    agents = staged(store, "agents")
    assert {a["is_active"] for a in agents} == {True, False}
    assert {c["source_type"] for c in staged(store, "channels")} >= {"EMAIL", "CHAT", "WA_BUSINESS", "VOIP", "SMS",
                                                                       "FACEBOOK", "INSTAGRAM", "TELEGRAM", "CUSTOM"}
    assert {c["source_status"] for c in staged(store, "conversations")} >= {"OPEN", "ASSIGNED", "CLOSED", "INVALID"}
    assert {m["kind"] for m in staged(store, "messages")} == {"inbound", "outbound", "note"}
    assert {m["author_type"] for m in staged(store, "messages")} == {"agent", "contact", "system"}
    assert {f["data_type"] for f in staged(store, "custom_fields")} >= {"text", "number", "date", "select", "boolean",
                                                                         "multiselect", "email", "phone", "url"}
    assert {a["locale"] for a in staged(store, "articles")} == {"en", "nl"}
    assert any(t["member_ids"] for t in staged(store, "teams"))
    assert any(c.get("notes") for c in staged(store, "contacts"))
    assert any(c.get("custom_fields") for c in staged(store, "contacts"))
    assert {w["kind"] for w in staged(store, "workflows")} == {"webhook", "rule"}
    # every ticket is a conversation: the zero-date and the far-future ones are dated by a fallback, not rejected
    assert len(staged(store, "conversations")) == ws.n_tickets
    fallback = {e["source_id"] for e in store.change_entries("trengo", "", "conversations")
                if e["rule"] == "created-at-fallback"}
    unusable = {d["source_id"] for d in ws.dirt_manifest() if d["case"] in ("ticket_zero_date", "ticket_far_future_time")}
    assert fallback == unusable and len(unusable) == 2


def test_attachments_are_streamed_inside_the_files_directory_with_checksums(extracted):
    _, store, _, _, home = extracted
    files = (Path(home) / "files" / "trengo").resolve()
    atts = staged(store, "attachments")
    downloaded = [a for a in atts if a.get("local_path")]
    assert downloaded
    for a in downloaded:
        path = (files / a["local_path"]).resolve()
        assert path.is_relative_to(files)
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == a["sha256"] and len(data) == a["size_bytes"]
    unsafe = next(a for a in atts if a["file_name"] == "../../etc/passwd")
    assert ".." not in unsafe["local_path"] and unsafe["local_path"].startswith("attachments/")
    assert any(a.get("inline") and a.get("content_id", "").startswith("image001") for a in atts)  # cid image
    external = next(a for a in atts if "tracker.example.net" in (a.get("url") or ""))
    assert external["inline"] and "local_path" not in external  # listed, never fetched
    assert not list(files.rglob("*.part"))


def test_named_dirt_reaches_its_expected_outcome(extracted):
    em, store, _, _, _ = extracted
    manifest = {d["case"]: d for d in em.workspace.dirt_manifest()}
    assert set(manifest) == {n for n, c in DIRT_CASES.items() if not c.gated}
    quarantine = {(q["object"], q["source_id"]): q for q in store.quarantine_entries("trengo")}
    conversations = {c["id"]: c for c in staged(store, "conversations")}
    for case in ("ticket_zero_date", "ticket_far_future_time"):  # dated by their earliest other time instead
        ticket = conversations[manifest[case]["source_id"]]
        assert ("conversations", ticket["id"]) not in quarantine
        others = [ticket[k] for k in ("assigned_at", "last_activity_at", "closed_at", "updated_at") if ticket.get(k)]
        assert ticket["created_at"] == min(others)
    assert conversations[manifest["ticket_dst_gap_time"]["source_id"]]["created_at"] == "2025-03-30T01:30:00+00:00"
    assert conversations[manifest["ticket_dst_ambiguous_time"]["source_id"]]["created_at"] == "2024-10-27T00:30:00+00:00"
    missing = [q for (obj, _), q in quarantine.items() if obj == "attachments"]
    assert len(missing) == 1 and "gone at Trengo" in missing[0]["reason"]
    messages = staged(store, "messages")
    longest = max(messages, key=lambda m: len(m.get("body_html") or ""))
    assert len(longest["body_html"]) > 32_768  # fetched whole, not the collapsed preview
    contacts = {c["id"]: c for c in staged(store, "contacts")}
    assert "email" not in contacts[manifest["contact_phone_only"]["source_id"]]
    assert "name" not in contacts[manifest["contact_empty_name"]["source_id"]]
    assert contacts[manifest["contact_email_whitespace_case"]["source_id"]]["email"].strip() == \
        contacts[manifest["contact_email_whitespace_case"]["source_id"]]["email"]
    assert any(m.get("author_id") == "709599" for m in messages)  # the deleted agent keeps authorship
    script = [m for m in messages if "<script>" in (m.get("body_html") or "")]
    assert script and all("alert" not in (m.get("body_text") or "") for m in script)


def test_message_requests_come_from_staged_conversations_not_a_second_listing(extracted):
    em, store, _, _, _ = extracted
    log = api_requests(em)
    first_thread = next(k for k, r in enumerate(log) if r["path"].endswith("/messages"))
    # the conversations extract lists tickets; the messages extract never does
    assert not [r for r in log[first_thread:] if r["path"] == "/api/v2/tickets"]
    unfiltered = [r for r in log if r["path"] == "/api/v2/tickets" and "status=" not in r["query"]
                  and "updated_at_gt=" not in r["query"]]
    assert len(unfiltered) == 3  # 60 tickets, 25 a page
    threads = {r["path"] for r in api_requests(em) if r["path"].endswith("/messages")}
    assert len(threads) == len(staged(store, "conversations"))


def test_the_workspace_is_left_exactly_as_it_was(extracted):
    em, _, _, before, _ = extracted
    assert {r["method"] for r in em.request_log()} == {"GET"}
    assert em.snapshot() == before
    # The snapshot would have noticed: one agent reply changes it.
    ticket = TICKET_BASE + 1
    requests.post(f"{em.url}/tickets/{ticket}/messages", json={"message": "hi"},
                  headers={"Authorization": f"Bearer {em.token}"}, timeout=5).raise_for_status()
    assert em.snapshot() != before


@pytest.mark.parametrize("tickets, contacts, list_requests", [(0, 0, 1), (25, 25, 1), (26, 26, 2)])
def test_pagination_edges(emulator, source, store, tickets, contacts, list_requests):
    em = emulator(size=tickets, counts={"tickets": tickets, "contacts": contacts, "agents": 25 + (tickets == 26)},
                  dirt=False)
    conn = source.connect(env_for(em, TRENGO_CONTACT_NOTES="false"))
    try:
        extract(store, source, conn, ["agents", "contacts", "conversations", "messages"])
    finally:
        conn.close()
    assert len(staged(store, "conversations")) == tickets
    assert len(staged(store, "contacts")) == contacts
    assert len(staged(store, "agents")) == 25 + (tickets == 26)
    log = api_requests(em)
    for path in ("/api/v2/tickets", "/api/v2/contacts", "/api/v2/users"):
        # tickets: the unfiltered list (the status lists and catch-ups page the same way)
        assert len([r for r in log if r["path"] == path and "status=" not in r["query"]
                    and "updated_at_gt=" not in r["query"]]) == list_requests, path
    assert len(staged(store, "messages")) == len(em.seed_records("messages"))


def test_every_extract_records_the_requests_it_spent_for_the_throughput_plan(emulator, source, store):
    from migration_assets.planner import measured_requests

    em = emulator(size=30)
    conn = source.connect(env_for(em))
    spent = {}
    try:
        for canonical in ("agents", "contacts", "conversations", "messages"):
            em.clear_log()
            extract(store, source, conn, [canonical])
            spent[canonical] = len(api_requests(em))
    finally:
        conn.close()
    # What the shared limiter admitted is what the platform saw: the plan's basis is exact, per object.
    assert measured_requests(store, "trengo") == spent
    assert spent["messages"] >= 25  # one request per conversation at least: a real crawl, not a stub count
    # A source's own estimate (the fallback when nothing was measured) counts its thread pages: a floor, since the
    # collapsed emails fetched whole are not in the scope's counts.
    thread_lengths = {}
    for m in staged(store, "messages"):
        thread_lengths[m["conversation_id"]] = thread_lengths.get(m["conversation_id"], 0) + 1
    histogram = {}
    for n in thread_lengths.values():
        histogram[n] = histogram.get(n, 0) + 1
    estimate = {e.canonical: e.requests for e in source.estimate_requests(
        {"counts": {"contacts": len(staged(store, "contacts"))}, "thread_lengths": histogram})}
    assert len(thread_lengths) <= estimate["messages"] <= spent["messages"]
