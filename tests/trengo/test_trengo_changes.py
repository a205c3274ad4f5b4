"""What the Trengo mapping changed on a record's way, as the report will list it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from helpdesk_migrate.plugins.trengo.changes import (
    contact_changes,
    every_record_changes,
    message_changes,
    ticket_changes,
)
from helpdesk_migrate.plugins.trengo.mapping import Lookups, map_contact, map_message, map_ticket

AMS = ZoneInfo("Europe/Amsterdam")
LOOKUPS = Lookups.build([], [])


def rules(changes) -> list[str]:
    return [c.rule for c in changes]


def test_a_trimmed_email_and_replaced_bytes_are_changes_a_clean_contact_has_none():
    raw = {"id": 1, "name": "M\ufffdller", "email": " Jan.Smit@Example.COM "}
    changes = contact_changes(raw, map_contact(raw, LOOKUPS, AMS))
    assert rules(changes) == ["email-trimmed", "invalid-bytes-replaced"]
    assert "' Jan.Smit@Example.COM '" in changes[0].detail and "'Jan.Smit@Example.COM'" in changes[0].detail
    clean = {"id": 2, "name": "Jan Smit", "email": "jan@example.com"}
    assert contact_changes(clean, map_contact(clean, LOOKUPS, AMS)) == []


def test_dst_edge_times_and_an_unknown_status_are_changes():
    gap = {"id": 3, "status": "SNOOZED", "created_at": "2024-03-31 02:30:00"}
    changes = ticket_changes(gap, map_ticket(gap, LOOKUPS, AMS), AMS)
    assert rules(changes) == ["status-fallback", "time-in-dst-gap"]
    assert "'SNOOZED'" in changes[0].detail and "2024-03-31T01:30:00+00:00" in changes[1].detail
    twice = {"id": 4, "status": "OPEN", "created_at": "2024-10-27 02:30:00"}
    assert rules(ticket_changes(twice, map_ticket(twice, LOOKUPS, AMS), AMS)) == ["time-ambiguous"]
    plain = {"id": 5, "status": "CLOSED", "created_at": "2024-06-01 12:00:00"}
    assert ticket_changes(plain, map_ticket(plain, LOOKUPS, AMS), AMS) == []


def test_active_html_left_out_of_the_text_body_is_a_change():
    ticket = {"id": "9", "contact_id": "1"}
    raw = {"id": 10, "type": "INBOUND", "body_type": "EMAIL", "created_at": "2024-06-01 12:00:00",
           "message": "<p>Hello</p><script>alert(1)</script>"}
    record, _ = map_message(raw, ticket, 1, AMS)
    assert rules(message_changes(raw, record, AMS)) == ["active-content-dropped"]
    plain = {"id": 11, "type": "INBOUND", "created_at": "2024-06-01 12:00:00", "message": "Hello"}
    record, _ = map_message(plain, ticket, 2, AMS)
    assert message_changes(plain, record, AMS) == []


def test_the_zone_conversion_is_one_change_for_every_record():
    (change,) = every_record_changes(AMS)
    assert change.rule == "times-converted-to-utc" and "Europe/Amsterdam" in change.detail
