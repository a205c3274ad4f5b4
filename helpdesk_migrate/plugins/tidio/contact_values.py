"""A contact as Tidio can hold it: every value checked against Tidio's rules, and converted, cut or left out
when Tidio cannot hold it as it is (degrade, don't discard: the contact still loads).

Each value that did not go in as it was is a ``Loss``; ``prepare`` turns them into ``Change`` entries for the
load outcome, naming the original and where it is kept (the contact property ORIGINALS_PROPERTY, or the
migration store when the Tidio project lacks it). Only what Tidio cannot take at all (no id, no email, phone
or name, a property definition that is missing) stops the contact.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from helpdesk_migrate.sdk import Change, coerce

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
from .matching import PropertyPlan, PropertyTarget

NAME_MAX = 127  # first_name/last_name, api-evangelist's limit (reference 3.1); the emulator enforces the same
PHONE_MAX = 155
VALUE_MAX = PROPERTY_VALUE_MAX
PHONE_RE = re.compile(r"^\+?[0-9 ()\-./]{3,155}$")


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
