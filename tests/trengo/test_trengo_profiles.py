"""The source against the emulator's variant profiles: the same canonical records under each (nothing lost),
platform totals only where the API reports one, and tickets that move status while the lists are read."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import requests
from trengo_support import env_for, extract, staged

from helpdesk_migrate.plugins.trengo.emulator.profiles import PROFILES, parse_profiles
from helpdesk_migrate.plugins.trengo.emulator.workspace import TICKET_BASE
from helpdesk_migrate.plugins.trengo.source import RELIST_PASSES, TrengoSource
from migration_assets.registry import emulator_for
from migration_assets.runtime import extract_object

OBJECTS = ["agents", "teams", "channels", "contacts", "conversations", "messages", "attachments", "articles"]
VARIANTS = [p for p in PROFILES if p != "default"]


class Recording:
    """Passes an extract through and keeps its chunks (the engine does not store totals or findings here)."""

    def __init__(self, conn, after_chunk=None):
        self.conn, self.chunks, self.after_chunk = conn, {}, after_chunk

    def extract(self, canonical, **kwargs):
        for chunk in self.conn.extract(canonical, **kwargs):
            self.chunks.setdefault(canonical, []).append(chunk)
            yield chunk
            if self.after_chunk:
                self.after_chunk(chunk)

    def close(self):
        pass


def _by_id(records):
    return sorted(records, key=lambda r: r["id"])


def test_the_plugin_lists_its_profiles_default_first():
    profiles = emulator_for(TrengoSource()).profiles()
    assert next(iter(profiles)) == "default"
    assert set(VARIANTS) == {"inbox-default", "string-addresses", "simple-paginator", "utc-messages", "no-epoch",
                             "recorded-keys"}
    assert all(len(text) > 40 for text in profiles.values())  # each says what differs and why
    with pytest.raises(ValueError, match="known"):
        parse_profiles("default,inbox-only")


@pytest.mark.parametrize("profile", [*VARIANTS, ",".join(VARIANTS)])
def test_every_profile_yields_the_same_canonical_records(emulator, source, store, profile):
    em = emulator(size=30, profile=profile)
    conn = source.connect(env_for(em))
    try:
        extract(store, source, conn, OBJECTS)
    finally:
        conn.close()
    for canonical in OBJECTS:
        expected = [r for r in em.seed_records(canonical) if len(r) > 1]
        assert _by_id(staged(store, canonical)) == _by_id(expected), (profile, canonical)


def test_the_variants_really_differ_from_the_default(emulator):
    em = emulator(size=30, profile=",".join(VARIANTS))
    headers = {"Authorization": f"Bearer {em.token}"}

    def get(path, **params):
        return requests.get(f"{em.url}/{path}", params=params, headers=headers, timeout=5).json()

    shown = {t["status"] for t in get("tickets")["data"]}
    assert shown and not shown & {"CLOSED", "INVALID"}  # inbox-default
    assert "total" not in get("users")["meta"] and "last_page" not in get("users")["meta"]  # simple-paginator
    teams = get("teams")["data"]
    assert all("user_ids" in t and "users" not in t for t in teams)  # recorded-keys
    closed = get("tickets", status="CLOSED")["data"]
    assert closed and all("ticket_result_id" not in t for t in closed)
    thread = next(m for t in closed for m in get(f"tickets/{t['id']}/messages")["data"] if m.get("email_message"))
    assert isinstance(thread["email_message"]["to"], str)  # string-addresses
    assert isinstance(thread["created_at_time"], int)  # utc-messages


def test_totals_come_only_from_the_api(emulator, source, store):
    em = emulator(size=30)
    conn = Recording(source.connect(env_for(em)))
    try:
        extract(store, source, conn, ["agents", "teams", "contacts", "conversations"])
    finally:
        conn.conn.close()
    agents = [c.platform_total for c in conn.chunks["agents"] if c.platform_total]
    assert [t.count for t in agents] == [len(em.workspace.users)] and "meta.total" in agents[0].basis
    # /tickets and /contacts are on the simple paginator: no total is made up
    assert not [c for c in conn.chunks["conversations"] + conn.chunks["contacts"] if c.platform_total]


def test_no_total_under_the_simple_paginator(emulator, source, store):
    em = emulator(size=10, profile="simple-paginator")
    conn = Recording(source.connect(env_for(em)))
    try:
        extract(store, source, conn, ["agents", "teams", "channels"])
    finally:
        conn.conn.close()
    assert not [c for chunks in conn.chunks.values() for c in chunks if c.platform_total]


@pytest.mark.parametrize("profile", ["default", "inbox-default"])
def test_a_ticket_reopened_after_its_list_was_read_is_still_extracted(emulator, source, store, profile):
    """A CLOSED ticket reopened (back to OPEN or ASSIGNED) after those lists were read and before the CLOSED one
    is: no status list shows it where we look, the catch-up does."""
    em = emulator(size=40, profile=profile)
    ws = em.workspace
    headers = {"Authorization": f"Bearer {em.token}"}
    moved = TICKET_BASE + ws.ticket_order(status="CLOSED")[0]

    def reopen_after_open_list(chunk):
        if chunk.cursor and chunk.cursor["phase"] == 2 and chunk.cursor["page"] == 1:  # OPEN, ASSIGNED read
            requests.post(f"{em.url}/tickets/{moved}/reopen", headers=headers, timeout=5).raise_for_status()

    conn = Recording(source.connect(env_for(em)), after_chunk=reopen_after_open_list)
    try:
        summary = extract_object(store, source, "conversations", run_id="r", connection=conn)
    finally:
        conn.conn.close()
    got = {c["id"]: c for c in staged(store, "conversations")}
    assert got[str(moved)]["status"] in ("open", "assigned")
    assert summary.records == len(got) == ws.n_tickets  # extracted once


def test_a_ticket_closed_after_it_was_read_is_staged_as_closed(emulator, source, store):
    em = emulator(size=40)
    ws = em.workspace
    headers = {"Authorization": f"Bearer {em.token}"}
    moved = TICKET_BASE + ws.ticket_order(status="OPEN")[0]

    def close_after_open_list(chunk):
        if chunk.cursor and chunk.cursor["phase"] == 1 and chunk.cursor["page"] == 1:  # the OPEN list is read
            requests.post(f"{em.url}/tickets/{moved}/close", headers=headers, timeout=5).raise_for_status()

    conn = Recording(source.connect(env_for(em)), after_chunk=close_after_open_list)
    try:
        extract_object(store, source, "conversations", run_id="r", connection=conn)
    finally:
        conn.conn.close()
    got = [c for c in staged(store, "conversations") if c["id"] == str(moved)]
    assert len(got) == 1 and got[0]["status"] == "closed"


def _extract_moving(emulator, source, store, move, *, profile="default", crash_when=None):
    """A 300-ticket extract during which ``move(em, chunk)`` changes the workspace after a chunk is staged;
    ``crash_when(chunk)``: the connection fails there once, and the extract is resumed from its cursor."""
    em = emulator(size=300, profile=profile)
    crashed = []

    def after(chunk):
        move(em, chunk)
        if crash_when and not crashed and crash_when(chunk):
            crashed.append(chunk.cursor)
            raise ConnectionError("the connection dropped")

    conn = Recording(source.connect(env_for(em)), after_chunk=after)
    try:
        try:
            extract_object(store, source, "conversations", run_id="r", connection=conn)
        except ConnectionError:
            assert crashed, "only the planned crash may fail the extract"
            conn.chunks.clear()
            extract_object(store, source, "conversations", run_id="r", connection=conn)
    finally:
        conn.conn.close()
    return em, conn.chunks["conversations"], crashed


def _post(em, ticket, action):
    requests.post(f"{em.url}/tickets/{ticket}/{action}", headers={"Authorization": f"Bearer {em.token}"},
                  timeout=5).raise_for_status()


def _once(action, ticket_of, when):
    done = []

    def move(em, chunk):
        if not done and chunk.cursor and when(chunk.cursor):
            ticket = TICKET_BASE + ticket_of(em.workspace)
            _post(em, ticket, action)
            done.append(str(ticket))
    return move, done


def _relisted(chunks):
    return {c.cursor.get("pass", 0) for c in chunks if c.cursor} - {0}


@pytest.mark.parametrize("profile", ["default", "inbox-default"])
def test_a_ticket_closed_mid_list_does_not_make_the_paging_skip_one(emulator, source, store, profile):
    """The reviewer's case: the first OPEN ticket is closed once page 1 of the OPEN list is staged; every later
    OPEN ticket moves up one place, and the first of page 2 lands on page 1, already read. It did not change, so
    no catch-up lists it: the OPEN list is read again because the closed ticket was seen to leave it."""
    move, closed = _once("close", lambda ws: ws.ticket_order(status="OPEN")[0],
                         lambda cur: cur.get("phase") == 0 and cur.get("page") == 2 and not cur.get("pass"))
    em, chunks, _ = _extract_moving(emulator, source, store, move, profile=profile)
    got = {c["id"]: c for c in staged(store, "conversations")}
    assert closed and got[closed[0]]["status"] == "closed"
    assert len(got) == em.workspace.n_tickets == 300  # 299 when the OPEN list was not read again
    assert _relisted(chunks) == {1}


def test_a_ticket_reopened_mid_closed_list_does_not_make_the_paging_skip_one(emulator, source, store):
    move, reopened = _once("reopen", lambda ws: ws.ticket_order(status="CLOSED")[0],
                           lambda cur: cur.get("phase") == 2 and cur.get("page") == 2 and not cur.get("pass"))
    em, chunks, _ = _extract_moving(emulator, source, store, move)
    got = {c["id"]: c for c in staged(store, "conversations")}
    assert reopened and got[reopened[0]]["status"] in ("open", "assigned")
    assert len(got) == em.workspace.n_tickets == 300
    assert _relisted(chunks) == {1}


def test_a_quiet_workspace_is_listed_once(emulator, source, store):
    em, chunks, _ = _extract_moving(emulator, source, store, lambda em, chunk: None)
    assert not _relisted(chunks)
    assert len(staged(store, "conversations")) == em.workspace.n_tickets


def test_a_crash_during_the_re_read_resumes_it_without_emitting_the_merged_tickets_again(emulator, source, store):
    move, closed = _once("close", lambda ws: ws.ticket_order(status="OPEN")[0],
                         lambda cur: cur.get("phase") == 0 and cur.get("page") == 2 and not cur.get("pass"))
    em, chunks, crashed = _extract_moving(
        emulator, source, store, move,
        crash_when=lambda chunk: bool(chunk.cursor and chunk.cursor.get("pass") == 1 and chunk.cursor["phase"] == 0
                                      and chunk.cursor["page"] == 1))
    assert crashed and crashed[0]["plan"][0] == [0, "full"]  # the OPEN list was to be read again: the resume does it
    assert len(staged(store, "conversations")) == em.workspace.n_tickets == 300
    # The resumed extract knew what had been merged: only the ticket the paging skipped is new to it (without
    # the merge it emitted the whole OPEN list again).
    assert sum(len(c.records) for c in chunks) == 1


def test_the_re_reads_are_bounded_and_a_workspace_that_keeps_moving_is_said(emulator, source, store):
    """An agent closes another OPEN ticket during every pass: the passes stop after RELIST_PASSES, and the last
    chunk warns that a ticket may have been skipped."""
    passes_moved = set()

    def move(em, chunk):
        cur = chunk.cursor or {}
        at = cur.get("pass", 0)
        if at not in passes_moved and cur.get("page") == 2 and cur.get("phase") == 0:
            passes_moved.add(at)
            _post(em, TICKET_BASE + em.workspace.ticket_order(status="OPEN")[0], "close")

    em, chunks, _ = _extract_moving(emulator, source, store, move)
    assert _relisted(chunks) == set(range(1, RELIST_PASSES + 1))
    warnings = [f for f in chunks[-1].findings if not f.passed and f.severity == "WARN"]
    assert len(warnings) == 1 and "OPEN" in warnings[0].description and "run the extract again" in \
        warnings[0].description
    assert len(staged(store, "conversations")) == em.workspace.n_tickets  # what a re-read skipped, an earlier read had


def test_a_re_list_pass_recounts_the_lists_tickets_entered(emulator, source):
    """A ticket that went from CLOSED (read) to OPEN (read before it arrived): CLOSED is read again in full, OPEN
    only re-counted (its total was taken before the ticket entered it), then every list is caught up on."""
    em = emulator(size=10)
    conn = source.connect(env_for(em))
    try:
        state = conn._next_relist_pass({"left": [2], "entered": [0], "started": "x", "phase": 9}, counts=True)
        assert state["plan"] == [[2, "full"], [0, "count"]] + [[i, "catch"] for i in range(5)]
        assert state["pass"] == 1 and state["left"] == state["entered"] == [] and state["pass_started"]
        delta = conn._next_relist_pass({"left": [2], "entered": [0], "started": "x"}, counts=False)
        assert [0, "count"] not in delta["plan"]  # a delta reports no total to keep right
        assert "done" in conn._next_relist_pass({"left": [], "entered": [], "started": "x"}, counts=True)
    finally:
        conn.close()


def _message_findings(emulator, source, store, profile, **env):
    em = emulator(size=12, profile=profile)
    conn = Recording(source.connect(env_for(em, **env)))
    try:
        extract(store, source, conn, ["conversations", "messages"])
    finally:
        conn.conn.close()
    return em, conn.chunks


def test_message_times_measured_in_utc_under_the_2024_payloads(emulator, source, store):
    em, chunks = _message_findings(emulator, source, store, "utc-messages")
    (finding,) = [f for c in chunks["messages"] for f in c.findings if f.metadata["object"] == "message times"]
    assert finding.metadata["measured"] == "UTC" and finding.severity == "WARN" and not finding.passed
    assert finding.metadata["evidence_count"] == len(em.seed_records("messages"))
    # the times are right all the same: the epoch beside each one is exact
    assert _by_id(staged(store, "messages")) == _by_id(em.seed_records("messages"))


def test_an_explicit_zone_that_contradicts_the_data_is_an_error(emulator, source, store):
    _, chunks = _message_findings(emulator, source, store, "utc-messages", TRENGO_TIMEZONE="Europe/Amsterdam")
    findings = [f for c in chunks["messages"] for f in c.findings if f.metadata["object"] == "message times"]
    assert findings and all(f.severity == "ERROR" and not f.passed for f in findings)
    assert "UTC" in findings[0].description and "Europe/Amsterdam" in findings[0].description


def test_the_default_workspace_shows_its_zone_in_the_data(emulator, source, store):
    _, chunks = _message_findings(emulator, source, store, "default")
    findings = [f for c in chunks["messages"] for f in c.findings]
    assert findings and all(f.passed and f.metadata["measured"] for f in findings)
    assert "Europe/Amsterdam" in findings[-1].description


def test_without_evidence_the_assumption_is_said(emulator, source, store):
    _, chunks = _message_findings(emulator, source, store, "no-epoch")
    (finding,) = [f for c in chunks["messages"] for f in c.findings]
    assert finding.passed and finding.metadata["measured"] is None and "Europe/Amsterdam" in finding.description
    (tickets,) = [f for c in chunks["conversations"] for f in c.findings]
    assert tickets.passed and tickets.metadata["object"] == "ticket times"


def test_extract_tallies_the_payloads_it_read(emulator, source, store):
    _, chunks = _message_findings(emulator, source, store, "recorded-keys")
    for canonical in ("conversations", "messages"):
        payloads = sum(c.payloads for c in chunks[canonical])
        counts = {}
        for c in chunks[canonical]:
            for k, v in c.key_counts.items():
                counts[k] = counts.get(k, 0) + v
        assert payloads > 0 and counts["id"] == payloads, canonical
    assert counts["attachments[].full_url|url|path|download_url"] > 0  # found under download_url


class _StatusTotalsClient:
    """A client whose ticket lists are length-aware (meta.total per status), as no recorded payload shows yet:
    the source must add the four totals up, and make none up in a delta or when one status has none."""

    def __init__(self, tickets, totals):
        self.tickets, self.totals = tickets, totals

    def pages(self, path, params=None, *, start_page=1):
        from helpdesk_migrate.plugins.trengo.client import Page

        params = params or {}
        if path != "tickets":
            yield Page(1, [], True, None)
            return
        status = params.get("status")
        items = [t for t in self.tickets if not status or t["status"] == status]
        if "updated_at_gt" in params:
            items = [t for t in items if t["updated_at"] > params["updated_at_gt"]]
        yield Page(1, items, True, self.totals.get(status) if status and "updated_at_gt" not in params else None)

    def close(self):
        pass


def _ticket(k, status):
    return {"id": 100 + k, "status": status, "created_at": "2024-01-01 10:00:00", "updated_at": "2024-01-02 10:00:00"}


@pytest.mark.parametrize("totals, since, expected", [
    ({"OPEN": 1, "ASSIGNED": 1, "CLOSED": 2, "INVALID": 0}, None, 4),
    ({"OPEN": 1, "ASSIGNED": 1, "CLOSED": 2}, None, None),  # one status without a total: no sum
    ({"OPEN": 1, "ASSIGNED": 1, "CLOSED": 2, "INVALID": 0}, "delta", None),  # a delta has no total
])
def test_ticket_totals_are_the_sum_of_the_status_totals(totals, since, expected):
    from datetime import UTC, datetime

    from helpdesk_migrate.plugins.trengo.client import TrengoConfig
    from helpdesk_migrate.plugins.trengo.source import TrengoConnection

    tickets = [_ticket(0, "OPEN"), _ticket(1, "ASSIGNED"), _ticket(2, "CLOSED"), _ticket(3, "CLOSED")]
    conn = TrengoConnection(TrengoConfig(token="t"), client=_StatusTotalsClient(tickets, totals))
    try:
        chunks = list(conn.extract("conversations", context=None,
                                   since=datetime(2023, 1, 1, tzinfo=UTC) if since else None))
    finally:
        conn.close()
    assert sorted(r["id"] for c in chunks for r in c.records) == ["100", "101", "102", "103"]
    got = [c.platform_total for c in chunks if c.platform_total]
    assert [t.count for t in got] == ([expected] if expected is not None else [])
    if got:
        assert "per-status" in got[0].basis


def test_articles_are_listed_in_every_locale_the_centre_holds(emulator, source, store):
    em = emulator(size=5)
    conn = source.connect(env_for(em))
    try:
        extract(store, source, conn, ["articles"])
    finally:
        conn.close()
    listed = {parse_qs(r["query"]).get("localeCode", [""])[0] for r in em.request_log()
              if r["path"].endswith("/articles")}
    assert listed == set(em.workspace.help_centers[0]["locales"]) == {"en", "nl"}
    details = [r["path"] for r in em.request_log() if "/articles/" in r["path"]]
    assert len(details) == len(set(details)) == len(em.workspace.articles)  # each read once, whatever its locales


def test_ticket_times_are_measured_against_their_last_message_epoch(emulator, source, store):
    # utc-messages: messages in UTC with an epoch; the tickets' latest_message stays in Amsterdam time, as the
    # 2024 dataset shows other resources (+2 h in summer)
    _, chunks = _message_findings(emulator, source, store, "utc-messages")
    (tickets,) = [f for f in chunks["messages"][-1].findings if f.metadata["object"] == "ticket times"]
    assert tickets.passed and tickets.metadata["measured"] == "Europe/Amsterdam"
    assert tickets.metadata["evidence_count"] > 0


def test_ticket_times_in_another_zone_say_what_to_do(emulator, source, store):
    # the workspace renders everything in UTC; read as Amsterdam (assumed), the messages' epochs give it away
    em = emulator(size=12, profile="utc-messages", timezone="UTC")
    env = {k: v for k, v in env_for(em).items() if k != "TRENGO_TIMEZONE"}
    conn = Recording(source.connect(env))
    try:
        extract(store, source, conn, ["conversations", "messages"])
    finally:
        conn.conn.close()
    (tickets,) = [f for f in conn.chunks["messages"][-1].findings if f.metadata["object"] == "ticket times"]
    assert not tickets.passed and tickets.severity == "WARN" and tickets.metadata["measured"] == "UTC"
    assert "TRENGO_TIMEZONE=UTC" in tickets.description and "extract the conversations again" in tickets.description
