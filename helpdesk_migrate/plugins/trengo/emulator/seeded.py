"""What an extraction of a seeded workspace must produce: the workspace's payloads run through the same
mapping functions the source uses, without HTTP. Used by ``TrengoEmulator.seed_records`` for exact-count
tests and demos.

Records the source rejects at extract (named dirt such as a file gone at the
source) are included as bare ``{"id": ...}`` records, so that the ids of staged plus rejected records equal
the ids seeded (what the conformance suite checks); ``seed_rejections`` lists them.
"""

from __future__ import annotations

import hashlib
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

from ..mapping import (
    REPORT_METRICS,
    Lookups,
    attachment_local_path,
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
)
from .workspace import TICKET_BASE, Workspace, as_received, to_seconds


def _ok(items: list[Any]) -> list[dict[str, Any]]:
    return [r if isinstance(r, dict) else {"id": r.source_id} for r in items]


def seed_rejections(ws: Workspace, canonical: str, *, base: str) -> set[str]:
    """Ids of seeded records the source rejects at extract (they appear in seed_records as bare ids)."""
    return {str(r["id"]) for r in seed_records(ws, canonical, base=base) if len(r) == 1}


def seed_records(ws: Workspace, canonical: str, *, base: str, media_hosts: tuple[str, ...] | None = None) \
        -> list[dict[str, Any]]:
    tz = ws.tz
    hosts = media_hosts if media_hosts is not None else (urlsplit(base).hostname or "",)
    lookups = Lookups.build(ws.custom_fields, ws.ticket_results)
    if canonical == "agents":
        return _ok([map_user(u, tz) for u in ws.users])
    if canonical == "teams":
        return [map_team(t) for t in ws.teams]
    if canonical == "channels":
        return [map_channel(c) for c in ws.channels]
    if canonical == "tags":
        return [map_label(lb) for lb in ws.labels]
    if canonical == "custom_fields":
        return _ok([map_custom_field(f) for f in ws.custom_fields])
    if canonical == "quick_replies":
        return [map_quick_reply(q) for q in ws.quick_replies]
    if canonical == "contact_groups":
        return [map_contact_group(g) for g in ws.contact_groups]
    if canonical == "workflows":
        return [map_webhook(w) for w in ws.webhooks] + [rules_inventory()]
    if canonical == "contacts":
        return [map_contact(as_received(ws.contact_payload(i, base=base, include_notes=True)), lookups, tz)
                for i in range(ws.n_contacts)]
    if canonical == "conversations":
        return _conversations(ws, base, lookups)
    if canonical == "messages":
        return _threads(ws, base, lookups, hosts)[0]  # none of the seeded messages is rejected
    if canonical == "attachments":
        return _attachments(ws, _threads(ws, base, lookups, hosts)[1])
    if canonical == "articles":
        categories = {str(c["id"]): c for c in ws.categories}
        out = []
        for a in ws.articles:
            out += map_article(a, categories, str(a["help_center_id"]), tz)[0]
        return out
    if canonical == "reports":
        created = [c["created_at"] for c in _conversations(ws, base, lookups) if "created_at" in c]
        rows = []
        for month, begin, end in report_months([min(created), max(created)] if created else [], tz):
            local = [to_seconds(d.astimezone(tz).replace(tzinfo=None)) for d in (begin, end)]
            rows += report_rows(month, begin.astimezone(UTC).isoformat(timespec="seconds"),
                                end.astimezone(UTC).isoformat(timespec="seconds"),
                                ws.metrics(local[0], local[1], list(REPORT_METRICS)))
        return rows
    raise ValueError(f"the Trengo emulator has no seed records for {canonical!r}")


def _conversations(ws: Workspace, base: str, lookups: Lookups) -> list[dict[str, Any]]:
    return _ok([map_ticket(as_received(ws.ticket_payload(i, base=base)), lookups, ws.tz) for i in ws.ticket_order()])


def _threads(ws: Workspace, base: str, lookups: Lookups, hosts: tuple[str, ...]):
    messages, refs = [], []
    for ticket in _conversations(ws, base, lookups):
        if len(ticket) == 1:
            continue  # a rejected conversation: its thread is not read
        i = int(ticket["id"]) - TICKET_BASE
        raw = as_received(ws.ticket_messages(i, base=base))  # as the HTTP client reads them
        full = {str(m["id"]): as_received(ws.full_email(i, m["id"], base=base)) for m in raw if is_collapsed(m)}
        recs, _rejected, found = map_thread(raw, ticket, ws.tz, full_emails=full, platform_hosts=hosts)
        messages += recs
        refs += found
    return messages, refs


def _attachments(ws: Workspace, refs) -> list[dict[str, Any]]:
    out, seen = [], set()
    for ref in refs:
        if ref.id in seen:
            continue
        seen.add(ref.id)
        if not ref.download or not ref.url:
            out.append(map_attachment(ref))
            continue
        parts = urlsplit(ref.url).path.strip("/").split("/")
        inline = len(parts) > 2 and parts[1] == "inline"
        att_id = int(parts[2] if inline else parts[1])
        content = ws.attachment_content(att_id, inline=inline)
        if content is None:
            out.append({"id": ref.id})  # gone at the source: the extract rejects it
            continue
        out.append(map_attachment(ref, sha256=hashlib.sha256(content).hexdigest(), size=len(content),
                                  local_path=attachment_local_path(ref)))
    return out


__all__ = ["seed_rejections", "seed_records"]
