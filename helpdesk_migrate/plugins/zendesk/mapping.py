"""Zendesk payloads to canonical records: pure functions, shared by the source and the emulator's seed records
(so what an extraction must produce is computed by the same code that produces it).

Choices the canonical model leaves to a source, and why:

- users with role end-user are contacts; agents and admins are agents (read apart, they are few);
- an organization is a contact group and the contact's ``company``; its field values ride on the contact, as
  ``organization_<key>`` custom fields (there is no canonical company object);
- groups are teams, with their members from the group memberships;
- a ticket's type and satisfaction rating have no canonical field: they are conversation custom fields
  (``ticket_type``, ``satisfaction_rating``, ``satisfaction_comment``) declared like the account's own fields;
- status: new and open are open (assigned when an agent has it), pending and on-hold are pending, solved and
  closed are closed; the Zendesk status is kept in ``source_status``;
- a comment is a note when private, else inbound from the requester's side and outbound from agents; the
  merge's system comment is by the system;
- a deleted ticket is not a conversation: it is reported (quarantined with who deleted it and when).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from helpdesk_migrate.sdk import Change, Rejected

from .text import html_to_text

STATUS_MAP = {"new": "open", "open": "open", "pending": "pending", "hold": "pending", "solved": "closed",
              "closed": "closed"}
# Zendesk's via channels (https://developer.zendesk.com/documentation/ticketing/reference-guides/via-types/) as
# canonical channel types; a channel not listed is "other".
CHANNELS: dict[str, tuple[str, str]] = {
    "email": ("Email", "email"), "web": ("Web form", "other"), "chat": ("Chat", "chat"),
    "native_messaging": ("Messaging", "chat"), "mobile_sdk": ("Mobile SDK", "chat"), "mobile": ("Mobile", "other"),
    "voice": ("Talk (voice)", "voice"), "sms": ("Text (SMS)", "sms"), "whatsapp": ("WhatsApp", "whatsapp"),
    "facebook": ("Facebook", "facebook"), "twitter": ("X (Twitter)", "twitter"),
    "instagram_dm": ("Instagram", "instagram"), "api": ("API", "custom"), "any_channel": ("Channel framework", "custom"),
    "other": ("Other", "other"),
}
CUSTOM_TYPES = {"text": "text", "textarea": "text", "regexp": "text", "partialcreditcard": "text", "lookup": "text",
                "integer": "number", "decimal": "number", "date": "date", "checkbox": "boolean", "tagger": "select",
                "dropdown": "select", "multiselect": "multiselect"}
SYNTHETIC_TICKET_FIELDS = (
    ("ticket:type", "Ticket type", "ticket_type", "select", ["question", "incident", "problem", "task"]),
    ("ticket:satisfaction_rating", "Satisfaction rating", "satisfaction_rating", "select",
     ["good", "bad", "offered", "unoffered"]),
    ("ticket:satisfaction_comment", "Satisfaction comment", "satisfaction_comment", "text", []),
)
ATTACHMENTS_DIR = "attachments"


def utc(value: Any) -> str | None:
    """Zendesk's '2025-01-02T10:00:00Z' as the canonical '2025-01-02T10:00:00+00:00' (None when absent)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return None


