"""Dagster's standard metadata for the migration's assets, in one place: owners, row counts, column schemas.

The UI reads these keys itself (the owners column and filter, the row-count sparkline, the column table), so the
assets use them rather than names of our own.
"""

from __future__ import annotations

import os
import re

import dagster as dg

from .canonical import SCHEMA, FieldType

OWNERS_ENV = "MIGRATION_OWNERS"
# Whoever runs the migration owns its assets unless told otherwise; Dagster accepts an email or "team:<name>".
DEFAULT_OWNERS = ("team:migration",)
_OWNER = re.compile(r"^(team:[A-Za-z0-9_.-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")

# The canonical model's field types in the column-type words the UI shows.
_COLUMN_TYPES = {FieldType.STRING: "string", FieldType.TEXT: "text", FieldType.EMAIL: "email",
                 FieldType.PHONE: "phone", FieldType.DATETIME: "datetime (UTC)", FieldType.BOOLEAN: "boolean",
                 FieldType.INTEGER: "integer", FieldType.NUMBER: "number", FieldType.ENUM: "enum",
                 FieldType.LIST: "list", FieldType.REFERENCE: "reference"}


def owners() -> list[str]:
    """MIGRATION_OWNERS (comma-separated emails or team:<name>), else the default team."""
    raw = [o.strip() for o in os.environ.get(OWNERS_ENV, "").split(",") if o.strip()]
    bad = [o for o in raw if not _OWNER.match(o)]
    if bad:
        raise ValueError(f"{OWNERS_ENV}: {bad} are neither an email nor team:<name>")
    return raw or list(DEFAULT_OWNERS)


def column_schema(canonical: str) -> dg.TableSchema:
    """The canonical object's fields as the asset's columns: type, required, what a reference points at."""
    columns = []
    for f in SCHEMA[canonical].fields:
        kind = _COLUMN_TYPES.get(f.type, str(f.type))
        if f.ref:
            kind = f"{kind} -> {f.ref}"
        described = f.description + (f" One of: {', '.join(f.choices)}." if f.choices else "")
        columns.append(dg.TableColumn(f.name, kind, description=described.strip() or None,
                                      constraints=dg.TableColumnConstraints(nullable=not f.required)))
    return dg.TableSchema(columns=columns)


def definition_metadata(canonical: str) -> dict[str, object]:
    return {"dagster/column_schema": column_schema(canonical)}


def row_count(value: int | None) -> dict[str, object]:
    """``dagster/row_count`` when the count is known; nothing otherwise (the UI then shows none, not a -1)."""
    return {"dagster/row_count": int(value)} if value is not None else {}
