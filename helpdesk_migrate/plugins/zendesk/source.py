"""The Zendesk source plugin: what it extracts, the settings it reads, and the extraction itself.

The fewest requests per ticket, within Zendesk's two budgets:

- tickets -> ``conversations``: the cursor-based incremental ticket export, 1,000 tickets a request with their
  metrics and comment counts side-loaded (``include=metric_sets,comment_count``). It is the only listing that
  has archived tickets (closed over 120 days ago; GET /tickets.json leaves them out) and deleted ones (status
  "deleted": reported in the quarantine with who deleted them and when, from /deleted_tickets.json). Cursor
  ``{"after": <after_cursor>}``. A delta goes on from where the last complete export ended (its after_cursor,
  kept in files.ExportMarks, as Zendesk says to poll), else from the watermark minus ZENDESK_DELTA_OVERLAP_MINUTES.
- users -> ``contacts`` (end users) through the cursor-based user export, the same way; ``agents`` (agents and
  admins, few) through GET /users.json?role=...
- ``messages``: per staged ticket, its comments (cursor pagination, 100 a page, authors side-loaded: one request
  for most tickets); sharded by ticket (``fan_out_from``); cursor ``{"done": n}`` counts finished tickets of the
  shard. A delta reads only the tickets the conversations delta changed.
- ``attachments``: the messages extract lists them in a manifest (files.py); this extract streams their content
  (file storage, outside the API budget) into the files directory with a sha256; cursor ``{"line": n}``.
- organizations -> ``contact_groups`` (time-based export); groups and memberships -> ``teams``; ticket, user and
  organization fields -> ``custom_fields``; tags; Help Center -> ``articles`` (one listing per locale, a record per
  translation); macros -> ``quick_replies``; triggers, automations, SLA policies and views -> ``workflows``;
  ``channels``: the via channels the staged tickets came through.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from helpdesk_migrate.sdk import (
    BudgetPacedExecutor,
    CheckFinding,
    Chunk,
    ExtractContext,
    Rejected,
    RequestBudget,
    RequestEstimate,
    Setting,
    SourceObject,
)

from . import __version__
from .audit import PAYLOAD_KEYS, Auditor
from .client import ZendeskClient, ZendeskNotFound, ZendeskRequestError
from .files import ExportMarks, Manifest, hash_file, read_manifests
from .mapping import (
    ATTACHMENTS_DIR,
    AttachmentRef,
    Lookups,
    attachment_local_path,
    custom_field_records,
    map_agent,
    map_article,
    map_attachment,
    map_channel,
    map_comments,
    map_contact,
    map_macro,
    map_organization,
    map_rule,
    map_tag,
    map_team,
    map_ticket,
)
from .settings import INCREMENTAL_BUDGET, PLAN_BUDGETS, RATE_BASIS, SETTINGS, ZendeskConfig

TICKET_SIDE_LOADS = "metric_sets,comment_count"
MESSAGE_BATCH = 16  # tickets per messages chunk (their threads fetched concurrently)
BATCHES_IN_FLIGHT = 4  # batches read ahead of the one being staged
ATTACHMENT_BATCH = 24
COMMENTS_PER_PAGE = 100
RULES = (("triggers", "triggers", "trigger"), ("automations", "automations", "automation"),
         ("slas/policies", "sla_policies", "sla_policy"), ("views", "views", "view"))

OBJECTS: tuple[SourceObject, ...] = (
    SourceObject("agents", description="Agents and admins (GET /users.json by role), active unless suspended."),
    SourceObject("teams", description="Groups with their members (group memberships)."),
    SourceObject("contact_groups", description="Organizations (time-based incremental export)."),
    SourceObject("custom_fields", description="Ticket, user and organization fields, and the ticket type and "
                                              "satisfaction rating as conversation fields."),
    SourceObject("contacts", supports_since=True,
                 description="End users (incremental user export) with user and organization field values, "
                             "organization as company and group, notes."),
    SourceObject("tags", description="Tags with their usage counts."),
    SourceObject("conversations", supports_since=True,
                 description="Every ticket, archived ones too (incremental ticket export), with status, priority, "
                             "type, channel, tags, fields, satisfaction and metrics; deleted tickets reported."),
    SourceObject("channels", depends_on=("conversations",),
                 description="The via channels the tickets came through (email, web, chat, voice, ...)."),
    SourceObject("messages", depends_on=("conversations", "agents", "contacts"), supports_since=True,
                 fan_out_from="conversations",
                 description="Each ticket's comments: public ones as messages, private ones as notes, with "
                             "authors (placeholders for deleted users), HTML and plain bodies. Sharded by ticket."),
    SourceObject("attachments", depends_on=("messages",), supports_since=True,
                 description="Comment attachments and inline images, streamed with a sha256."),
    SourceObject("articles", description="Help Center articles, one record per translation, with their "
                                         "category and section path."),
    SourceObject("quick_replies", description="Macros (their comment text)."),
    SourceObject("workflows", description="Triggers, automations, SLA policies and views, for the inventory."),
)


OBJECTS = tuple(dataclasses.replace(o, payload_keys=PAYLOAD_KEYS.get(o.canonical, ())) for o in OBJECTS)


class ZendeskSource:
    name = "zendesk"
    title = "Zendesk"
    version = __version__

    def objects(self) -> tuple[SourceObject, ...]:
        return OBJECTS

    def settings(self) -> tuple[Setting, ...]:
        return SETTINGS

    def connect(self, env: Mapping[str, str]) -> ZendeskConnection:
        return ZendeskConnection(ZendeskConfig.from_env(env))

    # -- the throughput plan (PlansRequests) -----------------------------------------------------------

    def request_budget(self, env: Mapping[str, str]) -> RequestBudget:
        config = ZendeskConfig.from_env(env)
        per_minute = config.rate_limit_per_minute * 60 / config.window_seconds
        plans = {name: float(v) for name, v in PLAN_BUDGETS.items()} | {"high_volume_add_on": 2500.0}
        return RequestBudget(per_minute=per_minute, plan=f"{config.plan}{' + High Volume' if config.high_volume else ''}"
                             f", {per_minute:g} requests a minute", plans=plans, basis=RATE_BASIS)

    def estimate_requests(self, scope: Mapping[str, Any]) -> list[RequestEstimate]:
        """Where discovery measured nothing. An export request is counted as the account requests its minute
        share is worth (at Enterprise, 700 / 10 = 70): the export's own budget is what bounds its time."""
        counts = scope.get("counts") or {}
        weight = PLAN_BUDGETS["enterprise"] / INCREMENTAL_BUDGET
        exports = {n: -(-int(counts.get(n, 0)) // 1000) for n in ("conversations", "contacts", "contact_groups")}
        threads = sum(-(-max(int(length), 1) // COMMENTS_PER_PAGE) * int(n)
                      for length, n in (scope.get("thread_lengths") or {}).items() if int(length))
        if not threads:
            threads = int(counts.get("conversations", 0))
        return [RequestEstimate("conversations", int(exports["conversations"] * weight),
                                "1 export request per 1,000 tickets, at the export's 10 a minute"),
                RequestEstimate("contacts", int(exports["contacts"] * weight),
                                "1 export request per 1,000 users, at the export's 10 a minute"),
                RequestEstimate("messages", threads, "1 request per 100 comments of each ticket (authors side-loaded)"),
                RequestEstimate("attachments", 0, "file storage, outside the API budget")]


class ZendeskConnection:
    def __init__(self, config: ZendeskConfig, client: ZendeskClient | None = None):
        self.config = config
        self.client = client or ZendeskClient(config)
        self._pool = BudgetPacedExecutor(config.rate_limit_per_minute / config.window_seconds,
                                         max_workers=config.concurrency, thread_name_prefix="zendesk")
        self.client.on_latency = self._pool.observe_latency
        self._lists: dict[str, list[dict[str, Any]]] = {}
        self._orgs: list[dict[str, Any]] | None = None
        self._deleted: dict[str, dict[str, Any]] | None = None
        self._audit = Auditor()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()

    # -- dispatch ------------------------------------------------------------------------------------

    def extract(self, canonical: str, *, context: ExtractContext, cursor: Mapping[str, Any] | None = None,
                since: datetime | None = None) -> Iterator[Chunk]:
        cursor = dict(cursor) if cursor else None
        handlers = {
            "agents": lambda: self._agents(), "teams": lambda: self._teams(),
            "contact_groups": lambda: iter([Chunk([map_organization(o) for o in self.orgs()])]),
            "custom_fields": lambda: iter([Chunk(custom_field_records(
                self._list("ticket_fields"), self._list("user_fields"), self._list("organization_fields"),
                self.lookups()))]),
            "tags": lambda: iter([Chunk([map_tag(t) for t in self._list("tags")])]),
            "contacts": lambda: self._contacts(context, cursor, since),
            "conversations": lambda: self._conversations(context, cursor, since),
            "channels": lambda: self._channels(context),
            "messages": lambda: self._messages(context, cursor, since),
            "attachments": lambda: self._attachments(context, cursor, since),
            "articles": lambda: self._articles(cursor),
            "quick_replies": lambda: iter([Chunk([map_macro(m) for m in self._list("macros")])]),
            "workflows": lambda: iter([Chunk([map_rule(r, kind) for path, key, kind in RULES
                                              for r in self.client.every(f"api/v2/{path}.json", key)])]),
        }
        if canonical not in handlers:
            raise ValueError(f"the Zendesk source does not extract {canonical!r}; it extracts "
                             f"{', '.join(o.canonical for o in OBJECTS)}")
        yield from handlers[canonical]()

    # -- shared pieces -------------------------------------------------------------------------------

    def _list(self, name: str) -> list[dict[str, Any]]:
        if name not in self._lists:
            self._lists[name] = self.client.every(f"api/v2/{name}.json", name)
        return self._lists[name]

    def orgs(self) -> list[dict[str, Any]]:
        """Every organization, from the time-based export (duplicates at page boundaries dropped by id)."""
        if self._orgs is None:
            by_id: dict[str, dict[str, Any]] = {}
            for page in self.client.export_time("organizations", start_time=0):
                for org in page.items:
                    by_id[str(org.get("id"))] = org
            self._orgs = list(by_id.values())
        return self._orgs

    def lookups(self, *, with_orgs: bool = True) -> Lookups:
        return Lookups.build(self._list("ticket_fields"), self._list("user_fields"),
                             self._list("organization_fields"), self.orgs() if with_orgs else ())

    def _start_time(self, since: datetime | None) -> int:
        if since is None:
            return 0
        return max(0, int((since - timedelta(minutes=self.config.overlap_minutes)).timestamp()))

    # -- people and teams ------------------------------------------------------------------------------

    def _agents(self) -> Iterator[Chunk]:
        records, rejected = [], []
        raws = [u for role in ("admin", "agent") for u in self.client.every("api/v2/users.json", "users",
                                                                            {"role": role})]
        for user in raws:
            mapped = map_agent(user)
            (rejected if isinstance(mapped, Rejected) else records).append(mapped)
        n, counts = self._audit.tally("agents", raws)
        yield Chunk(records, None, rejected, payloads=n, key_counts=counts)

    def _teams(self) -> Iterator[Chunk]:
        members: dict[str, list[str]] = {}
        for m in self.client.every("api/v2/group_memberships.json", "group_memberships"):
            members.setdefault(str(m.get("group_id")), []).append(str(m.get("user_id")))
        groups = [g for g in self.client.every("api/v2/groups.json", "groups") if not g.get("deleted")]
        yield Chunk([map_team(g, members.get(str(g["id"]), [])) for g in groups])

    def _export(self, resource: str, context: ExtractContext, cursor: dict[str, Any] | None,
                since: datetime | None, **options: Any):
        """The pages of a cursor-based export: after a saved chunk's cursor (a resume); in a delta after where the
        last complete export ended (its after_cursor), else from the watermark minus the overlap; else all."""
        resume = (cursor or {}).get("after")
        if resume is None and since is not None:
            resume = ExportMarks(context.files_dir).get(resource)
        return self.client.export_cursor(resource, cursor=resume, start_time=self._start_time(since), **options)

    def _contacts(self, context: ExtractContext, cursor: dict[str, Any] | None,
                  since: datetime | None) -> Iterator[Chunk]:
        lookups = self.lookups()
        for page in self._export("users", context, cursor, since):
            end_users = [u for u in page.items if u.get("role") == "end-user"]
            n, counts = self._audit.tally("contacts", end_users)
            yield Chunk([map_contact(u, lookups) for u in end_users],
                        None if page.end_of_stream else {"after": page.cursor}, payloads=n, key_counts=counts)
            if page.end_of_stream:  # the engine staged the last chunk: the next delta goes on from here
                ExportMarks(context.files_dir).put("users", page.cursor)

    # -- tickets ---------------------------------------------------------------------------------------

    def _deleted_tickets(self) -> dict[str, dict[str, Any]]:
        if self._deleted is None:
            self._deleted = {str(d.get("id")): d for d in self.client.every("api/v2/deleted_tickets.json",
                                                                            "deleted_tickets")}
        return self._deleted

    def _conversations(self, context: ExtractContext, cursor: dict[str, Any] | None,
                       since: datetime | None) -> Iterator[Chunk]:
        lookups = self.lookups(with_orgs=False)
        for page in self._export("tickets", context, cursor, since, include=TICKET_SIDE_LOADS):
            metrics = {str(m.get("ticket_id")): m for m in page.payload.get("metric_sets") or [] if isinstance(m, dict)}
            records, rejected, changes = [], [], {}
            for raw in page.items:
                deleted = self._deleted_tickets().get(str(raw.get("id"))) if raw.get("status") == "deleted" else None
                mapped, changed = map_ticket(raw, lookups, metric=metrics.get(str(raw.get("id"))), deleted=deleted)
                if isinstance(mapped, Rejected):
                    rejected.append(mapped)
                    continue
                records.append(mapped)
                if changed:
                    changes[mapped["id"]] = changed
            n, counts = self._audit.tally("conversations", page.items)
            chunk = Chunk(records, None if page.end_of_stream else {"after": page.cursor}, rejected, changes,
                          payloads=n, key_counts=counts)
            if page.end_of_stream:
                chunk.findings += self._budget_findings()
            yield chunk
            if page.end_of_stream:
                ExportMarks(context.files_dir).put("tickets", page.cursor)

    def _budget_findings(self) -> list[CheckFinding]:
        seen = self.client.stats.account_limit_seen
        configured = self.config.rate_limit_per_minute * 60 / self.config.window_seconds
        if seen is None or seen >= configured:
            return []
        return [CheckFinding(False, f"Zendesk reports an account budget of {seen} requests a minute "
                                    f"(X-Rate-Limit), below the {configured:g} this migration was set to spend: "
                                    f"set ZENDESK_RATE_LIMIT_PER_MINUTE={seen} (or ZENDESK_PLAN to the account's "
                                    "plan), or the run will be slowed by 429s", "WARN",
                             {"x_rate_limit": seen, "configured": configured})]

    def _channels(self, context: ExtractContext) -> Iterator[Chunk]:
        used = sorted({str(r.get("channel_id")) for r in context.staged("conversations") if r.get("channel_id")})
        yield Chunk([map_channel(via) for via in used])

    # -- comments ----------------------------------------------------------------------------------------

    def _people(self, context: ExtractContext) -> dict[str, dict[str, Any]]:
        """Authors known from the staged agents and contacts, for threads whose side-load is missing."""
        people: dict[str, dict[str, Any]] = {}
        for r in context.staged("contacts"):
            people[str(r["id"])] = {"role": "end-user", "name": r.get("name"), "email": r.get("email")}
        for r in context.staged("agents"):
            people[str(r["id"])] = {"role": "agent", "name": r.get("name"), "email": r.get("email")}
        return people

    def _messages(self, context: ExtractContext, cursor: dict[str, Any] | None,
                  since: datetime | None) -> Iterator[Chunk]:
        done = int((cursor or {}).get("done", 0))
        changed = context.changed_ids("conversations") if since is not None else None
        manifest = Manifest(context.files_dir, getattr(context, "partition", None))
        if not cursor and changed is None:
            manifest.reset()
        people = self._people(context)
        # Batches are staged in order (the cursor counts finished tickets), but the next ones are already being
        # read meanwhile: a long thread holds back its own chunk, never the budget.
        in_flight: deque[tuple[list[Future], dict[str, Any] | None]] = deque()
        batch: list[dict[str, Any]] = []
        position = 0
        for ticket in context.staged("conversations"):
            if changed is not None and ticket["id"] not in changed:
                continue
            position += 1
            if position <= done:
                continue
            batch.append(ticket)
            if len(batch) >= MESSAGE_BATCH:
                in_flight.append(([self._pool.submit(self._thread, t, people) for t in batch], {"done": position}))
                batch = []
                while len(in_flight) > BATCHES_IN_FLIGHT:
                    yield self._message_chunk(*in_flight.popleft(), manifest)
        in_flight.append(([self._pool.submit(self._thread, t, people) for t in batch], None))
        while in_flight:
            yield self._message_chunk(*in_flight.popleft(), manifest)

    def _message_chunk(self, futures: list[Future], cursor: dict[str, Any] | None, manifest: Manifest) -> Chunk:
        records, refs, changes, rejected, payloads, key_counts = [], [], {}, [], 0, Counter()
        for future in futures:
            out = future.result()
            if isinstance(out, Rejected):
                rejected.append(out)
                continue
            recs, found, changed, (n, counts) = out
            records += recs
            refs += found
            changes.update(changed)
            payloads += n
            key_counts.update(counts)
        manifest.append(refs)  # before the chunk is staged: a crash lists again, never loses
        return Chunk(records, cursor, rejected, changes, payloads=payloads, key_counts=dict(key_counts))

    def _thread(self, ticket: dict[str, Any], people: dict[str, dict[str, Any]]):
        tid = ticket["id"]
        comments: list[dict[str, Any]] = []
        users = dict(people)
        try:
            for page in self.client.pages(f"api/v2/tickets/{tid}/comments.json", {"include": "users"}):
                comments += [c for c in page.get("comments") or [] if isinstance(c, dict)]
                users.update({str(u.get("id")): u for u in page.get("users") or [] if isinstance(u, dict)})
        except ZendeskNotFound:
            return Rejected(f"ticket-{tid}", f"ticket #{tid} was deleted after it was listed: its comments could not "
                                             "be read", rule="ticket-gone",
                            fix="restore the ticket in Zendesk and run the delta, or accept it is not migrated")
        records, refs, changes = map_comments(comments, ticket, users)
        return records, refs, changes, self._audit.tally("messages", comments)

    # -- attachments ---------------------------------------------------------------------------------

    def _attachments(self, context: ExtractContext, cursor: dict[str, Any] | None,
                     since: datetime | None) -> Iterator[Chunk]:
        start = int((cursor or {}).get("line", 0))
        only = context.changed_ids("messages") if since is not None else None
        files_dir = Path(context.files_dir)
        (files_dir / ATTACHMENTS_DIR).mkdir(parents=True, exist_ok=True)
        seen: set[str] = set()
        batch: list[AttachmentRef] = []
        for line, ref in read_manifests(files_dir, start):
            if ref.id in seen or (only is not None and ref.message_id not in only):
                continue
            seen.add(ref.id)
            batch.append(ref)
            if len(batch) >= ATTACHMENT_BATCH:
                yield self._attachment_chunk(batch, files_dir, {"line": line + 1})
                batch = []
        yield self._attachment_chunk(batch, files_dir, None)

    def _attachment_chunk(self, refs: list[AttachmentRef], files_dir: Path, cursor: dict[str, Any] | None) -> Chunk:
        records, rejected = [], []
        for out in self._pool.map(lambda r: self._fetch(r, files_dir), refs):
            (rejected if isinstance(out, Rejected) else records).append(out)
        return Chunk(records, cursor, rejected)

    def _fetch(self, ref: AttachmentRef, files_dir: Path) -> dict[str, Any] | Rejected:
        if not ref.url:
            return map_attachment(ref)
        relative = attachment_local_path(ref)
        dest = files_dir / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            sha, size = hash_file(dest) if dest.exists() else self.client.download(ref.url, dest)
        except ZendeskNotFound:
            return Rejected(ref.id, f"the file {ref.file_name!r} of comment {ref.message_id} (ticket "
                                    f"#{ref.conversation_id}) is gone at Zendesk (HTTP 404)", rule="attachment-missing",
                            fix="ask the sender for the file again, or accept the message without it", raw=ref.as_json())
        except ZendeskRequestError as exc:
            return Rejected(ref.id, f"the file {ref.file_name!r} of comment {ref.message_id} could not be downloaded: "
                                    f"{exc}", rule="attachment-download", fix="re-run the attachments extract",
                            raw=ref.as_json())
        return map_attachment(ref, sha256=sha, size=size, local_path=relative)

    # -- Help Center -------------------------------------------------------------------------------------

    def _articles(self, cursor: dict[str, Any] | None) -> Iterator[Chunk]:
        """One listing per locale the help center offers (each article in that locale is a translation).
        Cursor ``{"locale": k}``: the locales finished."""
        try:
            locales_payload = self.client.get("api/v2/help_center/locales.json")
        except ZendeskNotFound:  # no Help Center on this account
            yield Chunk([], None)
            return
        locales = [str(loc) for loc in (locales_payload or {}).get("locales") or []]
        sections = {str(s.get("id")): s for s in self.client.every("api/v2/help_center/sections.json", "sections")}
        categories = {str(c.get("id")): c
                      for c in self.client.every("api/v2/help_center/categories.json", "categories")}
        first = int((cursor or {}).get("locale", 0))
        for k in range(first, len(locales)):
            rows = self.client.every(f"api/v2/help_center/{locales[k]}/articles.json", "articles")
            records = [map_article({**a, "locale": a.get("locale") or locales[k]}, sections, categories) for a in rows]
            n, counts = self._audit.tally("articles", rows)
            yield Chunk(records, {"locale": k + 1} if k + 1 < len(locales) else None, payloads=n, key_counts=counts)
        if first >= len(locales):
            yield Chunk([], None)


__all__ = ["OBJECTS", "ZendeskConnection", "ZendeskSource"]
