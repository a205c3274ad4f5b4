"""Trengo payloads -> canonical records (migration_assets.canonical). Pure functions: no HTTP, no state.

The same functions serve the live source and the emulator's ``seed_records``, so what a test expects and
what an extraction produces cannot drift apart.

Time: Trengo renders resource timestamps as naive ``YYYY-MM-DD HH:MM:SS`` in local time (Europe/Amsterdam
unless TRENGO_TIMEZONE says otherwise); raw-model fields leak through as UTC ``...T...Z``. Both become
UTC ISO 8601. A message's epoch ``created_at_time`` (beside its naive time in 2024 payloads) is exact and wins;
the zone of the naive times is measured from such pairs (zones.py). A local time that does not exist (the spring-forward hour) or happens twice (fall-back) is
read with ``fold=0``: the offset in force before the change.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from helpdesk_migrate.sdk import Rejected

from .html_text import html_to_text as _html_body_to_text

# The agent-performance metrics the source reads from reporting/metrics, month by month.
REPORT_METRICS = ("new_tickets", "assigned_tickets", "average_total_resolution_time", "average_first_response_time",
                  "created_tickets", "closed_tickets", "reopened_tickets")

SOURCE_NAME = "trengo"

STATUS_MAP = {"OPEN": "open", "ASSIGNED": "assigned", "CLOSED": "closed", "INVALID": "spam"}
KIND_MAP = {"INBOUND": "inbound", "OUTBOUND": "outbound", "NOTE": "note"}
CHANNEL_MAP = {"EMAIL": "email", "CHAT": "chat", "WHATSAPP": "whatsapp", "WA_BUSINESS": "whatsapp",
               "FACEBOOK": "facebook", "INSTAGRAM": "instagram", "SMS": "sms", "VOIP": "voice", "TELEGRAM": "telegram",
               "TWITTER": "twitter", "WECHAT": "wechat", "GBM": "gbm", "CUSTOM": "custom"}
FIELD_TYPE_MAP = {"TEXT": "text", "TEXTAREA": "text", "NUMBER": "number", "DATE": "date", "DROPDOWN": "select",
                  "SELECT": "select", "CHECKBOX": "boolean", "BOOLEAN": "boolean", "EMAIL": "email", "PHONE": "phone",
                  "URL": "url", "MULTI_SELECT": "multiselect", "MULTISELECT": "multiselect"}
FIELD_ENTITY_MAP = {"CONTACT": "contact", "TICKET": "conversation", "PROFILE": "profile"}
RULES_INVENTORY_ID = "rules-not-exposed"

_IMG_SRC = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)


class BadTimestamp(ValueError):
    pass


def to_utc(value: Any, tz: ZoneInfo) -> str | None:
    """A Trengo timestamp as UTC ISO 8601 (``2024-01-02T10:24:40+00:00``); None for an empty one.
    Raises BadTimestamp for a value that is not a time (e.g. MySQL's zero date).
    Runs once per message: isoformat's arguments are given by position (a keyword costs ~140 ns a call) and
    the number types are one tuple (``int | float`` builds a union object each time)."""
    if value is None or value == "":
        return None
    if isinstance(value, _NUMBER) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).isoformat("T", "seconds")
    text = str(value).strip()
    if text.startswith("0000-00-00"):
        raise BadTimestamp(f"{text!r} is MySQL's zero date, not a time")
    try:
        # Python 3.11+ reads both Trengo forms: "2024-01-02 10:24:40" (naive) and "...T...Z" / "+01:00".
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise BadTimestamp(f"{text!r} is not a timestamp") from None
    try:
        if dt.tzinfo is None:
            # Local time minus the zone's offset then (fold=0: the offset before a DST change, for a gap or
            # a repeated hour): what replace(tzinfo=tz).astimezone(UTC) computes, at 40% of its cost.
            return (dt - tz.utcoffset(dt)).isoformat("T", "seconds") + "+00:00"
        return dt.astimezone(UTC).isoformat("T", "seconds")
    except OverflowError:  # e.g. 9999-12-31 23:59:59 in a zone west of UTC
        raise BadTimestamp(f"{text!r} is out of range in UTC") from None


_NUMBER = (int, float)


# A creation time later than this is a placeholder (9999-12-31 ...), not history: no conversation can have
# been created after the extraction, and reports and audit fields built on it would be nonsense.
FUTURE_SLACK = timedelta(days=1)


def in_future(iso_utc: str) -> bool:
    return datetime.fromisoformat(iso_utc) > datetime.now(UTC) + FUTURE_SLACK


def to_local_naive(dt: datetime, tz: ZoneInfo) -> str:
    """The format Trengo's filters take (``updated_at_gt``): naive local time."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _sid(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _bool(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "active", "enabled")


def _compact(record: dict[str, Any]) -> dict[str, Any]:
    """Drop absent values: a canonical record holds only what the source knows."""
    return {k: v for k, v in record.items() if v is not None}


def _reject(raw: Any, what: str, reason: str, fix: str, rule: str = "source-mapping") -> Rejected:
    ident = raw.get("id", "?") if isinstance(raw, dict) else "?"
    return Rejected(source_id=str(ident), reason=f"Trengo {what} {ident}: {reason}", rule=rule, fix=fix, raw=raw)


def html_to_text(body: str | None) -> str | None:
    """A message body as plain text: a body without markup as it is, HTML as its readable text (see
    html_text); None for an empty one."""
    if not body:
        return None
    if "<" not in body:
        return body
    return _html_body_to_text(body)


# --------------------------------------------------------------------------------------------------
# People, teams, channels
# --------------------------------------------------------------------------------------------------


def map_user(raw: dict[str, Any], tz: ZoneInfo) -> dict[str, Any] | Rejected:
    email = _text(raw.get("email"))
    if not email:
        return _reject(raw, "user", "has no email address, which every destination needs to match agents",
                       "give the user an email in Trengo, or map them by hand")
    role = raw.get("role")
    role_name = role.get("name") if isinstance(role, dict) else (role or raw.get("authorization"))
    try:
        created = to_utc(raw.get("created_at"), tz)
    except BadTimestamp:
        created = None
    return _compact({
        "id": str(raw["id"]), "email": email, "name": _text(raw.get("full_name") or raw.get("name")),
        "first_name": _text(raw.get("first_name")), "last_name": _text(raw.get("last_name")),
        "role": _text(role_name), "is_active": str(raw.get("status") or "ACTIVE").upper() == "ACTIVE",
        "locale": _text(raw.get("locale_code")), "timezone": _text(raw.get("timezone")), "created_at": created,
    })


# Keys a team's members may come under (our emulator: users[] objects; public clients show members and user_ids).
TEAM_MEMBER_KEYS = ("users", "members", "user_ids")


def map_team(raw: dict[str, Any]) -> dict[str, Any]:
    members = next((raw[k] for k in TEAM_MEMBER_KEYS if raw.get(k)), None) or []
    return _compact({
        "id": str(raw["id"]), "name": _text(raw.get("name")) or f"Team {raw['id']}",
        "member_ids": [str(u.get("id") or u.get("user_id") if isinstance(u, dict) else u) for u in members
                       if (u.get("id") or u.get("user_id") if isinstance(u, dict) else u) is not None],
        "channel_ids": [str(c["id"] if isinstance(c, dict) else c) for c in raw.get("channels") or []],
    })


def map_channel(raw: dict[str, Any]) -> dict[str, Any]:
    ctype = str(raw.get("type") or "").upper()
    email = (raw.get("emailChannel") or {}).get("email") if isinstance(raw.get("emailChannel"), dict) else None
    if not email and ctype == "EMAIL" and raw.get("username"):
        email = f"{raw['username']}@trengomail.com"
    config = {k: raw.get(k) for k in ("auto_reply", "business_hour_id", "reopen_closed_ticket",
                                      "reopen_closed_ticket_time_window_days", "reassign_reopened_ticket",
                                      "notification_email", "is_private", "status") if raw.get(k) is not None}
    return _compact({
        "id": str(raw["id"]), "name": _text(raw.get("title") or raw.get("name") or raw.get("display_name"))
        or f"{ctype or 'Channel'} {raw['id']}",
        "type": CHANNEL_MAP.get(ctype, "other"), "source_type": ctype or None,
        "address": _text(email or raw.get("phone")), "is_active": raw.get("status") == "ACTIVE",
        "config": config,
    })


def map_label(raw: dict[str, Any]) -> dict[str, Any]:
    return _compact({"id": str(raw["id"]), "name": _text(raw.get("name")) or f"Label {raw['id']}",
                     "color": _text(raw.get("color")), "applies_to": "conversation"})


def map_custom_field(raw: dict[str, Any]) -> dict[str, Any] | Rejected:
    entity = FIELD_ENTITY_MAP.get(str(raw.get("type") or "").upper())
    if entity is None:
        return _reject(raw, "custom field", f"belongs to an unknown entity type {raw.get('type')!r}",
                       "tell the plugin maintainers which Trengo entity this is")
    items = raw.get("items") or []
    options = [str(i.get("title") or i.get("name") or i.get("value")) if isinstance(i, dict) else str(i) for i in items]
    title = _text(raw.get("title") or raw.get("name")) or f"Field {raw['id']}"
    return _compact({
        "id": str(raw["id"]), "name": title, "key": field_key(raw), "entity": entity,
        # An unknown data type stays text: the value still migrates, the field map can refine it.
        "data_type": FIELD_TYPE_MAP.get(str(raw.get("field_type") or "TEXT").upper(), "text"),
        "options": options or None, "is_required": bool(raw.get("is_required")),
    })


def field_key(raw: dict[str, Any]) -> str:
    return _text(raw.get("identifier")) or _text(raw.get("title")) or str(raw["id"])


# --------------------------------------------------------------------------------------------------
# Contacts
# --------------------------------------------------------------------------------------------------


@dataclass
class Lookups:
    """Definitions the record mappings need: custom fields by id and title, ticket results by id."""

    fields_by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    field_key_by_title: dict[str, str] = field(default_factory=dict)
    results_by_id: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, custom_fields: list[dict[str, Any]], ticket_results: list[dict[str, Any]]) -> Lookups:
        return cls(
            fields_by_id={str(f["id"]): f for f in custom_fields},
            field_key_by_title={str(f.get("title")): field_key(f) for f in custom_fields if f.get("title")},
            results_by_id={str(r["id"]): str(r.get("name") or r.get("title") or r["id"]) for r in ticket_results},
        )


