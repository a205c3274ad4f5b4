"""What already exists in the Tidio project, read once per connection and kept current as the plugin writes.

Operators, departments, tags and contact-property definitions are read-only through the API: they are
matched, never created. Contacts and tickets are indexed by the markers the migration writes (see
content.py) so that nothing is created twice, even after a crash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .client import TidioClient, TidioNotFound
from .content import note_key, ticket_key, ticket_label

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def norm(value: Any) -> str:
    """Names and emails as people retype them: case and runs of whitespace do not matter."""
    return " ".join(str(value or "").split()).casefold()


class ContactIndex:
    """Tidio contacts by id, email (case-insensitive) and distinct_id."""

    def __init__(self) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self.by_email: dict[str, list[dict[str, Any]]] = {}
        self.by_distinct: dict[str, list[dict[str, Any]]] = {}

    def add(self, contact: dict[str, Any]) -> None:
        old = self.by_id.get(contact["id"])
        if old is not None:
            self.remove(contact["id"])
        self.by_id[contact["id"]] = contact
        if contact.get("email"):
            self.by_email.setdefault(norm(contact["email"]), []).append(contact)
        if contact.get("distinct_id"):
            self.by_distinct.setdefault(contact["distinct_id"], []).append(contact)

    def remove(self, contact_id: str) -> None:
        contact = self.by_id.pop(contact_id, None)
        if contact is None:
            return
        for index, key in ((self.by_email, norm(contact.get("email"))), (self.by_distinct, contact.get("distinct_id"))):
            if key in index:
                index[key] = [c for c in index[key] if c["id"] != contact_id]


class TidioDirectory:
    def __init__(self, client: TidioClient, *, contact_lookup: str = "list"):
        self.client = client
        self.contact_lookup = contact_lookup
        self._operators: list[dict[str, Any]] | None = None
        self._departments: list[dict[str, Any]] | None = None
        self._tags: list[dict[str, Any]] | None = None
        self._properties: list[dict[str, Any]] | None = None
        self._ticket_fields: list[dict[str, Any]] | None = None
        self._contacts: ContactIndex | None = None
        self._tickets: dict[tuple[str, str], dict[str, Any]] | None = None
        self._ticket_notes: dict[int, dict[tuple[str, str, int], str]] = {}

    # -- read-only fixtures -----------------------------------------------------------------------

    @property
    def operators(self) -> list[dict[str, Any]]:
        if self._operators is None:
            self._operators = self.client.operators()
        return self._operators

    @property
    def departments(self) -> list[dict[str, Any]]:
        if self._departments is None:
            self._departments = self.client.departments()
        return self._departments

    @property
    def tags(self) -> list[dict[str, Any]]:
        if self._tags is None:
            self._tags = self.client.ticket_tags()
        return self._tags

    @property
    def properties(self) -> list[dict[str, Any]]:
        if self._properties is None:
            self._properties = self.client.contact_properties()
        return self._properties

    @property
    def ticket_fields(self) -> list[dict[str, Any]]:
        if self._ticket_fields is None:
            self._ticket_fields = self.client.ticket_custom_fields()
        return self._ticket_fields

    def operator(self, ref: str | None) -> dict[str, Any] | None:
        """An operator by UUID or email (for configured fallbacks)."""
        if not ref:
            return None
        for op in self.operators:
            if op["id"] == ref or norm(op.get("email")) == norm(ref):
                return op
        return None

    def operators_by_email(self, email: str | None) -> list[dict[str, Any]]:
        return [op for op in self.operators if email and norm(op.get("email")) == norm(email)]

    def operators_by_name(self, name: str | None) -> list[dict[str, Any]]:
        return [op for op in self.operators if name and norm(op.get("name")) == norm(name)]

    def department(self, ref: str | None) -> dict[str, Any] | None:
        if not ref:
            return None
        for dep in self.departments:
            if dep["id"] == ref:
                return dep
        matches = [d for d in self.departments if norm(d.get("name")) == norm(ref)]
        return matches[0] if matches else None

    def departments_by_name(self, name: str | None) -> list[dict[str, Any]]:
        return [d for d in self.departments if name and norm(d.get("name")) == norm(name)]

    def tag(self, name: str | None) -> dict[str, Any] | None:
        matches = [t for t in self.tags if name and norm(t.get("name")) == norm(name)]
        return matches[0] if matches else None

    def property_named(self, name: str) -> dict[str, Any] | None:
        for prop in self.properties:
            if prop["name"] == name:
                return prop
        matches = [p for p in self.properties if norm(p["name"]) == norm(name) or norm(p.get("label")) == norm(name)]
        return matches[0] if len(matches) == 1 else None

    def ticket_field(self, name: str) -> dict[str, Any] | None:
        def loose(value: Any) -> str:  # "order_ref" and "Order ref" are the same field to a person
            return norm(re.sub(r"[_-]+", " ", str(value or "")))

        matches = [f for f in self.ticket_fields if loose(f.get("name")) == loose(name)]
        return matches[0] if matches else None

    def history_operator(self, configured: str | None, fallback: str | None) -> dict[str, Any] | None:
        """Who posts notes whose author is not a matched operator: configured, else fallback, else the owner."""
        for ref in (configured, fallback):
            op = self.operator(ref)
            if op:
                return op
        owners = [op for op in self.operators if op.get("role") == "owner" and op.get("active", True)]
        active = [op for op in self.operators if op.get("active", True)]
        return (owners or active or [None])[0]

    # -- contacts ---------------------------------------------------------------------------------

    @property
    def contacts(self) -> ContactIndex:
        if self._contacts is None:
            self._contacts = ContactIndex()
            if self.contact_lookup == "list":
                for contact in self.client.paginate("/contacts", "contacts"):
                    self._contacts.add(contact)
        return self._contacts

    def refresh_contacts(self) -> None:
        self._contacts = None

    def find_contacts(self, *, distinct: str | None, email: str | None) -> tuple[dict[str, Any] | None, str]:
        """(contact, how): by our distinct_id first (a crash orphan is ours), then by email."""
        index = self.contacts
        if self.contact_lookup == "email" and email:
            for variant in dict.fromkeys((email, email.lower())):
                for contact in self.client.paginate("/contacts", "contacts", email=variant):
                    index.add(contact)
        if distinct and index.by_distinct.get(distinct):
            return index.by_distinct[distinct][0], "distinct_id"
        if email and index.by_email.get(norm(email)):
            mine = [c for c in index.by_email[norm(email)] if c.get("distinct_id") == distinct]
            return (mine or index.by_email[norm(email)])[0], "email"
        return None, ""

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        index = self.contacts
        if contact_id in index.by_id:
            return index.by_id[contact_id]
        try:
            contact = self.client.get(f"/contacts/{contact_id}")
        except TidioNotFound:
            return None
        index.add(contact)
        return contact

    def contacts_by_id(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        out = {}
        for contact_id in dict.fromkeys(ids):
            contact = self.contact(contact_id)
            if contact is not None:
                out[contact_id] = contact
        return out

    # -- tickets ----------------------------------------------------------------------------------

    @property
    def tickets(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """The migration's tickets by (source label, kind, id) from their marker: one listing per connection
        (cheap next to creating them). The label is part of the key: a customer's own "[Ticket #99] ..." or
        another source's "[Otherdesk #99]" is never taken for this source's conversation 99."""
        if self._tickets is None:
            self._tickets = {}
            for ticket in self.client.paginate("/tickets", "tickets"):
                key, marker_label = ticket_key(ticket.get("subject")), ticket_label(ticket.get("subject"))
                if key and marker_label and (marker_label, *key) not in self._tickets:
                    ticket["_label"] = marker_label
                    self._tickets[(marker_label, *key)] = ticket
        return self._tickets

    def refresh_tickets(self) -> None:
        self._tickets = None

    def remember_ticket(self, key: tuple[str, str, str], ticket: dict[str, Any], *, fresh: bool) -> None:
        ticket.setdefault("_label", key[0])
        self.tickets[key] = ticket
        if fresh:
            self._ticket_notes[int(ticket["id"])] = {}  # just created: no notes to look for

    def ticket_notes(self, ticket_id: int, *, reload: bool = False) -> dict[tuple[str, str, int], str]:
        """Notes the migration already wrote on a ticket, by marker -> Tidio message id."""
        if reload or ticket_id not in self._ticket_notes:
            ticket = self.client.get(f"/tickets/{ticket_id}") or {}
            found: dict[tuple[str, str, int], str] = {}
            for message in ticket.get("messages") or []:
                key = note_key(message.get("message_content"))
                if key:
                    found.setdefault(key, str(message.get("message_id")))
            self._ticket_notes[ticket_id] = found
        return self._ticket_notes[ticket_id]

    def has_listed_notes(self, ticket_id: int) -> bool:
        """Whether this ticket's notes were read (or it was created here): looking in them costs nothing."""
        return ticket_id in self._ticket_notes

    def remember_note(self, ticket_id: int, key: tuple[str, str, int], message_id: str) -> None:
        if ticket_id in self._ticket_notes:  # only a complete listing is kept: a partial one would hide notes
            self._ticket_notes[ticket_id][key] = message_id
