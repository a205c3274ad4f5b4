"""Matching what Tidio cannot create through its API: operators, departments, tags, property definitions.

Agents match operators by email (then by a unique name), teams match departments by name, labels match
tags by name, contact custom fields match property definitions by name or label with a compatible type.
Each result is a LoadOutcome ("linked" with the Tidio id, or "failed"/"skipped" saying what an admin must
create), so the engine's id map is the persistent map and its quarantine is the list of what is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from helpdesk_migrate.sdk import LoadOutcome

from .config import TidioConfig
from .directory import TidioDirectory

# Canonical custom-field types -> the Tidio property type an admin would create for them. Tidio knows only
# text, email, number, phone and url (reference 3.2); the rest is stored as text.
PROPERTY_TYPE_FOR = {"text": "text", "number": "number", "email": "email", "phone": "phone", "url": "url",
                     "date": "text", "boolean": "text", "select": "text", "multiselect": "text"}


def property_name(key: str) -> str:
    """How an admin names (and the pre-flight asks for) a property in the panel: lowercase snake case of the source key."""
    return re.sub(r"[^a-z0-9]+", "_", str(key).lower()).strip("_") or "property"


# Which Tidio property types can hold a canonical custom field's values without loss. Text holds anything
# as a string; the others must match (a Tidio number refuses "n/a", an email property refuses a name).
COMPATIBLE_TYPES = {
    "text": {"text"}, "number": {"number", "text"}, "email": {"email", "text"}, "phone": {"phone", "text"},
    "url": {"url", "text"}, "date": {"text"}, "boolean": {"text"}, "select": {"text"}, "multiselect": {"text"},
}
CONTACT_ENTITIES = ("contact", "profile")


def match_agents(records: list[dict[str, Any]], directory: TidioDirectory, config: TidioConfig) -> list[LoadOutcome]:
    out = []
    fallback = directory.operator(config.fallback_operator)
    for agent in records:
        sid = str(agent["id"])
        by_email = directory.operators_by_email(agent.get("email"))
        name = agent.get("name") or " ".join(x for x in (agent.get("first_name"), agent.get("last_name")) if x)
        by_name = directory.operators_by_name(name) if not by_email else []
        match = by_email[0] if by_email else (by_name[0] if len(by_name) == 1 else None)
        if match:
            out.append(LoadOutcome(sid, "linked", destination_id=match["id"], destination_object="operator"))
            continue
        why = f"no Tidio operator has the email {agent.get('email')!r}"
        if len(by_name) > 1:
            why += f" and {len(by_name)} operators share the name {name!r}"
        elif name:
            why += f" or the name {name!r}"
        fix = ("invite the agent as an operator in Tidio (Settings > Operators) with the same email and re-run"
               + (f"; until then their tickets go to the fallback operator {fallback['email']}" if fallback else
                  ", or set TIDIO_FALLBACK_OPERATOR_ID to take over their tickets"))
        inactive = "" if agent.get("is_active", True) else " (the agent is inactive in the source)"
        out.append(LoadOutcome(sid, "failed", reason=why + inactive, rule="operator-unmatched", fix=fix))
    return out


def match_teams(records: list[dict[str, Any]], directory: TidioDirectory, config: TidioConfig) -> list[LoadOutcome]:
    out = []
    fallback = directory.department(config.fallback_department)
    for team in records:
        sid = str(team["id"])
        matches = directory.departments_by_name(team.get("name"))
        if matches:
            out.append(LoadOutcome(sid, "linked", destination_id=matches[0]["id"], destination_object="department"))
            continue
        fix = ("create the department in Tidio (Settings > Departments) with the same name and re-run"
               + (f"; until then its tickets go to {fallback['name']}" if fallback else
                  ", or set TIDIO_FALLBACK_DEPARTMENT (e.g. General) to take its tickets"))
        out.append(LoadOutcome(sid, "failed", reason=f"no Tidio department is named {team.get('name')!r}",
                               rule="department-unmatched", fix=fix))
    return out


def match_tags(records: list[dict[str, Any]], directory: TidioDirectory, config: TidioConfig) -> list[LoadOutcome]:
    out = []
    for tag in records:
        sid = str(tag["id"])
        if tag.get("applies_to") == "contact":
            out.append(LoadOutcome(sid, "skipped", rule="contact-tag",
                                   reason=f"contact label {tag.get('name')!r}: Tidio's API can tag tickets only",
                                   fix="rebuild it as a contact group or segment in Tidio (manual inventory)"))
            continue
        match = directory.tag(tag.get("name"))
        if match:
            out.append(LoadOutcome(sid, "linked", destination_id=str(match["id"]), destination_object="ticket_tag"))
        elif config.drop_missing_tags:
            out.append(LoadOutcome(sid, "skipped", rule="tag-dropped",
                                   reason=f"no Tidio tag is named {tag.get('name')!r}; dropped from tickets because "
                                          "TIDIO_DROP_MISSING_TAGS=true (each ticket's migration note names it)",
                                   fix="create the tag in Tidio and re-run the conversations to apply it"))
        else:
            out.append(LoadOutcome(sid, "failed", rule="tag-missing",
                                   reason=f"no Tidio tag is named {tag.get('name')!r}; Tidio's API cannot create tags",
                                   fix="create the tag in Tidio (Settings > Tags) and re-run to apply it; until "
                                       "then tickets load without it, named in their opening message"))
    return out


@dataclass
class PropertyTarget:
    """Where one canonical contact value goes in Tidio."""

    key: str  # canonical custom field key, or "company"
    name: str  # Tidio property name ("" = left out on purpose)
    expected: str  # the Tidio type the values need
    definition: dict[str, Any] | None  # Tidio's definition, None when missing
    data_type: str = "text"  # canonical data type

    @property
    def problem(self) -> str | None:
        if not self.name:
            return None
        if self.definition is None:
            return "missing"
        if self.definition.get("type") not in COMPATIBLE_TYPES.get(self.data_type, {"text"}):
            return "mistyped"
        return None

    def describe(self) -> str:
        if self.problem == "missing":
            return (f"contact property {self.name!r} (type {self.expected}) does not exist in Tidio; it holds "
                    f"{self.key!r}")
        if self.problem == "mistyped":
            return (f"contact property {self.name!r} is {self.definition.get('type')!r} in Tidio but "  # type: ignore[union-attr]
                    f"{self.key!r} holds {self.data_type} values: it must be {self.expected!r}"
                    + (" (or text)" if self.expected != "text" else ""))
        return f"{self.key!r} -> {self.name!r}"


class PropertyPlan:
    """Canonical contact values -> Tidio properties, from the configured map or by name."""

    def __init__(self, directory: TidioDirectory, config: TidioConfig,
                 definitions: Iterable[Mapping[str, Any]] = (), field_map: Mapping[str, str] | None = None):
        self.directory = directory
        self.config = config
        self.data_types = {str(d["key"]): str(d.get("data_type") or "text") for d in definitions
                           if d.get("entity") in CONTACT_ENTITIES}
        self.labels = {str(d["key"]): str(d.get("name") or d["key"]) for d in definitions
                       if d.get("entity") in CONTACT_ENTITIES}
        self.field_map = dict(field_map or {})
        self._cache: dict[str, PropertyTarget] = {}

    def target(self, key: str) -> PropertyTarget:
        if key not in self._cache:
            data_type = "text" if key == "company" else self.data_types.get(key, "text")
            expected = PROPERTY_TYPE_FOR.get(data_type, "text")
            explicit = self.config.property_map.get(key, self.field_map.get(key))
            if explicit is not None:
                name = explicit
                definition = self.directory.property_named(explicit) if explicit else None
            else:
                definition = (self.directory.property_named(property_name(key))
                              or self.directory.property_named(self.labels.get(key, key)))
                name = definition["name"] if definition else property_name(key)
            if definition:
                name = definition["name"]
            self._cache[key] = PropertyTarget(key, name, expected, definition, data_type)
        return self._cache[key]

    def targets_for(self, contacts: Iterable[Mapping[str, Any]]) -> list[PropertyTarget]:
        keys: dict[str, None] = {}
        for c in contacts:
            if c.get("company") not in (None, ""):
                keys["company"] = None
            for k, v in (c.get("custom_fields") or {}).items():
                if v not in (None, "", []):
                    keys[str(k)] = None
        return [self.target(k) for k in keys]


def match_custom_fields(records: list[dict[str, Any]], directory: TidioDirectory,
                        plan: PropertyPlan) -> list[LoadOutcome]:
    out = []
    for cf in records:
        sid = str(cf["id"])
        entity = cf.get("entity")
        if entity in CONTACT_ENTITIES:
            target = plan.target(str(cf["key"]))
            if not target.name:
                out.append(LoadOutcome(sid, "skipped", rule="property-unmapped",
                                       reason=f"{cf.get('name')!r} is left out on purpose by TIDIO_PROPERTY_MAP",
                                       fix="map it to a Tidio property name to migrate its values"))
            elif target.problem is None:
                out.append(LoadOutcome(sid, "linked", destination_id=target.name, destination_object="contact_property"))
            else:
                out.append(LoadOutcome(sid, "failed", rule=f"property-{target.problem}", reason=target.describe(),
                                       fix=f"create (or fix) contact property {target.name!r} of type "
                                           f"{target.expected!r} in Tidio (Settings > Contact properties): the API "
                                           "cannot create property definitions; then re-run"))
        elif entity == "conversation":
            field = directory.ticket_field(str(cf.get("name") or cf["key"]))
            if field:
                out.append(LoadOutcome(sid, "linked", destination_id=str(field["id"]), destination_object="ticket_field"))
            else:
                out.append(LoadOutcome(sid, "skipped", rule="ticket-field-missing",
                                       reason=f"no Tidio ticket field is named {cf.get('name')!r}; its values are "
                                              "written into each ticket's migration note instead",
                                       fix="create the ticket field in Tidio before loading to carry the values"))
        else:
            out.append(LoadOutcome(sid, "skipped", rule="no-destination",
                                   reason=f"custom fields on {entity!r} have no place in Tidio"))
    return out