def map_contact(raw: dict[str, Any], lookups: Lookups, tz: ZoneInfo) -> dict[str, Any]:
    custom: dict[str, Any] = {}
    values = raw.get("custom_field_values")
    if values:  # id-keyed (2024+): the reliable one
        for v in values:
            definition = lookups.fields_by_id.get(str(v.get("custom_field_id")))
            key = field_key(definition) if definition else _text(v.get("field_name")) or str(v.get("custom_field_id"))
            custom[key] = v.get("value")
    elif isinstance(raw.get("custom_field_data"), dict):  # keyed by title, set values only
        for title, value in raw["custom_field_data"].items():
            if value is not None:
                custom[lookups.field_key_by_title.get(title, title)] = value
    notes = []
    for n in raw.get("notes") or []:
        user = n.get("user") or {}
        try:
            created = to_utc(n.get("created_at"), tz)
        except BadTimestamp:
            created = None
        notes.append(_compact({"id": str(n["id"]), "body": n.get("body") or n.get("note") or "",
                               "author_id": _sid(user.get("id") or n.get("user_id")),
                               "author_name": _text(user.get("full_name") or user.get("name")), "created_at": created}))
    profiles = raw.get("profile") or []
    email = _text(raw.get("email"))
    return _compact({
        "id": str(raw["id"]), "name": _text(raw.get("full_name") or raw.get("name")), "email": email,
        "phone": _text(raw.get("phone")), "identifier": _text(raw.get("identifier")),
        "channel_ids": [str(c["id"]) for c in raw.get("channels") or [] if isinstance(c, dict)] or None,
        "group_ids": [str(g["id"] if isinstance(g, dict) else g) for g in raw.get("contact_groups") or []] or None,
        "custom_fields": custom or None, "notes": notes or None,
        "profile_id": str(profiles[0]["id"]) if profiles and isinstance(profiles[0], dict) else None,
    })


