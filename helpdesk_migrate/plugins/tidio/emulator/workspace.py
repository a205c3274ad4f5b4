"""The emulated Tidio project's starting state: deterministic from (seed, size), with realistic dirt.

A destination starts out *not* empty: a Tidio project already has its owner, the General department, some
tags and properties, and customers who wrote in before the migration. ``existing`` provisions fixtures
for canonical source records (agents -> operators, teams -> departments, tags -> ticket tags, custom
fields -> contact properties or ticket fields, contacts -> pre-existing contacts) so matching by email and
name can be rehearsed. Dirt, all deterministic from the seed: operator emails and department/tag names in
different letter case or with stray spaces, an operator without a name, duplicate contacts sharing one
email, contacts with mixed-case emails or no email, and older tickets that are not the migration's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from faker import Faker

from ..content import ORIGINALS_PROPERTY
from ..matching import (  # the names an admin gives properties, as the plugin expects
    PROPERTY_TYPE_FOR,
    property_name,
)
from .state import TidioState


def _vary_case(value: str, n: int) -> str:
    # Every third fixture differs in letter case from the source, the way people retype names by hand.
    if n % 3 == 1:
        return value.upper() if "@" not in value else value[:1].upper() + value[1:]
    if n % 3 == 2:
        return f" {value} " if "@" not in value else value
    return value


def build_workspace(state: TidioState, *, seed: int, size: int,
                    existing: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                    properties: Sequence[Mapping[str, str]] = (), tags: Sequence[str] = (),
                    operators: Sequence[Mapping[str, Any]] = (), departments: Sequence[str] = ()) -> None:
    fake = Faker(["nl_NL", "en_GB"])
    fake.seed_instance(seed)
    existing = existing or {}
    domain = f"project{seed}.example.com"

    state.add_operator(f"owner@{domain}", "Project Owner", role="owner")
    state.add_department("General")

    for n, agent in enumerate(existing.get("agents") or []):
        name = agent.get("name") or " ".join(x for x in (agent.get("first_name"), agent.get("last_name")) if x)
        state.add_operator(_vary_case(str(agent["email"]), n), None if n % 5 == 4 else (name or None),
                           active=bool(agent.get("is_active", True)))
    for n, team in enumerate(existing.get("teams") or []):
        state.add_department(_vary_case(str(team["name"]), n).rstrip() if n % 3 == 1 else
                             _vary_case(str(team["name"]), n))
    for n, tag in enumerate(existing.get("tags") or []):
        if tag.get("applies_to") == "contact":
            continue  # Tidio tags are ticket tags
        state.add_tag(_vary_case(str(tag["name"]), n).strip() if n % 3 == 2 else _vary_case(str(tag["name"]), n))
    for cf in existing.get("custom_fields") or []:
        if cf.get("entity") in ("contact", "profile"):
            state.add_property(property_name(cf["key"]), PROPERTY_TYPE_FOR.get(cf.get("data_type", "text"), "text"),
                               label=cf.get("name"))
        elif cf.get("entity") == "conversation":
            kind = "dropdown_text" if cf.get("data_type") in ("select", "multiselect") else "text"
            state.add_ticket_field(str(cf["name"]), kind, list(cf.get("options") or []) or None)
    if existing:
        # The admin created what the pre-flight asked for, including the property where the migration keeps
        # values it could not carry (content.ORIGINALS_PROPERTY).
        state.add_property(ORIGINALS_PROPERTY, "text", "Original values (migration)")
    for contact in existing.get("contacts") or []:
        first = contact.get("first_name") or contact.get("name")
        state._insert_contact({
            "distinct_id": f"crm-{contact['id']}", "email": contact.get("email"), "phone": contact.get("phone"),
            "first_name": first, "last_name": contact.get("last_name") if contact.get("first_name") else None,
        })

    # The project's own furniture, unrelated to the source.
    for extra in operators:
        state.add_operator(str(extra["email"]), extra.get("name"), active=bool(extra.get("active", True)),
                           role=str(extra.get("role", "chat_agent")))
    for name in departments:
        state.add_department(name)
    for name in tags:
        state.add_tag(name)
    for prop in properties:
        state.add_property(prop["name"], prop["type"], prop.get("label"))
    state.add_operator(f"weekend.cover@{domain}", "Weekend Cover", active=False)
    state.add_department("Billing (old)")
    state.add_tag("VIP")
    for name, ptype in (("company", "text"), ("company_size", "number"), ("website", "url")):
        if name not in state.properties:
            state.add_property(name, ptype)

    # Customers who wrote in before the migration: `size` contacts with dirt, and some tickets.
    previous: list[dict[str, Any]] = []
    for n in range(size):
        first, last = fake.first_name(), fake.last_name()
        email = f"{first}.{last}.{n}@customers-{seed}.example.net".lower().replace(" ", "")
        body: dict[str, Any] = {"distinct_id": f"web-{seed}-{n}", "first_name": first, "last_name": last}
        if n % 11 == 3:
            body["email"] = email.title()  # mixed case: an exact-match email filter will not find it lowercased
        elif n % 13 == 5:
            body["phone"] = fake.phone_number()[:30]  # no email at all
        elif n % 17 == 7 and previous:
            body["email"] = previous[-1].get("email") or email  # a duplicate: create never deduplicates
        else:
            body["email"] = email
        if body.get("phone") and not re.match(r"^\+?[0-9 ()\-./]{3,155}$", body["phone"]):
            body["phone"] = f"+31 6 {10000000 + n}"
        previous.append(state._insert_contact(body))
    with_email = [c for c in previous if c.get("email")]
    for n, contact in enumerate(with_email[: max(0, size // 10)]):
        state.create_ticket({"contact_email": contact["email"], "subject": f"Question {n} from the website widget",
                             "message_content": fake.sentence(nb_words=12)})


def seed_view(state: TidioState, canonical: str) -> list[dict[str, Any]]:
    """The emulated project's fixtures as canonical records (ids are Tidio ids), for demos and tests."""
    if canonical == "agents":
        return [{"id": o["id"], "email": o["email"].strip().lower(), "name": o["name"], "role": o["role"],
                 "is_active": bool(o["active"])} for o in state.operators.values()]
    if canonical == "teams":
        return [{"id": d["id"], "name": d["name"]} for d in state.departments.values()]
    if canonical == "tags":
        return [{"id": str(t["id"]), "name": t["name"], "applies_to": "conversation"} for t in state.tags.values()]
    if canonical == "custom_fields":
        return [{"id": p["name"], "name": p["label"], "key": p["name"], "entity": "contact",
                 "data_type": p["type"]} for p in state.properties.values()]
    if canonical == "contacts":
        out = []
        for c in state.contacts.values():
            rec = {"id": c["id"], "email": c["email"], "phone": c["phone"], "first_name": c["first_name"],
                   "last_name": c["last_name"]}
            out.append({k: v for k, v in rec.items() if v is not None})
        return out
    return []
