"""The field map a person confirms, seen from Salesforce: which fields are offered for the proposal, and
how the confirmed entries are applied to Contacts and Cases.

``describe_fields`` offers the createable fields of Contact (contacts) and Case (conversations) that a
person can meaningfully choose a source for. It leaves out what the plugin sets itself (the migration's own
``<prefix>_*__c`` fields, the fields SALESFORCE_CONTACT_FIELD_MAP / SALESFORCE_CASE_FIELD_MAP name, name
and email handling, Status/Priority/Origin with their value maps, lookups resolved through the id map,
audit fields): those either cannot take a
source value or would change as the load creates them, and a list that changes while the migration runs
would make the engine ask for the map to be confirmed again (schema drift).

``field_plan`` turns the confirmed entries into placements, with rules that keep the result safe:

- ``custom_fields.<key>`` into a field: the custom value goes there (converted by the field's type) instead
  of the default ``<prefix>_<Key>__c`` field, which is then not created;
- a canonical field into a field that is not its default: it is written there; if it had a default field
  (phone -> Phone, subject -> Subject, company -> ``<prefix>_Company__c``), that one is no longer written;
- ``source: null`` on a default field (Phone, Subject): that field is left empty;
- source-platform ids (contact_id, assignee_id, channel_id...) are never written into a field (they mean
  nothing in Salesforce: the plugin resolves lookups through the id map), and times only go into date or
  date/time fields;
- one source fills one field: when several entries name the same source, the plugin's default field wins,
  else the entry with the highest confidence; the others are reported, not applied; a canonical field the
  plugin already places in a field the map can't change (name, email, status, channel type...) is not
  copied elsewhere;
- a dependent picklist is only filled when its controlling field is mapped too (else Salesforce blanks it);
- the environment wins: a key named in SALESFORCE_CONTACT_FIELD_MAP / SALESFORCE_CASE_FIELD_MAP keeps the
  field the variable names, whatever the map says.

Every entry that is not applied is recorded with the reason (the ``field_map`` check lists them).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from helpdesk_migrate.sdk import SCHEMA, FieldType

from .mapping import Carried, carry, phone
from .originals import Originals
from .schema import property_field
from .settings import SalesforceConfig

log = logging.getLogger("helpdesk_migrate.salesforce")

OBJECT_OF = {"contacts": "Contact", "conversations": "Case"}
ENTITY_OF = {"contacts": "contact", "conversations": "conversation"}
CUSTOM = "custom_fields."
# Settable on insert only, and only with a permission: offering them would make the list depend on it.
AUDIT_FIELDS = {"CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp",
                "ClosedDate"}
NOT_FILLABLE_TYPES = {"id", "reference", "base64", "address", "location", "anytype", "complexvalue"}
MANAGED = {
    "Contact": {"FirstName": "derived from first_name/name with fallbacks, together with LastName",
                "LastName": "required: last_name, else the name's last word, the email's local part, the "
                            "identifier, else SALESFORCE_PLACEHOLDER_LAST_NAME",
                "Email": "validated, and used to link existing Contacts with the same address"},
    "Case": {"Status": "mapped through SALESFORCE_STATUS_MAP (checked in the pre-flight)",
             "Priority": "mapped from the source priority through SALESFORCE_PRIORITY_MAP",
             "Origin": "mapped from the channel type through SALESFORCE_ORIGIN_MAP"},
}


# Canonical fields the plugin already places in fields the map can't change: one source fills one field,
# so they are not copied elsewhere (the heuristic proposer offers e.g. `name` for Department).
PLACED_BY_PLUGIN = {
    "contacts": {"id": "the external id", "name": "FirstName/LastName", "first_name": "FirstName",
                 "last_name": "LastName", "email": "Email", "tags": "the tags field"},
    "conversations": {"id": "the external id", "status": "Status", "priority": "Priority",
                      "channel_type": "Origin and the channel field", "tags": "the tags field",
                      "created_at": "CreatedDate and the created-at field", "closed_at": "ClosedDate and the "
                      "closed-at field", "last_activity_at": "the last-activity field",
                      "message_count": "the message-count field", "first_response_seconds": "the first-response "
                      "field"},
}


def default_fields(cfg: SalesforceConfig, obj: str) -> dict[str, str]:
    """Destination field -> canonical field the plugin fills it from when the map does not say otherwise."""
    if obj == "Contact":
        return {"Phone": "phone", cfg.field("Company"): "company"}
    return {"Subject": "subject"}


def env_map(cfg: SalesforceConfig, obj: str) -> dict[str, str]:
    return cfg.contact_field_map if obj == "Contact" else cfg.case_field_map


def env_var(obj: str) -> str:
    return "SALESFORCE_CONTACT_FIELD_MAP" if obj == "Contact" else "SALESFORCE_CASE_FIELD_MAP"


def is_ours(cfg: SalesforceConfig, name: str) -> bool:
    return name.startswith(cfg.field_prefix + "_") and name.endswith("__c")


def why_not_offered(cfg: SalesforceConfig, obj: str, name: str, meta: Mapping[str, Any] | None) -> str | None:
    """Why the plugin does not offer this field to the map (None: it does)."""
    if meta is None:
        return f"{obj} has no field {name}"
    if name in MANAGED.get(obj, {}):
        return f"{obj}.{name} is set by the plugin ({MANAGED[obj][name]})"
    if is_ours(cfg, name):
        return f"{obj}.{name} is one of the migration's own fields"
    if name in env_map(cfg, obj).values():
        return f"{obj}.{name} is named by {env_var(obj)}, which decides what goes there"
    if name in AUDIT_FIELDS:
        return f"{obj}.{name} is an audit field the plugin sets from the source's times"
    if str(meta.get("type", "")).lower() in NOT_FILLABLE_TYPES:
        return f"{obj}.{name} is a lookup or system field: the plugin resolves lookups through the id map"
    if not meta.get("createable"):
        return f"{obj}.{name} is not createable for the migration user"
    return None


def describe_fields(client: Any, cfg: SalesforceConfig, canonical: str) -> list[dict[str, Any]] | None:
    """The target object's fields a person can choose a source for (None: the plugin maps this object
    itself, and the engine records its canonical fields as they are)."""
    obj = OBJECT_OF.get(canonical)
    if obj is None or not client.has_object(obj):
        return None
    out = []
    for name, meta in client.fields(obj).items():
        if why_not_offered(cfg, obj, name, meta):
            continue
        out.append({
            "name": name, "label": meta.get("label") or name, "type": str(meta.get("type") or "string").lower(),
            "required": not meta.get("nillable", True) and not meta.get("defaultedOnCreate", False),
            "picklist_values": [str(v["value"]) for v in meta.get("picklistValues") or [] if v.get("active", True)],
        })
    return out


# -- the plan -------------------------------------------------------------------------------------------


@dataclass
class Placement:
    destination: str
    source: str  # a canonical field, or custom_fields.<key>
    confidence: float = 0.0

    @property
    def custom_key(self) -> str | None:
        return self.source[len(CUSTOM):] if self.source.startswith(CUSTOM) else None


@dataclass
class FieldPlan:
    obj: str
    confirmed: bool  # a confirmed map was given (False: the plugin's defaults throughout)
    placements: list[Placement] = field(default_factory=list)  # canonical values written beyond the defaults
    custom_targets: dict[str, str] = field(default_factory=dict)  # custom key -> field chosen in the map
    suppressed: set[str] = field(default_factory=set)  # default fields not written (cleared or re-pointed)
    applied: list[dict[str, Any]] = field(default_factory=list)
    not_applied: list[dict[str, Any]] = field(default_factory=list)

    def custom_field(self, cfg: SalesforceConfig, key: str) -> str:
        """The field a custom value lands in: the map's choice, else the environment's or the default."""
        entity = "contact" if self.obj == "Contact" else "conversation"
        return self.custom_targets.get(key) or property_field(cfg, entity, key)[1]

    def is_map_target(self, name: str) -> bool:
        """A field the map (not the plugin) chose: its picklist is the admin's and is never extended."""
        return name in self.custom_targets.values() or any(p.destination == name for p in self.placements)

    def summary(self) -> dict[str, Any]:
        return {"object": self.obj, "confirmed_map": self.confirmed, "applied": self.applied,
                "not_applied": self.not_applied}