# --------------------------------------------------------------------------------------------------
# Tickets and messages
# --------------------------------------------------------------------------------------------------


# Where a ticket's creation time comes from when created_at is unusable (MySQL's zero date, a placeholder in the
# future, missing): the earliest usable of these, each an upper bound of the real creation time.
CREATED_AT_FALLBACKS = ("assigned_at", "latest_message.created_at", "closed_at", "updated_at")


def _usable_time(value: Any, tz: ZoneInfo) -> str | None:
    try:
        iso = to_utc(value, tz)
    except BadTimestamp:
        return None
    return iso if iso is not None and not in_future(iso) else None


def ticket_created_at(raw: dict[str, Any], tz: ZoneInfo) -> tuple[str | None, str | None, str | None]:
    """(creation time in UTC, the key it came from when not created_at, why created_at was unusable).
    (None, None, why) when the ticket carries no usable time at all."""
    try:
        created = to_utc(raw.get("created_at"), tz)
        problem = "created_at is empty" if created is None else None
    except BadTimestamp as exc:
        created, problem = None, str(exc)
    if created is not None and in_future(created):
        created, problem = None, f"created_at {raw.get('created_at')!r} lies in the future (a placeholder, not a time)"
    if problem is None:
        return created, None, None
    latest = raw.get("latest_message")
    candidates = []
    for key in CREATED_AT_FALLBACKS:
        value = (latest.get("created_at") if isinstance(latest, dict) else latest) if key.startswith("latest_message") \
            else raw.get(key)
        iso = _usable_time(value, tz)
        if iso is not None:
            candidates.append((iso, key))
    if not candidates:
        return None, None, problem
    iso, key = min(candidates)
    return iso, key, problem


