"""Tickets and their history: created as the contact, in the right department, never emailing anyone.

- A conversation becomes ``POST /tickets/as-contact`` (Tidio's only way in: by the contact's email), with its
  department, tags and custom fields, then one PATCH for what the create did not set. Status, priority and
  assignee are not documented on create; they are offered once per connection and sent on create from then on
  only where this account's create sets them (TicketWriter.create_takes).
- History is replayed with ``POST /tickets/{id}/reply``. A *public operator* reply is emailed to the
  customer by Tidio, so by default every message becomes an internal note (``message_type: internal``)
  that names the original author and time. TIDIO_HISTORY_MODE=public_replies is the explicit, warned
  alternative.
- Nothing can be backdated: original times live in the note text and in the plugin's timestamp record.
- Every write is marked (content.py) and looked for before it is repeated, so re-runs and crashes never
  duplicate a ticket or a note.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpdesk_migrate.sdk import Change, LoadContext, LoadOutcome

from .client import TidioAmbiguousWrite, TidioClient, TidioNotFound, TidioValidationError
from .config import DEFAULT_STATUS_MAP, DEFAULT_STATUS_TAGS, TidioConfig
from .contact_values import email_for_tidio
from .content import (
    SUBJECT_MAX,
    contact_display,
    contact_note,
    contact_notes_subject,
    conversation_subject,
    label,
    message_note,
    note_key,
    placeholder_email,
    source_subject,
    ticket_label,
    ticket_opening,
)
from .directory import TidioDirectory, norm
from .journal import ReplyJournal

log = logging.getLogger("helpdesk_migrate.tidio")

PRIORITY_WORDS = {"low": "low", "lowest": "low", "normal": "normal", "medium": "normal", "high": "urgent",
                  "urgent": "urgent", "highest": "urgent", "critical": "urgent"}


class TicketWriter:
    """Marker-aware ticket and note writes."""

    def __init__(self, client: TidioClient, directory: TidioDirectory, config: TidioConfig):
        self.client, self.directory, self.config = client, directory, config
        self.public_operator_replies = 0  # replies Tidio emails to customers (only in public_replies mode)
        self.notes_written = 0
        # Set by a load that keeps a reply journal (journal.py): the tickets a crash may have left replies on.
        # None: no journal, every ticket is read once before a note is posted to it.
        self.suspects: dict[int, set[tuple]] | None = None
        self._posted: dict[tuple[int, tuple], str] = {}  # notes this connection posted (no listing needed)
        # Whether this account's ticket create sets each of status, priority and assigned. Tidio documents none
        # of them on create (reference 3.3), but its create page was never captured: each is offered once, and
        # the answer (refused, ignored, set) decides whether a ticket needs its PATCH. Learnt per connection.
        self.create_takes: dict[str, bool] = {}

    def ensure_ticket(self, key: tuple[str, str], body: dict[str, Any],
                      state: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
        """(ticket, created_now). A ticket carrying ``key`` under this source's label in its subject (the label
        the new subject starts with) is reused, never created twice; one of another label is never adopted.

        ``state``: the ticket's status, priority and assigned (PATCH's shapes), sent with the create where this
        account's create call is known to set them (``create_takes``). The ticket returned holds what the
        create really set, so the caller's one PATCH carries only what remains."""
        key = (ticket_label(body["subject"]) or "", *key)
        existing = self.directory.tickets.get(key)
        if existing:
            return existing, False
        doubted: list[str] = []  # state fields the last attempt was refused with
        for _attempt in range(self.config.max_retries):
            trial = {k: v for k, v in (state or {}).items() if self.create_takes.get(k, True) and k not in doubted}
            untried = [k for k in trial if k not in self.create_takes]
            try:
                result = self.client.post("/tickets/as-contact", {**body, **trial}) or {}
            except TidioAmbiguousWrite:
                self.directory.refresh_tickets()  # it may exist now: list again before resending
                existing = self.directory.tickets.get(key)
                if existing:
                    return existing, False
                continue
            except TidioValidationError:
                if not untried:
                    raise  # refused as documented: the ticket itself is at fault
                doubted = untried  # maybe fields the documented create does not take: send it without them
                continue
            # Accepted without the doubted fields: this account's create does not take them.
            self.create_takes.update(dict.fromkeys(doubted, False))
            ticket = {"id": int(result["id"]), "subject": body["subject"], "contact_email": body["contact_email"],
                      "assigned_department_id": body.get("assigned_department_id"), "status": "open",
                      "priority": "normal", "assigned_operator_id": None, "tag_ids": list(body.get("tag_ids") or [])}
            if untried:
                # Accepted: read the ticket back once to see which of them the create really set.
                seen = self.client.get(f"/tickets/{ticket['id']}") or {}
                for name in untried:
                    self.create_takes[name] = _state_set(name, trial[name], seen)
                ticket.update({k: seen.get(k) for k in ("status", "priority", "assigned_operator_id", "contact_id")
                               if k in seen})
            else:
                _apply_state(ticket, trial)
            self.directory.remember_ticket(key, ticket, fresh=True)
            return ticket, True
        raise TidioAmbiguousWrite(f"could not create ticket {key[2]}: every attempt ended without an answer")

    def add_note(self, ticket_id: int, marker: tuple[str, str, int], content: str, *, operator_id: str | None,
                 author_type: str = "operator", message_type: str = "internal") -> tuple[str, bool]:
        """(Tidio message id, created_now) for one note or reply carrying ``marker``."""
        if (ticket_id, marker) in self._posted:
            return self._posted[(ticket_id, marker)], False
        if self.suspects is None or marker in self.suspects.get(ticket_id, ()) \
                or self.directory.has_listed_notes(ticket_id):
            known = self.directory.ticket_notes(ticket_id)  # read once per ticket, and only when it may hold it
            if marker in known:
                return known[marker], False
        body: dict[str, Any] = {"author_type": author_type, "content": content, "message_type": message_type}
        if author_type == "operator":
            body["operator_id"] = operator_id
        for _attempt in range(self.config.max_retries):
            try:
                result = self.client.post(f"/tickets/{ticket_id}/reply", body) or {}
            except TidioAmbiguousWrite:
                known = self.directory.ticket_notes(ticket_id, reload=True)
                if marker in known:
                    return known[marker], False
                continue
            message_id = str(result.get("id"))
            self.directory.remember_note(ticket_id, marker, message_id)
            self._posted[(ticket_id, marker)] = message_id
            if author_type == "operator" and message_type == "public":
                self.public_operator_replies += 1
            else:
                self.notes_written += 1
            return message_id, True
        raise TidioAmbiguousWrite(f"could not add note {marker[1]} to ticket {ticket_id}: no answer on any attempt")

    def add_parts(self, ticket_id: int, kind: str, source_id: str, parts: list[str], *, operator_id: str | None,
                  author_type: str = "operator", message_type: str = "internal") -> list[str]:
        ids = []
        for n, text in enumerate(parts, 1):
            key = note_key(text) or (kind, source_id, n)
            message_id, _ = self.add_note(ticket_id, key, text, operator_id=operator_id, author_type=author_type,
                                          message_type=message_type)
            ids.append(message_id)
        return ids


