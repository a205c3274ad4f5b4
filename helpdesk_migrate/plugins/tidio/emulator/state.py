"""The emulated Tidio project: data, the API's validation rules, and bookkeeping for tests.

Rules follow shared/reference/tidio-api.md (section 7, the emulator checklist). Where Tidio's behaviour is
not documented, the choice made here is marked "emulator choice" so nobody mistakes it for observed fact.
The HTTP layer (emulator.py) only parses requests and calls these methods under one lock.
"""

from __future__ import annotations

import base64
import copy
import re
import threading
import uuid
from datetime import UTC, datetime
from random import Random
from typing import Any

from email_validator import EmailNotValidError, validate_email

PROPERTY_TYPES = ("text", "email", "number", "phone", "url")
STATUSES = ("open", "pending", "solved")
PRIORITIES = ("low", "normal", "urgent")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Emulator choice: Tidio's phone rule is not documented; digits with the usual separators, 5+ digits.
PHONE_RE = re.compile(r"^\+?[0-9 ()\-./]{3,155}$")
CONTACT_FIELDS = {"distinct_id", "email", "phone", "first_name", "last_name", "email_consent", "properties",
                  "language", "country", "city"}
TICKET_CREATE_FIELDS = {"contact_email", "subject", "message_content", "assigned_department_id",
                        "custom_channel_id", "tag_ids", "custom_fields"}
TICKET_STATE_FIELDS = {"status", "priority", "assigned"}
TICKET_PATCH_FIELDS = TICKET_STATE_FIELDS | {"tag_ids", "custom_fields"}
REPLY_FIELDS = {"author_type", "content", "operator_id", "message_type", "attachments"}
# Emulator choice (subject-limit profile): Tidio documents no subject limit; 255 is the common VARCHAR cap and
# the length email clients and most helpdesks cut subjects at.
SUBJECT_LIMIT = 255

# Emulator profiles (a shared convention): "default" first, then variants that serve a documented or recorded
# real-world behaviour where the default is unconfirmed. Names are combined with commas.
PROFILES = {
    "default": "the emulator's choices of reference section 7: POST /contacts/batch answers 200 with the full "
               "created contacts (distinct_id included) in input order; subjects are kept whole; tickets carry "
               "tag_ids and custom_fields",
    "batch-ids-only": "POST /contacts/batch answers items with only id and email, in any order: the recorded "
                      "response of the public W6W client's fixture (segevsh/w6w-apps apps/tidio/tests/actions/"
                      "contact-batch-create.test.ts: {id, email, messenger_id, instagram_id}, no distinct_id); "
                      "the order of the real answer is undocumented",
    "batch-201": "POST /contacts/batch answers 201 instead of 200, as api-evangelist/tidio's generated spec says "
                 "(W6W says 200; the official page was not captured)",
    "subject-limit": f"ticket subjects are cut at {SUBJECT_LIMIT} characters: Tidio documents no limit (W6W "
                     "ticket-create.ts lists subject without one); 255 is the plausible storage cap",
    "ticket-without-tags": "tickets are served in the documented shape (adrmrn/tidio-mcp tests, api-evangelist "
                           "json-schema/tidio-ticket.json): no tag_ids and no custom_fields, so a client cannot "
                           "read a ticket's tags back",
    "create-sets-state": "POST /tickets/as-contact also takes status, priority and assigned (PATCH's shapes) and "
                         "sets them: the create page's text was not captured (reference 3.3), and a generated "
                         "client sends priority on create; the default refuses them as unknown fields",
    "create-ignores-unknown": "POST /tickets/as-contact answers 201 and silently drops fields it does not know "
                              "(status, priority, assigned among them) instead of refusing them: many APIs do",
}


def parse_profiles(profile: str | None) -> frozenset[str]:
    """'batch-201,subject-limit' -> the set of variants; 'default' (or empty) adds none."""
    names = {p.strip() for p in str(profile or "default").split(",") if p.strip()}
    unknown = names - set(PROFILES)
    if unknown:
        raise ValueError(f"unknown emulator profile(s) {sorted(unknown)}; known: {sorted(PROFILES)}")
    return frozenset(names - {"default"})


