"""The Trengo source plugin: what it extracts, the settings it reads, and the extraction itself.

Each canonical object is extracted in chunks whose cursor resumes *after* the chunk (the engine stages a
chunk, then saves its cursor):

- contacts -> ``contacts``: one chunk per API page, cursor ``{"page": n}``.
- tickets -> ``conversations``: what an unfiltered GET /tickets returns is undocumented (a UI inbox shows
  only open and assigned ones), so tickets are listed per status (OPEN, ASSIGNED, CLOSED, INVALID), then
  unfiltered for any status outside those four, then once more each with ``updated_at_gt`` = the start of
  this extract (a *catch-up*): a ticket that moved from a list not yet read to one already read is found
  there. Tickets are merged by id: one seen already is emitted again only when its ``updated_at`` changed.
  One chunk per page, cursor ``{"phase": k, "page": n, "started": ..., ...}``. A delta (``since``) adds
  ``updated_at_gt`` = since minus TRENGO_DELTA_OVERLAP_MINUTES, in Trengo's local time, to every list.
  Within a list, tickets are read latest-activity first (``sort=-date``): activity during the extraction
  moves a ticket to the front, which can only make a later page repeat an item. A ticket *leaving* a list
  while it is paged makes it skip one: when a ticket is seen in another list than before, the list it left
  is read again (a re-list pass, ``"pass"``/``"plan"`` in the cursor; see ticket_merge.py).
- ``messages``: per staged conversation (never a second ticket listing), or only the changed ones in a
  delta; cursor ``{"done": n}`` counts finished conversations (``"ahead"``: ranges past ``n`` finished out of
  order, so a resume reads none twice). Collapsed emails are fetched whole. Sharded
  by conversation (``fan_out_from``): the engine shows a shard's extract only that shard's conversations.
- ``attachments``: the messages extract lists every attachment in ``attachments-manifest.jsonl`` (one
  ``attachments-manifest-<shard>.jsonl`` per shard) in the files directory; this extract streams their
  content there (sha256 while streaming, sanitised names), cursor ``{"line": n}`` counted across the
  manifests. A canonical message record has no place for a download URL, hence the manifest.
- ``reports``: one chunk per month of reporting metrics, also written as a CSV export.
- everything else: small lists, one chunk.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import queue
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from helpdesk_migrate.sdk import (
    EVERY_RECORD,
    BudgetPacedExecutor,
    CheckFinding,
    Chunk,
    ExtractContext,
    PlatformTotal,
    Rejected,
    RequestBudget,
    RequestEstimate,
    Setting,
    SourceObject,
    append_synced,
    hash_file,
)

from . import __version__
from .audit import PAYLOAD_KEYS, Auditor, tally
from .changes import contact_changes, every_record_changes, message_changes, ticket_changes
from .client import (
    REPORTS_CSV_DEFAULT,
    SETTINGS,
    TrengoClient,
    TrengoConfig,
    TrengoNotFound,
    TrengoRequestError,
)
from .mapping import (
    ATTACHMENTS_DIR,
    REPORT_METRICS,
    AttachmentRef,
    Lookups,
    attachment_local_path,
    help_center_locales,
    is_collapsed,
    map_article,
    map_attachment,
    map_channel,
    map_contact,
    map_contact_group,
    map_custom_field,
    map_label,
    map_quick_reply,
    map_team,
    map_thread,
    map_ticket,
    map_user,
    map_webhook,
    report_months,
    report_rows,
    rules_inventory,
    to_local_naive,
)
from .ticket_merge import OTHER, TICKET_STATUSES, TicketMerge, list_of
from .zones import ZoneEvidence, zone_finding

MANIFEST_NAME = "attachments-manifest.jsonl"
MESSAGE_BATCH = 12  # conversations per messages chunk (fetched concurrently, committed together)
MESSAGE_BATCHES_IN_FLIGHT = 4  # at least; more when the paced pool runs more at once
ATTACHMENT_BATCH = 24
# The ticket lists read in turn: each status, then unfiltered (statuses outside the four); then the same again
# as a catch-up of what changed since the extract started.
TICKET_LISTS: tuple[str | None, ...] = (*TICKET_STATUSES, None)
TICKET_PAGE_SIZE = 25  # items a list page holds (reference: trengo-api.md, "Ticket pages hold a fixed 25 items")
# The catch-up reaches back this far before the extract's start: Trengo's clock and ours may disagree a little.
CATCH_UP_SLACK = timedelta(minutes=10)
# A ticket that left a list while it was paged may have made the paging skip one: that list is read again
# (a *re-list pass*, then a catch-up of what changed meanwhile), until a pass sees no ticket leave a list read.
RELIST_PASSES = 3


OBJECTS: tuple[SourceObject, ...] = (
    SourceObject("agents", description="Trengo users (agents) with role and active/inactive status."),
    SourceObject("teams", description="Teams with their members and channels."),
    SourceObject("channels", description="Channels of every type (email, chat, WhatsApp, voice, social, ...)."),
    SourceObject("contacts", description="Contacts with custom field values, notes, groups and profile link."),
    SourceObject("conversations", supports_since=True,
                 description="Tickets of every status, with labels, ticket result and custom data."),
    SourceObject("messages", depends_on=("conversations",), supports_since=True, fan_out_from="conversations",
                 description="Each ticket's thread (inbound, outbound, notes, system events); collapsed emails "
                             "fetched whole. A delta reads only the threads of changed tickets. Read per ticket, "
                             "so it is sharded by ticket: shards extract and load concurrently."),
    SourceObject("attachments", depends_on=("messages",), supports_since=True,
                 description="Files and inline images of messages, streamed into the files directory with a "
                             "sha256."),
    SourceObject("tags", description="Labels."),
    SourceObject("custom_fields", description="Custom field definitions of contacts, tickets and profiles."),
    SourceObject("articles", description="Help-center articles, one record per translation."),
    SourceObject("quick_replies", description="Quick replies."),
    SourceObject("contact_groups", description="Contact groups."),
    SourceObject("workflows", description="Webhooks, and an entry for the rules/flowbots the API does not expose."),
    SourceObject("reports", depends_on=("conversations",),
                 description="Monthly reporting metrics over the conversations' time span; also a CSV export."),
)
OBJECTS = tuple(dataclasses.replace(o, payload_keys=PAYLOAD_KEYS.get(o.canonical, ())) for o in OBJECTS)



class TrengoSource:
    name = "trengo"
    title = "Trengo"
    version = __version__

    def objects(self) -> tuple[SourceObject, ...]:
        return OBJECTS

    def settings(self) -> tuple[Setting, ...]:
        return SETTINGS

    def connect(self, env: Mapping[str, str]) -> TrengoConnection:
        return TrengoConnection(TrengoConfig.from_env(env))

    # -- the throughput plan (PlansRequests) -----------------------------------------------------------

    def request_budget(self, env: Mapping[str, str]) -> RequestBudget:
        config = TrengoConfig.from_env(env)
        # A rehearsal window (TRENGO_RATE_LIMIT_WINDOW_SECONDS) scales the budget to requests a minute.
        per_minute = config.rate_limit_per_minute * 60 / config.window_seconds
        return RequestBudget(per_minute=per_minute, plan=f"API token, {per_minute:g} requests a minute",
                             basis="https://developers.trengo.com/docs/rate-limiting: 120 requests a minute per "
                                   "token, whatever the plan (no higher tier is documented)")

    def estimate_requests(self, scope: Mapping[str, Any]) -> list[RequestEstimate]:
        """Used where discovery measured nothing (it measures every extract it runs): pages of 25 and one
        request per contact's notes, per thread page and per collapsed email are what the crawl reads."""
        counts = scope.get("counts") or {}
        pages = {n: -(-int(c) // TICKET_PAGE_SIZE) for n, c in counts.items()}
        threads = sum(-(-max(int(length), 1) // TICKET_PAGE_SIZE) * int(n)
                      for length, n in (scope.get("thread_lengths") or {}).items() if int(length))
        contacts = pages.get("contacts", 0) + int(counts.get("contacts", 0))
        return [RequestEstimate("contacts", contacts, "25 a page, plus one request per contact for its notes "
                                                      "(TRENGO_CONTACT_NOTES, on by default)"),
                RequestEstimate("conversations", pages.get("conversations", 0) + len(TICKET_LISTS),
                                "25 tickets a page, per status list"),
                RequestEstimate("messages", threads, "one request per 25 messages of each thread (a floor: each "
                                                        "collapsed email costs one more)")]


class TrengoConnection:
    def __init__(self, config: TrengoConfig, client: TrengoClient | None = None):
        self.config = config
        self.client = client or TrengoClient(config)
        self.tz = config.tz
        # As many requests in flight as the budget needs at the measured latency (Little's law), up to
        # TRENGO_CONCURRENCY: a fixed pool filled a 1,200-a-minute token to 0.74 at 150 ms a request.
        self._pool = BudgetPacedExecutor(config.rate_limit_per_minute / config.window_seconds,
                                         max_workers=config.concurrency, thread_name_prefix="trengo")
        self.client.on_latency = self._pool.observe_latency
        self._lookups: Lookups | None = None
        self._message_zones = ZoneEvidence(config.timezone)
        # Tickets carry no epoch; their last_activity_at (the ticket list's latest_message.created_at, read in
        # TRENGO_TIMEZONE) against that message's epoch says which zone the ticket payloads render in.
        self._ticket_zones = ZoneEvidence(config.timezone)
        self._zone_conflict_reported = False
        self._audit = Auditor()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)  # an abandoned extract must not finish its queue
        self.client.close()

    # -- dispatch ------------------------------------------------------------------------------------

    def extract(self, canonical: str, *, context: ExtractContext, cursor: Mapping[str, Any] | None = None,
                since: datetime | None = None) -> Iterator[Chunk]:
        cursor = dict(cursor) if cursor else None
        simple = {
            "agents": ("users", lambda raw: map_user(raw, self.tz)),
            "teams": ("teams", map_team),
            "channels": ("channels", map_channel),
            "tags": ("labels", map_label),
            "custom_fields": ("custom_fields", map_custom_field),
            "quick_replies": ("quick_replies", map_quick_reply),
            "contact_groups": ("contact_groups", map_contact_group),
        }
        if canonical in simple:
            path, mapper = simple[canonical]
            yield self._small_list(path, mapper, canonical)
        elif canonical == "workflows":
            chunk = self._small_list("webhooks", map_webhook)
            chunk.records.append(rules_inventory())
            if chunk.platform_total is not None:  # the rules entry is ours, not one of the webhooks counted
                total = chunk.platform_total
                chunk.platform_total = PlatformTotal(total.count + 1, f"{total.basis}, plus the rules inventory entry")
            yield chunk
        elif canonical == "contacts":
            yield from self._contacts(cursor)
        elif canonical == "conversations":
            yield from self._conversations(context, cursor, since)
        elif canonical == "messages":
            yield from self._messages(context, cursor, since)
        elif canonical == "attachments":
            yield from self._attachments(context, cursor, since)
        elif canonical == "articles":
            yield from self._articles(cursor)
        elif canonical == "reports":
            yield from self._reports(context, cursor)
        else:
            raise ValueError(f"the Trengo source does not extract {canonical!r}; it extracts "
                             f"{', '.join(o.canonical for o in OBJECTS)}")

    # -- shared pieces -------------------------------------------------------------------------------

    def lookups(self) -> Lookups:
        if self._lookups is None:
            fields = [f for p in self.client.pages("custom_fields") for f in p.items]
            results = [r for p in self.client.pages("ticket_results") for r in p.items]
            self._lookups = Lookups.build(fields, results)
        return self._lookups

    def _small_list(self, path: str, mapper, canonical: str | None = None) -> Chunk:
        records, rejected = [], []
        payloads, key_counts = 0, Counter()
        total: int | None = None
        for page in self.client.pages(path):
            if page.number == 1:
                total = page.total
            n, counts = tally(canonical or path, page.items)
            payloads += n
            key_counts.update(counts)
            for raw in page.items:
                mapped = mapper(raw)
                (rejected if isinstance(mapped, Rejected) else records).append(mapped)
        platform_total = PlatformTotal(total, f"meta.total of GET /{path}") if total is not None else None
        return Chunk(records, None, rejected, platform_total=platform_total, payloads=payloads,
                     key_counts=dict(key_counts))

    # -- contacts and conversations ------------------------------------------------------------------

    def _contacts(self, cursor: dict[str, Any] | None) -> Iterator[Chunk]:
        lookups = self.lookups()
        start = int(cursor.get("page", 1)) if cursor else 1
        for page in self.client.pages("contacts", start_page=start):
            raws = page.items
            if self.config.contact_notes and raws and "notes" not in raws[0]:
                raws = list(self._pool.map(self._contact_with_notes, raws))
            records = [map_contact(raw, lookups, self.tz) for raw in raws]
            changes = {r["id"]: c for raw, r in zip(raws, records, strict=True) if (c := contact_changes(raw, r))}
            changes[EVERY_RECORD] = every_record_changes(self.tz)
            n, counts = self._audit.tally("contacts", raws, page.number)
            # Only the simple paginator has been seen on /contacts (no total); a length-aware page's total is used.
            total = PlatformTotal(page.total, "meta.total of GET /contacts") \
                if page.total is not None and start == 1 else None
            yield Chunk(records, None if page.is_last else {"page": page.number + 1}, changes=changes,
                        platform_total=total, payloads=n, key_counts=counts)

    def _contact_with_notes(self, raw: dict[str, Any]) -> dict[str, Any]:
        try:
            detail = self.client.get(f"contacts/{raw['id']}", {"include": "notes"})
        except TrengoNotFound:
            return raw  # deleted between the list and now: keep what the list showed
        return detail if isinstance(detail, dict) else raw

    def _conversations(self, context: ExtractContext, cursor: dict[str, Any] | None,
                       since: datetime | None) -> Iterator[Chunk]:
        lookups = self.lookups()
        merge = TicketMerge(getattr(context, "files_dir", None), getattr(context, "partition", None))
        if cursor and "phase" in cursor:
            state = dict(cursor)
            merge.load()  # the tickets the interrupted extract merged: not emitted again, their moves still seen
        else:  # a fresh extract (an old {"page": n} cursor of the single listing starts over: nothing is lost)
            state = {"phase": 0, "page": 1, "started": self._catch_up_start(), "totals": {}}
            if since is not None:
                state["updated_at_gt"] = to_local_naive(since - timedelta(minutes=self.config.overlap_minutes),
                                                        self.tz)
            merge.reset()
        full = since is None and "updated_at_gt" not in state
        while state is not None:
            plan = _ticket_plan(state)
            li, kind = plan[int(state["phase"])]
            status = TICKET_LISTS[li]
            params: dict[str, Any] = {"sort": "-date"}
            if status:
                params["status"] = status
            newer_than = state.get("pass_started", state["started"]) if kind == "catch" else state.get("updated_at_gt")
            if newer_than:
                params["updated_at_gt"] = newer_than
            for page in self.client.pages("tickets", params, start_page=int(state["page"])):
                if status and kind != "catch" and page.number == 1:
                    state = {**state, "totals": {**state.get("totals", {}), status: page.total}}
                fresh, left, entered = [], set(state.get("left", [])), set(state.get("entered", []))
                for raw in page.items:
                    if not isinstance(raw, dict):
                        continue
                    # The unfiltered list also shows the four statuses, each read in its own list: only their
                    # moves are noted there.
                    elsewhere = status is None and kind != "catch" and list_of(raw) != OTHER
                    emit, move = merge.take(raw, observe_only=elsewhere)
                    if move:
                        left.add(move[0])
                        entered.add(move[1])
                    if emit:
                        fresh.append(raw)
                state = {**state, "left": sorted(left), "entered": sorted(entered)}
                list_done = page.is_last or kind == "count"
                if not list_done:
                    state = {**state, "page": page.number + 1}
                elif int(state["phase"]) + 1 < len(plan):
                    state = {**state, "phase": int(state["phase"]) + 1, "page": 1}
                else:
                    state = self._next_relist_pass(state, counts=full)
                chunk = self._ticket_chunk(fresh, lookups, None if state is None or "done" in state else dict(state))
                if chunk.cursor is None:
                    self._finish_tickets(chunk, state, full)
                    state = None
                n, counts = self._audit.tally("conversations", page.items, page.number)
                chunk.payloads, chunk.key_counts = n, counts
                yield chunk
                merge.save()  # the engine has staged the chunk: what it merged holds after a crash
                if list_done:
                    break

    def _catch_up_start(self) -> str:
        return to_local_naive(datetime.now(UTC) - CATCH_UP_SLACK, self.tz)

    def _next_relist_pass(self, state: dict[str, Any], *, counts: bool) -> dict[str, Any]:
        """After the last list of a pass: another pass that reads again, in full, every list a ticket was seen
        to leave (only its tickets not merged yet are emitted), re-counts the lists they entered (a total taken
        before a ticket entered would miss it), then catches up on what changed since the pass started.
        ``{"done": ...}`` when no ticket left a list, or the passes are used up."""
        left = [int(i) for i in state.get("left", [])]
        passes = int(state.get("pass", 0))
        if not left or passes >= RELIST_PASSES:
            return {**state, "done": True}
        recount = [i for i in state.get("entered", []) if i not in left and i != OTHER] if counts else []
        plan = ([[i, "full"] for i in left] + [[i, "count"] for i in recount]
                + [[i, "catch"] for i in range(len(TICKET_LISTS))])
        return {**state, "pass": passes + 1, "plan": plan, "phase": 0, "page": 1, "left": [], "entered": [],
                "pass_started": self._catch_up_start()}

    def _finish_tickets(self, chunk: Chunk, state: dict[str, Any], full: bool) -> None:
        chunk.findings.append(zone_finding("ticket times", None, configured=self.config.timezone,
                                           explicit=self.config.timezone_explicit,
                                           evidence_field="(none on tickets)"))
        chunk.platform_total = _status_total(state.get("totals", {})) if full else None
        if state.get("left"):
            names = ", ".join(TICKET_LISTS[int(i)] or "unfiltered" for i in state["left"])
            chunk.findings.append(CheckFinding(
                False, f"tickets were still leaving the {names} ticket list(s) after {RELIST_PASSES} re-reads: a "
                "ticket that did not change may have been skipped by the paging; run the extract again when the "
                "workspace is quieter (restart: true in its run config)", "WARN",
                {"lists": names, "passes": RELIST_PASSES}))

    def _ticket_chunk(self, raws: list[dict[str, Any]], lookups: Lookups, cursor: dict[str, Any] | None) -> Chunk:
        records, rejected = [], []
        changes = {EVERY_RECORD: every_record_changes(self.tz)}
        for raw in raws:
            mapped = map_ticket(raw, lookups, self.tz)
            (rejected if isinstance(mapped, Rejected) else records).append(mapped)
            if not isinstance(mapped, Rejected) and (changed := ticket_changes(raw, mapped, self.tz)):
                changes[mapped["id"]] = changed
        return Chunk(records, cursor, rejected, changes)

    # -- messages ------------------------------------------------------------------------------------

    def _messages(self, context: ExtractContext, cursor: dict[str, Any] | None,
                  since: datetime | None) -> Iterator[Chunk]:
        progress = _CrawlProgress.from_cursor(cursor)
        changed = context.changed_ids("conversations") if since is not None else None
        manifest = _Manifest(context.files_dir, getattr(context, "partition", None))
        if not cursor and changed is None:
            manifest.reset()  # a full extract lists every attachment (of its shard) afresh

        def batches() -> Iterator[list[tuple[int, dict[str, Any]]]]:
            position, batch = 0, []
            for ticket in context.staged("conversations"):
                if changed is not None and ticket["id"] not in changed:
                    continue
                position += 1
                if progress.finished(position):
                    continue
                batch.append((position, ticket))
                if len(batch) >= MESSAGE_BATCH:
                    yield batch
                    batch = []
            if batch:
                yield batch

        # Tickets stay queued ahead of the pool (eight times what runs at once, so the window grows with the
        # budget) and each batch is staged as soon as all its tickets are read, in whatever order batches finish:
        # a long thread holds back its own batch, never the pool (staged strictly in order, one long thread left
        # a 6,000-a-minute token at 0.82 of its budget). The cursor says exactly which tickets are done, so a resume
        # reads none twice and the source audit counts each once.
        finished: queue.SimpleQueue[tuple[list[int], list[Future]]] = queue.SimpleQueue()
        outstanding = 0

        def submit(batch: list[tuple[int, dict[str, Any]]]) -> None:
            futures = [self._pool.submit(self._thread, t) for _, t in batch]
            left = [len(futures)]
            lock = threading.Lock()

            def one_done(_: Future) -> None:
                with lock:
                    left[0] -= 1
                    if left[0]:
                        return
                finished.put(([p for p, _ in batch], futures))

            for f in futures:
                f.add_done_callback(one_done)

        def staged(block: bool) -> Iterator[Chunk]:
            nonlocal outstanding
            while outstanding and (block or not finished.empty()):
                positions, futures = finished.get()
                block = False  # one finished batch is enough to go on submitting
                outstanding -= len(positions)
                progress.add(positions)
                yield self._message_chunk(futures, progress.cursor(), manifest)

        for batch in batches():
            submit(batch)
            outstanding += len(batch)
            yield from staged(block=outstanding > max(MESSAGE_BATCH * MESSAGE_BATCHES_IN_FLIGHT,
                                                      8 * self._pool.concurrency))
        while outstanding:
            yield from staged(block=True)
        yield self._message_chunk([], None, manifest)  # the end of the crawl, with its findings

    def _message_chunk(self, futures: list[Future], cursor: dict[str, Any] | None, manifest: _Manifest) -> Chunk:
        records, rejected, refs = [], [], []
        changes = {EVERY_RECORD: every_record_changes(self.tz)}
        payloads, key_counts = 0, Counter()
        for future in futures:
            recs, rej, rfs, changed, (n, counts) = future.result()
            records += recs
            rejected += rej
            refs += rfs
            changes.update(changed)
            payloads += n
            key_counts.update(counts)
        manifest.append(refs)  # before the chunk is staged: a crash re-lists, never loses
        chunk = Chunk(records, cursor, rejected, changes, payloads=payloads, key_counts=dict(key_counts))
        explicit = self.config.timezone_explicit
        tz, use_epoch = self._message_zone()
        if use_epoch and self._message_zones.total():
            changes[EVERY_RECORD] = every_record_changes(tz, epochs=self._message_zones.total())
        if self._message_zones.conflicts(explicit) and not self._zone_conflict_reported:
            self._zone_conflict_reported = True  # said at once (it blocks the loads), and again at the end
            chunk.findings.append(self._message_zone_finding())
        if cursor is None:
            chunk.findings.append(self._message_zone_finding())
            if self._ticket_zones.total():
                chunk.findings.append(zone_finding(
                    "ticket times", self._ticket_zones, configured=self.config.timezone, explicit=explicit,
                    evidence_field="latest_message.created_at against that message's created_at_time",
                    remedy=f"the conversations were read in {self.config.timezone}. Set TRENGO_TIMEZONE="
                           f"{self._ticket_zones.measured()} and extract the conversations again."))
        return chunk

    def _message_zone_finding(self) -> CheckFinding:
        return zone_finding("message times", self._message_zones, configured=self.config.timezone,
                            explicit=self.config.timezone_explicit)

    def _message_zone(self) -> tuple[Any, bool]:
        """(zone for naive message times, whether an epoch beside them wins). An explicit TRENGO_TIMEZONE
        overrides what the data says (a conflict is an ERROR finding); else the measured zone, else the assumed."""
        if self.config.timezone_explicit:
            return self.tz, False
        measured = self._message_zones.measured()
        if measured is None or measured.startswith("other"):
            return self.tz, True
        return ZoneInfo(measured), True

    def _thread(self, ticket: dict[str, Any]) -> tuple[list, list, list, dict, tuple[int, dict]]:
        tid = ticket["id"]
        if ticket.get("message_count") == 0:
            return [], [], [], {}, (0, {})
        try:
            raw = [m for page in self.client.pages(f"tickets/{tid}/messages") for m in page.items]
            full = {}
            for m in raw:
                if is_collapsed(m):
                    try:
                        full[str(m["id"])] = self.client.get(f"tickets/{tid}/email_messages/{m['id']}")
                    except TrengoNotFound:
                        pass  # keep the collapsed body rather than nothing
        except TrengoNotFound:
            return [], [Rejected(source_id=f"ticket-{tid}", rule="ticket-gone",
                                 reason=f"Trengo ticket {tid} was deleted after it was listed; its messages could not "
                                        "be read", fix="nothing to migrate; the conversation itself was staged")], [], {}, (0, {})
        epochs = [m for m in raw if isinstance(m, dict) and isinstance(m.get("created_at_time"), (int, float))]
        for m in epochs:
            self._message_zones.add(m.get("created_at"), m.get("created_at_time"))
        if epochs and ticket.get("last_activity_at"):
            latest = max(epochs, key=lambda m: m["created_at_time"])
            shown = datetime.fromisoformat(ticket["last_activity_at"]).astimezone(self.tz)  # as the list showed it
            self._ticket_zones.add(shown.strftime("%Y-%m-%d %H:%M:%S"), latest["created_at_time"])
        tz, use_epoch = self._message_zone()
        records, rejected, refs = map_thread(raw, ticket, tz, full_emails=full,
                                             platform_hosts=self.config.media_hosts, use_epoch=use_epoch)
        raw_by_id = {str(m.get("id")): m for m in raw}
        changes = {r["id"]: c for r in records if (c := message_changes(raw_by_id[r["id"]], r, tz))}
        return records, rejected, refs, changes, self._audit.tally("messages", raw, sum(map(ord, str(tid))))

    # -- attachments ---------------------------------------------------------------------------------

    def _attachments(self, context: ExtractContext, cursor: dict[str, Any] | None,
                     since: datetime | None) -> Iterator[Chunk]:
        start = int(cursor.get("line", 0)) if cursor else 0
        only = context.changed_ids("messages") if since is not None else None
        files_dir = Path(context.files_dir)
        (files_dir / ATTACHMENTS_DIR).mkdir(parents=True, exist_ok=True)
        seen: set[str] = set()
        batch: list[AttachmentRef] = []
        line_no = start
        for line_no, ref in read_manifests(files_dir, start):
            if ref.id in seen or (only is not None and ref.message_id not in only):
                continue
            seen.add(ref.id)
            batch.append(ref)
            if len(batch) >= ATTACHMENT_BATCH:
                yield self._attachment_chunk(batch, files_dir, {"line": line_no + 1})
                batch = []
        yield self._attachment_chunk(batch, files_dir, None)

    def _attachment_chunk(self, refs: list[AttachmentRef], files_dir: Path, cursor: dict[str, Any] | None) -> Chunk:
        records, rejected = [], []
        for out in self._pool.map(lambda r: self._fetch_attachment(r, files_dir), refs):
            (rejected if isinstance(out, Rejected) else records).append(out)
        return Chunk(records, cursor, rejected)

    def _fetch_attachment(self, ref: AttachmentRef, files_dir: Path) -> dict[str, Any] | Rejected:
        if not ref.download or not ref.url:
            return map_attachment(ref)  # listed, not fetched (outside images, unlisted cids)
        relative = attachment_local_path(ref)
        root = files_dir.resolve()
        dest = (files_dir / relative).resolve()
        if not dest.is_relative_to(root):  # safe_file_name makes this impossible; keep the guard anyway
            return Rejected(ref.id, f"attachment name {ref.file_name!r} would leave the files directory",
                            rule="attachment-path", raw=ref.as_json())
        try:
            if dest.exists():  # finished earlier (files are renamed into place only when complete)
                sha, size = hash_file(dest)
            else:
                sha, size = self.client.download(ref.url, dest)
        except TrengoNotFound:
            return Rejected(ref.id, f"the file {ref.file_name!r} of message {ref.message_id} (conversation "
                                    f"{ref.conversation_id}) is gone at Trengo (HTTP 404)", rule="attachment-missing",
                            fix="ask the sender for the file again, or accept the message without it",
                            raw=ref.as_json())
        except TrengoRequestError as exc:
            return Rejected(ref.id, f"the file {ref.file_name!r} of message {ref.message_id} could not be downloaded: "
                                    f"{exc}", rule="attachment-download", fix="re-run the attachments extract",
                            raw=ref.as_json())
        return map_attachment(ref, sha256=sha, size=size, local_path=relative)

    # -- help center -------------------------------------------------------------------------------

    def _articles(self, cursor: dict[str, Any] | None) -> Iterator[Chunk]:
        """Per help centre, per locale it holds (never an assumed "en"), every listed article once, read whole
        (with its translations). Cursor ``{"help_center": h, "locale": k, "page": n}``."""
        centers = [c for p in self.client.pages("help_center") for c in p.items]
        h_start = int(cursor.get("help_center", 0)) if cursor else 0
        l_start = int(cursor.get("locale", 0)) if cursor else 0
        page_start = int(cursor.get("page", 1)) if cursor else 1
        for h in range(h_start, len(centers)):
            hc = centers[h]
            hc_id = str(hc["id"])
            categories = {str(c["id"]): c for p in self.client.pages(f"help_center/{hc_id}/categories")
                          for c in p.items}
            # No locale known: one listing without localeCode (the centre's own default), never a guessed one.
            locales: list[str | None] = list(help_center_locales(hc)) or [None]
            seen: set[str] = set()
            for k in range(l_start if h == h_start else 0, len(locales)):
                locale = locales[k]
                params = {"localeCode": locale} if locale else {}
                first = page_start if (h, k) == (h_start, l_start) else 1
                for page in self.client.pages(f"help_center/{hc_id}/articles", params, start_page=first):
                    for code in help_center_locales({}, page.items):  # locales only the articles reveal
                        if code not in locales:
                            locales.append(code)
                    todo = [a for a in page.items if isinstance(a, dict) and str(a.get("id")) not in seen]
                    seen.update(str(a.get("id")) for a in todo)
                    details = self._pool.map(
                        lambda a, hc_id=hc_id: self.client.get(f"help_center/{hc_id}/articles/{a['id']}"), todo)
                    records, rejected = [], []
                    raws = []
                    for detail in details:
                        raws.append(detail)
                        recs, rej = map_article(detail, categories, hc_id, self.tz, listed_locale=locale)
                        records += recs
                        rejected += rej
                    nxt = {"help_center": h, "locale": k, "page": page.number + 1} if not page.is_last else \
                        {"help_center": h, "locale": k + 1, "page": 1}
                    n, counts = tally("articles", raws)
                    yield Chunk(records, nxt, rejected, payloads=n, key_counts=counts)
            l_start = 0
        yield Chunk([], None)

    # -- reports -------------------------------------------------------------------------------------

    def _reports(self, context: ExtractContext, cursor: dict[str, Any] | None) -> Iterator[Chunk]:
        first = last = None
        for rec in context.staged("conversations"):
            created = rec.get("created_at")
            if created:
                first = created if first is None or created < first else first
                last = created if last is None or created > last else last
        months = report_months([v for v in (first, last) if v], self.tz, start=self.config.report_start,
                               end=self.config.report_end)
        start = int(cursor.get("month", 0)) if cursor else 0
        csv_path = reports_csv_path(Path(context.files_dir), self.config.reports_csv)
        if start == 0:
            _write_csv(csv_path, [], truncate=True)
        if not months:
            yield Chunk([], None)
            return
        for k in range(start, len(months)):
            month, begin, end = months[k]
            try:
                payload = self.client.get("reporting/metrics", {"metric[]": list(REPORT_METRICS),
                                                                "start_date": begin.isoformat(),
                                                                "end_date": end.isoformat()})
            except TrengoNotFound:
                yield Chunk([], None, [Rejected("reporting-metrics", rule="reporting-unavailable",
                                                reason="Trengo's reporting API (BETA) answered 404 for this workspace",
                                                fix="export the reports from Trengo's Reporting pages by hand")])
                return
            aggregates = payload.get("aggregates") if isinstance(payload, dict) else None
            rows = report_rows(month, begin.astimezone(UTC).isoformat(timespec="seconds"),
                               end.astimezone(UTC).isoformat(timespec="seconds"), aggregates or {})
            _write_csv(csv_path, rows)
            yield Chunk(rows, {"month": k + 1} if k + 1 < len(months) else None)


def _ticket_plan(state: dict[str, Any]) -> list[tuple[int, str]]:
    """The lists a pass reads, as (index into TICKET_LISTS, how): "full" (every page, merged by id), "catch"
    (only what changed since the pass started), "count" (the first page, for the list's total). The first pass
    reads each list in full, then catches up on each; a re-list pass carries its own plan in the cursor."""
    if state.get("pass"):
        return [(int(i), str(kind)) for i, kind in state["plan"]]
    return [(i, "full") for i in range(len(TICKET_LISTS))] + [(i, "catch") for i in range(len(TICKET_LISTS))]


def _status_total(totals: dict[str, int | None]) -> PlatformTotal | None:
    """The sum of the per-status totals, when every status list reported one (the simple paginator does not)."""
    if set(totals) != set(TICKET_STATUSES) or any(v is None for v in totals.values()):
        return None
    return PlatformTotal(sum(int(v) for v in totals.values()),
                         f"sum of {len(TICKET_STATUSES)} per-status totals (meta.total of GET /tickets?status=...)")


def reports_csv_path(files_dir: Path, configured: str | None) -> Path:
    path = Path(configured or REPORTS_CSV_DEFAULT)
    return path if path.is_absolute() else files_dir / path


CSV_COLUMNS = ("metric", "month", "value", "period_start", "period_end")


def _write_csv(path: Path, rows: list[dict[str, Any]], *, truncate: bool = False) -> None:
    """The reporting CSV export: written as the report chunks arrive, so a resumed run appends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = truncate or not path.exists()
    with open(path, "w" if truncate else "a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(CSV_COLUMNS)
        for r in rows:
            writer.writerow([r["metric"], r["dimensions"]["month"], r.get("value", ""), r.get("period_start", ""),
                             r.get("period_end", "")])


def _manifest_paths(files_dir: Path) -> list[Path]:
    """The unsharded manifest, then one per shard, in a fixed order (the attachments cursor counts lines
    across them)."""
    files_dir = Path(files_dir)
    shard_files = sorted(files_dir.glob(MANIFEST_NAME.replace(".jsonl", "-*.jsonl")))
    return [files_dir / MANIFEST_NAME, *shard_files]


def read_manifests(files_dir: Path, start: int = 0) -> Iterator[tuple[int, AttachmentRef]]:
    """Every listed attachment, numbered across the manifests; from line ``start`` on."""
    offset = 0
    for path in _manifest_paths(files_dir):
        count = 0
        for n, ref in _Manifest.at(path).read(max(0, start - offset)):
            yield offset + n, ref
        if path.exists():
            with open(path, encoding="utf-8") as fh:
                count = sum(1 for _ in fh)
        offset += count



class _CrawlProgress:
    """Which conversations (by position in the staged list) a message crawl has staged: every one up to
    ``done``, and the ones past it listed in ``ahead`` as [first, last] ranges (batches finish out of order).
    The cursor is ``{"done": n}`` or ``{"done": n, "ahead": [[a, b], ...]}``; a cursor of earlier versions
    (``{"done": n}``) reads the same."""

    def __init__(self, done: int = 0, ahead: set[int] | None = None):
        self.done = done
        self.ahead = ahead or set()
        self._advance()

    @classmethod
    def from_cursor(cls, cursor: Mapping[str, Any] | None) -> _CrawlProgress:
        if not cursor:
            return cls()
        ahead = {p for first, last in cursor.get("ahead") or [] for p in range(int(first), int(last) + 1)}
        return cls(int(cursor.get("done", 0)), ahead)

    def finished(self, position: int) -> bool:
        return position <= self.done or position in self.ahead

    def add(self, positions: list[int]) -> None:
        self.ahead.update(positions)
        self._advance()

    def _advance(self) -> None:
        while self.done + 1 in self.ahead:
            self.done += 1
            self.ahead.discard(self.done)

    def cursor(self) -> dict[str, Any]:
        ranges: list[list[int]] = []
        for p in sorted(self.ahead):
            if ranges and ranges[-1][1] == p - 1:
                ranges[-1][1] = p
            else:
                ranges.append([p, p])
        return {"done": self.done, "ahead": ranges} if ranges else {"done": self.done}

class _Manifest:
    """Attachment references the messages extract found, one JSON line each, for the attachments extract.
    A sharded messages extract keeps one per shard: shards run concurrently."""

    def __init__(self, files_dir: Path, partition: str | None = None):
        name = MANIFEST_NAME if partition is None else MANIFEST_NAME.replace(".jsonl", f"-{partition}.jsonl")
        self.path = Path(files_dir) / name
        self.partition = partition

    @classmethod
    def at(cls, path: Path) -> _Manifest:
        manifest = cls(path.parent)
        manifest.path = path
        return manifest

    def reset(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("", encoding="utf-8")
        if self.partition is None:  # an unsharded full extract lists every ticket's attachments itself
            for shard_file in _manifest_paths(self.path.parent)[1:]:
                shard_file.unlink(missing_ok=True)

    def append(self, refs: list[AttachmentRef]) -> None:
        append_synced(self.path, [r.as_json() for r in refs])

    def read(self, start: int = 0) -> Iterator[tuple[int, AttachmentRef]]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                if n < start or not line.strip():
                    continue
                try:
                    yield n, AttachmentRef.from_json(json.loads(line))
                except (ValueError, TypeError):
                    continue  # a line torn by a crash: its messages chunk was not committed, and is re-listed
