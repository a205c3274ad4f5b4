"""The canonical helpdesk model: the one schema every source maps into and every destination maps out of.

Mapping, validation (the Great Expectations suites) and the migration store all read this module, so a
field is declared once. Records travel as plain JSON-safe dicts keyed by these field names: cheap to
serialise into the store, cheap to turn into a pandas frame for validation.

Ids are strings everywhere: some platforms' ids exceed 2**31, others are UUIDs, and a string compares the same
in SQLite, PostgreSQL and JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FieldType(StrEnum):
    STRING = "string"  # short single-line text
    TEXT = "text"  # long text, may hold HTML
    EMAIL = "email"
    PHONE = "phone"
    DATETIME = "datetime"  # UTC ISO 8601 with offset, e.g. 2024-01-02T10:24:40+00:00
    BOOLEAN = "boolean"
    INTEGER = "integer"
    NUMBER = "number"
    ENUM = "enum"  # one of Field.choices
    LIST = "list"  # list of strings (ids when Field.ref is set)
    REFERENCE = "reference"  # id of a record of Field.ref
    JSON = "json"  # free-form mapping or list, kept verbatim


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    required: bool = False
    ref: str | None = None  # canonical object a REFERENCE or LIST of ids points at
    choices: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class CanonicalObject:
    name: str  # plural, as used in asset keys: "contacts"
    description: str
    fields: tuple[Field, ...]
    id_field: str = "id"

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"canonical object {self.name!r} has no field {name!r}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    @property
    def references(self) -> dict[str, str]:
        """Field name -> canonical object it refers to (single references and id lists)."""
        return {f.name: f.ref for f in self.fields if f.ref}


def _id(description: str = "the source platform's id, as a string") -> Field:
    return Field("id", FieldType.STRING, required=True, description=description)


CHANNEL_TYPES = (
    "email",
    "chat",
    "whatsapp",
    "facebook",
    "instagram",
    "sms",
    "voice",
    "telegram",
    "twitter",
    "wechat",
    "gbm",
    "custom",
    "other",
)
CONVERSATION_STATUSES = ("open", "assigned", "pending", "closed", "spam")
MESSAGE_KINDS = ("inbound", "outbound", "note")
AUTHOR_TYPES = ("agent", "contact", "system")
CUSTOM_FIELD_TYPES = ("text", "number", "date", "boolean", "select", "multiselect", "email", "phone", "url")

OBJECTS: tuple[CanonicalObject, ...] = (
    CanonicalObject(
        "agents",
        "People who answer conversations (a helpdesk's users, agents or operators).",
        (
            _id(),
            Field("email", FieldType.EMAIL, required=True),
            Field("name", FieldType.STRING),
            Field("first_name", FieldType.STRING),
            Field("last_name", FieldType.STRING),
            Field("role", FieldType.STRING, description="platform role, e.g. administrator, basic_agent"),
            Field("is_active", FieldType.BOOLEAN, required=True),
            Field("locale", FieldType.STRING),
            Field("timezone", FieldType.STRING),
            Field("created_at", FieldType.DATETIME),
        ),
    ),
    CanonicalObject(
        "teams",
        "Groups of agents that conversations are routed to (teams, queues, departments).",
        (
            _id(),
            Field("name", FieldType.STRING, required=True),
            Field("member_ids", FieldType.LIST, ref="agents"),
            Field("channel_ids", FieldType.LIST, ref="channels"),
        ),
    ),
    CanonicalObject(
        "channels",
        "Inboxes a conversation arrives through: email, chat, WhatsApp, voice, ...",
        (
            _id(),
            Field("name", FieldType.STRING, required=True),
            Field("type", FieldType.ENUM, required=True, choices=CHANNEL_TYPES),
            Field("source_type", FieldType.STRING, description="the platform's own channel type, verbatim"),
            Field("address", FieldType.STRING, description="email address, phone number or handle"),
            Field("is_active", FieldType.BOOLEAN),
            Field("config", FieldType.JSON, description="routing and reopen settings, for the inventory"),
        ),
    ),
    CanonicalObject(
        "contacts",
        "Customers, with their custom field values and internal notes.",
        (
            _id(),
            Field("name", FieldType.STRING),
            Field("first_name", FieldType.STRING),
            Field("last_name", FieldType.STRING),
            Field("email", FieldType.EMAIL),
            Field("phone", FieldType.PHONE),
            Field("company", FieldType.STRING),
            Field("identifier", FieldType.STRING, description="the channel identifier the platform keys on"),
            Field("channel_ids", FieldType.LIST, ref="channels"),
            Field("group_ids", FieldType.LIST, ref="contact_groups"),
            Field("tags", FieldType.LIST, description="tag names applied to the contact"),
            Field("custom_fields", FieldType.JSON, description="custom field key -> value"),
            Field(
                "notes",
                FieldType.JSON,
                description="internal notes: [{id, body, author_id, author_name, created_at}]",
            ),
            Field("profile_id", FieldType.STRING),
            Field("created_at", FieldType.DATETIME),
            Field("updated_at", FieldType.DATETIME),
        ),
    ),
    CanonicalObject(
        "conversations",
        "Threads with one contact (tickets, cases, chats).",
        (
            _id(),
            Field("subject", FieldType.STRING),
            Field("status", FieldType.ENUM, required=True, choices=CONVERSATION_STATUSES),
            Field("source_status", FieldType.STRING, description="the platform's own status, verbatim"),
            Field("contact_id", FieldType.REFERENCE, ref="contacts"),
            Field("assignee_id", FieldType.REFERENCE, ref="agents"),
            Field("team_id", FieldType.REFERENCE, ref="teams"),
            Field("channel_id", FieldType.REFERENCE, ref="channels"),
            Field("channel_type", FieldType.ENUM, choices=CHANNEL_TYPES),
            Field("tags", FieldType.LIST, description="tag names"),
            Field("result", FieldType.STRING, description="resolution (the ticket's result)"),
            Field("priority", FieldType.STRING),
            Field("custom_fields", FieldType.JSON),
            Field("created_at", FieldType.DATETIME, required=True),
            Field("updated_at", FieldType.DATETIME),
            Field("assigned_at", FieldType.DATETIME),
            Field("closed_at", FieldType.DATETIME),
            Field("last_activity_at", FieldType.DATETIME),
            Field("message_count", FieldType.INTEGER),
            Field("first_response_seconds", FieldType.NUMBER),
        ),
    ),
    CanonicalObject(
        "messages",
        "One entry of a conversation's thread: inbound, outbound or an internal note, with its author.",
        (
            _id(),
            Field("conversation_id", FieldType.REFERENCE, required=True, ref="conversations"),
            Field("kind", FieldType.ENUM, required=True, choices=MESSAGE_KINDS),
            Field("body_type", FieldType.STRING, description="text, email, call_log, image, file, ..."),
            Field("subject", FieldType.STRING),
            Field("body_html", FieldType.TEXT),
            Field("body_text", FieldType.TEXT),
            Field("author_type", FieldType.ENUM, choices=AUTHOR_TYPES),
            Field("author_id", FieldType.STRING, description="agent or contact id, by author_type"),
            Field("author_name", FieldType.STRING),
            Field("author_email", FieldType.STRING),
            Field("from_address", FieldType.STRING),
            Field("to_addresses", FieldType.LIST),
            Field("attachment_ids", FieldType.LIST, ref="attachments"),
            Field("call_direction", FieldType.STRING, description="inbound or outbound, for call logs"),
            Field("call_duration_seconds", FieldType.INTEGER),
            Field("created_at", FieldType.DATETIME, required=True),
            Field("sequence", FieldType.INTEGER, description="position in the thread, oldest first"),
        ),
    ),
    CanonicalObject(
        "attachments",
        "Files on messages, including images inline in email bodies.",
        (
            _id(),
            Field("message_id", FieldType.REFERENCE, ref="messages"),
            Field("conversation_id", FieldType.REFERENCE, ref="conversations"),
            Field("file_name", FieldType.STRING, required=True),
            Field("mime_type", FieldType.STRING),
            Field("size_bytes", FieldType.INTEGER),
            Field("url", FieldType.STRING),
            Field("inline", FieldType.BOOLEAN, description="an image referenced from an email body"),
            Field("content_id", FieldType.STRING, description="cid or original URL the body refers to"),
            Field("sha256", FieldType.STRING),
            Field("local_path", FieldType.STRING, description="downloaded content, relative to the store"),
        ),
    ),
    CanonicalObject(
        "tags",
        "Labels on conversations or contacts.",
        (
            _id(),
            Field("name", FieldType.STRING, required=True),
            Field("color", FieldType.STRING),
            Field("applies_to", FieldType.ENUM, choices=("conversation", "contact")),
            Field("usage_count", FieldType.INTEGER),
        ),
    ),
    CanonicalObject(
        "articles",
        "Help-center articles, one record per translation, with their category path.",
        (
            _id(description="article id and locale, e.g. '123:en'"),
            Field("article_id", FieldType.STRING, required=True),
            Field("locale", FieldType.STRING, required=True),
            Field("title", FieldType.STRING, required=True),
            Field("body_html", FieldType.TEXT),
            Field("status", FieldType.ENUM, choices=("draft", "published")),
            Field("slug", FieldType.STRING),
            Field("help_center_id", FieldType.STRING),
            Field("category_id", FieldType.STRING),
            Field("category_path", FieldType.LIST, description="category names from the root"),
            Field("section_id", FieldType.STRING),
            Field("created_at", FieldType.DATETIME),
            Field("updated_at", FieldType.DATETIME),
        ),
    ),
    CanonicalObject(
        "custom_fields",
        "Definitions of custom fields: which entity owns them and their data type.",
        (
            _id(),
            Field("name", FieldType.STRING, required=True),
            Field("key", FieldType.STRING, required=True),
            Field("entity", FieldType.ENUM, required=True, choices=("contact", "conversation", "profile")),
            Field("data_type", FieldType.ENUM, required=True, choices=CUSTOM_FIELD_TYPES),
            Field("options", FieldType.LIST),
            Field("is_required", FieldType.BOOLEAN),
        ),
    ),
    CanonicalObject(
        "workflows",
        "Automation the destination must rebuild by hand: rules, webhooks, flowbots, routing.",
        (
            _id(),
            Field("name", FieldType.STRING, required=True),
            Field("kind", FieldType.STRING, required=True, description="rule, webhook, routing, ..."),
            Field("trigger", FieldType.STRING),
            Field("conditions", FieldType.JSON),
            Field("actions", FieldType.JSON),
            Field("is_active", FieldType.BOOLEAN),
        ),
    ),
    CanonicalObject(
        "reports",
        "Reporting metrics, kept as a reference dataset.",
        (
            _id(),
            Field("metric", FieldType.STRING, required=True),
            Field("value", FieldType.NUMBER),
            Field("period_start", FieldType.DATETIME),
            Field("period_end", FieldType.DATETIME),
            Field("dimensions", FieldType.JSON),
        ),
    ),
    CanonicalObject(
        "quick_replies",
        "Canned answers agents use.",
        (
            _id(),
            Field("title", FieldType.STRING, required=True),
            Field("body", FieldType.TEXT),
            Field("type", FieldType.STRING),
            Field("channel_ids", FieldType.LIST, ref="channels"),
        ),
    ),
    CanonicalObject(
        "contact_groups",
        "Named groups of contacts, for segmentation.",
        (_id(), Field("name", FieldType.STRING, required=True)),
    ),
)

SCHEMA: dict[str, CanonicalObject] = {o.name: o for o in OBJECTS}


def canonical_object(name: str) -> CanonicalObject:
    try:
        return SCHEMA[name]
    except KeyError:
        raise KeyError(
            f"unknown canonical object {name!r}; known objects: {', '.join(sorted(SCHEMA))}"
        ) from None


@dataclass
class ConformanceError:
    field: str
    problem: str


def _type_ok(f: Field, value: Any) -> bool:
    t = f.type
    if t in (FieldType.STRING, FieldType.TEXT, FieldType.EMAIL, FieldType.PHONE, FieldType.DATETIME,
             FieldType.REFERENCE):
        return isinstance(value, str)
    if t is FieldType.ENUM:
        return isinstance(value, str) and (not f.choices or value in f.choices)
    if t is FieldType.BOOLEAN:
        return isinstance(value, bool)
    if t is FieldType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if t is FieldType.NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if t is FieldType.LIST:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if t is FieldType.JSON:
        return isinstance(value, dict | list)
    return False


def conformance_errors(obj: CanonicalObject, record: Mapping[str, Any]) -> list[ConformanceError]:
    """Structural problems of one record against the schema: unknown fields, wrong types, missing ids.

    This is the contract check plugins are held to (the conformance suites call it); data-quality rules
    such as email syntax live in the Great Expectations suites.
    """
    errors: list[ConformanceError] = []
    known = set(obj.field_names)
    for key in record:
        if key not in known:
            errors.append(ConformanceError(key, "not a field of the canonical schema"))
    for f in obj.fields:
        value = record.get(f.name)
        if value is None:
            if f.name == obj.id_field:
                errors.append(ConformanceError(f.name, "the id is missing"))
            continue
        if not _type_ok(f, value):
            errors.append(ConformanceError(f.name, f"expected {f.type.value}, got {type(value).__name__}"))
    return errors


def dependency_order(names: Iterable[str], depends_on: Mapping[str, Iterable[str]]) -> list[str]:
    """Topological order of `names` (dependencies first), stable for equal ranks; cycles are an error."""
    names = list(names)
    wanted = set(names)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, path: tuple[str, ...]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            raise ValueError(f"dependency cycle: {' -> '.join((*path, n))}")
        state[n] = 1
        for d in depends_on.get(n, ()):
            if d in wanted:
                visit(d, (*path, n))
        state[n] = 2
        order.append(n)

    for n in names:
        visit(n, ())
    return order


__all__ = [
    "OBJECTS",
    "SCHEMA",
    "CanonicalObject",
    "ConformanceError",
    "Field",
    "FieldType",
    "canonical_object",
    "conformance_errors",
    "dependency_order",
]
