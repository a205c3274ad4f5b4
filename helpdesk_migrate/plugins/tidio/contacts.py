"""Contacts: validate, find what exists, create in all-or-nothing batches, patch custom data, add notes.

Order of work for one chunk:

1. Prepare every record locally against Tidio's rules (contact_values.py): a batch of 100 is all or nothing,
   so a bad value must not sink 99 good contacts, nor its own. Values Tidio cannot hold are converted, cut
   or left out with a Change; only a record Tidio cannot take at all is quarantined with the rule and fix.
2. Find what exists: our id map first, then Tidio itself by ``distinct_id`` (a contact created just before
   a crash is ours) and by email (a customer who is already in Tidio is linked, not duplicated).
3. Create the rest with POST /contacts/batch (<= 100). A rejected batch is bisected until the refused
   records are isolated; only those are quarantined, with Tidio's reason. The answer's rows are matched to
   the records by position, email and distinct_id (its shape is undocumented), never by guessing.
4. Patch custom data (PATCH /contacts/batch) after creation, the same way.
5. Contact notes go onto a ticket of the contact as internal operator notes (tickets.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from helpdesk_migrate.sdk import LoadOutcome

from .client import TidioAmbiguousWrite, TidioClient, TidioNotFound, TidioValidationError
from .config import TidioConfig
from .contact_values import PreparedContact
from .directory import TidioDirectory, norm

log = logging.getLogger("helpdesk_migrate.tidio")

BATCH_MAX = 100
CORE_FIELDS = ("email", "phone", "first_name", "last_name")


def bisect(items: Sequence[Any], send: Callable[[list[Any]], Any]) -> tuple[list[tuple[list[Any], Any]], list[tuple[Any, TidioValidationError]]]:
    """Send ``items``; when Tidio refuses the batch, split it in halves until the refused items are alone.

    Returns ([(sent batch, result)], [(refused item, error)]). Safe because a refused batch writes nothing.
    """
    try:
        return [(list(items), send(list(items)))], []
    except TidioValidationError as exc:
        if len(items) == 1:
            return [], [(items[0], exc)]
    mid = len(items) // 2
    ok_left, bad_left = bisect(items[:mid], send)
    ok_right, bad_right = bisect(items[mid:], send)
    return ok_left + ok_right, bad_left + bad_right


def _agrees(p: PreparedContact, row: Mapping[str, Any]) -> bool:
    """The row names this item (its distinct_id or email is the item's) and contradicts it nowhere."""
    evidence = False
    if row.get("distinct_id") is not None:
        if row["distinct_id"] != p.core["distinct_id"]:
            return False
        evidence = True
    if row.get("email") is not None:
        if norm(row["email"]) != norm(p.core["email"]):
            return False
        evidence = True
    return evidence


def match_rows(items: Sequence[PreparedContact], rows: Sequence[Mapping[str, Any]]
               ) -> tuple[list[tuple[PreparedContact, Mapping[str, Any]]], list[PreparedContact], list[Mapping[str, Any]]]:
    """Pair the rows of a batch-create answer with the items sent: by position where the row agrees with the
    item, then by an email only one item and one row share, then by distinct_id. Returns (pairs, items left,
    rows left); a row is never guessed onto an item it does not name."""
    pairs: list[tuple[PreparedContact, Mapping[str, Any]]] = []
    left_items = list(items)
    left_rows = list(rows)
    if len(rows) == len(items):
        for p, row in zip(items, rows, strict=True):
            if _agrees(p, row):
                pairs.append((p, row))
                left_items.remove(p)
                left_rows.remove(row)

    def take(key: Callable[[Any], Any], item_key: Callable[[PreparedContact], Any]) -> None:
        by_row: dict[Any, list[Mapping[str, Any]]] = {}
        for row in left_rows:
            if key(row):
                by_row.setdefault(key(row), []).append(row)
        by_item: dict[Any, list[PreparedContact]] = {}
        for p in left_items:
            if item_key(p):
                by_item.setdefault(item_key(p), []).append(p)
        for k, found in by_row.items():
            if len(found) == 1 and len(by_item.get(k, [])) == 1 and _agrees(by_item[k][0], found[0]):
                pairs.append((by_item[k][0], found[0]))
                left_items.remove(by_item[k][0])
                left_rows.remove(found[0])

    take(lambda r: norm(r.get("email")), lambda p: norm(p.core["email"]))
    take(lambda r: r.get("distinct_id"), lambda p: p.core["distinct_id"])
    return pairs, left_items, left_rows


class ContactLoader:
    def __init__(self, client: TidioClient, directory: TidioDirectory, config: TidioConfig, source: str):
        self.client, self.directory, self.config, self.source = client, directory, config, source

    # -- creation ---------------------------------------------------------------------------------

    def _create_batch(self, batch: list[PreparedContact]) -> list[dict[str, Any]]:
        """POST one batch; the rows Tidio answered with (or, after a lost answer, the contacts found again)."""
        body = {"contacts": [p.create_body for p in batch]}
        try:
            result = self.client.post("/contacts/batch", body) or {}
        except TidioAmbiguousWrite:
            # Tidio may have saved the batch before the answer was lost: look before sending it again.
            self.directory.refresh_contacts()
            missing = [p for p in batch if not self._find_own(p)]
            if not missing:
                return [self._find_own(p) for p in batch]  # type: ignore[misc]
            if len(missing) < len(batch):
                return [c for p in batch if (c := self._find_own(p))] + self._create_batch(missing)
            result = self.client.post("/contacts/batch", {"contacts": [p.create_body for p in missing]}) or {}
        rows = result.get("contacts") if isinstance(result, dict) else None
        return [r for r in rows or [] if isinstance(r, dict) and r.get("id")]

    def _find_own(self, p: PreparedContact) -> dict[str, Any] | None:
        contact, how = self.directory.find_contacts(distinct=p.core["distinct_id"], email=p.core["email"])
        return contact if how == "distinct_id" else None

    def _identify(self, items: list[PreparedContact], rows: list[dict[str, Any]]) -> list[PreparedContact]:
        """Give each created item its Tidio contact; returns the items that stay unknown.

        What the batch answer holds is undocumented (W6W's fixture: only id and email, no distinct_id), so rows
        are matched by position, then email, then distinct_id (match_rows); a row that names neither is read
        back (GET /contacts/{id} has the distinct_id), and an item still unknown is looked up by distinct_id."""
        pairs, unknown_items, unknown_rows = match_rows(items, rows)
        if unknown_items and unknown_rows:
            by_distinct = {p.core["distinct_id"]: p for p in unknown_items}
            for row in unknown_rows:
                try:
                    full = self.client.get(f"/contacts/{row['id']}") or {}
                except TidioNotFound:
                    continue
                p = by_distinct.pop(str(full.get("distinct_id")), None)
                if p is not None:
                    pairs.append((p, full))
            unknown_items = list(by_distinct.values())
        for p, row in pairs:
            contact = {**p.create_body, "properties": [], **{k: v for k, v in row.items() if v is not None}}
            self.directory.contacts.add(contact)
            p.tidio = contact
        if unknown_items:
            self.directory.refresh_contacts()  # list mode: re-lists; email mode: asks by email below
        still = []
        for p in unknown_items:
            p.tidio = self._find_own(p)
            if p.tidio is None:
                still.append(p)
        return still

    def create(self, todo: list[PreparedContact]) -> list[LoadOutcome]:
        """Create in batches of <= 100; returns outcomes for the records Tidio refused or could not identify."""
        refused: list[LoadOutcome] = []
        for start in range(0, len(todo), BATCH_MAX):
            batch = todo[start:start + BATCH_MAX]
            sent, bad = bisect(batch, self._create_batch)
            for items, rows in sent:
                for p in items:
                    p.action = "created"
                for p in self._identify(items, rows):
                    refused.append(LoadOutcome(
                        p.source_id, "failed", rule="tidio-batch-answer",
                        reason=f"Tidio accepted the batch ({len(items)} contacts, {len(rows)} rows in its answer) "
                               f"but no row, and no contact listed afterwards, has distinct_id "
                               f"{p.core['distinct_id']!r}: whether it was created is unknown",
                        fix="re-run: the contacts load looks the contact up by distinct_id before creating it "
                            "(TIDIO_CONTACT_LOOKUP=list finds contacts without email too)"))
            for p, exc in bad:
                refused.append(LoadOutcome(p.source_id, "failed", reason=f"Tidio refused the contact: {exc.reason}",
                                           rule=f"tidio-{exc.code or 'validation'}",
                                           fix="correct the record in the source (or the field map) and re-run"))
        return refused

    # -- custom data ------------------------------------------------------------------------------

    def _patch_batch(self, items: list[tuple[PreparedContact, dict[str, Any]]]) -> None:
        self.client.patch("/contacts/batch", {"contacts": [dict(body, id=p.tidio["id"]) for p, body in items]})  # type: ignore[index]

    def patch(self, changes: list[tuple[PreparedContact, dict[str, Any]]]) -> dict[str, str]:
        """PATCH /contacts/batch in <= 100s (idempotent, so retried safely); refused ones by source id."""
        refused: dict[str, str] = {}
        for start in range(0, len(changes), BATCH_MAX):
            _, bad = bisect(changes[start:start + BATCH_MAX], self._patch_batch)
            for (p, _body), exc in bad:
                refused[p.source_id] = exc.reason
        for p, body in changes:
            if p.source_id not in refused and p.tidio is not None:
                self._apply_locally(p.tidio, body)
        return refused

    @staticmethod
    def _apply_locally(contact: dict[str, Any], body: dict[str, Any]) -> None:
        for key in CORE_FIELDS:
            if key in body:
                contact[key] = body[key]
        props = {p["name"]: p["value"] for p in contact.get("properties") or []}
        for prop in body.get("properties") or []:
            if prop["value"] is None:
                props.pop(prop["name"], None)
            else:
                props[prop["name"]] = prop["value"]
        contact["properties"] = [{"name": k, "value": v} for k, v in props.items()]

    @staticmethod
    def changes_for(p: PreparedContact, *, ours: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        """(patch body, before image) to bring the Tidio contact to the record.

        On a contact the migration created, every field follows the source. On a customer who was already
        in Tidio (linked by email) only empty fields are filled and properties written: the before image
        lets rollback restore exactly what was there.
        """
        current = p.tidio or {}
        current_props = {x["name"]: x.get("value") for x in current.get("properties") or []}
        body: dict[str, Any] = {}
        before_fields: dict[str, Any] = {}
        for key in CORE_FIELDS:
            want = p.core.get(key)
            have = current.get(key)
            if want is None or (key == "email" and norm(want) == norm(have)):
                continue
            if want != have and (ours or not have):
                body[key] = want
                before_fields[key] = have
        props = []
        before_props: dict[str, Any] = {}
        for name, value in p.properties.items():
            if current_props.get(name) != value:
                props.append({"name": name, "value": value})
                before_props[name] = current_props.get(name)
        if props:
            body["properties"] = props
        return body, {"fields": before_fields, "properties": before_props}

    def restore(self, contact_id: str, before_image: dict[str, Any]) -> None:
        body: dict[str, Any] = dict(before_image.get("fields") or {})
        props = [{"name": k, "value": v} for k, v in (before_image.get("properties") or {}).items()]
        if props:
            body["properties"] = props
        if body:
            self.client.patch(f"/contacts/{contact_id}", body)