def canonical_sources(canonical: str) -> set[str]:
    return {f.name for f in SCHEMA[canonical].fields if f.type is not FieldType.JSON}


def unsafe_source(canonical: str, source: str, dest_type: str) -> str | None:
    """Why a canonical field makes no sense in a field of ``dest_type`` (None: it may go there)."""
    f = SCHEMA[canonical].field(source)
    if f.ref or f.type is FieldType.REFERENCE:
        return "it holds source-platform ids, which mean nothing in Salesforce (lookups are resolved by the plugin)"
    if f.type is FieldType.DATETIME and dest_type not in ("date", "datetime"):
        return "a time only goes into a date or date/time field"
    return None


def confirmed_entries(context: Any, canonical: str) -> list[dict[str, Any]] | None:
    """The confirmed map's entries for ``canonical`` (the engine hands the confirmed map as
    ``context.field_map``; None while no map is confirmed: the plugin's defaults apply)."""
    document = getattr(context, "field_map", None)
    entries = document.get(canonical) if isinstance(document, Mapping) else None
    return [dict(e) for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else None


def field_plan(client: Any, cfg: SalesforceConfig, canonical: str,
               entries: Sequence[Mapping[str, Any]] | None) -> FieldPlan:
    obj = OBJECT_OF[canonical]
    plan = FieldPlan(obj, entries is not None)
    if not entries:
        return plan
    fields = client.fields(obj)
    defaults = default_fields(cfg, obj)
    env = env_map(cfg, obj)
    known_sources = canonical_sources(canonical)

    def skip(entry: Mapping[str, Any], why: str) -> None:
        plan.not_applied.append({"destination": entry.get("destination"), "source": entry.get("source"),
                                 "reason": why})

    candidates: list[Placement] = []
    seen: set[str] = set()
    for entry in entries:
        dest = str(entry.get("destination") or "")
        if dest in seen:
            skip(entry, f"{obj}.{dest} appears more than once in the map; the first entry counts")
            continue
        seen.add(dest)
        src = entry.get("source")
        src = str(src).strip() if src not in (None, "") else None
        why = why_not_offered(cfg, obj, dest, fields.get(dest))
        if why:
            if src is not None and defaults.get(dest) != src:
                skip(entry, why + "; this entry is not applied")
            continue
        if src is None:
            if dest in defaults:
                plan.suppressed.add(dest)
                plan.applied.append({"destination": dest, "source": None,
                                     "effect": f"left empty (by default it holds {defaults[dest]})"})
            continue
        if src.startswith(CUSTOM):
            key = src[len(CUSTOM):]
            if key in env:
                skip(entry, f"{env_var(obj)} places '{key}' in {obj}.{env[key]}; the environment wins")
                continue
        elif src not in known_sources:
            skip(entry, f"'{src}' is neither a canonical {canonical} field nor custom_fields.<key>")
            continue
        elif src in PLACED_BY_PLUGIN.get(canonical, {}):
            skip(entry, f"{src} already fills {PLACED_BY_PLUGIN[canonical][src]} (set by the plugin): one source "
                 "fills one field")
            continue
        else:
            unsafe = unsafe_source(canonical, src, str(fields[dest].get("type") or "").lower())
            if unsafe:
                skip(entry, f"{src} can't go into {obj}.{dest}: {unsafe}")
                continue
        try:
            confidence = float(entry.get("confidence") or 0)
        except (TypeError, ValueError):
            confidence = 0.0
        candidates.append(Placement(dest, src, confidence))
    # Fields that will hold a value: the map's choices, what the plugin sets, and the defaults left in place.
    chosen = {c.destination for c in candidates} | set(MANAGED.get(obj, {})) | (set(defaults) - plan.suppressed)
    for c in list(candidates):
        meta = fields[c.destination]
        controller = meta.get("controllerName")
        if meta.get("dependentPicklist") and controller and controller not in chosen:
            candidates.remove(c)
            skip({"destination": c.destination, "source": c.source},
                 f"{obj}.{c.destination} depends on {controller}, which the map leaves empty: Salesforce would "
                 f"blank the value; map {controller} too, or choose another field")
    by_source: dict[str, list[Placement]] = {}
    for c in candidates:
        by_source.setdefault(c.source, []).append(c)
    default_of = {src: dest for dest, src in defaults.items()}
    for src, group in by_source.items():
        keep = next((c for c in group if default_of.get(src) == c.destination), None) \
            or max(group, key=lambda c: c.confidence)  # max keeps the first of equals
        for c in group:
            if c is not keep:
                skip({"destination": c.destination, "source": c.source},
                     f"'{src}' already fills {obj}.{keep.destination}: one source fills one field")
        if defaults.get(keep.destination) == src:
            continue  # the plugin's default, confirmed
        home = default_of.get(src)
        if keep.destination in defaults:
            plan.suppressed.add(keep.destination)  # its default source is displaced
        if home and home != keep.destination:
            plan.suppressed.add(home)  # the source moved away from its default field
        if keep.custom_key is not None:
            plan.custom_targets[keep.custom_key] = keep.destination
            effect = (f"custom value '{keep.custom_key}' goes here instead of "
                      f"{property_field(cfg, ENTITY_OF[canonical], keep.custom_key)[1]}")
        else:
            plan.placements.append(keep)
            effect = f"moved here from {obj}.{home}" if home else "written in addition to the plugin's own fields"
        if keep.destination in defaults:
            effect += f"; replaces the default ({defaults[keep.destination]})"
        plan.applied.append({"destination": keep.destination, "source": src, "effect": effect})
    for dest in sorted(plan.suppressed):
        if not any(a["destination"] == dest for a in plan.applied):
            plan.applied.append({"destination": dest, "source": None,
                                 "effect": f"not written: its default source ({defaults[dest]}) goes elsewhere"})
    return plan


# -- applying the plan to one record --------------------------------------------------------------------


def carry_for(meta: Mapping[str, Any], value: Any) -> Carried:
    """A source value in the form the field's describe type takes (phones normalised like the plugin's own),
    or how it was degraded."""
    kind = str(meta.get("type") or "string").lower()
    carried = carry(value, kind, length=meta.get("length") or 0)
    if kind == "phone" and carried.value:
        return replace(carried, value=phone(carried.value))
    return carried


def _place(values: dict[str, Any], originals: Originals, name: str, meta: Mapping[str, Any], value: Any, *,
           field: str, label: str, where: str) -> None:
    """Write one value into ``values[name]``; a value that can't go as it is is reported and kept."""
    carried = carry_for(meta, value)
    values[name] = carried.value
    if carried.rule:
        originals.keep(carried.rule, field, value, f"{label} ({where}): {carried.detail}", label=label)


def place_values(plan: FieldPlan, cfg: SalesforceConfig, rec: Mapping[str, Any], values: dict[str, Any],
                 fields: Mapping[str, Mapping[str, Any]], originals: Originals) -> list[tuple[str, bool]]:
    """Write the record's custom values and the map's placements into ``values``. Degrade, don't discard: a
    value a field can't take as it is is converted, cut or left out, and kept in ``originals``. Returns
    [(picklist field, may the migration add values to it)]."""
    obj = plan.obj
    what = "custom property" if obj == "Contact" else "custom field"
    for name in plan.suppressed:
        values.pop(name, None)
    picklists: list[tuple[str, bool]] = []
    for key, value in (rec.get("custom_fields") or {}).items():
        name = plan.custom_field(cfg, key)
        meta = fields.get(name)
        if meta is None:
            if value not in (None, "", []):
                # Pending until the definition loads: the next run after it fills the field (a fixed map re-sends
                # every record anyway, its fingerprint being part of what was loaded).
                originals.keep("value-not-carried", CUSTOM + key, value, f"{what} '{key}' has no {obj} field {name} "
                               f"(load the custom field definitions first, or map it in {env_var(obj)} or the field "
                               "map); left out", label=key, pending=True, waits_for=f"custom_fields/{key}")
            continue
        _place(values, originals, name, meta, value, field=CUSTOM + key, label=key,
               where=f"{meta['type']}, {obj}.{name}")
        if meta["type"] in ("picklist", "multipicklist"):
            picklists.append((name, not plan.is_map_target(name)))
    for p in plan.placements:
        meta = fields.get(p.destination)
        if meta is None:
            if rec.get(p.source) not in (None, "", []):
                originals.keep("value-not-carried", p.source, rec.get(p.source), f"the field map puts {p.source} in "
                               f"{obj}.{p.destination}, which no longer exists; left out (a re-confirmed map "
                               "re-sends the record)")
            continue
        _place(values, originals, p.destination, meta, rec.get(p.source), field=p.source, label=p.source,
               where=f"{meta['type']}, {obj}.{p.destination}, from the field map")
        if meta["type"] in ("picklist", "multipicklist"):
            picklists.append((p.destination, False))
    return picklists
