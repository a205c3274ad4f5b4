"""What the Trengo mapping changed on a record's way to the canonical model, in words a person reads in the
migration report ("Loaded with changes"). Each function compares the payload as received with the canonical
record mapping.py made of it, so the mapping's hot path stays as it is and the two cannot disagree.

Changes made to every record alike (naive local times read in TRENGO_TIMEZONE) are recorded once per object
(hookspecs.EVERY_RECORD), not once per record.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from helpdesk_migrate.sdk import Change

from .mapping import STATUS_MAP, ticket_created_at

REPLACEMENT_CHAR = "\ufffd"
# What the text body leaves out of an HTML body: content that runs (scripts, frames, event handlers, links)
_ACTIVE_HTML = re.compile(r"<\s*(script|iframe|object|embed)\b|\son[a-z]+\s*=|javascript:", re.IGNORECASE)


def every_record_changes(tz: ZoneInfo, *, epochs: int = 0) -> list[Change]:
    """The conversion every timestamped object goes through. ``epochs``: payloads whose exact epoch
    (``created_at_time``) was used instead of their naive time."""
    if epochs:
        return [Change("times-converted-to-utc",
                       f"Trengo gives naive times; {epochs} payload(s) carried the exact epoch beside them, which was "
                       f"used; any without one were read in {tz.key} and stored in UTC")]
    return [Change("times-converted-to-utc",
                   f"Trengo gives naive local times: read in {tz.key} (TRENGO_TIMEZONE, or the assumed zone when "
                   "it is unset; the extract's findings say what the data showed) and stored in UTC")]


def contact_changes(raw: dict[str, Any], record: dict[str, Any]) -> list[Change]:
    out = []
    email = raw.get("email")
    if isinstance(email, str) and record.get("email") and email != record["email"]:
        out.append(Change("email-trimmed", f"email {email!r} trimmed of surrounding spaces to {record['email']!r}"))
    out += _replacement_chars(record, ("name",))
    return out


def ticket_changes(raw: dict[str, Any], record: dict[str, Any], tz: ZoneInfo) -> list[Change]:
    out = []
    status = str(raw.get("status") or "").upper()
    if status and status not in STATUS_MAP:
        out.append(Change("status-fallback", f"status {status!r} is not one Trengo documents: migrated as "
                                             f"{record.get('status')!r}, source_status keeps {status!r}"))
    created, fallback, problem = ticket_created_at(raw, tz)
    if fallback is not None:
        out.append(Change("created-at-fallback", f"created_at was unusable ({problem}): the conversation is dated "
                                                 f"by its {fallback}, {created}, the earliest of its other times",
                          field="created_at", original=_json_safe(raw.get("created_at")),
                          kept_in="the source archive"))
    else:
        out += _local_time_changes("created_at", raw.get("created_at"), record.get("created_at"), tz)
    out += _replacement_chars(record, ("subject",))
    return out


def _json_safe(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def message_changes(raw: dict[str, Any], record: dict[str, Any], tz: ZoneInfo) -> list[Change]:
    out = _local_time_changes("created_at", raw.get("created_at"), record.get("created_at"), tz)
    out += _replacement_chars(record, ("body_text", "body_html", "subject"))
    html = record.get("body_html")
    if html and _ACTIVE_HTML.search(html):
        out.append(Change("active-content-dropped", "the text body leaves out the HTML's scripts, frames, event "
                                                    "handlers and javascript: links; body_html is kept verbatim"))
    return out


def _replacement_chars(record: dict[str, Any], fields: tuple[str, ...]) -> list[Change]:
    hit = [f for f in fields if isinstance(record.get(f), str) and REPLACEMENT_CHAR in record[f]]
    if not hit:
        return []
    return [Change("invalid-bytes-replaced", f"{', '.join(hit)}: bytes that were not UTF-8 became U+FFFD")]


def _local_time_changes(field: str, raw_value: Any, utc_value: Any, tz: ZoneInfo) -> list[Change]:
    """A local time that does not exist (spring forward) or happens twice (fall back) was read with the
    offset in force before the change: say so, with the UTC time it became."""
    text = str(raw_value or "").strip()
    try:  # read as mapping.to_utc reads it: a value without an offset is a local time
        local = datetime.fromisoformat(text)
    except ValueError:
        return []  # not a time at all: to_utc refuses it, and the record says so
    if local.tzinfo is not None:
        return []
    first, second = local.replace(tzinfo=tz, fold=0), local.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return []
    round_trip = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if round_trip != local:
        return [Change("time-in-dst-gap", f"{field} {text!r} does not exist in {tz.key} (clocks went forward): "
                                          f"read with the offset before the change, {utc_value}")]
    return [Change("time-ambiguous", f"{field} {text!r} happens twice in {tz.key} (clocks went back): read as "
                                     f"the first occurrence, {utc_value}")]
