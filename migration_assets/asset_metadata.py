"""Dagster's standard attributes for the migration's assets, in one place: owners, row counts, column schemas,
the API pool a step draws on and the retry policy of steps that resume.

The UI reads these keys itself (the owners column and filter, the row-count sparkline, the column table), so the
assets use them rather than names of our own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

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


def owners(declared: Sequence[str] | None = None) -> list[str]:
    """``declared`` (a component's ``owners``) when given, else MIGRATION_OWNERS (comma-separated), else the
    default team; each an email or team:<name>."""
    where = "owners" if declared else OWNERS_ENV
    raw = [o.strip() for o in (declared or os.environ.get(OWNERS_ENV, "").split(",")) if o.strip()]
    bad = [o for o in raw if not _OWNER.match(o)]
    if bad:
        raise ValueError(f"{where}: {bad} are neither an email nor team:<name>")
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


# The tables the other assets hold (discovery, gates, decisions, reports, the archive): their columns, so every
# asset has a column schema, and what one row is, for its dagster/row_count.
_S, _I, _N, _L = "string", "integer", "number", "list"
STAGE_TABLES: dict[str, tuple[str, tuple[tuple[str, str, str], ...]]] = {
    "scope": ("an object in scope", (
        ("object", _S, "The canonical object."), ("extracted", _I, "Records extracted, as the run's report counts them."))),
    "field_map": ("a destination field of the map", (
        ("object", _S, "The canonical object the field belongs to."),
        ("destination", _S, "The destination field."),
        ("source", _S, "The proposed canonical or source field; empty when nothing is proposed."),
        ("confidence", _N, "How sure the proposer is, 0 to 1."),
        ("reasons", _L, "The evidence: names, labels, types, sampled values, earlier confirmations."))),
    "preflight": ("a finding", (
        ("kind", _S, "What would fire or refuse: a validation rule, a flow, a permission, a field to create."),
        ("object", _S, "The destination object concerned."),
        ("name", _S, "The rule, flow, permission or field."),
        ("severity", _S, "Whether it blocks the load or only needs acknowledging."),
        ("detail", _S, "What it does and the recommended bypass."))),
    "sample": ("a sampled conversation", (
        ("source_id", _S, "The conversation in the source."),
        ("destination_id", _S, "Where it landed; empty when it was quarantined."),
        ("thread", _I, "Messages and notes, oldest first."),
        ("attachments", _I, "Files of the conversation."),
        ("quarantine", _S, "Why it was held back, if it was."))),
    "go_ahead": ("a decision the loads waited for", (
        ("decision", _S, "The field map's confirmation, the pre-flight's acknowledgement, the sample's sign-off."),
        ("by", _S, "Who decided."), ("at", "datetime (UTC)", "When."))),
    "decision": ("the decision recorded", (
        ("decision", _S, "What was decided."), ("by", _S, "Who decided, from the run's user tag."),
        ("recorded", _S, "What was recorded, with the fingerprint of what was reviewed."))),
    "inventory": ("an inventoried item", (
        ("inventory", _S, "Workflows, channels, reports, quick replies, contact groups, help center, custom fields."),
        ("name", _S, "The item."), ("recommended_equivalent", _S, "What to rebuild it as in the destination."))),
    "report": ("a loaded object", (
        ("object", _S, "The canonical object."), ("extracted", _I, "Records extracted."),
        ("loaded", _I, "Records in the destination."), ("quarantined", _I, "Records held back, with rule and fix."),
        ("collateral", _I, "Of those, held back only because another record was."),
        ("skipped", _I, "Records the destination does not take, by design."),
        ("destination_count", _I, "The destination's own count."))),
    "archive": ("an archived object", (
        ("object", _S, "The canonical object."), ("file", "path", "Its compressed JSONL file."),
        ("records", _I, "Records in the file."), ("sha256", _S, "The file's checksum."))),
}


def stage_metadata(stage: str) -> dict[str, object]:
    """The column schema of a discovery, gate, decision, report or archive asset (STAGE_TABLES)."""
    row, columns = STAGE_TABLES[stage]
    return {"dagster/column_schema": dg.TableSchema(columns=[
        dg.TableColumn(name, kind, description=text) for name, kind, text in columns]), "one_row_is": row}


def row_count(value: int | None) -> dict[str, object]:
    """``dagster/row_count`` when the count is known; nothing otherwise (the UI then shows none, not a -1)."""
    return {"dagster/row_count": int(value)} if value is not None else {}


# Steps whose requests go last (extracts no destination writes): at most BACKGROUND_STEPS of them hold one of the
# executor's slots at a time, since such a step mostly waits for the budget; and any other ready step starts first.
REQUESTS_TAG = "helpdesk_migrate/requests"
BACKGROUND_STEPS = 1


def deferred_op_tags(background_requests: bool = False) -> dict[str, str]:
    """Op tags of a step nothing else waits for (an inventory's extract or load): Dagster's step priority below
    the default, so every other ready step takes a free slot first; ``background_requests`` also marks it for the
    executor's limit on steps that wait for the leftover budget (``background_step_limits``)."""
    tags = {"dagster/priority": "-1"}
    if background_requests:
        tags[REQUESTS_TAG] = "background"
    return tags


def background_step_limits() -> list[dict[str, object]]:
    """The multiprocess executor's ``tag_concurrency_limits`` for those steps."""
    return [{"key": REQUESTS_TAG, "value": "background", "limit": BACKGROUND_STEPS}]


def api_pool(platform: str) -> str:
    """The concurrency pool of the steps that call a platform's API: a limit set on it in the instance
    (``concurrency: pools:``) caps how many of them run at once, whatever job or backfill they belong to."""
    return f"{platform}_api"


def resume_retry_policy(retries: int | None = None) -> dg.RetryPolicy | None:
    """For steps that resume from a saved cursor (extracts): a retry after a failure the client's own retries
    did not absorb (an outage of minutes) continues where the step stopped, so it costs only the delay.
    MIGRATION_STEP_RETRIES (default 2; 0: none) and MIGRATION_STEP_RETRY_DELAY (seconds, default 30, doubled
    each time). ``retries``, a component's ``step_retries``, wins over the environment."""
    raw, delay = os.environ.get(RETRIES_ENV, "").strip(), os.environ.get(RETRY_DELAY_ENV, "").strip()
    if raw and not raw.isdigit():
        raise ValueError(f"{RETRIES_ENV}={raw!r}: a whole number of retries (0 for none)")
    if retries is not None and retries < 0:
        raise ValueError(f"step_retries={retries}: a whole number of retries (0 for none)")
    retries = retries if retries is not None else int(raw) if raw else DEFAULT_RETRIES
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
