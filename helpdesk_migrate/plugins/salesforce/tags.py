"""Tags as values of a multi-select picklist, with a prefix when a name collides with another value."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def clean_tag(name: str) -> str:
    # ';' separates the values of a multi-select picklist, so it can't be part of one.
    return " ".join(str(name).replace(";", ",").split())[:255]


def tag_value_for(name: str, existing: Iterable[str], prefix: str) -> str:
    """The picklist value for a tag: its name, or ``prefix + name`` when another value differs from it
    only by case (picklist values are unique regardless of case)."""
    values = list(existing)
    clean = clean_tag(name)
    prefixed = clean_tag(prefix + clean)
    if clean in values:
        return clean
    if prefixed in values:
        return prefixed
    if any(v.lower() == clean.lower() for v in values):
        return prefixed
    return clean


def tag_values(svc: Any, obj: str, field: str, names: Sequence[str]) -> list[str] | str:
    """Picklist values for these tags, adding missing ones when schema creation is on; a string explains
    why they can't be set (nothing is blanked silently)."""
    if not names:
        return []
    values = svc.schema.picklist_values(obj, field)
    chosen: list[str] = []
    for name in names:
        if str(name).strip():
            value = tag_value_for(name, values + chosen, svc.cfg.tag_prefix)
            if value not in chosen:
                chosen.append(value)
    missing = [v for v in chosen if v not in values]
    if missing:
        refused = svc.schema.add_values(obj, field, missing)
        if refused:
            return (f"tag value(s) {', '.join(map(repr, refused[:5]))} are not in the restricted picklist {obj}.{field}; "
                    "load the tags first or set SALESFORCE_CREATE_SCHEMA=true")
    return chosen
