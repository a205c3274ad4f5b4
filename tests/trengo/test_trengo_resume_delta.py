"""Resume after an interruption, without re-reading finished pages or duplicating; deltas read only changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
import requests
from trengo_support import api_requests, env_for, extract, staged

from helpdesk_migrate.plugins.trengo.emulator.workspace import TICKET_BASE
from helpdesk_migrate.plugins.trengo.source import TICKET_LISTS
from migration_assets.audit import _rows as saved_audits
from migration_assets.runtime import extract_object


class Crash(Exception):
    pass


class CrashingConnection:
    """Passes ``after`` chunks of an extract through, then dies as a killed process would."""

    def __init__(self, conn, after: int):
        self.conn, self.after = conn, after

    def extract(self, canonical, **kwargs):
        for n, chunk in enumerate(self.conn.extract(canonical, **kwargs)):
            if n == self.after:
                raise Crash(f"simulated crash in {canonical} after {n} chunks")
            yield chunk

    def close(self):
        pass


def _ids(records):
    return [r["id"] for r in records]


def _list_key(request: dict) -> tuple[str, str, int]:
    """(status filter, updated_at_gt filter, page) of a GET /tickets request."""
    query = parse_qs(request["query"])
    return query.get("status", [""])[0], query.get("updated_at_gt", [""])[0], int(query["page"][0])


def test_conversations_resume_mid_pagination_without_refetching_or_duplicates(emulator, source, store):
    em = emulator(size=130)  # several pages per status list
    conn = source.connect(env_for(em))
    try:
        with pytest.raises(Crash):
            extract_object(store, source, "conversations", run_id="r1", connection=CrashingConnection(conn, 2))
        cursor, _ = store.get_cursor("trengo", "conversations")
        read_before = [_list_key(r) for r in api_requests(em) if r["path"] == "/api/v2/tickets"]
        em.clear_log()
        summary = extract_object(store, source, "conversations", run_id="r1", connection=conn)
    finally:
        conn.close()
    assert summary.resumed_from == cursor and len(read_before) == 3  # the third was read when the crash came
    read_after = [_list_key(r) for r in api_requests(em) if r["path"] == "/api/v2/tickets"]
    # the two pages finished before the crash are not read again: the resumed extract starts at the next one
    assert read_after[0] == ((TICKET_LISTS[cursor["phase"]] or ""), "", cursor["page"])
    assert not set(read_before[:2]) & set(read_after)
    got = staged(store, "conversations")
    assert len(got) == len(set(_ids(got))) == len([r for r in em.seed_records("conversations") if len(r) > 1])


def test_messages_resume_after_the_last_finished_conversations(emulator, source, store):
    em = emulator(size=50)
    conn = source.connect(env_for(em))
    try:
        extract(store, source, conn, ["conversations"])
        with pytest.raises(Crash):
            extract_object(store, source, "messages", run_id="run-1", connection=CrashingConnection(conn, 2))
        finished = _finished_conversations(store)
        em.clear_log()
        extract_object(store, source, "messages", run_id="run-1", connection=conn)
        extract_object(store, source, "attachments", run_id="run-1", connection=conn)
    finally:
        conn.close()
    reread = {r["path"].split("/")[4] for r in api_requests(em) if r["path"].endswith("/messages")}
    assert not reread & finished
    got = staged(store, "messages")
    assert len(got) == len(set(_ids(got))) == len(em.seed_records("messages"))
    assert len(staged(store, "attachments")) == len([a for a in em.seed_records("attachments") if len(a) > 1])


def _finished_conversations(store) -> set:
    """The conversations a message cursor says are done: every one up to ``done`` and the ``ahead`` ranges."""
    cursor = store.get_cursor("trengo", "messages")[0]
    positions = set(range(1, cursor["done"] + 1))
    positions |= {p for first, last in cursor.get("ahead", []) for p in range(first, last + 1)}
    return {c["id"] for n, c in enumerate(staged(store, "conversations"), start=1) if n in positions}


def test_a_long_thread_holds_back_only_its_own_batch_and_a_resume_reads_nothing_twice(emulator, source, store):
    em = emulator(size=60)
    conn = source.connect(env_for(em))
    try:
        extract(store, source, conn, ["conversations"])
        first = staged(store, "conversations")[0]["id"]
        # The first conversation's thread answers slowly: later batches finish first and are staged meanwhile.
        em.set_faults(slow_body_next=1, slow_ms=3000, fault_path=f"/api/v2/tickets/{first}/messages")
        with pytest.raises(Crash):
            extract_object(store, source, "messages", run_id="run-1", connection=CrashingConnection(conn, 2))
        cursor = store.get_cursor("trengo", "messages")[0]
        finished = _finished_conversations(store)
        assert cursor["done"] == 0 and cursor["ahead"], cursor  # two batches staged past the slow one
        assert first not in finished and len(finished) == 2 * 12
        em.clear_log()
        extract_object(store, source, "messages", run_id="run-1", connection=conn)
    finally:
        conn.close()
    reread = {r["path"].split("/")[4] for r in api_requests(em) if r["path"].endswith("/messages")}
    assert not reread & finished and str(first) in reread
    got = staged(store, "messages")
    assert len(got) == len(set(_ids(got))) == len(em.seed_records("messages"))
    (audit,) = saved_audits(store, "trengo", "messages")  # the whole object's, read without shards
    # Each message counted once across the crash: the resumed audit goes on from the one saved with the cursor.
    assert audit["complete"] and audit["covers_whole_object"] and audit["extracted"] == len(got)


def test_a_delta_reads_only_what_changed(emulator, source, store):
    em = emulator(size=80)
    conn = source.connect(env_for(em))
    objects = ["conversations", "messages", "attachments"]
    try:
        extract(store, source, conn, objects, run_id="full")
        messages_before = len(staged(store, "messages"))
        # An agent answers two tickets after the full extract: that is all the delta may read.
        changed = [TICKET_BASE + 5, TICKET_BASE + 17]
        for ticket in changed:
            requests.post(f"{em.url}/tickets/{ticket}/messages", json={"message": f"Reply to {ticket}"},
                          headers={"Authorization": f"Bearer {em.token}"}, timeout=5).raise_for_status()
        em.clear_log()
        summaries = extract(store, source, conn, objects, run_id="delta", delta=True)
    finally:
        conn.close()
    listing = [_list_key(r) for r in api_requests(em) if r["path"] == "/api/v2/tickets"]
    # every status list, the unfiltered one and their catch-ups: one page each, all narrowed by updated_at_gt
    assert len(listing) == 10 and all(updated for _, updated, _ in listing)
    threads = sorted(int(r["path"].split("/")[4]) for r in api_requests(em) if r["path"].endswith("/messages"))
    assert threads == changed
    assert summaries["conversations"].changed == 2 and summaries["conversations"].inserted == 0
    assert summaries["messages"].inserted == 2
    assert len(staged(store, "messages")) == messages_before + 2
    new = [m for m in staged(store, "messages") if m.get("body_text", "").startswith("Reply to")]
    assert {m["conversation_id"] for m in new} == {str(t) for t in changed}
    assert all(m["kind"] == "outbound" and m["author_type"] == "agent" for m in new)


def test_the_delta_overlap_reaches_back_in_trengo_local_time(emulator, source, store):
    em = emulator(size=5)
    conn = source.connect(env_for(em, TRENGO_DELTA_OVERLAP_MINUTES="30"))
    since = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
    try:
        extract_object(store, source, "conversations", run_id="d", connection=conn, delta=True, since=since)
    finally:
        conn.close()
    lists = [_list_key(r) for r in api_requests(em) if r["path"] == "/api/v2/tickets"]
    since_local = (since - timedelta(minutes=30)).astimezone(conn.tz).strftime("%Y-%m-%d %H:%M:%S")
    assert since_local == "2025-07-01 13:30:00"  # Amsterdam summer time
    # the four status lists and the unfiltered one reach back to it; the catch-ups to the extract's start
    assert sorted(status for status, updated, _ in lists if updated == since_local) == \
        ["", "ASSIGNED", "CLOSED", "INVALID", "OPEN"]
