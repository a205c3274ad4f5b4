"""The manual-configuration inventory: what a Tidio admin must build by hand, with the content to build it.

Tidio's API cannot create operators, departments, tags, contact-property definitions, quick replies,
contact groups, help-center content, workflows or channel routing. The records of those objects are
skipped by the load with a reason, and listed here in full so nothing is lost: the document is written
to the pair's reports folder and attached to the ``manual_inventory`` check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import html2text

from helpdesk_migrate.sdk import LoadOutcome, markdown

from .matching import PROPERTY_TYPE_FOR, property_name

# Canonical objects Tidio's API has no place for, with the reason a person reads in the quarantine report.
SKIP_REASONS: dict[str, tuple[str, str]] = {
    "attachments": ("Tidio's API cannot upload files; the message's note says how many were attached and the "
                    "manual inventory lists each file", "keep the files in an archive, or attach them by hand"),
    "articles": ("Tidio's API has no help-center endpoints", "rebuild the article in Tidio's help center by hand; "
                 "its full content is in the manual-configuration inventory"),
    "quick_replies": ("Tidio's API cannot create quick replies (canned responses)",
                      "recreate it in Tidio (Settings > Quick replies); its text is in the inventory"),
    "contact_groups": ("Tidio's API has no contact groups", "rebuild it as a Tidio contact segment/filter, "
                       "e.g. on an imported property; listed in the inventory"),
    "workflows": ("Tidio's API cannot create automations", "recreate it as a Tidio Flow or routing rule by hand; "
                  "its trigger, conditions and actions are in the inventory"),
    "channels": ("channels are connected in Tidio's panel, not through the API",
                 "connect the channel in Tidio (Channels) and rebuild its routing; listed in the inventory"),
    "reports": ("reporting metrics do not migrate", "archive the source's reports for reference"),
}
INVENTORY_OBJECTS = tuple(SKIP_REASONS)

_html = html2text.HTML2Text()
_html.body_width = 0


def skipped_outcomes(canonical: str, records: Iterable[Mapping[str, Any]]) -> list[LoadOutcome]:
    reason, fix = SKIP_REASONS[canonical]
    out = []
    for r in records:
        name = r.get("title") or r.get("name") or r.get("file_name") or r.get("metric") or ""
        what = f"{canonical[:-1].replace('_', ' ')} {name!r}: " if name else ""
        out.append(LoadOutcome(str(r["id"]), "skipped", rule="manual-configuration", reason=what + reason, fix=fix))
    return out


def _md_escape(value: Any) -> str:
    # Names come from the source: escaped so HTML or a markdown link in them stays text where this renders.
    return markdown.cell(value, limit=1000)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "_none_\n"
    head = "| " + " | ".join(columns) + " |\n| " + " | ".join("---" for _ in columns) + " |\n"
    return head + "".join("| " + " | ".join(_md_escape(r.get(c)) for c in columns) + " |\n" for r in rows)


def _block(text: str) -> str:
    """Source text (a quick reply, an article, a workflow's JSON) as a quote, every line escaped: HTML or a
    markdown link from the source stays text wherever the inventory is rendered."""
    text = str(text or "").strip() or "(empty)"
    return "\n".join("> " + markdown.text(line) if line.strip() else ">" for line in text.splitlines()) + "\n"


def build(staged: Callable[[str], list[dict[str, Any]]], gaps: Mapping[str, list[dict[str, Any]]],
          *, source_title: str) -> str:
    """The inventory document. ``staged(name)`` gives the source's canonical records; ``gaps`` the Tidio-side
    findings (properties, operators, departments, tags)."""
    parts = [f"# Tidio: manual-configuration inventory (from {source_title})\n",
             "Tidio's API cannot create any of the following. Build them in the Tidio panel; the first section "
             "must exist before contacts load, the second before tickets load.\n"]

    parts.append("## 1. Contact properties to create before contacts load\n")
    defs = [d for d in staged("custom_fields") if d.get("entity") in ("contact", "profile")]
    rows = [{"property name": property_name(d["key"]), "type": PROPERTY_TYPE_FOR.get(d.get("data_type", "text"), "text"),
             "label": d.get("name"), "source field": d.get("key"), "source type": d.get("data_type"),
             "status in Tidio": next((g["status"] for g in gaps.get("properties", [])
                                      if g.get("key") == d.get("key")), "exists")} for d in defs]
    parts.append("Date, boolean and select values are stored as text (Tidio knows text, email, number, phone and "
                 "url only).\n\n" + _table(rows, ["property name", "type", "label", "source field", "source type",
                                                    "status in Tidio"]))
    extra_props = [g for g in gaps.get("properties", []) if not any(d.get("key") == g.get("key") for d in defs)]
    if extra_props:
        parts.append("\nAlso needed by mapped contact values:\n\n" + _table(extra_props, ["name", "type", "status"]))

    parts.append("\n## 2. Operators, departments and tags tickets need\n")
    parts.append("### Operators to invite (agents without a matching operator)\n\n"
                 + _table(gaps.get("operators", []), ["email", "name", "active", "source id"]))
    parts.append("\n### Departments to create (teams without a matching department)\n\n"
                 + _table(gaps.get("departments", []), ["name", "source id"]))
    parts.append("\n### Tags to create (labels without a Tidio tag)\n\n"
                 + _table(gaps.get("tags", []), ["name", "used by", "source id"]))

    quick = staged("quick_replies")
    parts.append(f"\n## 3. Quick replies ({len(quick)})\n")
    for q in quick:
        parts.append(f"\n### {markdown.text(q.get('title'))}\n\nType: {markdown.text(q.get('type') or 'text')}; "
                     f"channels: {markdown.text(', '.join(q.get('channel_ids') or []) or 'all')}\n\n" + _block(q.get("body")))

    groups = staged("contact_groups")
    parts.append(f"\n## 4. Contact groups ({len(groups)})\n\nRebuild as segments or filters, e.g. on an imported "
                 "contact property.\n\n" + _table(groups, ["name", "id"]))

    articles = staged("articles")
    parts.append(f"\n## 5. Help center ({len(articles)} article translations)\n")
    for a in sorted(articles, key=lambda x: (list(x.get("category_path") or []), str(x.get("title")))):
        path = " / ".join(a.get("category_path") or []) or "(no category)"
        body = _html.handle(str(a.get("body_html") or "")).strip()
        parts.append(f"\n### {markdown.text(a.get('title'))} ({markdown.text(a.get('locale'))}, "
                     f"{markdown.text(a.get('status') or 'published')})\n\n"
                     f"Category: {markdown.text(path)}; slug: {markdown.text(a.get('slug') or '-')}\n\n" + _block(body))

    workflows = staged("workflows")
    parts.append(f"\n## 6. Workflows and routing ({len(workflows)} workflows)\n")
    for w in workflows:
        parts.append(f"\n### {markdown.text(w.get('name'))} ({markdown.text(w.get('kind'))}, "
                     f"{'active' if w.get('is_active') else 'inactive'})\n\n"
                     f"Trigger: {markdown.text(w.get('trigger') or '-')}\n\n" + _block(json.dumps(
                         {"conditions": w.get("conditions"), "actions": w.get("actions")}, indent=2, default=str)))
    channels = staged("channels")
    parts.append("\n### Channels and their routing\n\n" + _table(
        [{**c, "config": json.dumps(c.get("config") or {}, default=str)[:300]} for c in channels],
        ["name", "type", "address", "is_active", "config"]))

    attachments = staged("attachments")
    parts.append(f"\n## 7. Attachments not copied ({len(attachments)})\n\nTidio's API cannot upload files. "
                 "Keep them in an archive; each message's note says how many it had.\n\n"
                 + _table(attachments[:500], ["file_name", "mime_type", "size_bytes", "conversation_id",
                                              "message_id", "url"]))
    if len(attachments) > 500:
        parts.append(f"\n... and {len(attachments) - 500} more.\n")
    reports = staged("reports")
    parts.append(f"\n## 8. Reports ({len(reports)} metrics)\n\nArchive them from the source; they do not migrate.\n")
    return "\n".join(parts)
