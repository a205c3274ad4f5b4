"""The field map checked against what the loader will accept, before a person can confirm it.

A map entry the destination would refuse on every record (a field that does not exist or is not offered for
writing, a required field left without a source, a text written into a number, a date or a checkbox) is
refused at confirmation, naming the entry and the fix, instead of quarantining every record in the run.
The proposal keeps the two schemas it was made from beside the map (``<map>.schema.json``); entries a person
edited are checked against them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .canonical import FieldType

# Destination type words (as destinations describe them, lower case) by the kind of value they hold.
_NUMERIC = {"int", "integer", "double", "number", "currency", "percent", "long", "decimal"}
_TEMPORAL = {"date", "datetime", "time"}
_BOOLEAN = {"boolean", "checkbox", "bool"}
# Source (canonical) types whose values can go into each.
_FITS = {
    "numeric": {FieldType.INTEGER.value, FieldType.NUMBER.value},
    "temporal": {FieldType.DATETIME.value},
    "boolean": {FieldType.BOOLEAN.value},
}


def schema_path(map_file: Path) -> Path:
    return map_file.with_suffix(".schema.json")


def write_schema(map_file: Path, schema: Mapping[str, Any]) -> None:
    schema_path(map_file).write_text(json.dumps(schema, indent=1, ensure_ascii=False, default=str))


def read_schema(map_file: Path) -> dict[str, Any] | None:
    path = schema_path(map_file)
    try:
        return json.loads(path.read_text()) if path.exists() else None
    except (OSError, ValueError):
        return None


def _kind(destination_type: str) -> str | None:
    t = destination_type.lower()
    if t in _NUMERIC:
        return "numeric"
    if t in _TEMPORAL:
        return "temporal"
    if t in _BOOLEAN:
        return "boolean"
    return None


def entry_problems(canonical: str, entry: Mapping[str, Any], destination: Mapping[str, dict[str, Any]],
                   source: Mapping[str, dict[str, Any]]) -> list[str]:
    """Why the loader would refuse this entry on every record (empty when it would not)."""
    name, src = entry.get("destination"), entry.get("source")
    where = f"{canonical}: {name}"
    if name not in destination:
        return [f"{where} is not a field the destination offers for writing; remove the entry"]
    field = destination[name]
    if src is None:
        if field.get("required"):
            return [f"{where} is required by the destination and has no source: choose one "
                    f"(helpdesk-migrate mapping set)"]
        return []
    if src not in source:
        return [f"{where} <- {src}: the source has no such field; choose one the source has "
                f"({', '.join(sorted(source)[:8])}…)"]
    kind = _kind(str(field.get("type") or ""))
    source_type = str(source[src].get("type") or "")
    if kind and source_type not in _FITS[kind]:
        return [f"{where} ({field.get('type')}) <- {src} ({source_type}): the destination refuses a "
                f"{source_type} value in a {kind} field on every record; choose a {kind} source or none"]
    return []


def map_problems(document: Mapping[str, Any] | None, schema: Mapping[str, Any] | None) -> list[str]:
    """Every entry of the map the loader would refuse, against the schemas the proposal was made from."""
    if not document or not schema:
        return []
    problems = []
    for canonical, entries in (document.get("objects") or {}).items():
        sides = schema.get(canonical) or {}
        if not sides.get("destination"):
            continue  # a destination that describes no fields takes canonical fields as they are
        destination = {f["name"]: f for f in sides["destination"]}
        source = {f["name"]: f for f in sides.get("source") or []}
        for entry in entries or []:
            problems += entry_problems(canonical, entry, destination, source)
    return problems
