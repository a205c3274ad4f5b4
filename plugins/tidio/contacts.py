"""Contacts: validate, find what exists, create in all-or-nothing batches, patch custom data, add notes.

Order of work for one chunk:

1. Validate every record locally against Tidio's rules (a batch of 100 is all or nothing, so one bad
   record must not sink 99 good ones). A record that cannot be sent is quarantined with the rule and fix.
2. Find what exists: our id map first, then Tidio itself by ``distinct_id`` (a contact created just before
   a crash is ours) and by email (a customer who is already in Tidio is linked, not duplicated).
3. Create the rest with POST /contacts/batch (<= 100). A rejected batch is bisected until the refused
   records are isolated; only those are quarantined, with Tidio's reason.
4. Patch custom data (PATCH /contacts/batch) after creation, the same way.
5. Contact notes go onto a ticket of the contact as internal operator notes (tickets.py).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from migration_assets.hookspecs import Change, LoadOutcome
from migration_assets.values import coerce

from .client import TidioAmbiguousWrite, TidioClient, TidioNotFound, TidioValidationError
from .config import TidioConfig
from .content import (
    DISTINCT_ID_MAX,
    ORIGINALS_PROPERTY,
    PROPERTY_VALUE_MAX,
    display_value,
    distinct_id,
    originals_text,
    placeholder_email,
)
from .directory import TidioDirectory, norm
from .matching import PropertyPlan, PropertyTarget

log = logging.getLogger("helpdesk_migrate.tidio")

BATCH_MAX = 100
NAME_MAX = 127
PHONE_MAX = 155
VALUE_MAX = PROPERTY_VALUE_MAX
PHONE_RE = re.compile(r"^\+?[0-9 ()\-./]{3,155}$")
CORE_FIELDS = ("email", "phone", "first_name", "last_name")


class RecordProblem(Exception):
    def __init__(self, reason: str, rule: str, fix: str):
        super().__init__(reason)
        self.reason, self.rule, self.fix = reason, rule, fix


@dataclass(frozen=True)
class Loss:
    """A value that could not be written as it was: the record loads without it (or with ``written``)."""

    rule: str  # value-not-carried, text-truncated, email-idn-encoded, email-not-carried, value-converted
    field: str  # canonical field: "email", "name", "custom_fields.<key>"
    original: Any
    detail: str
    written: Any = None  # what Tidio holds instead (None: nothing)


@dataclass
class PreparedContact:
    record: dict[str, Any]
    source_id: str
    core: dict[str, Any]  # distinct_id, email, phone, first_name, last_name (None = absent)
    properties: dict[str, str]  # Tidio property name -> value as Tidio stores it (a string)
    placeholder: bool = False
    left_out: list[dict[str, str]] = field(default_factory=list)  # values not carried, for contacts_unique
    changes: list[Change] = field(default_factory=list)  # for the LoadOutcome: what was lossy and where it is kept
    tidio: dict[str, Any] | None = None  # the Tidio contact once found or created
    action: str = ""
    before_image: dict[str, Any] | None = None
    extra_ids: list[tuple[str, str]] = field(default_factory=list)

    @property
    def create_body(self) -> dict[str, Any]:
        return {k: v for k, v in self.core.items() if v is not None}


def email_for_tidio(raw: Any, what: str = "email") -> tuple[str | None, Loss | None]:
    """(address Tidio accepts, loss). Tidio's email field is an ASCII address (format "email", not
    "idn-email"): a valid address with an internationalised domain is sent with the domain IDN-encoded (the
    same mailbox); one that is invalid, or whose local part is not ASCII (it needs SMTPUTF8), is not carried."""
    text = str(raw).strip()
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return None, Loss("email-not-carried", what, text, f"{what} {text!r} is not a valid address ({exc})")
    if checked.normalized.isascii():
        return checked.normalized, None
    if checked.ascii_email:
        return checked.ascii_email, Loss("email-idn-encoded", what, text,
                                         f"{what} {text!r} written with its domain IDN-encoded: "
                                         f"{checked.ascii_email}", checked.ascii_email)
    return None, Loss("email-not-carried", what, text, f"{what} {text!r} has a non-ASCII local part, which Tidio's "
                      "email field cannot hold (it would need SMTPUTF8)")


def _phone(value: Any) -> str | None:
    """The number as Tidio accepts it (E.164 when it parses, else as written when it looks like one), or None."""
    raw = str(value).strip()
    try:
        parsed = phonenumbers.parse(raw, None)
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    if PHONE_RE.match(raw) and sum(ch.isdigit() for ch in raw) >= 5:
        return raw  # a national number without country code: kept as written
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value).strip()


def _number_text(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def property_value(target: PropertyTarget, value: Any) -> tuple[str | None, Loss | None]:
    """(the string Tidio stores for this property type, or None when nothing is written; the loss, if any).

    Converted where the meaning is clear (migration_assets.values.coerce: "1.234,56" is a number, "n.v.t." is
    no value, a bare domain is a URL), else the value is not carried."""
    ptype = (target.definition or {}).get("type", target.expected)
    where = f"custom field {target.key!r} (Tidio property {target.name!r}, {ptype})"
    fld = "company" if target.key == "company" else f"custom_fields.{target.key}"
    text = _text(value)
    if ptype == "number":
        result = coerce(value, "number")
        if not result.ok:
            return None, Loss("value-not-carried", fld, value, f"{where}: {result.problem}; left empty")
        if result.value is None:
            return None, Loss("value-not-carried", fld, value, f"{where}: {display_value(value)} means 'no value'; "
                              "left empty")
        written = _number_text(result.value)
        if result.converted and written != text:
            return written, Loss("value-converted", fld, value, f"{where}: {display_value(value)} written as "
                                 f"{written}", written)
        return written, None
    if ptype == "email":
        address, loss = email_for_tidio(text, fld)
        return address, loss and Loss(loss.rule if loss.written else "value-not-carried", fld, value,
                                      f"{where}: {loss.detail}", loss.written)
    if ptype == "phone":
        number = _phone(text)
        if number is None:
            return None, Loss("value-not-carried", fld, value, f"{where}: {text!r} is not a phone number Tidio "
                              "accepts; left empty")
        return number, None
    if ptype == "url":
        candidate = text if re.match(r"^https?://", text, re.I) else f"https://{text}"  # a bare domain: https
        if not re.match(r"^https?://[^\s/]+\.[^\s]+$", candidate, re.I):
            return None, Loss("value-not-carried", fld, value, f"{where}: {text!r} is not a URL; left empty")
        if len(candidate) > VALUE_MAX:
            return None, Loss("value-not-carried", fld, value, f"{where}: a URL of {len(candidate)} characters "
                              f"does not fit Tidio's {VALUE_MAX}; left empty")
        return candidate, None
    if len(text) > VALUE_MAX:
        return text[:VALUE_MAX], Loss("text-truncated", fld, value, f"{where} cut to Tidio's {VALUE_MAX} characters "
                                      f"(was {len(text)})", text[:VALUE_MAX])
    return text, None


def _name(value: Any, what: str, losses: list[Loss]) -> str | None:
    text = " ".join(str(value).split()) if value else None
    if text and len(text) > NAME_MAX:
        # NAME_MAX is api-evangelist's limit (reference 3.1); the whole name is kept with the originals.
        losses.append(Loss("text-truncated", what, text, f"{what.replace('_', ' ')} cut to Tidio's {NAME_MAX} "
                           f"characters (was {len(text)})", text[:NAME_MAX]))
        text = text[:NAME_MAX].rstrip()
    return text


def kept_in(plan: PropertyPlan, originals_complete: bool) -> str:
    """Where a person finds the values a contact lost."""
    if plan.directory.property_named(ORIGINALS_PROPERTY) is None:
        return (f"the source record in the migration store (Tidio has no contact property {ORIGINALS_PROPERTY!r}; "
                "create it, type text, to keep originals in Tidio)")
    if not originals_complete:
        return (f"Tidio contact property {ORIGINALS_PROPERTY!r} (cut at {PROPERTY_VALUE_MAX} characters) and the "
                "source record in the migration store")
    return f"Tidio contact property {ORIGINALS_PROPERTY!r}"


def prepare(record: dict[str, Any], *, source: str, config: TidioConfig, plan: PropertyPlan) -> PreparedContact:
    """The record as Tidio can hold it. Values Tidio cannot hold are converted, cut or left out (never the whole
    contact): each is a Change naming the original and where it is kept."""
    sid = str(record["id"])
    did = distinct_id(source, sid)
    if len(did) > DISTINCT_ID_MAX:
        raise RecordProblem(f"the id {sid!r} makes a distinct_id of {len(did)} characters; Tidio allows "
                            f"{DISTINCT_ID_MAX}", "distinct-id-too-long", "report it: the plugin must shorten ids")
    losses: list[Loss] = []
    email = None
    if record.get("email") not in (None, ""):
        email, loss = email_for_tidio(record["email"])
        losses += [loss] if loss else []
    phone = None
    if record.get("phone") not in (None, ""):
        phone = _phone(record["phone"])
        if phone is None:
            losses.append(Loss("value-not-carried", "phone", record["phone"],
                               f"phone {str(record['phone']).strip()!r} is not a phone number Tidio accepts"))
    first, last = record.get("first_name"), record.get("last_name")
    name_field = "first_name"
    if not first and not last and record.get("name"):
        first, name_field = record["name"], "name"  # whole name, unsplit: "Acme B.V. Support" has no surname
    first, last = _name(first, name_field, losses), _name(last, "last_name", losses)
    placeholder = False
    if not email and config.phone_only_policy == "placeholder_email":
        # Tidio creates tickets only by contact email: a never-delivered address keeps the contact's tickets.
        email, placeholder = placeholder_email(source, sid, config.placeholder_email_domain), True
    if not any((email, phone, first, last)):
        raise RecordProblem("the contact has no email, phone or name Tidio can hold; Tidio needs at least one",
                            "contact-empty", "add an email, phone or name in the source, or leave it out")
    properties: dict[str, str] = {}
    values: list[tuple[str, Any]] = []
    if record.get("company") not in (None, ""):
        values.append(("company", record["company"]))
    values += [(str(k), v) for k, v in (record.get("custom_fields") or {}).items() if v not in (None, "", [])]
    for key, value in values:
        target = plan.target(key)
        if not target.name:
            continue  # left out on purpose (TIDIO_PROPERTY_MAP maps it to "")
        if target.problem:
            raise RecordProblem(target.describe(), f"property-{target.problem}",
                                f"create contact property {target.name!r} of type {target.expected!r} in Tidio "
                                "(the API cannot create definitions), or map the field elsewhere, then re-run")
        written, loss = property_value(target, value)
        if loss and loss.rule == "value-not-carried" and config.invalid_property_values == "quarantine":
            raise RecordProblem(loss.detail, "property-type", "correct the value in the source, or make the Tidio "
                                "property text (or set TIDIO_INVALID_PROPERTY_VALUES=drop), then re-run")
        losses += [loss] if loss else []
        if written is not None:
            properties[target.name] = written
    core = {"distinct_id": did, "email": email, "phone": phone, "first_name": first, "last_name": last}
    prepared = PreparedContact(record, sid, core, properties, placeholder)
    kept = [x for x in losses if x.rule != "value-converted" or x.written is None]
    originals, complete = originals_text({x.field: x.original for x in kept})
    if kept and plan.directory.property_named(ORIGINALS_PROPERTY) is not None:
        properties[plan.directory.property_named(ORIGINALS_PROPERTY)["name"]] = originals  # type: ignore[index]
    where = kept_in(plan, complete)
    for x in losses:
        prepared.changes.append(Change(x.rule, x.detail, field=x.field, original=x.original,
                                       kept_in=where if x in kept else None))
        if x.rule == "value-not-carried":
            prepared.left_out.append({"source_id": sid, "field": x.field, "value": display_value(x.original),
                                      "reason": x.detail})
    return prepared


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
