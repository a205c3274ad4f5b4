"""Salesforce's side of loaded records, for the sample spot-check: Cases and the thread's EmailMessages,
CaseComments and Tasks, read with one SOQL query per object (``Id IN (...)``, escaped, split only where the
URL limit demands), each with ``_canonical``. A Case's ``_canonical`` has the keys the source side shows
(subject, status, created_at, ...; ids are Salesforce ids). A thread record's ``_canonical`` leads with what
the report's one-cell summary has room for: time, kind (inbound/outbound/note, email/comment/task), who,
and the start of the text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from .base import Services, parse_dt
from .load_messages import parse_header
from .mapping import html_to_text

KEY_PREFIXES = {"500": "Case", "02s": "EmailMessage", "00a": "CaseComment", "00T": "Task"}
EXCERPT = 200


def short_time(value: Any) -> str | None:
    """2024-01-02T10:24:40Z: compact, for the thread table's one-cell summary."""
    dt = parse_dt(value)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def iso(value: Any) -> str | None:
    """Salesforce's 2024-01-02T10:24:40.000+0000 as the canonical 2024-01-02T10:24:40+00:00."""
    dt = parse_dt(value)
    return dt.replace(microsecond=0).isoformat() if dt else None


def excerpt(text: str | None, limit: int = EXCERPT) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _columns(svc: Services, obj: str, wanted: Sequence[str]) -> list[str]:
    present = svc.client.fields(obj)
    return [f for f in dict.fromkeys(["Id", *wanted]) if f in present]


def _read(svc: Services, obj: str, ids: Sequence[str], wanted: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids or not svc.client.has_object(obj):
        return {}
    cols = ", ".join(_columns(svc, obj, wanted))
    rows = svc.client.query_in(f"SELECT {cols} FROM {obj} WHERE Id IN {{values}}", list(dict.fromkeys(ids)))
    return {r["Id"]: {k: v for k, v in r.items() if k != "attributes"} for r in rows}


def fetch(svc: Services, canonical: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    ids = [str(i) for i in ids if i]
    if canonical == "conversations":
        return fetch_cases(svc, ids)
    if canonical == "messages":
        return fetch_messages(svc, ids)
    return {}


def fetch_cases(svc: Services, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    cfg = svc.cfg
    tags_field, channel_field, created_field = cfg.field("Tags"), cfg.field("Channel"), cfg.field("Created_At")
    rows = _read(svc, "Case", ids, ["CaseNumber", "Subject", "Status", "Priority", "Origin", "CreatedDate",
                                    "ClosedDate", "ContactId", "OwnerId", tags_field, channel_field, created_field,
                                    cfg.field("Closed_At"), cfg.id_field])
    try:
        fallback = svc.fallback_owner()
    except Exception:  # a misconfigured fallback is the pre-flight's to report, not the spot-check's
        fallback = None
    out = {}
    for rid, r in rows.items():
        created = iso(r.get("CreatedDate"))
        original = iso(r.get(created_field))
        if original and created != original:
            created = f"{created} (load time: no audit-field permission; original {original} in {created_field})"
        owner = r.get("OwnerId") or ""
        user_owned = owner.startswith("005")
        assignee = owner if user_owned else ""
        if user_owned and owner == fallback:
            assignee += " (fallback owner: SALESFORCE_FALLBACK_OWNER_ID)"
        team = owner if owner.startswith("00G") else ("(not kept: a Case has one owner, here a User)"
                                                      if user_owned else "")
        channel = r.get(channel_field)
        origin = r.get("Origin")
        out[rid] = {**r, "_canonical": {
            "id": r.get("CaseNumber") and f"Case {r['CaseNumber']}",
            "subject": r.get("Subject"), "status": r.get("Status"), "created_at": created,
            "closed_at": iso(r.get("ClosedDate")), "contact_id": r.get("ContactId"), "assignee_id": assignee,
            "team_id": team,
            "channel_type": " ".join(p for p in (channel, f"(Origin {origin})" if origin else "") if p) or None,
            "tags": [t for t in (r.get(tags_field) or "").split(";") if t] or None}}
    return out


def fetch_messages(svc: Services, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    cfg = svc.cfg
    by_object: dict[str, list[str]] = {}
    for i in ids:
        by_object.setdefault(KEY_PREFIXES.get(i[:3], ""), []).append(i)
    out: dict[str, dict[str, Any]] = {}
    emails = _read(svc, "EmailMessage", by_object.get("EmailMessage", []),
                   ["MessageDate", "CreatedDate", "CreatedById", "Incoming", "Status", "FromName", "FromAddress",
                    "ToAddress", "Subject", "TextBody", "HtmlBody", "ParentId"])
    for rid, r in emails.items():
        body = r.get("TextBody") or html_to_text(r.get("HtmlBody"))
        sender = r.get("FromName") or r.get("FromAddress") or ""  # the address stays in the record's fields
        direction = "inbound" if r.get("Incoming") else "outbound"
        out[rid] = {**{k: v for k, v in r.items() if k not in ("TextBody", "HtmlBody")}, "_canonical": {
            "time": short_time(r.get("MessageDate") or r.get("CreatedDate")), "kind": f"{direction} email",
            "by": sender, "text": excerpt(body), "incoming": bool(r.get("Incoming")),
            "created_by": r.get("CreatedById")}}
    comments = _read(svc, "CaseComment", by_object.get("CaseComment", []),
                     ["CommentBody", "CreatedDate", "CreatedById", "IsPublished", "ParentId"])
    for rid, r in comments.items():
        body = r.get("CommentBody") or ""
        head, _, rest = body.partition("\n")
        label = head.strip("[]").split(" · ")[0] if parse_header(body) else ""
        kind = "note" if label.startswith("Internal note") else "inbound" if label.startswith("Message from") \
            else "outbound" if label.startswith("Reply by") else "comment"
        author = label.split(" by ", 1)[-1] if " by " in label else label.removeprefix("Message from ")
        out[rid] = {**r, "_canonical": {
            "time": short_time(r.get("CreatedDate")), "kind": f"{kind} comment", "by": author,
            "text": excerpt(rest if parse_header(body) else body), "published": bool(r.get("IsPublished")),
            "created_by": r.get("CreatedById")}}
    tasks = _read(svc, "Task", by_object.get("Task", []),
                  ["Subject", "Description", "TaskSubtype", "CallType", "CallDurationInSeconds", "ActivityDate",
                   "CreatedDate", "OwnerId", "WhatId", cfg.field("Created_At")])
    for rid, r in tasks.items():
        call = r.get("TaskSubtype") == "Call"
        direction = (r.get("CallType") or "").lower()
        out[rid] = {**r, "_canonical": {
            "time": short_time(r.get(cfg.field("Created_At")) or r.get("CreatedDate")),
            "kind": f"{direction + ' ' if direction else ''}call task" if call else "task",
            "by": r.get("OwnerId") or "", "text": excerpt(r.get("Subject") if call else r.get("Description")
                                                          or r.get("Subject"))}}
    return out
