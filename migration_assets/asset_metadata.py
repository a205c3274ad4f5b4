"""Dagster's standard attributes for the migration's assets, in one place: owners, row counts, column schemas,
the API pool a step draws on and the retry policy of steps that resume.

The UI reads these keys itself (the owners column and filter, the row-count sparkline, the column table), so the
assets use them rather than names of our own.
"""

from __future__ import annotations

import os
import re

import dagster as dg

from .canonical import SCHEMA, FieldType

OWNERS_ENV = "MIGRATION_OWNERS"
RETRIES_ENV, RETRY_DELAY_ENV = "MIGRATION_STEP_RETRIES", "MIGRATION_STEP_RETRY_DELAY"
DEFAULT_RETRIES, DEFAULT_RETRY_DELAY = 2, 30.0
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


def api_pool(platform: str) -> str:
    """The concurrency pool of the steps that call a platform's API: a limit set on it in the instance
    (``concurrency: pools:``) caps how many of them run at once, whatever job or backfill they belong to."""
    return f"{platform}_api"


def resume_retry_policy() -> dg.RetryPolicy | None:
    """For steps that resume from a saved cursor (extracts): a retry after a failure the client's own retries
    did not absorb (an outage of minutes) continues where the step stopped, so it costs only the delay.
    MIGRATION_STEP_RETRIES (default 2; 0: none) and MIGRATION_STEP_RETRY_DELAY (seconds, default 30, doubled
    each time)."""
    raw, delay = os.environ.get(RETRIES_ENV, "").strip(), os.environ.get(RETRY_DELAY_ENV, "").strip()
    if raw and not raw.isdigit():
        raise ValueError(f"{RETRIES_ENV}={raw!r}: a whole number of retries (0 for none)")
    retries = int(raw) if raw else DEFAULT_RETRIES
    try:
        seconds = float(delay) if delay else DEFAULT_RETRY_DELAY
    except ValueError:
        raise ValueError(f"{RETRY_DELAY_ENV}={delay!r}: seconds, e.g. 30") from None
    if retries == 0:
        return None
    return dg.RetryPolicy(max_retries=retries, delay=seconds, backoff=dg.Backoff.EXPONENTIAL)


def column_lineage(entries: list[dict] | None, source_key: dg.AssetKey) -> dict[str, object]:
    """``dagster/column_lineage`` of a load from the confirmed map: each destination field and the extract's
    column it is written from (a custom field ``custom_fields.<key>`` is the column ``custom_fields``)."""
    deps = {}
    for entry in entries or []:
        destination, source = entry.get("destination"), entry.get("source")
        if destination and source:
            deps[str(destination)] = [dg.TableColumnDep(asset_key=source_key, column_name=str(source).split(".")[0])]
    return {"dagster/column_lineage": dg.TableColumnLineage(deps_by_column=deps)} if deps else {}