def _sid(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _compact(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if v is not None and v != [] and v != {}}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "field"


# --------------------------------------------------------------------------------------------------
# Lookups: the account's definitions, read once
# --------------------------------------------------------------------------------------------------


@dataclass
class FieldDef:
    key: str
    type: str
    names: dict[str, str] = field(default_factory=dict)  # option value (a tag) -> its name


@dataclass
class Lookups:
    ticket_fields: dict[str, FieldDef] = field(default_factory=dict)  # by field id
    user_fields: dict[str, FieldDef] = field(default_factory=dict)  # by key
    org_fields: dict[str, FieldDef] = field(default_factory=dict)  # by key
    orgs: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id

    @classmethod
    def build(cls, ticket_fields: Iterable[dict[str, Any]] = (), user_fields: Iterable[dict[str, Any]] = (),
              org_fields: Iterable[dict[str, Any]] = (), orgs: Iterable[dict[str, Any]] = ()) -> Lookups:
        out = cls()
        taken: set[str] = {k for _, _, k, _, _ in SYNTHETIC_TICKET_FIELDS}
        for f in sorted((f for f in ticket_fields if f.get("removable", True)), key=lambda f: int(f.get("id") or 0)):
            key = slug(str(f.get("title") or f.get("raw_title") or f.get("id")))
            if key in taken:  # two fields with one title: the later keeps its id
                key = f"{key}_{f.get('id')}"
            taken.add(key)
            out.ticket_fields[str(f.get("id"))] = FieldDef(key, str(f.get("type") or "text"), _names(f))
        for target, fields, prefix in ((out.user_fields, user_fields, ""), (out.org_fields, org_fields, "organization_")):
            for f in fields:
                if f.get("key"):
                    target[str(f["key"])] = FieldDef(prefix + str(f["key"]), str(f.get("type") or "text"), _names(f))
        out.orgs = {str(o.get("id")): o for o in orgs}
        return out


def _names(f: Mapping[str, Any]) -> dict[str, str]:
    return {str(o.get("value")): str(o.get("name")) for o in f.get("custom_field_options") or [] if isinstance(o, dict)}


def field_value(definition: FieldDef, value: Any) -> Any:
    """A field's value as a person reads it: a dropdown's option name rather than its tag; None when empty."""
    if value is None or value == "" or value == []:
        return None
    if definition.type in ("tagger", "dropdown"):
        return definition.names.get(str(value), str(value))
    if definition.type == "multiselect" and isinstance(value, list):
        return [definition.names.get(str(v), str(v)) for v in value]
    return value


# --------------------------------------------------------------------------------------------------
# People, teams, groups
# --------------------------------------------------------------------------------------------------


def map_agent(raw: dict[str, Any]) -> dict[str, Any] | Rejected:
    if not raw.get("email"):
        return Rejected(str(raw.get("id")), f"agent {raw.get('name')!r} (#{raw.get('id')}) has no email", raw=raw,
                        rule="agent-without-email", fix="give the agent an email in Zendesk, then extract again")
    return _compact({
        "id": str(raw["id"]), "email": raw["email"], "name": raw.get("name") or None,
        "role": str(raw.get("role") or "agent") if not raw.get("custom_role_id") else
        f"{raw.get('role')}:{raw.get('custom_role_id')}",
        "is_active": bool(raw.get("active", True)) and not raw.get("suspended"),
        "locale": raw.get("locale"), "timezone": raw.get("iana_time_zone") or raw.get("time_zone"),
        "created_at": utc(raw.get("created_at")),
    })


def map_contact(raw: dict[str, Any], lookups: Lookups) -> dict[str, Any]:
    custom: dict[str, Any] = {}
    for key, value in (raw.get("user_fields") or {}).items():
        definition = lookups.user_fields.get(str(key), FieldDef(str(key), "text"))
        if (shown := field_value(definition, value)) is not None:
            custom[definition.key] = shown
    org = lookups.orgs.get(str(raw.get("organization_id"))) if raw.get("organization_id") else None
    for key, value in ((org or {}).get("organization_fields") or {}).items():
        definition = lookups.org_fields.get(str(key), FieldDef(f"organization_{key}", "text"))
        if (shown := field_value(definition, value)) is not None:
            custom[definition.key] = shown
    notes = str(raw.get("notes") or "").strip()
    return _compact({
        "id": str(raw["id"]), "name": raw.get("name") or None, "email": raw.get("email") or None,
        "phone": raw.get("phone") or None, "company": (org or {}).get("name"),
        "identifier": raw.get("email") or raw.get("phone") or None,
        "group_ids": [str(raw["organization_id"])] if raw.get("organization_id") else None,
        "tags": [str(t) for t in raw.get("tags") or []] or None, "custom_fields": custom or None,
        "notes": [{"id": f"user-notes-{raw['id']}", "body": notes, "created_at": utc(raw.get("updated_at"))}]
        if notes else None,
        "created_at": utc(raw.get("created_at")), "updated_at": utc(raw.get("updated_at")),
    })


def map_team(raw: dict[str, Any], members: Iterable[str]) -> dict[str, Any]:
    return _compact({"id": str(raw["id"]), "name": raw.get("name") or f"Group {raw['id']}",
                     "member_ids": sorted(set(members)) or None})


def map_organization(raw: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(raw["id"]), "name": raw.get("name") or f"Organization {raw['id']}"}


def map_channel(via: str) -> dict[str, Any]:
    name, kind = CHANNELS.get(via, CHANNELS["other"])
    return {"id": via, "name": name, "type": kind, "source_type": via, "is_active": True}


def map_tag(raw: dict[str, Any]) -> dict[str, Any]:
    return _compact({"id": str(raw["name"]), "name": str(raw["name"]), "applies_to": "conversation",
                     "usage_count": raw.get("count") if isinstance(raw.get("count"), int) else None})


def custom_field_records(ticket_fields: Iterable[dict[str, Any]], user_fields: Iterable[dict[str, Any]],
                         org_fields: Iterable[dict[str, Any]], lookups: Lookups) -> list[dict[str, Any]]:
    """The definitions of every custom field a record carries: the account's ticket, user and organization
    fields (system ticket fields are canonical fields already), and the synthetic ticket fields."""
    out = []
    for f in ticket_fields:
        definition = lookups.ticket_fields.get(str(f.get("id")))
        if definition is not None:
            out.append(_definition(f"ticket:{f['id']}", f, definition.key, "conversation"))
    for prefix, fields, entity, table in (("user", user_fields, "contact", lookups.user_fields),
                                          ("organization", org_fields, "profile", lookups.org_fields)):
        for f in fields:
            if f.get("key") and str(f["key"]) in table:
                out.append(_definition(f"{prefix}:{f['id']}", f, table[str(f["key"])].key, entity))
    for ident, name, key, data_type, options in SYNTHETIC_TICKET_FIELDS:
        out.append(_compact({"id": ident, "name": name, "key": key, "entity": "conversation",
                             "data_type": data_type, "options": list(options), "is_required": False}))
    return out


def _definition(ident: str, raw: dict[str, Any], key: str, entity: str) -> dict[str, Any]:
    return _compact({"id": ident, "name": str(raw.get("title") or key), "key": key, "entity": entity,
                     "data_type": CUSTOM_TYPES.get(str(raw.get("type")), "text"),
                     "options": [str(o.get("name")) for o in raw.get("custom_field_options") or []] or None,
                     "is_required": bool(raw.get("required"))})


# --------------------------------------------------------------------------------------------------
# Tickets
# --------------------------------------------------------------------------------------------------


def map_ticket(raw: dict[str, Any], lookups: Lookups, *, metric: Mapping[str, Any] | None = None,
               deleted: Mapping[str, Any] | None = None) -> tuple[dict[str, Any] | Rejected, list[Change]]:
    """A ticket as a conversation (with the changes made on the way), or a deleted one as a Rejected that says
    who deleted it and when (``deleted``: its entry of /deleted_tickets.json, when listed)."""
    tid = str(raw["id"])
    status = str(raw.get("status") or "")
    if status == "deleted":
        who = (deleted or {}).get("actor") or {}
        when = (deleted or {}).get("deleted_at")
        by = f" by {who.get('name')} (#{who.get('id')})" if who.get("name") else ""
        at = f" on {when}" if when else ""
        return Rejected(tid, f"ticket #{tid} {raw.get('subject')!r} was deleted in Zendesk{by}{at}: not migrated "
                             "(a copy an earlier run loaded stays as it is)", rule="ticket-deleted", raw={k: raw.get(k) for k in ("id", "subject", "status")},
                        fix="restore it in Zendesk (Admin Center > Objects and rules > Tickets > Deleted tickets, "
                            "within 30 days) and run the delta if it should move"), []
    via = raw.get("via") if isinstance(raw.get("via"), dict) else {}
    channel = str(via.get("channel") or "other")
    channel_id = channel if channel in CHANNELS else "other"
    custom: dict[str, Any] = {}
    for entry in raw.get("custom_fields") or []:
        if not isinstance(entry, dict):
            continue
        definition = lookups.ticket_fields.get(str(entry.get("id")))
        if definition is not None and (shown := field_value(definition, entry.get("value"))) is not None:
            custom[definition.key] = shown
    if raw.get("type"):
        custom["ticket_type"] = str(raw["type"])
    rating = raw.get("satisfaction_rating") if isinstance(raw.get("satisfaction_rating"), dict) else {}
    if rating.get("score"):
        custom["satisfaction_rating"] = str(rating["score"])
    if rating.get("comment"):
        custom["satisfaction_comment"] = str(rating["comment"])
    metric = metric or {}
    updated = utc(raw.get("updated_at"))
    closed = utc(metric.get("solved_at")) or (updated if STATUS_MAP.get(status) == "closed" else None)
    reply = (metric.get("reply_time_in_minutes") or {}).get("calendar") \
        if isinstance(metric.get("reply_time_in_minutes"), dict) else None
    tags = [str(t) for t in raw.get("tags") or []]
    canonical_status = STATUS_MAP.get(status, "open")
    if canonical_status == "open" and raw.get("assignee_id"):
        canonical_status = "assigned"
    record = _compact({
        "id": tid, "subject": raw.get("subject") or raw.get("raw_subject") or None, "status": canonical_status,
        "source_status": status or None, "contact_id": _sid(raw.get("requester_id")),
        "assignee_id": _sid(raw.get("assignee_id")), "team_id": _sid(raw.get("group_id")),
        "channel_id": channel_id, "channel_type": CHANNELS[channel_id][1], "tags": tags or None,
        "result": "merged" if "closed_by_merge" in tags else None, "priority": raw.get("priority") or None,
        "custom_fields": custom or None, "created_at": utc(raw.get("created_at")), "updated_at": updated,
        "assigned_at": utc(metric.get("assigned_at")), "closed_at": closed,
        "message_count": raw.get("comment_count") if isinstance(raw.get("comment_count"), int) else None,
        "first_response_seconds": reply * 60 if isinstance(reply, int | float) else None,
    })
    changes = []
    source = via.get("source") if isinstance(via.get("source"), dict) else {}
    if source.get("rel") == "follow_up":
        parent = (source.get("from") or {}).get("ticket_id")
        changes.append(Change("follow-up-link", f"a follow-up of ticket #{parent}: no canonical field holds the "
                                                "link, the report keeps it", original={"follow_up_of": parent},
                              kept_in="the migration report"))
    if status not in STATUS_MAP:
        changes.append(Change("status-unknown", f"Zendesk status {status!r} is not documented: loaded as open",
                              field="status", original=status, kept_in="source_status"))
    return record, changes


# --------------------------------------------------------------------------------------------------
# Comments and attachments
# --------------------------------------------------------------------------------------------------


@dataclass
class AttachmentRef:
    """An attachment as a comment lists it, before download (the messages extract writes these down)."""

    id: str
    message_id: str
    conversation_id: str
    file_name: str
    url: str | None
    mime_type: str | None = None
    size_bytes: int | None = None
    inline: bool = False

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttachmentRef:
        return cls(**data)


@dataclass(frozen=True)
class Author:
    type: str  # canonical author_type
    name: str | None
    email: str | None
    known: bool = True


def author_of(user_id: Any, users: Mapping[str, Mapping[str, Any]], requester_id: str | None) -> Author:
    """Who wrote a comment, from the side-loaded or staged users; a user Zendesk no longer has (deleted) is kept
    as a placeholder, on the requester's side when it is the requester, else an agent's."""
    user = users.get(str(user_id))
    if user is None:
        side = "contact" if str(user_id) == requester_id else "agent"
        return Author(side, f"Deleted user {user_id}", None, known=False)
    role = str(user.get("role") or "")
    side = "contact" if role in ("end-user", "contact") else "agent"
    return Author(side, user.get("name") or None, user.get("email") or None)


def map_comments(comments: list[dict[str, Any]], ticket: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]]) \
        -> tuple[list[dict[str, Any]], list[AttachmentRef], dict[str, list[Change]]]:
    """A ticket's comments as messages, oldest first, numbered from 1; with their attachments and changes."""
    tid = str(ticket["id"])
    requester = _sid(ticket.get("contact_id"))
    records, refs, changes = [], [], {}
    seen: set[str] = set()
    ordered = sorted((c for c in comments if isinstance(c, dict) and c.get("id") is not None),
                     key=lambda c: (str(c.get("created_at") or ""), int(c["id"])))
    for c in ordered:
        cid = str(c["id"])
        if cid in seen:  # a comment listed twice by a page boundary
            continue
        seen.add(cid)
        via = c.get("via") if isinstance(c.get("via"), dict) else {}
        source = via.get("source") if isinstance(via.get("source"), dict) else {}
        author = author_of(c.get("author_id"), users, requester)
        system = source.get("rel") == "merge"
        public = bool(c.get("public", True))
        kind = "note" if not public or system else ("inbound" if author.type == "contact" else "outbound")
        html = c.get("html_body") if isinstance(c.get("html_body"), str) else None
        text = c.get("plain_body") if isinstance(c.get("plain_body"), str) else None
        if text is None:
            text = html_to_text(html) if html is not None else c.get("body")
        channel = str(via.get("channel") or "")
        body_type = "call_log" if c.get("type") == "VoiceComment" else \
            "email" if channel == "email" and public else "system" if system else "text"
        sender = (source.get("from") or {}).get("address") if isinstance(source.get("from"), dict) else None
        receiver = (source.get("to") or {}).get("address") if isinstance(source.get("to"), dict) else None
        attachments = [a for a in c.get("attachments") or [] if isinstance(a, dict)]
        mine = [AttachmentRef(str(a.get("id")), cid, tid, str(a.get("file_name") or f"attachment-{a.get('id')}"),
                              a.get("content_url") or a.get("mapped_content_url"), a.get("content_type"),
                              a.get("size") if isinstance(a.get("size"), int) else None, bool(a.get("inline")))
                for a in attachments]
        refs += mine
        records.append(_compact({
            "id": cid, "conversation_id": tid, "kind": kind, "body_type": body_type,
            "body_html": html or None, "body_text": text or None,
            "author_type": "system" if system else author.type, "author_id": _sid(c.get("author_id")),
            "author_name": author.name, "author_email": author.email, "from_address": sender,
            "to_addresses": [receiver] if receiver else None, "attachment_ids": [r.id for r in mine] or None,
            "created_at": utc(c.get("created_at")), "sequence": len(records) + 1,
        }))
        if not author.known:
            changes[cid] = [Change("author-placeholder", f"author #{c.get('author_id')} is no longer in Zendesk "
                                                         "(deleted): named as a placeholder", field="author_name",
                                   kept_in="author_id")]
    return records, refs, changes