def map_ticket(raw: dict[str, Any], lookups: Lookups, tz: ZoneInfo) -> dict[str, Any] | Rejected:
    created, _fallback, problem = ticket_created_at(raw, tz)
    if created is None:
        return _reject(raw, "ticket", f"has no usable time at all ({problem}; no assigned, closed, updated or last "
                       "message time either): it cannot be placed in time",
                       "fix the ticket's date in Trengo, or accept that this conversation is not migrated",
                       rule="conversation-created-at")
    times = {}
    for key in ("updated_at", "assigned_at", "closed_at"):
        try:
            times[key] = to_utc(raw.get(key), tz)
        except BadTimestamp:
            times[key] = None
    latest = raw.get("latest_message")
    try:
        last_activity = to_utc((latest or {}).get("created_at") if isinstance(latest, dict) else latest, tz)
    except BadTimestamp:
        last_activity = None
    channel = raw.get("channel") or {}
    status = str(raw.get("status") or "").upper()
    result = raw.get("ticket_result") if isinstance(raw.get("ticket_result"), dict) else {}
    result_id = raw.get("ticket_result_id") or result.get("id")
    custom = raw.get("custom_data")
    count = raw.get("messages_count")
    return _compact({
        "id": str(raw["id"]), "subject": _text(raw.get("subject")), "status": STATUS_MAP.get(status, "open"),
        "source_status": status or None, "contact_id": _sid(raw.get("contact_id")),
        "assignee_id": _sid(raw.get("user_id")), "team_id": _sid(raw.get("team_id")),
        "channel_id": _sid(channel.get("id") or raw.get("channel_id")),
        "channel_type": CHANNEL_MAP.get(str(channel.get("type") or "").upper(), "other") if channel else None,
        "tags": [str(lb.get("name")) for lb in raw.get("labels") or [] if isinstance(lb, dict)] or None,
        "result": (lookups.results_by_id.get(str(result_id)) or _text(result.get("name") or result.get("title")))
        if result_id else None,
        "custom_fields": custom if isinstance(custom, dict) and custom else None,
        "created_at": created, **times, "last_activity_at": last_activity,
        "message_count": int(count) if str(count or "").isdigit() else None,
    })


@dataclass
class AttachmentRef:
    """An attachment as a message lists it (or as an email body references it), before download."""

    id: str
    message_id: str
    conversation_id: str
    file_name: str
    url: str | None
    mime_type: str | None = None
    size_bytes: int | None = None
    inline: bool = False
    content_id: str | None = None
    download: bool = True  # False: an outside image (tracking pixel) listed but never fetched

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttachmentRef:
        return cls(**data)


def is_collapsed(raw: dict[str, Any]) -> bool:
    em = raw.get("email_message")
    return isinstance(em, dict) and bool(em.get("collapsed"))


def full_email_body(payload: Any) -> str | None:
    """The body out of /tickets/{id}/email_messages/{id} (shape unknown upstream: tolerate the likely keys)."""
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
        payload = payload["data"]
    if not isinstance(payload, dict):
        return None
    for key in ("html", "body_html", "message", "body", "text"):
        if isinstance(payload.get(key), str):
            return payload[key]
    return None


def map_message(raw: dict[str, Any], ticket: dict[str, Any], sequence: int, tz: ZoneInfo, *,
                full_email: Any = None, platform_hosts: tuple[str, ...] = ()) \
        -> tuple[dict[str, Any] | Rejected, list[AttachmentRef]]:
    """One thread entry. ``ticket`` is the staged canonical conversation; ``full_email`` the payload of the
    email-message endpoint when the list returned the body collapsed."""
    return _map_message(raw, ticket, sequence, _message_created_at(raw, tz), full_email=full_email,
                        platform_hosts=platform_hosts)


def _message_created_at(raw: dict[str, Any], tz: ZoneInfo, use_epoch: bool = True) -> str | BadTimestamp:
    """A message's creation time in UTC, or why it has none. The epoch ``created_at_time`` (a 2024 recorded
    payload carries it beside the naive time) is exact: it wins over the naive time and its zone."""
    epoch = raw.get("created_at_time") if use_epoch else None
    if isinstance(epoch, _NUMBER) and not isinstance(epoch, bool) and epoch > 0:
        return datetime.fromtimestamp(epoch, UTC).isoformat("T", "seconds")
    try:
        created = to_utc(raw.get("created_at"), tz)
    except BadTimestamp as exc:
        return exc
    return BadTimestamp("created_at is empty") if created is None else created


