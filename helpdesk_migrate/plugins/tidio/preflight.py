"""Pre-flight: compare the source's staged records with what the Tidio project already has, before any load.

Blocking problems (cannot be acknowledged away): contact properties that are missing or have the wrong
type (the API cannot create definitions), and a configured fallback that does not exist. Everything else
(operators to invite, departments and tags to create, email-less contacts, the history mode) needs a
person's acknowledgement.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from helpdesk_migrate.sdk import Preflight, markdown

from .config import TidioConfig
from .content import ORIGINALS_PROPERTY
from .directory import TidioDirectory, norm
from .matching import CONTACT_ENTITIES, PropertyPlan, match_agents, match_tags, match_teams


def compute_gaps(directory: TidioDirectory, config: TidioConfig, staged: Callable[[str], list[dict[str, Any]]],
                 plan: PropertyPlan) -> dict[str, list[dict[str, Any]]]:
    agents, teams, tags = staged("agents"), staged("teams"), staged("tags")
    conversations = staged("conversations")
    tag_use = Counter(t for c in conversations for t in (c.get("tags") or []))
    gaps: dict[str, list[dict[str, Any]]] = {"operators": [], "departments": [], "tags": [], "properties": []}
    for agent, outcome in zip(agents, match_agents(agents, directory, config), strict=True):
        if outcome.action == "failed":
            gaps["operators"].append({"email": agent.get("email"), "name": agent.get("name"),
                                      "active": agent.get("is_active"), "source id": agent["id"]})
    for team, outcome in zip(teams, match_teams(teams, directory, config), strict=True):
        if outcome.action == "failed":
            gaps["departments"].append({"name": team.get("name"), "source id": team["id"]})
    for tag, outcome in zip(tags, match_tags(tags, directory, config), strict=True):
        if outcome.action in ("failed", "skipped") and outcome.rule != "contact-tag":
            gaps["tags"].append({"name": tag.get("name"), "used by": f"{tag_use.get(tag.get('name'), 0)} ticket(s)",
                                 "source id": tag["id"]})
    known = {norm(t.get("name")) for t in tags}
    for name, n in sorted(tag_use.items()):
        if norm(name) not in known and directory.tag(name) is None:
            gaps["tags"].append({"name": name, "used by": f"{n} ticket(s)", "source id": "(label on tickets only)"})
    definitions = [d for d in staged("custom_fields") if d.get("entity") in CONTACT_ENTITIES]
    targets = {t.key: t for t in plan.targets_for(staged("contacts"))}
    for d in definitions:
        targets.setdefault(str(d["key"]), plan.target(str(d["key"])))
    for target in targets.values():
        if target.problem:
            gaps["properties"].append({"key": target.key, "name": target.name, "type": target.expected,
                                       "status": target.problem, "detail": target.describe()})
    return gaps


def build_preflight(directory: TidioDirectory, config: TidioConfig, staged: Callable[[str], list[dict[str, Any]]],
                    plan: PropertyPlan, *, source_title: str, inventory_path: str | None) -> Preflight:
    gaps = compute_gaps(directory, config, staged, plan)
    items: list[dict[str, Any]] = []
    blocking: list[str] = []
    for p in gaps["properties"]:
        items.append({"kind": f"property_{p['status']}", "name": p["name"], "type": p["type"], "detail": p["detail"]})
        blocking.append(f"Tidio contact property {p['name']!r} ({p['type']}) is {p['status']}: create it in the panel "
                        "(Settings > Contact properties); the API cannot")
    originals = directory.property_named(ORIGINALS_PROPERTY)
    if originals is None or originals.get("type") != "text":
        # Not blocking: without it, values a contact cannot carry are kept in the migration store instead.
        items.append({"kind": "originals_property_missing", "name": ORIGINALS_PROPERTY, "type": "text"})
    if config.fallback_operator and directory.operator(config.fallback_operator) is None:
        blocking.append("TIDIO_FALLBACK_OPERATOR_ID names no operator of this Tidio project")
    if config.history_operator and directory.operator(config.history_operator) is None:
        blocking.append("TIDIO_HISTORY_OPERATOR_ID names no operator of this Tidio project")
    if config.fallback_department and directory.department(config.fallback_department) is None:
        blocking.append("TIDIO_FALLBACK_DEPARTMENT names no department of this Tidio project")
    for op in gaps["operators"]:
        items.append({"kind": "operator_unmatched", "email": op["email"], "name": op["name"],
                      "fallback": config.fallback_operator or None})
    for dep in gaps["departments"]:
        items.append({"kind": "department_unmatched", "name": dep["name"],
                      "fallback": config.fallback_department or None})
    for tag in gaps["tags"]:
        items.append({"kind": "tag_missing", "name": tag["name"], "used_by": tag["used by"], "dropped": True})
    contacts = staged("contacts")
    emailless = [c for c in contacts if not c.get("email")]
    if emailless:
        items.append({"kind": "email_less_contacts", "count": len(emailless), "policy": config.phone_only_policy,
                      "placeholder_domain": config.placeholder_email_domain})
    messages = staged("messages")
    outbound = sum(1 for m in messages if m.get("kind") == "outbound")
    if config.history_mode == "public_replies":
        items.append({"kind": "history_public_replies", "emails_to_customers": outbound})
    history_op = directory.history_operator(config.history_operator, config.fallback_operator)
    notes = sum(len(c.get("notes") or []) for c in contacts)

    md = [f"# Pre-flight: Tidio (from {source_title})\n"]
    md.append(f"Tidio project checked: {len(directory.operators)} operators, {len(directory.departments)} departments, "
              f"{len(directory.tags)} tags, {len(directory.properties)} contact properties.\n")
    if blocking:
        md.append("## Blocking: fix in Tidio before anything loads\n")
        md += [f"- {b}" for b in blocking]
        md.append("")
    md.append("## History and email\n")
    if config.history_mode == "internal_notes":
        md.append(f"- TIDIO_HISTORY_MODE=internal_notes: all {len(messages)} messages become **internal notes** "
                  "carrying the original author and time. **No customer is emailed.**")
    else:
        md.append(f"- **WARNING** TIDIO_HISTORY_MODE=public_replies: {outbound} agent replies will be posted as "
                  "public operator replies, and **Tidio emails each of them to the customer**. Use "
                  "internal_notes unless every customer has agreed to receive their history again.")
    md.append("- Tidio cannot backdate: tickets and notes carry today's date; the original times are in each "
              "note's first line and in the `original_timestamps` check of the conversations load.")
    md.append("- Tickets are created as their contact (`POST /tickets/as-contact`); the first message of each "
              "ticket is a provenance statement written by the migration.")
    md.append(f"- Notes by customers, the system or unmatched agents are posted as operator "
              f"{(history_op or {}).get('email') or '(none found: set TIDIO_HISTORY_OPERATOR_ID)'}.")
    if notes:
        md.append(f"- {notes} contact note(s) go onto one solved ticket per contact (\"Notes on ... \"), as internal "
                  "notes.")
    md.append("")
    md.append("## Values Tidio cannot hold\n")
    md.append("- A value Tidio cannot hold (a name over 127 characters, an invalid email, 'n.v.t.' in a number "
              "property, a ticket's deleted team or label) is converted, cut or left out; the record still loads and "
              "the report lists each change with the original.")
    if any(i["kind"] == "originals_property_missing" for i in items):
        md.append(f"- Create the contact property `{ORIGINALS_PROPERTY}` (type text) to keep the originals of "
                  "contacts in Tidio; without it they stay in the migration store only.")
    else:
        md.append(f"- Originals of contact values are kept in the contact property `{ORIGINALS_PROPERTY}`; those of "
                  "tickets in each ticket's opening message.")
    md.append("")
    md.append("## Contacts without email\n")
    if not emailless:
        md.append("- None.")
    elif config.phone_only_policy == "placeholder_email":
        md.append(f"- {len(emailless)} contact(s) have no email. Tidio creates tickets only by contact email, so they "
                  f"get a placeholder address `<source>-contact-<id>@{config.placeholder_email_domain}` "
                  "(TIDIO_PHONE_ONLY_POLICY=placeholder_email); mail to it is never delivered.")
    else:
        md.append(f"- {len(emailless)} contact(s) have no email: they are created, but their tickets and contact notes "
                  "are skipped with a reason (TIDIO_PHONE_ONLY_POLICY=skip_tickets).")
    md.append("")
    sections = (("Operators to invite", "operators", ["email", "name", "active"],
                 f"tickets go to {config.fallback_operator}" if config.fallback_operator else
                 "their tickets are refused until they exist (or set TIDIO_FALLBACK_OPERATOR_ID)"),
                ("Departments to create", "departments", ["name"],
                 f"tickets go to {config.fallback_department}" if config.fallback_department else
                 "their tickets go to Tidio's default department (General), the team named in the ticket's opening "
                 "message (department-fallback; or set TIDIO_FALLBACK_DEPARTMENT)"),
                ("Tags to create", "tags", ["name", "used by"],
                 "tickets load without them, each ticket's opening message names them (tag-dropped); a re-run "
                 "after creating them applies them"),
                ("Contact properties to create", "properties", ["name", "type", "status"], "blocking"))
    for title, key, cols, consequence in sections:
        rows = gaps[key]
        md.append(f"## {title} ({len(rows)})\n")
        if rows:
            md.append(f"Until then: {consequence}.\n")
            md.append("| " + " | ".join(cols) + " |\n| " + " | ".join("---" for _ in cols) + " |")
            md += ["| " + " | ".join(markdown.cell(r.get(c, ""), limit=500) for c in cols) + " |" for r in rows]
        else:
            md.append("- None.")
        md.append("")
    md.append("## Manual configuration\n")
    counts = {name: len(staged(name)) for name in ("quick_replies", "contact_groups", "articles", "workflows",
                                                   "channels", "attachments")}
    md.append("Tidio's API cannot create these; rebuild them by hand: "
              + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()) + ".")
    if inventory_path:
        md.append(f"The full inventory with their content: `{inventory_path}`.")
    md.append("")
    needs_ack = any(i["kind"] in ("operator_unmatched", "department_unmatched", "tag_missing", "email_less_contacts",
                                  "history_public_replies") for i in items)
    fingerprint = hashlib.sha256(json.dumps({"items": items, "blocking": blocking, "mode": config.history_mode},
                                            sort_keys=True, default=str).encode()).hexdigest()
    return Preflight(markdown="\n".join(md), items=items, fingerprint=fingerprint,
                     requires_acknowledgement=needs_ack, blocking_problems=blocking)