def safe_file_name(attachment_id: str, file_name: str) -> str:
    """A name that stays inside its directory whatever the original (``../../x``, ``/etc/shadow``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", file_name.replace("\\", "/").split("/")[-1]).strip("._") or "file"
    return f"{attachment_id}-{cleaned[:120]}"


def attachment_local_path(ref: AttachmentRef) -> str:
    return f"{ATTACHMENTS_DIR}/{ref.conversation_id}/{safe_file_name(ref.id, ref.file_name)}"


def map_attachment(ref: AttachmentRef, *, sha256: str | None = None, size: int | None = None,
                   local_path: str | None = None) -> dict[str, Any]:
    return _compact({"id": ref.id, "message_id": ref.message_id, "conversation_id": ref.conversation_id,
                     "file_name": ref.file_name, "mime_type": ref.mime_type,
                     "size_bytes": size if size is not None else ref.size_bytes, "url": ref.url,
                     "inline": ref.inline, "sha256": sha256, "local_path": local_path})


# --------------------------------------------------------------------------------------------------
# Help Center and the inventories
# --------------------------------------------------------------------------------------------------


def category_path(section_id: Any, sections: Mapping[str, Mapping[str, Any]],
                  categories: Mapping[str, Mapping[str, Any]]) -> tuple[str | None, list[str]]:
    """(category id, names from the root: the category, then each section down to the article's)."""
    names: list[str] = []
    seen: set[str] = set()
    current = sections.get(str(section_id))
    category_id = None
    while current is not None and str(current.get("id")) not in seen:
        seen.add(str(current.get("id")))
        names.insert(0, str(current.get("name")))
        category_id = current.get("category_id")
        parent = current.get("parent_section_id")
        current = sections.get(str(parent)) if parent else None
    if category_id is not None and str(category_id) in categories:
        names.insert(0, str(categories[str(category_id)].get("name")))
    return _sid(category_id), names


def map_article(raw: dict[str, Any], sections: Mapping[str, Mapping[str, Any]],
                categories: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    locale = str(raw.get("locale") or raw.get("source_locale") or "")
    category_id, path = category_path(raw.get("section_id"), sections, categories)
    html_url = str(raw.get("html_url") or "")
    return _compact({
        "id": f"{raw['id']}:{locale}", "article_id": str(raw["id"]), "locale": locale,
        "title": raw.get("title") or raw.get("name") or f"Article {raw['id']}", "body_html": raw.get("body") or None,
        "status": "draft" if raw.get("draft") else "published",
        "slug": html_url.rsplit("/", 1)[-1] if html_url else None, "category_id": category_id,
        "category_path": path or None, "section_id": _sid(raw.get("section_id")),
        "created_at": utc(raw.get("created_at")), "updated_at": utc(raw.get("updated_at")),
    })


def map_macro(raw: dict[str, Any]) -> dict[str, Any]:
    body = None
    for action in raw.get("actions") or []:
        if isinstance(action, dict) and action.get("field") in ("comment_value_html", "comment_value"):
            value = action.get("value")
            body = value[-1] if isinstance(value, list) and value else value  # ["channel:all", "text"] form
            if action.get("field") == "comment_value_html":
                break
    return _compact({"id": str(raw["id"]), "title": raw.get("title") or f"Macro {raw['id']}",
                     "body": str(body) if body is not None else None, "type": "macro"})


RULE_TRIGGERS = {"trigger": "a ticket is created or updated", "automation": "hourly, on time conditions",
                 "sla_policy": "tickets matching the filter get these targets", "view": "an agent opens the view"}


def map_rule(raw: dict[str, Any], kind: str) -> dict[str, Any]:
    """A trigger, automation, SLA policy or view, for the workflow inventory."""
    conditions = raw.get("conditions") if kind != "sla_policy" else raw.get("filter")
    actions = raw.get("actions") if kind in ("trigger", "automation") else \
        raw.get("policy_metrics") if kind == "sla_policy" else raw.get("execution")
    return _compact({"id": f"{kind}:{raw['id']}", "name": raw.get("title") or f"{kind} {raw['id']}", "kind": kind,
                     "trigger": RULE_TRIGGERS[kind],
                     "conditions": conditions if isinstance(conditions, dict | list) else None,
                     "actions": actions if isinstance(actions, dict | list) else None,
                     "is_active": bool(raw.get("active", True))})


__all__ = ["ATTACHMENTS_DIR", "CHANNELS", "AttachmentRef", "Lookups", "attachment_local_path", "author_of",
           "custom_field_records", "map_agent", "map_article", "map_attachment", "map_channel", "map_comments",
           "map_contact", "map_macro", "map_organization", "map_rule", "map_tag", "map_team", "map_ticket",
           "safe_file_name", "utc"]