def _map_message(raw: dict[str, Any], ticket: dict[str, Any], sequence: int, created: str | BadTimestamp, *,
                 full_email: Any, platform_hosts: tuple[str, ...]) \
        -> tuple[dict[str, Any] | Rejected, list[AttachmentRef]]:
    if isinstance(created, BadTimestamp):
        return _reject(raw, "message", f"has no usable time ({created})",
                       "the message cannot be placed in its thread; check it in Trengo",
                       rule="message-created-at"), []
    conversation_id = str(ticket["id"])
    mtype = str(raw.get("type") or "").upper()
    kind = KIND_MAP.get(mtype, "note")  # system events (label changes, ...) are kept as notes
    body = raw.get("message")
    if body is None:
        body = raw.get("body")
    if full_email is not None:
        body = full_email_body(full_email) or body
    body_type = str(raw.get("body_type") or "TEXT").lower()
    author_type, author_id, author_name, author_email = _author(raw, mtype, kind, ticket)
    em = _dict_or_empty(raw.get("email_message"))
    mid = str(raw["id"])
    attachments = raw.get("attachments")
    refs = [_attachment_ref(a, mid, conversation_id) for a in attachments if isinstance(a, dict)] \
        if attachments else []
    refs += _inline_images(body, mid, conversation_id, refs, platform_hosts)
    html = body if body_type == "email" or (body and "<" in body and ">" in body) else None
    duration = _dict_or_empty(raw.get("location_data")).get("duration") if body_type == "call_log" else None
    to = em.get("to")
    # A canonical record holds only what the source knows. The known values are added one by one, in the
    # canonical key order, rather than as all 18 keys filtered by _compact: a third of the cost, in the
    # function that runs once per message.
    record = {"id": mid, "conversation_id": conversation_id, "kind": kind, "body_type": body_type}
    subject = _text(em.get("subject"))
    if subject is not None:
        record["subject"] = subject
    if html is not None:
        record["body_html"] = html
    if body:
        body_text = html_to_text(body)
        if body_text is not None:
            record["body_text"] = body_text
    record["author_type"] = author_type
    if author_id is not None:
        record["author_id"] = author_id
    if author_name is not None:
        record["author_name"] = author_name
    if author_email is not None:
        record["author_email"] = author_email
    if em:
        senders = email_addresses(em.get("from"))
        if senders:
            record["from_address"] = senders[0]
        if to:
            to_addresses = email_addresses(to)
            if to_addresses:
                record["to_addresses"] = to_addresses
    if refs:
        record["attachment_ids"] = [r.id for r in refs]
    if body_type == "call_log":
        if kind in ("inbound", "outbound"):
            record["call_direction"] = kind
        if str(duration or "").isdigit():
            record["call_duration_seconds"] = int(duration)
    record["created_at"] = created
    record["sequence"] = sequence
    return record, refs


_EMPTY: Mapping[str, Any] = MappingProxyType({})
_ADDRESS_KEYS = ("email", "address", "mail")
_BARE_ADDRESS = re.compile(r"\s*[^\s,;<>\"]+\s*")


def email_addresses(value: Any) -> list[str]:
    """Addresses of an email header in any shape seen: a string ("a@x, B <b@y>"), a list of strings, a list of
    objects ({email, name} / {address}), or one such object. Parsed with email.utils, so a display name with a
    comma ("Doe, J" <j@x>) stays one address; a value without an @ is kept as written rather than dropped."""
    if not value:
        return []
    # The common shapes, one bare address or a list of them, without the parser: this runs twice for every email.
    if type(value) is str and _BARE_ADDRESS.fullmatch(value):
        return [value.strip()]
    if type(value) is list and len(value) == 1 and type(value[0]) is str and _BARE_ADDRESS.fullmatch(value[0]):
        return [value[0].strip()]
    items = value if isinstance(value, (list, tuple)) else [value]
    texts: list[str] = []
    for item in items:
        if isinstance(item, dict):
            found = next((item[k] for k in _ADDRESS_KEYS if isinstance(item.get(k), str) and item[k].strip()), None)
            if found:
                texts.append(found)
        elif item is not None and str(item).strip():
            texts.append(str(item))
    out: list[str] = []
    for name, address in getaddresses(texts):
        address = address.strip() or name.strip()
        if address and address not in out:
            out.append(address)
    return out


