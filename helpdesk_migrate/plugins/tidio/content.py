"""What the migration writes into Tidio's text fields, and the markers that make re-runs idempotent.

Tidio's create endpoints never deduplicate and nothing can be looked up by our ids except a contact's
``distinct_id``. So everything the migration writes carries a marker of its source record; the label is the
source's own name (``label(context.source)``), never a platform name written into this plugin:

- contacts: ``distinct_id = "<source>:<id>"`` (reference section 6 recommends the prefix; <= 55 chars);
- tickets: the subject *starts* with ``[<Source> #<conversation id>]`` (or ``[<Source> contact <id> notes]``) and
  is capped at SUBJECT_MAX characters. Tidio documents no subject limit; a limit that cuts subjects cuts
  their end, so a leading marker survives any of them (a trailing one did not: every re-run after a cut
  subject duplicated the ticket). Subjects written by earlier versions, marker at the end, are still read;
- notes: the first line starts with ``[<Source> message <id>]`` (``[<Source> note <id>]`` for contact notes).

After a crash between Tidio's write and our id map, a re-run finds these markers and reuses what exists.
Nothing can be backdated in Tidio, so every note also carries the original author and timestamp.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import html2text

DISTINCT_ID_MAX = 55
_TICKET_MARKER = r"\[(?P<label>[A-Za-z][\w-]*) (?:#(?P<conversation>[^\]\s]+)|contact (?P<contact>[^\]\s]+) notes)\]"
TICKET_MARKER_RE = re.compile(r"^\s*" + _TICKET_MARKER)
LEGACY_TICKET_MARKER_RE = re.compile(_TICKET_MARKER + r"\s*$")  # earlier versions ended the subject with it
# Our cap on ticket subjects (marker included): Tidio documents none, 255 is the plausible storage limit. The
# whole subject is in the ticket's opening message, so the cap loses nothing.
SUBJECT_MAX = 255
# The Tidio contact property (type text, created in the panel as the pre-flight asks) where a contact's values
# that could not be written as they were are kept, one "field: value" line each.
ORIGINALS_PROPERTY = "original_values"
PROPERTY_VALUE_MAX = 1000
NOTE_MARKER_RE = re.compile(
    r"^\[(?P<label>[A-Za-z][\w-]*) (?P<kind>message|note) (?P<id>[^\]\s]+)(?: part (?P<part>\d+)/(?P<parts>\d+))?\]")
KIND_WORDS = {"inbound": "Customer message", "outbound": "Agent reply", "note": "Internal note"}


def label(source: str) -> str:
    """The source's name as people read it in Tidio, e.g. 'Acme' for a source named acme."""
    return source[:1].upper() + source[1:]


def distinct_id(source: str, source_id: str) -> str:
    return f"{source}:{source_id}"


def source_of_distinct_id(value: str | None, source: str) -> str | None:
    prefix = f"{source}:"
    return value[len(prefix):] if value and value.startswith(prefix) else None


def _ticket_marker(subject: str | None) -> re.Match[str] | None:
    return TICKET_MARKER_RE.match(subject or "") or LEGACY_TICKET_MARKER_RE.search(subject or "")


def ticket_key(subject: str | None) -> tuple[str, str] | None:
    """('conversation', id) or ('contact_notes', id) for a subject the migration wrote (marker first, or at
    the end as earlier versions wrote it), else None."""
    m = _ticket_marker(subject)
    if not m:
        return None
    if m["conversation"]:
        return "conversation", m["conversation"]
    return "contact_notes", m["contact"]


def ticket_label(subject: str | None) -> str | None:
    m = _ticket_marker(subject)
    return m["label"] if m else None


def note_key(content: str | None) -> tuple[str, str, int] | None:
    """(kind, source id, part) for a note the migration wrote, else None."""
    m = NOTE_MARKER_RE.match(content or "")
    if not m:
        return None
    return m["kind"], m["id"], int(m["part"] or 1)


def marked_subject(marker: str, text: str) -> tuple[str, bool]:
    """(subject, cut): the marker first, then the text, within SUBJECT_MAX characters."""
    subject = f"{marker} {text}"
    if len(subject) <= SUBJECT_MAX:
        return subject, False
    return subject[:SUBJECT_MAX - 1].rstrip() + "…", True


def source_subject(conversation: Mapping[str, Any]) -> str:
    return " ".join(str(conversation.get("subject") or "").split())


def conversation_subject(source: str, conversation: Mapping[str, Any]) -> tuple[str, bool]:
    """(subject, cut) of a conversation's ticket; when cut, the whole subject is in the opening message."""
    return marked_subject(f"[{label(source)} #{conversation['id']}]", source_subject(conversation) or "(no subject)")


def contact_notes_subject(source: str, contact: Mapping[str, Any]) -> str:
    who = contact_display(contact)
    return marked_subject(f"[{label(source)} contact {contact['id']} notes]",
                          f"Notes on {who} from {label(source)}")[0]


def contact_display(contact: Mapping[str, Any]) -> str:
    name = contact.get("name") or " ".join(x for x in (contact.get("first_name"), contact.get("last_name")) if x)
    email = contact.get("email")
    if name and email:
        return f"{name} <{email}>"
    return str(name or email or contact.get("phone") or f"contact {contact['id']}")


_html = html2text.HTML2Text()
_html.body_width = 0  # keep paragraphs on one line: Tidio wraps for display
_html.ignore_images = False
_html.ignore_emphasis = True


def plain_text(message: Mapping[str, Any]) -> str:
    """The message body as plain text: internal notes must be plain text (reference 3.3)."""
    text = message.get("body_text")
    if not text and message.get("body_html"):
        text = _html.handle(str(message["body_html"]))
    return str(text or "").strip()