def _state_set(name: str, value: Any, ticket: Mapping[str, Any]) -> bool:
    """Whether a ticket read back holds the state field ``name`` (PATCH's shape) as it was sent."""
    if name == "assigned":
        want = value.get("id") if isinstance(value, Mapping) and value.get("type") == "operator" else None
        return ticket.get("assigned_operator_id") == want
    return ticket.get(name) == value


def _apply_state(ticket: dict[str, Any], state: Mapping[str, Any]) -> None:
    for name in ("status", "priority"):
        if name in state:
            ticket[name] = state[name]
    if "assigned" in state:
        value = state["assigned"]
        ticket["assigned_operator_id"] = value.get("id") if isinstance(value, Mapping) else None


@dataclass
class Resolved:
    """Lookups of one chunk, resolved once."""

    contacts: dict[str, str]
    agents: dict[str, str]
    teams: dict[str, str]


class ConversationLoader:
    def __init__(self, writer: TicketWriter, directory: TidioDirectory, config: TidioConfig, source: str,
                 options: Mapping[str, Any] | None = None):
        self.writer, self.directory, self.config, self.source = writer, directory, config, source
        options = options or {}
        self.status_map = {**DEFAULT_STATUS_MAP, **dict(options.get("status_map") or {}), **config.status_map}
        self.timestamps: list[dict[str, Any]] = []  # original times, for the report (Tidio cannot backdate)
        self._staged_cache: dict[str, dict[str, dict[str, Any]]] = {}
        self._context: LoadContext | None = None

    # -- mapping ----------------------------------------------------------------------------------

    def status_of(self, conv: Mapping[str, Any]) -> str:
        for key in (conv.get("source_status"), conv.get("status")):
            if key is not None and str(key) in self.status_map:
                return self.status_map[str(key)]
            if key is not None and str(key).lower() in self.status_map:
                return self.status_map[str(key).lower()]
        return "open"

    def priority_of(self, conv: Mapping[str, Any]) -> str:
        return PRIORITY_WORDS.get(str(conv.get("priority") or "").strip().lower(), "normal")

    def tags_of(self, conv: Mapping[str, Any]) -> tuple[list[int], list[str]]:
        """(tag ids, names of labels without a Tidio tag: dropped from the ticket)."""
        names = list(conv.get("tags") or [])
        extra = DEFAULT_STATUS_TAGS.get(str(conv.get("status")))
        result = self.config.result_map.get(str(conv.get("result"))) if conv.get("result") else None
        optional: list[str] = [extra] if extra else []
        if result and result.get("tag"):
            names.append(result["tag"])  # a configured result tag must exist, like any label
        elif conv.get("result"):
            optional.append(str(conv["result"]))  # by default: the tag of the same name, when there is one
        ids: list[int] = []
        dropped: list[str] = []
        for name in names:
            tag = self.directory.tag(name)
            if tag:
                ids.append(int(tag["id"]))
            else:
                dropped.append(name)  # degrade: the ticket loads without it, the name kept in its opening message
        for name in optional:
            tag = self.directory.tag(name)
            if tag:
                ids.append(int(tag["id"]))
        return list(dict.fromkeys(ids)), dropped

    def _custom_fields(self, conv: Mapping[str, Any]) -> list[dict[str, Any]]:
        out = []
        for key, value in (conv.get("custom_fields") or {}).items():
            field = self.directory.ticket_field(str(key))
            if field and value not in (None, ""):
                out.append({"id": field["id"], "value": value if isinstance(value, str) else str(value)})
        return out

    # -- load -------------------------------------------------------------------------------------

    def resolve(self, records: list[dict[str, Any]], context: LoadContext) -> Resolved:
        def ids(name: str) -> list[str]:
            return [str(r[name]) for r in records if r.get(name)]

        return Resolved(context.lookup("contacts", ids("contact_id")), context.lookup("agents", ids("assignee_id")),
                        context.lookup("teams", ids("team_id")))

    def load(self, records: list[dict[str, Any]], context: LoadContext) -> list[LoadOutcome]:
        resolved = self.resolve(records, context)
        previous = context.previous("conversations", [str(r["id"]) for r in records])
        self.directory.contacts_by_id(resolved.contacts.values())
        fallback_op = self.directory.operator(self.config.fallback_operator)
        fallback_dep = self.directory.department(self.config.fallback_department)
        self._context = context
        out = []
        for conv in records:
            try:
                out.append(self._one(conv, resolved, previous.get(str(conv["id"])), fallback_op, fallback_dep))
            except TidioValidationError as exc:
                out.append(LoadOutcome(str(conv["id"]), "failed", reason=f"Tidio refused the ticket: {exc.reason}",
                                       rule=f"tidio-{exc.code or 'validation'}",
                                       fix="correct the conversation in the source and re-run"))
        return out

    def _staged(self, canonical: str) -> dict[str, dict[str, Any]]:
        """Staged source records by id, read once per chunk and only when a lookup failed (contacts or teams
        that are not in Tidio: their address or name is still worth carrying)."""
        if canonical not in self._staged_cache:
            reader = getattr(getattr(self, "_context", None), "staged", None)
            try:
                rows = list(reader(canonical)) if callable(reader) else []
            except Exception as exc:  # an object the source does not stage reads as empty
                log.debug("staged(%s) unavailable: %s", canonical, exc)
                rows = []
            self._staged_cache[canonical] = {str(row["id"]): row for row in rows}
        return self._staged_cache[canonical]

    def _unlinked_address(self, conv: Mapping[str, Any], why: str) -> tuple[str | None, Change | None, str]:
        """(address, change, what): where a ticket whose contact is not in Tidio goes. The staged contact's own
        address when it has a usable one, else its placeholder (TIDIO_PHONE_ONLY_POLICY's never-delivered
        address): the same address the contacts load gives that contact, so once it loads it is found by that
        address and the ticket is already its ticket (the change is pending until then). A contact that does
        not exist at the source gets a placeholder too, but never loads: Tidio's API cannot move a ticket to
        another contact (PATCH /tickets takes status, priority, assigned, tag_ids, custom_fields), so that
        change is final."""
        source_cid = str(conv.get("contact_id") or "")
        staged = self._staged("contacts").get(source_cid) if source_cid else None
        address = None
        if staged and staged.get("email"):
            address, _ = email_for_tidio(staged["email"])
        placeholder = self.config.phone_only_policy == "placeholder_email"
        if address is None and placeholder:
            address = placeholder_email(self.source, source_cid or f"of-conversation-{conv['id']}",
                                        self.config.placeholder_email_domain)
        if address is None:
            return None, None, ""
        who = contact_display(staged) if staged else f"contact {source_cid or '(none)'}"
        if staged:
            change = Change("contact-unlinked", f"{why}: the ticket is filed under {address}, the address that contact "
                            "gets in Tidio; it is linked when the contact loads (re-sent until then)",
                            field="contact_id", original=source_cid, kept_in="the ticket's opening message",
                            pending=True, waits_for=f"contacts/{source_cid}")
        else:
            gone = (f"its contact {source_cid} does not exist in {label(self.source)} (deleted)" if source_cid
                    else why)
            change = Change("contact-unlinked", f"{gone}: the ticket is filed under the never-delivered placeholder "
                            f"{address}. Tidio's API cannot move a ticket to another contact, so it stays there",
                            field="contact_id", original=source_cid or None, kept_in="the ticket's opening message")
        return address, change, who

    def _one(self, conv: dict[str, Any], r: Resolved, previous: Any, fallback_op: dict[str, Any] | None,
             fallback_dep: dict[str, Any] | None) -> LoadOutcome:
        sid = str(conv["id"])
        changes: list[Change] = []  # what the ticket holds differently from the source, for the report
        kept: dict[str, str] = {}  # values the ticket cannot hold, written into its opening message
        source_cid = str(conv.get("contact_id") or "")
        contact_id = r.contacts.get(source_cid) if source_cid else None
        contact = self.directory.contact(contact_id) if contact_id else None
        address = contact.get("email") if contact else None
        if contact is not None and not address:
            return LoadOutcome(sid, "skipped", rule="phone-only-contact",
                               reason="its contact has no email and Tidio creates tickets only by contact email "
                                      f"(TIDIO_PHONE_ONLY_POLICY={self.config.phone_only_policy})",
                               fix="set TIDIO_PHONE_ONLY_POLICY=placeholder_email and re-run contacts and "
                                   "conversations, or add an email in the source")
        if contact is None:
            why = ("the conversation has no contact" if not source_cid else
                   f"its contact {source_cid} is not in Tidio" + (f" (Tidio contact {contact_id} was deleted)"
                                                                  if contact_id else " (quarantined or not loaded)"))
            address, change, who = self._unlinked_address(conv, why)
            if address is None or change is None:
                return LoadOutcome(sid, "skipped", rule="contact-not-loaded",
                                   reason=f"{why}, it has no usable email, and TIDIO_PHONE_ONLY_POLICY=skip_tickets "
                                          "forbids a placeholder address", fix="load the contact with an email, or "
                                   "set TIDIO_PHONE_ONLY_POLICY=placeholder_email, then re-run")
            changes.append(change)
            kept[f"Contact in {label(self.source)}"] = who
        department = None
        if conv.get("team_id"):
            dep_id = r.teams.get(str(conv["team_id"]))
            department = self.directory.department(dep_id) if dep_id else None
            if department is None:
                team = self._staged("teams").get(str(conv["team_id"])) or {}
                team_name = f"{team['name']} (team {conv['team_id']})" if team.get("name") else f"team {conv['team_id']}"
                department = fallback_dep
                where = (f"the fallback department {fallback_dep['name']} (TIDIO_FALLBACK_DEPARTMENT)" if fallback_dep
                         else "Tidio's default department (General)")
                changes.append(Change("department-fallback", f"{team_name} has no Tidio department: the ticket is in "
                                      f"{where}", field="team_id", original=str(conv["team_id"]),
                                      kept_in="the ticket's opening message"))
                kept[f"Team in {label(self.source)}"] = team_name
        operator = None
        if conv.get("assignee_id"):
            op_id = r.agents.get(str(conv["assignee_id"]))
            operator = self.directory.operator(op_id) if op_id else fallback_op
            if operator is not None and not op_id:
                changes.append(Change("owner-fallback", f"assignee {conv['assignee_id']} has no Tidio operator: "
                                      "assigned to the fallback operator (TIDIO_FALLBACK_OPERATOR_ID)"))
            if operator is None:
                return LoadOutcome(sid, "failed", rule="operator-unmatched",
                                   reason=f"its assignee {conv['assignee_id']} has no Tidio operator",
                                   fix="invite the agent as a Tidio operator (then re-run agents) or set "
                                       "TIDIO_FALLBACK_OPERATOR_ID")
        tag_ids, dropped = self.tags_of(conv)
        if dropped:
            changes.append(Change("tag-dropped", f"label(s) {', '.join(dropped)} have no Tidio tag (the API cannot "
                                  "create tags): left off the ticket", field="tags", original=dropped,
                                  kept_in="the ticket's opening message"))
        status = self.status_of(conv)
        result = self.config.result_map.get(str(conv.get("result"))) if conv.get("result") else None
        if result and result.get("status"):
            status = result["status"]
        priority = (result or {}).get("priority") or self.priority_of(conv)
        key = ("conversation", sid)
        subject, cut = conversation_subject(self.source, conv)
        if cut:
            changes.append(Change("text-truncated", f"subject cut to {SUBJECT_MAX} characters, the marker first",
                                  field="subject", original=source_subject(conv),
                                  kept_in="the ticket's opening message"))
        body: dict[str, Any] = {
            "contact_email": address,
            "subject": subject,
            "message_content": ticket_opening(self.source, conv, status=status, dropped_tags=dropped,
                                              mode=self.config.history_mode, kept=kept),
        }
        if department:
            body["assigned_department_id"] = department["id"]
        if tag_ids:
            body["tag_ids"] = tag_ids
        fields = self._custom_fields(conv)
        if fields:
            body["custom_fields"] = fields
        ticket = None
        if previous is not None and previous.destination_id:
            try:
                ticket = self.writer.client.get(f"/tickets/{previous.destination_id}")
            except TidioNotFound:
                ticket = None  # deleted in Tidio since: create it again
        created = False
        extra_ids: list[tuple[str, str]] = []
        if ticket is None:
            # Tidio files a ticket under the contact with its address, creating one when there is none: a contact
            # made that way for an unlinked ticket is the migration's too, so rollback deletes it with the ticket.
            makes_contact = contact is None and self.directory.find_contacts(distinct=None, email=address)[0] is None
            state: dict[str, Any] = {}  # what differs from a new ticket's defaults (open, normal, unassigned)
            if status != "open":
                state["status"] = status
            if priority != "normal":
                state["priority"] = priority
            if operator:
                state["assigned"] = {"type": "operator", "id": operator["id"]}
            ticket, created = self.writer.ensure_ticket(key, body, state)
            if created and makes_contact:
                made = ticket.get("contact_id") or (self.writer.client.get(f"/tickets/{ticket['id']}") or {}).get(
                    "contact_id")
                if made:
                    extra_ids.append(("contact", str(made)))
                    self.directory.contacts.add({"id": str(made), "email": address, "properties": []})
        elif contact is not None and ticket.get("contact_email") and norm(ticket["contact_email"]) != norm(address):
            changes.append(Change("contact-unlinked", f"the ticket was filed under {ticket.get('contact_email')} "
                                  f"before its contact loaded; Tidio's API cannot move a ticket to another contact, "
                                  f"so it stays there (the contact is Tidio contact {contact['id']})",
                                  field="contact_id", original=source_cid, kept_in="the ticket's opening message"))
        # Tidio's documented ticket has no tag_ids: when they cannot be read back, the tag set is sent again
        # (PATCH replaces it, so this is idempotent) instead of being assumed unchanged.
        tags_readable = "tag_ids" in ticket
        want = {"status": status, "priority": priority,
                "assigned_operator_id": operator["id"] if operator else None, "tag_ids": sorted(tag_ids)}
        have = {"status": ticket.get("status"), "priority": ticket.get("priority"),
                "assigned_operator_id": ticket.get("assigned_operator_id"),
                "tag_ids": sorted(ticket.get("tag_ids") or []) if tags_readable else None}
        patch: dict[str, Any] = {}
        if want["status"] != have["status"]:
            patch["status"] = status
        if want["priority"] != have["priority"]:
            patch["priority"] = priority
        if want["assigned_operator_id"] != have["assigned_operator_id"]:
            patch["assigned"] = {"type": "operator", "id": operator["id"]} if operator else None
        changed = dict(patch)
        if want["tag_ids"] != have["tag_ids"] and (tags_readable or not created):
            patch["tag_ids"] = tag_ids
            if tags_readable:
                changed["tag_ids"] = tag_ids
        if patch:
            self.writer.client.patch(f"/tickets/{ticket['id']}", patch)
            ticket.update({k: v for k, v in want.items() if k != "tag_ids"}, tag_ids=tag_ids)
        self.timestamps.append({"object": "conversations", "source_id": sid, "tidio_id": str(ticket["id"]),
                                "original_created_at": conv.get("created_at"),
                                "original_closed_at": conv.get("closed_at")})
        fresh_or_orphan = created or previous is None
        if fresh_or_orphan:
            return LoadOutcome(sid, "created", destination_id=str(ticket["id"]), destination_object="ticket",
                               changes=changes, extra_ids=extra_ids)
        if changed:
            # tag_ids None: Tidio did not show the ticket's tags, so rollback leaves them as they are
            before = {k: have[k] for k in ("status", "priority", "assigned_operator_id", "tag_ids")}
            return LoadOutcome(sid, "updated", destination_id=str(ticket["id"]), destination_object="ticket",
                               before_image=before, changes=changes)
        return LoadOutcome(sid, "unchanged", destination_id=str(ticket["id"]), destination_object="ticket",
                           changes=changes)