def _dict_or_empty(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else _EMPTY


def _author(raw: dict[str, Any], mtype: str, kind: str, ticket: dict[str, Any]) \
        -> tuple[str, str | None, str | None, str | None]:
    """(author_type, id, name, email) of a thread entry."""
    if mtype not in KIND_MAP:
        return "system", None, None, None
    if kind == "inbound":
        contact = _dict_or_empty(raw.get("contact"))
        return ("contact", _sid(contact.get("id")) or ticket.get("contact_id"),
                _text(contact.get("full_name") or contact.get("name")), _text(contact.get("email")))
    agent = raw.get("agent")
    agent = agent if isinstance(agent, dict) and agent else None
    user_id = raw.get("user_id")
    if user_id or agent:
        return ("agent", _sid(user_id or agent.get("id")),
                _text(agent.get("full_name") or agent.get("name")) if agent else None,
                _text(agent.get("email")) if agent else None)
    return "system", None, None, None  # auto replies and bots


# Keys an attachment's link and file name may come under: ours first, then the variants public clients read.
ATTACHMENT_URL_KEYS = ("full_url", "url", "path", "download_url")
ATTACHMENT_NAME_KEYS = ("client_name", "file_name", "original_name", "name", "filename")


def _first_text(raw: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = raw.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _attachment_ref(a: dict[str, Any], message_id: str, conversation_id: str) -> AttachmentRef:
    url = _first_text(a, ATTACHMENT_URL_KEYS)
    name = _first_text(a, ATTACHMENT_NAME_KEYS) or \
        (unquote(urlsplit(url).path.rsplit("/", 1)[-1]) if url else None) or f"attachment-{a.get('id')}"
    size = a.get("size")
    return AttachmentRef(id=str(a.get("id")), message_id=message_id, conversation_id=conversation_id, file_name=name,
                         url=url, mime_type=_text(a.get("mime_type") or a.get("content_type") or a.get("mime")),
                         size_bytes=int(size) if str(size or "").isdigit() else None,
                         inline=bool(a.get("inline") or a.get("content_id")), content_id=_text(a.get("content_id")))


def _inline_images(body: str | None, message_id: str, conversation_id: str, listed: list[AttachmentRef],
                   platform_hosts: tuple[str, ...]) -> list[AttachmentRef]:
    """Images an email body shows that are not listed attachments: ones Trengo hosts (pasted images) are
    downloaded; outside ones (tracking pixels) are listed with their URL and never fetched, since fetching
    would tell the sender the mail was read."""
    if not body or "<img" not in body.lower():
        return []
    known_cids = {r.content_id for r in listed if r.content_id}
    known_urls = {r.url for r in listed if r.url}
    out: list[AttachmentRef] = []
    for src in dict.fromkeys(_IMG_SRC.findall(body)):
        if src.lower().startswith("cid:"):
            if src[4:] in known_cids:
                continue
            # A cid the message does not list: nothing to fetch, but the reference is worth keeping.
            out.append(AttachmentRef(id=f"{message_id}-img-{_short_hash(src)}", message_id=message_id,
                                     conversation_id=conversation_id, file_name=src[4:] or "inline-image", url=None,
                                     inline=True, content_id=src[4:], download=False))
            continue
        if src in known_urls or not src.lower().startswith(("http://", "https://")):
            continue  # data: URIs stay in the body itself
        host = (urlsplit(src).hostname or "").lower()
        hosted = any(host == h or host.endswith("." + h) for h in platform_hosts)
        name = unquote(urlsplit(src).path.rsplit("/", 1)[-1]) or "inline-image"
        out.append(AttachmentRef(id=f"{message_id}-img-{_short_hash(src)}", message_id=message_id,
                                 conversation_id=conversation_id, file_name=name, url=src, inline=True,
                                 content_id=src, download=hosted))
    return out


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(attachment_id: str, file_name: str) -> str:
    """A name that cannot leave its directory: ASCII letters, digits, dot, dash, underscore; no leading
    dots; the id first so two files of one name never collide."""
    stem = _UNSAFE.sub("_", file_name).strip("._-")[:100] or "file"
    return f"{_UNSAFE.sub('_', attachment_id)[:60]}-{stem}"


def map_attachment(ref: AttachmentRef, *, sha256: str | None = None, size: int | None = None,
                   local_path: str | None = None) -> dict[str, Any]:
    return _compact({
        "id": ref.id, "message_id": ref.message_id, "conversation_id": ref.conversation_id,
        "file_name": ref.file_name, "mime_type": ref.mime_type,
        "size_bytes": size if size is not None else ref.size_bytes, "url": ref.url, "inline": ref.inline,
        "content_id": ref.content_id, "sha256": sha256, "local_path": local_path,
    })


# --------------------------------------------------------------------------------------------------
# Help center, inventories, reports
# --------------------------------------------------------------------------------------------------


def article_translations(raw: dict[str, Any], listed_locale: str | None = None) -> list[dict[str, Any]]:
    """An article's translations as [{locale, title, content, status, slug}], whatever the shape: a list of
    objects (locale|locale_code|language), a mapping keyed by locale, or the article itself in one language (the
    locale it was listed under, else its own locale key). A translation without a locale gets the listed one;
    None when nothing says which language it is."""
    found = raw.get("translations")
    if isinstance(found, dict):
        found = [{**(v if isinstance(v, dict) else {"content": v}), "locale": k} for k, v in found.items()]
    if not found:
        found = [raw]
    out = []
    for tr in found:
        if not isinstance(tr, dict):
            continue
        locale = _first_text(tr, ("locale", "locale_code", "language", "lang")) or \
            (_first_text(raw, ("locale", "locale_code", "language")) if tr is raw else None) or listed_locale
        out.append({"locale": locale, "title": tr.get("title") or tr.get("name"),
                    "content": tr.get("content") or tr.get("body") or tr.get("html"),
                    "status": tr.get("status") or raw.get("status"), "slug": tr.get("slug")})
    return out


def help_center_locales(center: dict[str, Any], listed: list[dict[str, Any]] = ()) -> list[str]:
    """The locales a help centre holds, from its ``locales`` (strings or {code|locale}), its ``default_locale``
    and the locales its listed articles carry; default first. Empty when nothing says: never assumed "en"."""
    out: list[str] = []

    def add(value: Any) -> None:
        code = _first_text(value, ("code", "locale", "locale_code")) if isinstance(value, dict) else _text(value)
        if code and code not in out:
            out.append(code)

    add(center.get("default_locale"))
    for value in center.get("locales") or center.get("languages") or []:
        add(value)
    for item in listed:
        for value in item.get("locales") or []:
            add(value)
        for tr in item.get("translations") or []:
            add(tr if isinstance(tr, str) else tr.get("locale") if isinstance(tr, dict) else None)
    return out


def map_article(raw: dict[str, Any], categories: dict[str, dict[str, Any]], help_center_id: str,
                tz: ZoneInfo, listed_locale: str | None = None) -> tuple[list[dict[str, Any]], list[Rejected]]:
    """One record per translation; category path and section in the translation's own language."""
    records, rejected = [], []
    category = categories.get(str(raw.get("category_id"))) or {}
    section = next((s for s in category.get("sections") or [] if str(s.get("id")) == str(raw.get("section_id"))), None)
    try:
        created, updated = to_utc(raw.get("created_at"), tz), to_utc(raw.get("updated_at"), tz)
    except BadTimestamp:
        created = updated = None
    for tr in article_translations(raw, listed_locale):
        locale = tr["locale"]
        if not locale:
            rejected.append(_reject(raw, "article", "says in no way which language it is in (no locale on the "
                                    "article or its translations, and the help centre lists none)",
                                    "set the help centre's languages in Trengo, then extract the articles again",
                                    rule="article-locale-unknown"))
            continue
        title = _text(tr.get("title"))
        if not title:
            rejected.append(_reject({**raw, "id": f"{raw['id']}:{locale}"}, "article translation", "has no title",
                                    "give the translation a title in Trengo's help center"))
            continue
        path = [_localised(category, locale)] if category else []
        if section:
            path.append(_localised(section, locale))
        status = str(tr.get("status") or raw.get("status") or "").lower()
        records.append(_compact({
            "id": f"{raw['id']}:{locale}", "article_id": str(raw["id"]), "locale": locale, "title": title,
            "body_html": tr.get("content"), "status": status if status in ("draft", "published") else None,
            "slug": _text(tr.get("slug")), "help_center_id": help_center_id,
            "category_id": _sid(raw.get("category_id")), "category_path": [p for p in path if p] or None,
            "section_id": _sid(raw.get("section_id")), "created_at": created, "updated_at": updated,
        }))
    return records, rejected


def _localised(item: dict[str, Any], locale: str) -> str | None:
    for tr in item.get("translations") or []:
        if tr.get("locale") == locale and tr.get("name"):
            return str(tr["name"])
    return _text(item.get("name") or item.get("title"))


def map_quick_reply(raw: dict[str, Any]) -> dict[str, Any]:
    channels = raw.get("channel_ids") or raw.get("channels") or []
    return _compact({
        "id": str(raw["id"]), "title": _text(raw.get("title")) or f"Quick reply {raw['id']}",
        "body": raw.get("message"), "type": _text(raw.get("type")),
        "channel_ids": [str(c["id"] if isinstance(c, dict) else c) for c in channels] or None,
    })


def map_contact_group(raw: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(raw["id"]), "name": _text(raw.get("name")) or f"Group {raw['id']}"}


def map_webhook(raw: dict[str, Any]) -> dict[str, Any]:
    # The signing secret is a credential: it never leaves Trengo.
    return _compact({
        "id": f"webhook-{raw['id']}", "name": _text(raw.get("title") or raw.get("name")) or f"Webhook {raw['id']}",
        "kind": "webhook", "trigger": _text(raw.get("type")), "actions": {"post_to": raw.get("url")},
        "is_active": True,
    })


def rules_inventory() -> dict[str, Any]:
    """Rules, flowbots, business hours and SLAs have no API (reference §3.6): one entry says so, so the
    inventory tells the person to rebuild them from Trengo's settings pages."""
    return {"id": RULES_INVENTORY_ID, "name": "Rules, flowbots, business hours and SLA policies", "kind": "rule",
            "trigger": "not exposed by the Trengo API",
            "actions": {"todo": "export by hand from Trengo: Settings > Rules, Flowbots, Business hours, SLA"}}


def report_rows(month: str, period_start: str, period_end: str, aggregates: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for metric, value in sorted((aggregates or {}).items()):
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if number is None:
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = None
        rows.append(_compact({"id": f"{metric}:{month}", "metric": metric, "value": number,
                              "period_start": period_start, "period_end": period_end,
                              "dimensions": {"month": month}}))
    return rows


def report_months(created_values: list[str], tz: ZoneInfo, *, start: str | None = None, end: str | None = None,
                  limit: int = 36) -> list[tuple[str, datetime, datetime]]:
    """Calendar months (local time) to ask reporting for: TRENGO_REPORT_START..END when set (YYYY-MM),
    else the months the conversations span, at most the last ``limit``. Returns (YYYY-MM, start, end)."""
    def month_of(iso: str) -> tuple[int, int]:
        dt = datetime.fromisoformat(iso).astimezone(tz)
        return dt.year, dt.month

    def parse(ym: str) -> tuple[int, int]:
        y, m = ym.split("-")
        return int(y), int(m)

    if start or end:
        if not (start and end):
            raise ValueError("set both TRENGO_REPORT_START and TRENGO_REPORT_END (YYYY-MM)")
        first, last = parse(start), parse(end)
    elif created_values:
        months = [month_of(v) for v in created_values]
        first, last = min(months), max(months)
    else:
        return []
    out = []
    y, m = first
    while (y, m) <= last:
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        out.append((f"{y:04d}-{m:02d}", datetime(y, m, 1, tzinfo=tz), datetime(ny, nm, 1, tzinfo=tz)))
        y, m = ny, nm
    return out[-limit:]


ATTACHMENTS_DIR = "attachments"


def attachment_local_path(ref: AttachmentRef) -> str:
    """Where an attachment's content lives, relative to the source's files directory."""
    return f"{ATTACHMENTS_DIR}/{safe_file_name(ref.id, ref.file_name)}"


def map_thread(raw_messages: list[dict[str, Any]], ticket: dict[str, Any], tz: ZoneInfo, *,
               full_emails: Mapping[str, Any] | None = None, platform_hosts: tuple[str, ...] = (),
               use_epoch: bool = True) -> tuple[list[dict[str, Any]], list[Rejected], list[AttachmentRef]]:
    """A ticket's whole thread, oldest first (by time, then id: ids grow as messages are stored), with
    ``sequence`` numbered from 1. ``full_emails``: email-message payloads by message id, for collapsed ones."""
    full_emails = full_emails or {}

    def order(entry: tuple[str | BadTimestamp, dict[str, Any]]) -> tuple[str, int]:
        created, raw = entry
        ident = str(raw.get("id"))
        return created if isinstance(created, str) else "", int(ident) if ident.isdigit() else 0

    records: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    refs: list[AttachmentRef] = []
    seen: set[str] = set()
    # Each time is converted once: it orders the thread and goes into the record.
    entries = [(_message_created_at(raw, tz, use_epoch), raw) for raw in raw_messages]
    for created, raw in sorted(entries, key=order):
        ident = str(raw.get("id"))
        if ident in seen:  # a message that moved between pages while we read them
            continue
        seen.add(ident)
        record, message_refs = _map_message(raw, ticket, len(records) + 1, created,
                                            full_email=full_emails.get(ident), platform_hosts=platform_hosts)
        if isinstance(record, Rejected):
            rejected.append(record)
            continue
        records.append(record)
        refs.extend(message_refs)
    return records, rejected, refs