def _author(message: Mapping[str, Any]) -> str:
    name = message.get("author_name") or ""
    email = message.get("author_email") or ""
    who = f"{name} <{email}>" if name and email else (name or email)
    role = {"agent": "agent", "contact": "customer", "system": "system"}.get(message.get("author_type") or "", "")
    if not who:
        who = f"unknown {role}".strip() if role else "unknown author"
    elif role:
        who = f"{who} ({role})"
    return who


def split_parts(header: str, body: str, limit: int, marker: str) -> list[str]:
    """Header + body in as few notes as fit ``limit``; every part keeps the marker and the header."""
    single = f"{marker} {header}\n\n{body}".rstrip()
    if len(single) <= limit:
        return [single]
    room = limit - len(marker) - len(header) - 40  # room for " part i/n" and blank lines
    chunks = [body[i:i + room] for i in range(0, len(body), room)] or [""]
    total = len(chunks)
    return [f"{marker[:-1]} part {i}/{total}] {header}\n\n{chunk}".rstrip() for i, chunk in enumerate(chunks, 1)]


def message_note(source: str, message: Mapping[str, Any], limit: int) -> list[str]:
    """A historical message as note text (one or more parts), with its original author and time."""
    kind = KIND_WORDS.get(message.get("kind") or "", "Message")
    channel = f" via {message['body_type']}" if message.get("body_type") and message["body_type"] != "text" else ""
    header = f"{kind}{channel} by {_author(message)}, originally at {message.get('created_at')}"
    lines = []
    if message.get("subject"):
        lines.append(f"Subject: {message['subject']}")
    if message.get("to_addresses"):
        lines.append(f"To: {', '.join(message['to_addresses'])}")
    if message.get("call_direction") or message.get("call_duration_seconds") is not None:
        lines.append(f"Call: {message.get('call_direction') or '?'}, {message.get('call_duration_seconds') or 0} s")
    body = plain_text(message)
    attachments = message.get("attachment_ids") or []
    tail = (f"\n\n[{len(attachments)} attachment(s) not copied: Tidio's API cannot upload files; they are listed "
            "in the migration report]") if attachments else ""
    text = ("\n".join(lines) + "\n\n" if lines else "") + (body or "(no text)") + tail
    return split_parts(header, text, limit, f"[{label(source)} message {message['id']}]")


def contact_note(source: str, note: Mapping[str, Any], limit: int) -> list[str]:
    author = note.get("author_name") or (f"agent {note['author_id']}" if note.get("author_id") else "unknown agent")
    header = f"Contact note by {author}, originally at {note.get('created_at') or 'an unknown time'}"
    body = str(note.get("body") or "").strip()
    if "<" in body and ">" in body:
        body = _html.handle(body).strip()
    return split_parts(header, body or "(empty note)", limit, f"[{label(source)} note {note.get('id')}]")


def ticket_opening(source: str, conversation: Mapping[str, Any], *, status: str, dropped_tags: list[str],
                   mode: str, kept: Mapping[str, str] | None = None) -> str:
    """The ticket's first message, which Tidio attributes to the contact: a plain statement of provenance, and
    the place where values the ticket could not hold are kept (``kept``: what -> value, e.g. the team)."""
    lines = [
        f"Conversation #{conversation['id']} migrated from {label(source)}; this text was written by the "
        "migration, not by the customer.",
        f"Subject in {label(source)}: {source_subject(conversation) or '(no subject)'}",
        f"Originally created {conversation.get('created_at')}"
        + (f", closed {conversation['closed_at']}" if conversation.get("closed_at") else "")
        + (f", last activity {conversation['last_activity_at']}" if conversation.get("last_activity_at") else "")
        + (f", via {conversation['channel_type']}" if conversation.get("channel_type") else "") + ".",
        f"Status in {label(source)}: {conversation.get('source_status') or conversation.get('status')}"
        + (f", result: {conversation['result']}" if conversation.get("result") else "")
        + f"; in Tidio: {status}.",
    ]
    if conversation.get("tags"):
        lines.append(f"Labels: {', '.join(conversation['tags'])}.")
    if dropped_tags:
        lines.append(f"Labels without a Tidio tag, not applied: {', '.join(dropped_tags)}.")
    for what, value in (kept or {}).items():
        lines.append(f"{what} (not carried into Tidio): {value}.")
    if conversation.get("custom_fields"):
        pairs = "; ".join(f"{k}: {v}" for k, v in conversation["custom_fields"].items())
        lines.append(f"Ticket fields in {label(source)}: {pairs}.")
    if mode == "internal_notes":
        lines.append("The original messages follow as internal notes, each with its original author and time.")
    else:
        lines.append("The original messages follow as replies, each with its original author and time.")
    return "\n".join(lines)


def placeholder_email(source: str, source_id: str, domain: str) -> str:
    local = re.sub(r"[^a-z0-9._-]+", "-", f"{source}-contact-{source_id}".lower()).strip("-.")
    return f"{local[:64]}@{domain}"


def display_value(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def originals_text(originals: Mapping[str, Any]) -> tuple[str, bool]:
    """(text, complete): the values the migration could not write as they were, one "field: value" line each,
    within a property value's PROPERTY_VALUE_MAX characters; not complete when it had to be cut."""
    text = "\n".join(f"{name}: {display_value(value)}" for name, value in originals.items())
    if len(text) <= PROPERTY_VALUE_MAX:
        return text, True
    return text[:PROPERTY_VALUE_MAX - 1] + "…", False
