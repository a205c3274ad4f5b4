"""What an extraction of a seeded account must produce: the account's payloads, as the HTTP client reads them
(a JSON round trip), run through the plugin's own mapping functions. Records the extraction rejects (deleted
tickets, files gone) appear as bare ``{"id": ...}`` so staged plus rejected ids equal the seeded ids."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..mapping import (
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
from .account import Account
from .api import Api
from .profiles import Shaper


def _received(payload: Any) -> Any:
    return json.loads(json.dumps(payload, ensure_ascii=False))


def _ok(items: list[Any]) -> list[dict[str, Any]]:
    return [r if isinstance(r, dict) else {"id": r.source_id} for r in items]


def seed_records(ac: Account, canonical: str, *, base: str, variants: frozenset[str] = frozenset()) \
        -> list[dict[str, Any]]:
    shape = Shaper(variants)
    api = Api(ac, base, shape)
    lookups = Lookups.build(ac.ticket_fields, ac.user_fields, ac.org_fields, _received(ac.orgs))
    if canonical == "agents":
        return _ok([map_agent(_received(u)) for u in ac.agents])
    if canonical == "contacts":
        return [map_contact(_received(u), lookups) for u in ac.end_users]
    if canonical == "teams":
        members: dict[int, list[str]] = {}
        for m in ac.memberships:
            members.setdefault(m["group_id"], []).append(str(m["user_id"]))
        return [map_team(g, members.get(g["id"], [])) for g in ac.groups]
    if canonical == "contact_groups":
        return [map_organization(o) for o in ac.orgs]
    if canonical == "custom_fields":
        return custom_field_records(ac.ticket_fields, ac.user_fields, ac.org_fields, lookups)
    if canonical == "tags":
        return [map_tag(t) for t in api.get(["tags"], {})["tags"]]
    if canonical == "conversations":
        return [r for r, _ in _conversations(ac, api, lookups)]
    if canonical == "channels":
        used = {r.get("channel_id") for r, _ in _conversations(ac, api, lookups) if len(r) > 1}
        return [map_channel(v) for v in sorted(u for u in used if u)]
    if canonical in ("messages", "attachments"):
        messages, refs = _threads(ac, api, lookups)
        return messages if canonical == "messages" else _attachments(ac, refs)
    if canonical == "articles":
        sections = {str(s["id"]): s for s in ac.sections}
        categories = {str(c["id"]): c for c in ac.categories}
        return [map_article(_received(api._article(a, loc)), sections, categories)
                for loc in ac.hc_locales for a in ac.articles if loc in a["translations"]]
    if canonical == "quick_replies":
        return [map_macro(m) for m in ac.macros]
    if canonical == "workflows":
        return [map_rule(r, kind) for rows, kind in ((ac.triggers, "trigger"), (ac.automations, "automation"),
                                                     (ac.slas, "sla_policy"), (ac.views, "view")) for r in rows]
    raise ValueError(f"the Zendesk emulator has no seed records for {canonical!r}")


def _conversations(ac: Account, api: Api, lookups: Lookups) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(canonical record or bare id, ticket payload) per ticket, as the export with its side-loads reads them."""
    loads = api.shape.side_loads("metric_sets,comment_count")
    out = []
    for raw in _export_all(api):
        t = ac._ticket(raw["id"])
        metric = _received(ac.metric_set(t)) if "metric_sets" in loads else None
        deleted = _received(api._deleted(t)) if ac.is_deleted(t) else None
        mapped, _ = map_ticket(raw, lookups, metric=metric, deleted=deleted)
        out.append((mapped if isinstance(mapped, dict) else {"id": mapped.source_id}, raw))
    return out


def _export_all(api: Api) -> list[dict[str, Any]]:
    params = {"start_time": "0", "include": "metric_sets,comment_count", "per_page": "1000"}
    rows: dict[int, dict[str, Any]] = {}
    while True:
        page = api.incremental(["tickets", "cursor"], params)
        for raw in _received(page["tickets"]):
            rows[raw["id"]] = raw
        if page["end_of_stream"]:
            return list(rows.values())
        params = {**params, "cursor": page["after_cursor"]}
        params.pop("start_time", None)


def _threads(ac: Account, api: Api, lookups: Lookups):
    people = {str(u["id"]): u for u in (*ac.agents, *ac.end_users)}
    messages, refs = [], []
    for record, _raw in _conversations(ac, api, lookups):
        if len(record) == 1:
            continue  # a deleted ticket: its comments are not read
        t = ac._ticket(int(record["id"]))
        comments = _received([api.shape.comment(c) for c in ac.comments(t, api.base)])
        recs, found, _ = map_comments(comments, record, people)
        messages += recs
        refs += found
    return messages, refs


def _attachments(ac: Account, refs) -> list[dict[str, Any]]:
    out, seen = [], set()
    for ref in refs:
        if ref.id in seen:
            continue
        seen.add(ref.id)
        token = ref.url.split("/attachments/token/", 1)[1].split("/", 1)[0] if ref.url else ""
        content = ac.attachment_content(token)
        if content is None:
            out.append({"id": ref.id})  # gone: the extract rejects it
            continue
        out.append(map_attachment(ref, sha256=hashlib.sha256(content).hexdigest(), size=len(content),
                                  local_path=attachment_local_path(ref)))
    return out


__all__ = ["seed_records"]