class ApiError(Exception):
    """An answer in Tidio's error envelope."""

    def __init__(self, status: int, code: str, message: str, *, details: list[str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []

    def body(self) -> dict[str, Any]:
        if self.details:
            return {"errors": [{"code": self.code, "message": d} for d in self.details]}
        return {"errors": [{"code": self.code, "message": self.message}]}


def validation(details: list[str]) -> ApiError:
    # Emulator choice (reference section 8.1): 422 validation_error naming the field path.
    return ApiError(422, "validation_error", "; ".join(details), details=details)


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _valid_email(value: Any) -> bool:
    # Emulator choice: the contact schema types email as format "email" (RFC 5321, ASCII), not "idn-email";
    # an address with a non-ASCII domain or local part is refused (send the domain IDN-encoded).
    if not isinstance(value, str) or not value.isascii():
        return False
    try:
        validate_email(value, check_deliverability=False)
        return True
    except EmailNotValidError:
        return False


def _property_error(ptype: str, value: Any) -> str | None:
    """Why ``value`` does not fit a property of ``ptype`` (None: it fits). None values clear."""
    if value is None:
        return None
    if ptype == "number":
        if isinstance(value, bool):
            return "must be a number"
        if isinstance(value, int | float):
            return None
        if isinstance(value, str):
            try:
                float(value.strip())
                return None
            except ValueError:
                return "must be a number"
        return "must be a number"
    if not isinstance(value, str):
        return f"must be a string ({ptype})"
    if len(value) > 1000:
        return "may be at most 1000 characters"
    if ptype == "email" and not _valid_email(value):
        return "must be a valid email address"
    if ptype == "phone" and not PHONE_RE.match(value):
        return "must be a phone number"
    if ptype == "url" and not re.match(r"^https?://[^\s/]+\.[^\s]+$", value):
        return "must be a URL starting with http:// or https://"
    return None


def _as_string(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class TidioState:
    """One Tidio project. Every public method is called with ``lock`` held by the HTTP layer."""

    def __init__(self, *, seed: int = 42, page_size: int = 100, profiles: frozenset[str] = frozenset()):
        self.lock = threading.RLock()
        self.profiles = profiles
        self.rng = Random(seed)
        self.page_size = page_size
        self.project_id = 100000 + seed % 900000
        self.operators: dict[str, dict[str, Any]] = {}
        self.departments: dict[str, dict[str, Any]] = {}
        self.properties: dict[str, dict[str, Any]] = {}
        self.tags: dict[int, dict[str, Any]] = {}
        self.ticket_fields: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.emailed: list[dict[str, Any]] = []  # public operator replies: Tidio emails them to the customer
        self.bot_messages: list[dict[str, Any]] = []  # POST /contacts/{id}/messages (fires bots; never for migration)
        self.deleted: dict[str, list[str]] = {"contacts": [], "tickets": []}
        self.requests: dict[str, int] = {}
        self.refuse_matching: str | None = None  # fault switch: a project rule the client cannot foresee
        self._seq = 0
        self._order: dict[str, int] = {}  # id -> sequence, kept after delete so cursors survive deletions
        self._next_ticket = 10000
        self._next_tag = 1

    # -- ids --------------------------------------------------------------------------------------

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_ulid(self) -> str:
        ms = int(datetime.now(UTC).timestamp() * 1000)
        value = (ms << 80) | self.rng.getrandbits(80)
        return "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))

    def _remember(self, key: str) -> None:
        self._seq += 1
        self._order[key] = self._seq

    # -- fixtures (read-only through the API) -----------------------------------------------------

    def add_operator(self, email: str, name: str | None, *, active: bool = True, role: str = "chat_agent",
                     operator_id: str | None = None) -> dict[str, Any]:
        op = {"id": operator_id or self.new_uuid(), "active": active, "email": email, "name": name, "role": role,
              "picture": None, "last_seen": None}
        self.operators[op["id"]] = op
        self._remember("operator:" + op["id"])
        return op

    def add_department(self, name: str) -> dict[str, Any]:
        dep = {"id": self.new_uuid(), "name": name}
        self.departments[dep["id"]] = dep
        return dep

    def add_property(self, name: str, ptype: str, label: str | None = None) -> dict[str, Any]:
        if ptype not in PROPERTY_TYPES:
            raise ValueError(f"property type {ptype!r} is not one of {PROPERTY_TYPES}")
        prop = {"name": name, "label": label or name.replace("_", " ").capitalize(), "type": ptype}
        self.properties[name] = prop
        self._remember("property:" + name)
        return prop

    def add_tag(self, name: str) -> dict[str, Any]:
        tag = {"id": self._next_tag, "name": name}
        self._next_tag += 1
        self.tags[tag["id"]] = tag
        return tag

    def add_ticket_field(self, name: str, ftype: str = "text", values: list[str] | None = None) -> dict[str, Any]:
        field = {"id": self.new_ulid(), "name": name, "type": ftype, "is_required": False}
        if values:
            field["values"] = values
        self.ticket_fields[field["id"]] = field
        return field

    @property
    def general_department(self) -> dict[str, Any]:
        for dep in self.departments.values():
            if dep["name"] == "General":
                return dep
        return self.add_department("General")

    # -- pagination -------------------------------------------------------------------------------

    def page(self, items: list[dict[str, Any]], kind: str, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Keyset pagination with Tidio's opaque cursor format: base64 of 'id__<last id>'."""
        start = 0
        if cursor not in (None, "", "null"):
            try:
                decoded = base64.b64decode(cursor.encode(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                raise ApiError(400, "invalid_cursor", "Invalid cursor") from None
            if not decoded.startswith("id__") or f"{kind}:{decoded[4:]}" not in self._order:
                raise ApiError(400, "invalid_cursor", "Invalid cursor")
            after = self._order[f"{kind}:{decoded[4:]}"]
            start = next((i for i, it in enumerate(items) if self._order[f"{kind}:{it['id']}"] > after), len(items))
        chunk = items[start:start + self.page_size]
        more = start + self.page_size < len(items)
        next_cursor = base64.b64encode(f"id__{chunk[-1]['id']}".encode()).decode() if more and chunk else None
        return chunk, next_cursor

    def list_operators(self, cursor: str | None) -> dict[str, Any]:
        items, nxt = self.page(list(self.operators.values()), "operator", cursor)
        return {"operators": copy.deepcopy(items), "meta": {"cursor": nxt, "limit": self.page_size}}

    def list_properties(self, cursor: str | None) -> dict[str, Any]:
        items = [dict(p, id=p["name"]) for p in self.properties.values()]
        page, nxt = self.page(items, "property", cursor)
        return {"properties": [{k: v for k, v in p.items() if k != "id"} for p in page],
                "meta": {"cursor": nxt, "limit": self.page_size}}

    # -- contacts ---------------------------------------------------------------------------------

    def _contact_out(self, contact: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in contact.items() if not k.startswith("_")}
        out["properties"] = [{"name": n, "value": v} for n, v in contact["_properties"].items()]
        return out

    def _check_contact(self, body: Any, path: str, *, create: bool) -> list[str]:
        if not isinstance(body, dict):
            return [f"{path or 'body'}: must be an object"]
        errors = []
        p = f"{path}." if path else ""
        for key in body:
            if key not in CONTACT_FIELDS and not (key == "id" and not create):
                errors.append(f"{p}{key}: is not a contact property")
        if create or "distinct_id" in body:
            did = body.get("distinct_id")
            if create and (not isinstance(did, str) or not did.strip()):
                errors.append(f"{p}distinct_id: is required")
            elif did is not None and (not isinstance(did, str) or len(did) > 55):
                errors.append(f"{p}distinct_id: must be a string of at most 55 characters")
        if body.get("email") is not None and not _valid_email(body["email"]):
            errors.append(f"{p}email: must be a valid email address")
        if body.get("phone") is not None and (not isinstance(body["phone"], str) or not PHONE_RE.match(body["phone"])):
            errors.append(f"{p}phone: must be a phone number of at most 155 characters")
        for name_field in ("first_name", "last_name", "city"):
            v = body.get(name_field)
            if v is not None and (not isinstance(v, str) or len(v) > 127):
                errors.append(f"{p}{name_field}: must be a string of at most 127 characters")
        if body.get("email_consent") not in (None, "subscribed", "unsubscribed"):
            errors.append(f"{p}email_consent: must be subscribed or unsubscribed")
        if body.get("language") is not None and not re.fullmatch(r"[a-z]{2}", str(body["language"])):
            errors.append(f"{p}language: must be ISO 639-1, lowercase")
        if body.get("country") is not None and not re.fullmatch(r"[A-Z]{2}", str(body["country"])):
            errors.append(f"{p}country: must be ISO 3166 alpha-2, uppercase")
        if self.refuse_matching and any(self.refuse_matching in str(body.get(k) or "")
                                        for k in ("email", "first_name", "last_name")):
            errors.append(f"{p}email: refused by a rule of this project (injected fault)")
        if create and not any(body.get(k) for k in ("email", "first_name", "last_name", "phone")):
            errors.append(f"{path or 'contact'}: at least one of email, first_name, last_name or phone is required")
        props = body.get("properties")
        if props is not None:
            if not isinstance(props, list):
                errors.append(f"{p}properties: must be a list of {{name, value}}")
            else:
                for i, prop in enumerate(props):
                    where = f"{p}properties[{i}]"
                    if not isinstance(prop, dict) or "name" not in prop:
                        errors.append(f"{where}: must be {{name, value}}")
                        continue
                    definition = self.properties.get(prop["name"])
                    if definition is None:
                        errors.append(f"{where}.name: property {prop['name']!r} is not defined in this project")
                        continue
                    problem = _property_error(definition["type"], prop.get("value"))
                    if problem:
                        errors.append(f"{where}.value: {prop['name']} ({definition['type']}) {problem}")
        return errors

    def _apply_contact(self, contact: dict[str, Any], body: dict[str, Any]) -> None:
        # PATCH semantics (official): null clears, an absent key stays untouched.
        for key in ("distinct_id", "email", "phone", "first_name", "last_name", "email_consent", "language",
                    "country", "city"):
            if key in body:
                contact[key] = body[key]
        for prop in body.get("properties") or []:
            if prop.get("value") is None:
                contact["_properties"].pop(prop["name"], None)
            else:
                contact["_properties"][prop["name"]] = _as_string(prop["value"])  # values come back as strings

    def _insert_contact(self, body: dict[str, Any]) -> dict[str, Any]:
        contact = {"id": self.new_uuid(), "distinct_id": None, "first_name": None, "last_name": None,
                   "email": None, "phone": None, "language": None, "country": None, "city": None,
                   "messenger_id": None, "instagram_id": None, "created_at": now_iso(), "email_consent": None,
                   "_properties": {}}
        self._apply_contact(contact, body)
        self.contacts[contact["id"]] = contact
        self._remember("contact:" + contact["id"])
        return contact

    def create_contact(self, body: Any) -> dict[str, Any]:
        errors = self._check_contact(body, "", create=True)
        if errors:
            raise validation(errors)
        return {"id": self._insert_contact(body)["id"]}  # always inserts: no dedup on email or distinct_id

    def create_contacts_batch(self, body: Any) -> dict[str, Any]:
        items = self._batch_items(body)
        errors = [e for i, item in enumerate(items) for e in self._check_contact(item, f"contacts[{i}]", create=True)]
        if errors:
            raise validation(errors)  # all or nothing: nothing was written
        created = [self._contact_out(self._insert_contact(item)) for item in items]
        if "batch-ids-only" in self.profiles:
            # W6W's recorded fixture: {id, email, messenger_id, instagram_id}, no distinct_id; order not promised.
            created = [{"id": c["id"], "email": c["email"], "messenger_id": None, "instagram_id": None}
                       for c in created]
            self.rng.shuffle(created)
        # Emulator choice (reference 8.2): the created contacts, in input order.
        return {"contacts": created}

    @property
    def batch_create_status(self) -> int:
        return 201 if "batch-201" in self.profiles else 200

    def _batch_items(self, body: Any) -> list[Any]:
        items = body.get("contacts") if isinstance(body, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= 100:
            raise validation(["contacts: must be a list of 1 to 100 contacts"])
        return items

    def get_contact(self, contact_id: str) -> dict[str, Any]:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise ApiError(404, "not_found", "Contact not found")
        return self._contact_out(contact)

    def list_contacts(self, cursor: str | None, email: str | None) -> dict[str, Any]:
        items = list(self.contacts.values())
        if email is not None:
            if not _valid_email(email):
                raise validation(["email: must be a full, valid email address"])
            items = [c for c in items if c["email"] == email]  # exact match, no wildcards
        page, nxt = self.page(items, "contact", cursor)
        return {"contacts": [self._contact_out(c) for c in page], "meta": {"cursor": nxt, "limit": self.page_size}}

    def patch_contact(self, contact_id: str, body: Any) -> None:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise ApiError(404, "not_found", "Contact not found")
        errors = self._check_contact(body, "", create=False)
        if isinstance(body, dict) and "id" in body:
            errors.append("id: is not a contact property")
        if errors:
            raise validation(errors)
        self._apply_contact(contact, body)

    def patch_contacts_batch(self, body: Any) -> None:
        items = self._batch_items(body)
        errors = []
        for i, item in enumerate(items):
            errors += self._check_contact(item, f"contacts[{i}]", create=False)
            if isinstance(item, dict) and item.get("id") not in self.contacts:
                errors.append(f"contacts[{i}].id: no contact with this id")
        if errors:
            raise validation(errors)
        for item in items:
            self._apply_contact(self.contacts[item["id"]], {k: v for k, v in item.items() if k != "id"})

    def delete_contact(self, contact_id: str) -> None:
        if self.contacts.pop(contact_id, None) is None:
            raise ApiError(404, "not_found", "Contact not found")
        self.deleted["contacts"].append(contact_id)

    def contact_messages(self, contact_id: str, cursor: str | None) -> dict[str, Any]:
        if contact_id not in self.contacts:
            raise ApiError(404, "not_found", "Contact not found")
        return {"messages": [], "meta": {"cursor": None, "limit": self.page_size}, "conversation_url": None}

    def message_as_contact(self, contact_id: str, body: Any) -> None:
        if contact_id not in self.contacts:
            raise ApiError(404, "not_found", "Contact not found")
        text = body.get("message") if isinstance(body, dict) else None
        if not isinstance(text, str) or not 1 <= len(text) <= 5000:
            raise validation(["message: must be 1 to 5000 characters"])
        # Recorded because it fires bots and AI agents in real Tidio: tests assert the migrator never calls it.
        self.bot_messages.append({"contact_id": contact_id, "message": text, "at": now_iso()})

    # -- tickets ----------------------------------------------------------------------------------

    def _ticket_out(self, ticket: dict[str, Any], *, with_messages: bool) -> dict[str, Any]:
        hidden = {"messages"}
        if "ticket-without-tags" in self.profiles:
            hidden |= {"tag_ids", "custom_fields"}  # the documented ticket shape has neither
        out = copy.deepcopy({k: v for k, v in ticket.items() if k not in hidden})
        if with_messages:
            out["messages"] = copy.deepcopy(ticket["messages"])
        return out

    def _check_tags(self, tag_ids: Any, path: str) -> list[str]:
        if not isinstance(tag_ids, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in tag_ids):
            return [f"{path}: must be a list of tag ids (integers)"]
        return [f"{path}: tag {t} does not exist" for t in tag_ids if t not in self.tags]

    def _check_custom_fields(self, values: Any, path: str) -> list[str]:
        if not isinstance(values, list):
            return [f"{path}: must be a list of {{id, value}}"]
        errors = []
        for i, item in enumerate(values):
            if not isinstance(item, dict) or item.get("id") not in self.ticket_fields:
                errors.append(f"{path}[{i}].id: no ticket custom field with this id")
        return errors

    def create_ticket(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise validation(["body: must be an object"])
        allowed = TICKET_CREATE_FIELDS | (TICKET_STATE_FIELDS if "create-sets-state" in self.profiles else set())
        if "create-ignores-unknown" in self.profiles:
            body = {k: v for k, v in body.items() if k in allowed}
        errors = [f"{k}: unknown field" for k in body if k not in allowed]
        errors += self._check_state(body)
        if not _valid_email(body.get("contact_email")):
            errors.append("contact_email: is required and must be a valid email address")
        for key in ("subject", "message_content"):
            if not isinstance(body.get(key), str) or not body[key].strip():
                errors.append(f"{key}: is required")
        dep_id = body.get("assigned_department_id")
        if dep_id is not None and dep_id not in self.departments:
            errors.append("assigned_department_id: no department with this id")
        if body.get("tag_ids") is not None:
            errors += self._check_tags(body["tag_ids"], "tag_ids")
        if body.get("custom_fields") is not None:
            errors += self._check_custom_fields(body["custom_fields"], "custom_fields")
        if errors:
            raise validation(errors)
        subject = body["subject"]
        if "subject-limit" in self.profiles:
            subject = subject[:SUBJECT_LIMIT]
        email = body["contact_email"]
        # Assumption (reference 8.5): the ticket goes to the oldest contact with this exact email, or a new one.
        contact = next((c for c in self.contacts.values() if c["email"] == email), None)
        if contact is None:
            contact = self._insert_contact({"email": email})
        ticket_id = self._next_ticket
        self._next_ticket += 1
        ticket = {
            "id": ticket_id, "link": f"https://www.tidio.com/panel/inbox/tickets/{ticket_id}",
            "subject": subject, "contact_id": contact["id"], "contact_email": email,
            "priority": "normal", "status": "open", "assigned_operator_id": None,
            "assigned_department_id": dep_id or self.general_department["id"],
            "custom_channel_id": body.get("custom_channel_id"), "tag_ids": list(body.get("tag_ids") or []),
            "custom_fields": {f["id"]: f.get("value") for f in body.get("custom_fields") or []},
            "messages": [{
                "message_id": self.new_ulid(), "created_at": now_iso(), "author_type": "contact",
                "author_id": contact["id"], "message_type": "public", "message_content": body["message_content"],
                "attachments": [],
            }],
        }
        self._apply_state(ticket, body)
        self.tickets[ticket_id] = ticket
        self._remember(f"ticket:{ticket_id}")
        return {"id": ticket_id}

    def _ticket(self, ticket_id: str) -> dict[str, Any]:
        try:
            ticket = self.tickets.get(int(ticket_id))
        except ValueError:
            ticket = None
        if ticket is None:
            raise ApiError(404, "not_found", "Ticket not found")
        return ticket

    def get_ticket(self, ticket_id: str) -> dict[str, Any]:
        return self._ticket_out(self._ticket(ticket_id), with_messages=True)

    def list_tickets(self, cursor: str | None) -> dict[str, Any]:
        page, nxt = self.page(list(self.tickets.values()), "ticket", cursor)
        return {"tickets": [self._ticket_out(t, with_messages=False) for t in page],
                "meta": {"cursor": nxt, "limit": self.page_size}}

    def patch_ticket(self, ticket_id: str, body: Any) -> None:
        ticket = self._ticket(ticket_id)
        if not isinstance(body, dict):
            raise validation(["body: must be an object"])
        errors = [f"{k}: unknown field" for k in body if k not in TICKET_PATCH_FIELDS]
        errors += self._check_state(body)
        if "tag_ids" in body:
            errors += self._check_tags(body["tag_ids"], "tag_ids")
        if "custom_fields" in body:
            errors += self._check_custom_fields(body["custom_fields"], "custom_fields")
        if errors:
            raise validation(errors)
        self._apply_state(ticket, body)
        if "tag_ids" in body:
            ticket["tag_ids"] = list(body["tag_ids"])  # replaces the whole set
        for item in body.get("custom_fields") or []:  # merges; null removes
            if item.get("value") is None:
                ticket["custom_fields"].pop(item["id"], None)
            else:
                ticket["custom_fields"][item["id"]] = item["value"]

    def _check_state(self, body: dict[str, Any]) -> list[str]:
        errors = []
        if "status" in body and body["status"] not in STATUSES:
            errors.append("status: must be one of open, pending, solved")
        if "priority" in body and body["priority"] not in PRIORITIES:
            errors.append("priority: must be one of low, normal, urgent")
        if "assigned" in body and body["assigned"] is not None:
            a = body["assigned"]
            if not isinstance(a, dict) or a.get("type") not in ("operator", "department"):
                errors.append("assigned.type: must be operator or department")
            elif a["type"] == "operator" and a.get("id") not in self.operators:
                errors.append("assigned.id: no operator with this id")
            elif a["type"] == "department" and a.get("id") not in self.departments:
                errors.append("assigned.id: no department with this id")
        return errors

    @staticmethod
    def _apply_state(ticket: dict[str, Any], body: dict[str, Any]) -> None:
        for key in ("status", "priority"):
            if key in body:
                ticket[key] = body[key]
        if "assigned" in body:
            a = body["assigned"]
            if a is None:
                ticket["assigned_operator_id"] = None
            elif a["type"] == "operator":
                ticket["assigned_operator_id"] = a["id"]
            else:
                ticket["assigned_department_id"] = a["id"]

    def delete_ticket(self, ticket_id: str) -> None:
        ticket = self._ticket(ticket_id)
        del self.tickets[ticket["id"]]
        self.deleted["tickets"].append(str(ticket["id"]))

    def reply(self, ticket_id: str, body: Any) -> dict[str, Any]:
        ticket = self._ticket(ticket_id)
        if not isinstance(body, dict):
            raise validation(["body: must be an object"])
        errors = [f"{k}: unknown field" for k in body if k not in REPLY_FIELDS]
        author = body.get("author_type")
        kind = body.get("message_type", "public")  # emulator choice: an unspecified reply is public
        if author not in ("operator", "contact"):
            errors.append("author_type: must be operator or contact")
        if kind not in ("public", "internal"):
            errors.append("message_type: must be public or internal")
        if not isinstance(body.get("content"), str) or not body["content"].strip():
            errors.append("content: is required")
        if author == "operator" and body.get("operator_id") not in self.operators:
            errors.append("operator_id: is required for operator replies and must be an operator of this project")
        if author == "contact" and kind == "internal":
            errors.append("message_type: internal notes are written by operators")  # emulator choice
        if errors:
            raise validation(errors)
        message = {
            "message_id": self.new_ulid(), "created_at": now_iso(), "author_type": author,
            "author_id": body.get("operator_id") if author == "operator" else ticket["contact_id"],
            "message_type": kind, "message_content": body["content"], "attachments": list(body.get("attachments") or []),
        }
        ticket["messages"].append(message)
        if author == "operator" and kind == "public":
            # Real Tidio emails a public operator reply to the customer: the bookkeeping tests assert on.
            self.emailed.append({"ticket_id": ticket["id"], "message_id": message["message_id"],
                                 "to": ticket["contact_email"], "operator_id": body["operator_id"],
                                 "excerpt": body["content"][:200], "at": message["created_at"]})
        return {"id": message["message_id"]}

    # -- inspection for tests ---------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        messages = [m for t in self.tickets.values() for m in t["messages"]]
        return {
            "operators": len(self.operators), "departments": len(self.departments), "tags": len(self.tags),
            "properties": len(self.properties), "contacts": len(self.contacts), "tickets": len(self.tickets),
            "messages": len(messages),
            "internal_notes": sum(1 for m in messages if m["message_type"] == "internal"),
            "public_operator_replies": sum(1 for m in messages if m["message_type"] == "public"
                                           and m["author_type"] == "operator"),
            "emailed": len(self.emailed), "bot_messages": len(self.bot_messages),
        }

    def dump(self) -> dict[str, Any]:
        return copy.deepcopy({
            "project_id": self.project_id,
            "operators": list(self.operators.values()),
            "departments": list(self.departments.values()),
            "properties": list(self.properties.values()),
            "tags": list(self.tags.values()),
            "ticket_custom_fields": list(self.ticket_fields.values()),
            "contacts": [self._contact_out(c) for c in self.contacts.values()],
            "tickets": [self._ticket_out(t, with_messages=True) for t in self.tickets.values()],
            "emailed": self.emailed,
            "bot_messages": self.bot_messages,
            "deleted": self.deleted,
            "requests": self.requests,
        })


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """What changed between two ``dump()`` snapshots: ids created, deleted and changed per collection."""
    out: dict[str, dict[str, list[str]]] = {}
    for key in ("contacts", "tickets", "operators", "departments", "tags", "properties"):
        id_of = "name" if key == "properties" else "id"
        b = {str(x[id_of]): x for x in before.get(key, [])}
        a = {str(x[id_of]): x for x in after.get(key, [])}
        out[key] = {
            "created": sorted(set(a) - set(b)),
            "deleted": sorted(set(b) - set(a)),
            "changed": sorted(k for k in set(a) & set(b) if a[k] != b[k]),
        }
    return out
