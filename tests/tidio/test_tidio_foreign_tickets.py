"""A ticket the migration did not write is never taken for one it did: the marker's label must be this source's.

A customer's own ticket whose subject starts "[Ticket #v1] ..." (or another source's "[Zendesk #v1]") used to be
adopted as Trengo conversation v1: the load rewrote its status and notes, and a rollback deleted it."""

from __future__ import annotations

import requests

from migration_assets.factory import Pair
from migration_assets.rollback import rollback_pair
from tests.tidio.dirty_workspace import PRE_EXISTING_EMAIL
from tests.tidio.test_tidio_lifecycle import StubSource


def _customer_ticket(emu, subject: str) -> int:
    headers = {"X-Tidio-Openapi-Client-Id": emu.client_id, "X-Tidio-Openapi-Client-Secret": emu.client_secret,
               "Accept": "application/json; version=1"}
    r = requests.post(emu.url + "/tickets/as-contact", headers=headers, timeout=5,
                      json={"contact_email": PRE_EXISTING_EMAIL, "subject": subject,
                            "message_content": "hello, customer text"})
    assert r.status_code in (200, 201), r.text
    return int(r.json()["id"])


def _ticket(emu, ticket_id: int) -> dict | None:
    return next((t for t in emu.dump()["tickets"] if t["id"] == ticket_id), None)


def test_a_customer_ticket_with_a_bracketed_subject_is_neither_adopted_nor_rolled_back(harness):
    emu = harness.start()
    foreign = [_customer_ticket(emu, "[Ticket #v1] my order never arrived"),
               _customer_ticket(emu, "[Zendesk #v1] a ticket of another source")]
    before = [dict(_ticket(emu, t)) for t in foreign]
    harness.load()
    entries = harness.entries("conversations")
    assert entries["v1"]["destination_id"] not in {str(t) for t in foreign}
    assert [len(_ticket(emu, t)["messages"]) for t in foreign] == [len(b["messages"]) for b in before]
    rollback_pair(harness.store, Pair(StubSource(), harness.plugin))
    assert all(_ticket(emu, t) is not None for t in foreign), "a rollback deleted a ticket the migration never wrote"
