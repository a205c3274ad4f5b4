"""Degrade, don't discard: the values a Contact or Case could not carry as the source held them.

A value Salesforce cannot take as it is (a number field holding 'n.v.t.', an email with an umlaut in its local
part, a text longer than its field) no longer costs the record: the record loads without the value, or with a
safe form of it, and the original goes into the migration's own long text field ``<prefix>_Original_Values__c``
on the same record, as a short "field: value" list a person reads next to the record. Each such value is also
reported as a ``Change`` (field, original, kept_in) for the migration report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from helpdesk_migrate.sdk import Change

ORIGINAL_VALUES = "Original_Values"  # suffix of the migration field, see SalesforceConfig.field
ORIGINAL_VALUES_LENGTH = 32_768  # long text area: enough for many values, small enough to read on the record
CUT_NOTE = "\n[more originals than this field holds; see the migration report]"


def shown(value: Any) -> str:
    """A value as a person reads it in the list: text as it is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass
class Originals:
    """What one record could not carry as it was: the changes to report, and the originals to keep on it."""

    obj: str  # "Contact" or "Case"
    field_name: str  # API name of the original-values field on ``obj``
    changes: list[Change] = field(default_factory=list)
    kept: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def kept_in(self) -> str:
        return f"{self.obj}.{self.field_name}"

    def keep(self, rule: str, name: str, original: Any, detail: str, *, label: str | None = None,
             pending: bool = False, waits_for: str | None = None) -> None:
        """Report a value that was changed or left out (``name``: the canonical field, e.g. custom_fields.orders),
        and keep its original on the record under ``label`` (what a person calls it; the name by default)."""
        self.kept.append((label or name, original))
        self.changes.append(Change(rule, detail, field=name, original=original, kept_in=self.kept_in,
                                   pending=pending, waits_for=waits_for if pending else None))

    def note(self, change: Change) -> None:
        """A change whose original lives elsewhere (e.g. in the Case's SuppliedEmail/SuppliedName)."""
        self.changes.append(change)

    def text(self) -> str | None:
        """The field's value: one "name: value" line per kept original (None when nothing was kept)."""
        if not self.kept:
            return None
        lines = "\n".join(f"{name}: {shown(value)}" for name, value in self.kept)
        if len(lines) <= ORIGINAL_VALUES_LENGTH:
            return lines
        return lines[: ORIGINAL_VALUES_LENGTH - len(CUT_NOTE)] + CUT_NOTE


LINKED_KEPT_IN = "the migration report only (the record was linked to an existing one, which the migration leaves as it is)"


def linked_changes(changes: list[Change], field_name: str) -> list[Change]:
    """The changes of a record that was linked to an existing one instead of written: its originals did not go
    into ``field_name`` there, so the report (which holds each ``original``) is where they are kept."""
    return [replace(c, kept_in=LINKED_KEPT_IN) if (c.kept_in or "").endswith("." + field_name) else c
            for c in changes]