class MessageLoader:
    def __init__(self, writer: TicketWriter, directory: TidioDirectory, config: TidioConfig, source: str):
        self.writer, self.directory, self.config, self.source = writer, directory, config, source
        self.timestamps: list[dict[str, Any]] = []

    def _how(self, message: Mapping[str, Any]) -> tuple[str, str]:
        """(author_type, message_type) for one historical message under the configured history mode."""
        if self.config.history_mode == "public_replies":
            if message.get("kind") == "inbound":
                return "contact", "public"
            if message.get("kind") == "outbound":
                return "operator", "public"  # EMAILED TO THE CUSTOMER: explicit mode, warned about
        return "operator", "internal"

    def load(self, records: list[dict[str, Any]], context: LoadContext) -> list[LoadOutcome]:
        tickets = context.lookup("conversations", [str(m["conversation_id"]) for m in records])
        agents = context.lookup("agents", [str(m["author_id"]) for m in records
                                           if m.get("author_type") == "agent" and m.get("author_id")])
        previous = context.previous("messages", [str(m["id"]) for m in records])
        history_op = self.directory.history_operator(self.config.history_operator, self.config.fallback_operator)
        ordered = sorted(records, key=lambda m: (str(m["conversation_id"]), m.get("sequence") or 0,
                                                 str(m.get("created_at") or ""), str(m["id"])))
        self._journal(context, ordered, previous, tickets)
        out = []
        for message in ordered:
            sid = str(message["id"])
            prev = previous.get(sid)
            if prev is not None and prev.destination_id:
                out.append(LoadOutcome(sid, "unchanged", destination_id=prev.destination_id,
                                       destination_object="ticket_message"))
                continue  # Tidio messages cannot be edited: what was written stays
            ticket_id = tickets.get(str(message["conversation_id"]))
            if not ticket_id:
                out.append(LoadOutcome(sid, "failed", rule="conversation-not-loaded",
                                       reason=f"its conversation {message['conversation_id']} is not in Tidio "
                                              "(quarantined, skipped or not loaded)",
                                       fix="resolve the conversation's quarantine entry, then re-run",
                                       caused_by=f"conversations/{message['conversation_id']}"))
                continue
            author_type, message_type = self._how(message)
            operator_id = None
            if author_type == "operator":
                op = agents.get(str(message.get("author_id"))) if message.get("author_type") == "agent" else None
                operator_id = op or (history_op or {}).get("id")
                if not operator_id:
                    out.append(LoadOutcome(sid, "failed", rule="no-history-operator",
                                           reason="no Tidio operator can post this note (no match, no fallback, "
                                                  "no owner)", fix="set TIDIO_HISTORY_OPERATOR_ID"))
                    continue
            parts = message_note(self.source, message, self.config.max_note_chars)
            try:
                ids = self.writer.add_parts(int(ticket_id), "message", sid, parts, operator_id=operator_id,
                                            author_type=author_type, message_type=message_type)
            except TidioNotFound:
                out.append(LoadOutcome(sid, "failed", rule="ticket-deleted",
                                       reason=f"ticket {ticket_id} no longer exists in Tidio",
                                       fix="re-run the conversations load, then the messages",
                                       caused_by=f"conversations/{message['conversation_id']}"))
                continue
            except TidioValidationError as exc:
                out.append(LoadOutcome(sid, "failed", reason=f"Tidio refused the note: {exc.reason}",
                                       rule=f"tidio-{exc.code or 'validation'}", fix="correct the message and re-run"))
                continue
            self.timestamps.append({"object": "messages", "source_id": sid, "tidio_id": ids[0],
                                    "original_created_at": message.get("created_at"),
                                    "author": message.get("author_name") or message.get("author_email")})
            out.append(LoadOutcome(sid, "created", destination_id=f"{ticket_id}:{ids[0]}",
                                   destination_object="ticket_message",
                                   extra_ids=[("ticket_message", f"{ticket_id}:{i}") for i in ids[1:]]))
        return out


    def _journal(self, context: LoadContext, ordered: list[dict[str, Any]], previous: Mapping[str, Any],
                 tickets: Mapping[str, str]) -> None:
        """Replies are posted without reading their tickets, except where a crash may have left one
        (journal.py): the suspects first, then this chunk's replies written down before they are sent."""
        folder = getattr(context, "reports_dir", None)
        if folder is None:
            self.writer.suspects = None  # nowhere to keep a journal: read each ticket once, as before
            return
        journal = ReplyJournal(Path(folder) / "tidio-reply-journal")
        self.writer.suspects = journal.suspects(context)
        entries = []
        for message in ordered:
            sid = str(message["id"])
            prev = previous.get(sid)
            ticket_id = tickets.get(str(message["conversation_id"]))
            if (prev is not None and prev.destination_id) or not ticket_id:
                continue
            parts = message_note(self.source, message, self.config.max_note_chars)
            markers = [list(note_key(text) or ("message", sid, n)) for n, text in enumerate(parts, 1)]
            entries.append({"ticket": int(ticket_id), "message": sid, "markers": markers})
        journal.write(entries)


