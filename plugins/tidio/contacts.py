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

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from migration_assets.hookspecs import LoadOutcome

from .client import TidioAmbiguousWrite, TidioClient, TidioValidationError
from .config import TidioConfig
from .content import DISTINCT_ID_MAX, display_value, distinct_id, placeholder_email
from .directory import TidioDirectory, norm
from .matching import PropertyPlan, PropertyTarget

log = logging.getLogger("helpdesk_migrate.tidio")

BATCH_MAX = 100
NAME_MAX = 127
PHONE_MAX = 155
VALUE_MAX = 1000
PHONE_RE = re.compile(r"^\+?[0-9 ()\-./]{3,155}$")
CORE_FIELDS = ("email", "phone", "first_name", "last_name")


class RecordProblem(Exception):
    def __init__(self, reason: str, rule: str, fix: str):
        super().__init__(reason)
        self.reason, self.rule, self.fix = reason, rule, fix


@dataclass
class PreparedContact:
    record: dict[str, Any]
    source_id: str
    core: dict[str, Any]  # distinct_id, email, phone, first_name, last_name (None = absent)
    properties: dict[str, str]  # Tidio property name -> value as Tidio stores it (a string)
    placeholder: bool = False
    left_out: list[dict[str, str]] = field(default_factory=list)  # refused values, TIDIO_INVALID_PROPERTY_VALUES=drop
    tidio: dict[str, Any] | None = None  # the Tidio contact once found or created
    action: str = ""
    before_image: dict[str, Any] | None = None
    extra_ids: list[tuple[str, str]] = field(default_factory=list)

    @property
    def create_body(self) -> dict[str, Any]:
        return {k: v for k, v in self.core.items() if v is not None}


def _email(value: Any) -> str:
    try:
        return validate_email(str(value).strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise RecordProblem(f"email {value!r} is not a valid address ({exc})", "invalid-email",
                            "correct the address in the source (or clear it to load the contact without email) "
                            "and re-run") from None


def _phone(value: Any) -> str:
    raw = str(value).strip()
    try:
        parsed = phonenumbers.parse(raw, None)
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    if PHONE_RE.match(raw) and sum(ch.isdigit() for ch in raw) >= 5:
        return raw  # a national number without country code: kept as written
    raise RecordProblem(f"phone {raw!r} is not a phone number Tidio accepts (digits, +, spaces, dashes, brackets; "
                        f"at most {PHONE_MAX} characters)", "invalid-phone",
                        "correct the number in the source (or clear it) and re-run")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        import json

        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value).strip()


def property_value(target: PropertyTarget, value: Any) -> str:
    """A canonical value as the string Tidio stores for this property type, or a RecordProblem."""
    ptype = (target.definition or {}).get("type", target.expected)
    text = _text(value)
    where = f"custom field {target.key!r} (Tidio property {target.name!r}, {ptype})"
    if len(text) > VALUE_MAX:
        raise RecordProblem(f"{where} is {len(text)} characters; Tidio keeps at most {VALUE_MAX}",
                            "property-too-long", "shorten the value in the source, or map the field elsewhere")
    if ptype == "number":
        try:
            float(text.replace(",", "."))
        except ValueError:
            raise RecordProblem(f"{where}: {display_value(value)} is not a number", "property-type",
                                "correct the value in the source, or make the Tidio property text") from None
        return text.replace(",", ".") if text.count(",") == 1 and "." not in text else text
    if ptype == "email":
        return _email(text)
    if ptype == "phone":
        return _phone(text)
    if ptype == "url":
        if re.match(r"^https?://", text, re.I):
            candidate = text
        else:
            candidate = f"https://{text}"  # declared conversion: a bare domain becomes an https URL
        if not re.match(r"^https?://[^\s/]+\.[^\s]+$", candidate, re.I):
            raise RecordProblem(f"{where}: {text!r} is not a URL", "property-type",
                                "correct the value in the source, or make the Tidio property text")
        return candidate
    return text


def prepare(record: dict[str, Any], *, source: str, config: TidioConfig, plan: PropertyPlan) -> PreparedContact:
    sid = str(record["id"])
    did = distinct_id(source, sid)
    if len(did) > DISTINCT_ID_MAX:
        raise RecordProblem(f"the id {sid!r} makes a distinct_id of {len(did)} characters; Tidio allows "
                            f"{DISTINCT_ID_MAX}", "distinct-id-too-long", "report it: the plugin must shorten ids")
    email = _email(record["email"]) if record.get("email") not in (None, "") else None
    phone = _phone(record["phone"]) if record.get("phone") not in (None, "") else None
    first, last = record.get("first_name"), record.get("last_name")
    if not first and not last and record.get("name"):
        first = record["name"]  # the whole name, unsplit: splitting "Acme B.V. Support" would invent a surname
    first = " ".join(str(first).split()) if first else None
    last = " ".join(str(last).split()) if last else None
    for label_, value in (("first name", first), ("last name", last)):
        if value and len(value) > NAME_MAX:
            raise RecordProblem(f"{label_} is {len(value)} characters; Tidio keeps at most {NAME_MAX}",
                                "name-too-long", "shorten the name in the source and re-run")
    placeholder = False
    if not email and config.phone_only_policy == "placeholder_email":
        # Tidio creates tickets only by contact email: a never-delivered address keeps the contact's tickets.
        email, placeholder = placeholder_email(source, sid, config.placeholder_email_domain), True
    if not any((email, phone, first, last)):
        raise RecordProblem("the contact has no email, phone or name; Tidio needs at least one",
                            "contact-empty", "add an email, phone or name in the source, or leave it out")
    properties: dict[str, str] = {}
    left_out: list[dict[str, str]] = []
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
        try:
            properties[target.name] = property_value(target, value)
        except RecordProblem as problem:
            if config.invalid_property_values != "drop":
                raise
            left_out.append({"source_id": sid, "field": key, "value": display_value(value), "reason": problem.reason})
    core = {"distinct_id": did, "email": email, "phone": phone, "first_name": first, "last_name": last}
    return PreparedContact(record, sid, core, properties, placeholder, left_out)


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


class ContactLoader:
    def __init__(self, client: TidioClient, directory: TidioDirectory, config: TidioConfig, source: str):
        self.client, self.directory, self.config, self.source = client, directory, config, source

    # -- creation ---------------------------------------------------------------------------------

    def _create_batch(self, batch: list[PreparedContact]) -> list[dict[str, Any]]:
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
        created = list(result.get("contacts") or [])
        for contact in created:
            self.directory.contacts.add(contact)
        return created

    def _find_own(self, p: PreparedContact) -> dict[str, Any] | None:
        contact, how = self.directory.find_contacts(distinct=p.core["distinct_id"], email=p.core["email"])
        return contact if how == "distinct_id" else None

    def create(self, todo: list[PreparedContact]) -> list[LoadOutcome]:
        """Create in batches of <= 100; returns outcomes for the records Tidio refused."""
        refused: list[LoadOutcome] = []
        for start in range(0, len(todo), BATCH_MAX):
            batch = todo[start:start + BATCH_MAX]
            sent, bad = bisect(batch, self._create_batch)
            for items, created in sent:
                by_distinct = {c.get("distinct_id"): c for c in created}
                for p in items:
                    p.tidio = by_distinct.get(p.core["distinct_id"]) or self._find_own(p)
                    p.action = "created"
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
