"""The field map seen from Tidio: the contact fields offered to the proposer, and which confirmed entries the
contact load applies.

``describe_fields("contacts")`` offers Tidio's own contact fields (email, phone, first and last name: the
canonical fields claim them, so they are not proposed for a property) and the project's contact property
definitions, read through the same GET /contact-properties the load uses. The property where the migration
keeps values it could not carry (ORIGINALS_PROPERTY) is the plugin's own and is not offered. Tickets have
no describe: their fields are placed by the plugin (conversations map as they are).

``property_targets`` turns confirmed entries into custom key -> property name, the shape the PropertyPlan
takes (TIDIO_PROPERTY_MAP still wins over it). A custom field (or the company) mapped to a property goes
there; everything else is recorded as not applied, with the reason: Tidio's own fields are filled by the
plugin from the canonical fields with its own checks, and a canonical field other than the company has
no property path in the loader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .content import ORIGINALS_PROPERTY
from .directory import TidioDirectory

CUSTOM = "custom_fields."
# Tidio's own contact fields (reference 3.1), filled by the plugin from the canonical field of the same name.
CORE_FIELDS = {"email": ("Email", "email"), "phone": ("Phone", "phone"),
               "first_name": ("First name", "string"), "last_name": ("Last name", "string")}
# Tidio property types (text, email, number, phone, url) as the proposers compare them.
PROPERTY_TYPE = {"text": "string", "number": "number", "email": "email", "phone": "phone", "url": "url"}


def describe_fields(directory: TidioDirectory, canonical: str) -> list[dict[str, Any]] | None:
    if canonical != "contacts":
        return None
    out = [{"name": name, "label": label, "type": kind, "required": False, "picklist_values": []}
           for name, (label, kind) in CORE_FIELDS.items()]
    for prop in directory.properties:
        name = str(prop.get("name") or "")
        if not name or name == ORIGINALS_PROPERTY or name in CORE_FIELDS:
            continue
        out.append({"name": name, "label": str(prop.get("label") or name),
                    "type": PROPERTY_TYPE.get(str(prop.get("type") or "text"), "string"),
                    "required": False, "picklist_values": []})
    return out


def property_targets(entries: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """(custom key or "company" -> Tidio property name, entries not applied with the reason)."""
    chosen: dict[str, tuple[float, str]] = {}
    not_applied: list[dict[str, Any]] = []

    def skip(entry: Mapping[str, Any], why: str) -> None:
        not_applied.append({"destination": entry.get("destination"), "source": entry.get("source"), "reason": why})

    for entry in entries:
        dest = str(entry.get("destination") or "")
        src = entry.get("source")
        src = str(src).strip() if src not in (None, "") else None
        if src is None:
            continue  # nothing chosen: the plugin's placement by name applies
        if dest in CORE_FIELDS:
            if src != dest:
                skip(entry, f"Tidio's {dest} is filled by the plugin from the canonical {dest} (validated, "
                            "used to find existing contacts); this entry is not applied")
            continue
        if dest == ORIGINALS_PROPERTY:
            skip(entry, f"{ORIGINALS_PROPERTY} holds the values the migration could not carry; not applied")
            continue
        if not (src.startswith(CUSTOM) or src == "company"):
            skip(entry, f"'{src}' is not a custom field: only custom fields and the company go into contact "
                        "properties")
            continue
        key = src.removeprefix(CUSTOM)
        try:
            confidence = float(entry.get("confidence") or 0)
        except (TypeError, ValueError):
            confidence = 0.0
        if key in chosen:
            # One source fills one property: the surer entry wins, the other is said.
            keep, drop = (chosen[key], (confidence, dest)) if chosen[key][0] >= confidence \
                else ((confidence, dest), chosen[key])
            chosen[key] = keep
            skip({"destination": drop[1], "source": src}, f"'{src}' already fills property {keep[1]!r}: one source "
                 "fills one property")
            continue
        chosen[key] = (confidence, dest)
    return {key: dest for key, (_c, dest) in chosen.items()}, not_applied