class ContactNotesWriter:
    """Notes on source contacts become internal operator notes on a ticket of the contact.

    The engine loads contacts before conversations, and the contact record is where the notes are; so the
    contact gets one ticket of its own ("Notes on ... from <source>"), solved, holding the notes in order.
    """

    def __init__(self, writer: TicketWriter, directory: TidioDirectory, config: TidioConfig, source: str):
        self.writer, self.directory, self.config, self.source = writer, directory, config, source
        self.problems: list[dict[str, str]] = []

    def write(self, contact_record: Mapping[str, Any], tidio_contact: Mapping[str, Any],
              agents: Mapping[str, str]) -> list[tuple[str, str]]:
        """Extra ids [("ticket", id), ("ticket_message", "ticket:msg"), ...] of what was created."""
        notes = [n for n in contact_record.get("notes") or [] if isinstance(n, Mapping)]
        if not notes:
            return []
        sid = str(contact_record["id"])
        if not tidio_contact.get("email"):
            self.problems.append({"source_id": sid, "problem": f"{len(notes)} note(s) not placed: the contact has no "
                                  "email, so Tidio cannot give it a ticket (TIDIO_PHONE_ONLY_POLICY=skip_tickets)"})
            return []
        history_op = self.directory.history_operator(self.config.history_operator, self.config.fallback_operator)
        key = ("contact_notes", sid)
        body = {
            "contact_email": tidio_contact["email"],
            "subject": contact_notes_subject(self.source, contact_record),
            "message_content": f"Internal notes about this contact, migrated from {label(self.source)}; this text "
                               "was written by the migration, not by the customer. The notes follow, each with "
                               "its original author and time.",
        }
        ticket, created = self.writer.ensure_ticket(key, body)
        extra: list[tuple[str, str]] = [("ticket", str(ticket["id"]))] if created else []
        ordered = sorted(notes, key=lambda n: (str(n.get("created_at") or ""), str(n.get("id"))))
        for note in ordered:
            op = agents.get(str(note.get("author_id"))) or (history_op or {}).get("id")
            if not op:
                self.problems.append({"source_id": sid, "problem": f"note {note.get('id')}: no Tidio operator can "
                                      "post it; set TIDIO_HISTORY_OPERATOR_ID"})
                continue
            parts = contact_note(self.source, note, self.config.max_note_chars)
            self.writer.add_parts(int(ticket["id"]), "note", str(note.get("id")), parts, operator_id=op)
        if created or ticket.get("status") != "solved":
            self.writer.client.patch(f"/tickets/{ticket['id']}", {"status": "solved"})
            ticket["status"] = "solved"
        return extra
