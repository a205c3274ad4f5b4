"""Pure mapping rules: time zones, file names, system events, custom fields."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from helpdesk_migrate.plugins.trengo.mapping import (
    BadTimestamp,
    Lookups,
    map_contact,
    map_custom_field,
    map_message,
    map_thread,
    map_user,
    map_webhook,
    safe_file_name,
    to_utc,
)
from migration_assets.hookspecs import Rejected

AMS = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize("value, expected", [
    ("2021-12-06 12:09:14", "2021-12-06T11:09:14+00:00"),  # winter: +01:00
    ("2023-10-13 15:32:42", "2023-10-13T13:32:42+00:00"),  # summer: +02:00
    ("2024-01-02T10:24:40.000000Z", "2024-01-02T10:24:40+00:00"),  # raw-model UTC
    ("2025-03-30 02:30:00", "2025-03-30T01:30:00+00:00"),  # does not exist locally: offset before the change
    ("2024-10-27 02:30:00", "2024-10-27T00:30:00+00:00"),  # happens twice: the first (summer) one
    (1704968904, "2024-01-11T10:28:24+00:00"),  # created_at_time: epoch seconds
    (None, None), ("", None),
])
def test_timestamps_become_utc(value, expected):
    assert to_utc(value, AMS) == expected


def test_the_timezone_setting_is_honoured():
    assert to_utc("2021-12-06 12:09:14", ZoneInfo("UTC")) == "2021-12-06T12:09:14+00:00"


@pytest.mark.parametrize("value", ["0000-00-00 00:00:00", "yesterday", "2024-13-45 99:00:00"])
def test_non_times_are_refused(value):
    with pytest.raises(BadTimestamp):
        to_utc(value, AMS)


@pytest.mark.parametrize("name", ["../../etc/passwd", "..", "con.txt", "a/b\\c.pdf", "Überweisung (1) ✓.pdf",
                                  "x" * 500, "", ".bashrc"])
def test_file_names_never_leave_their_directory(name):
    safe = safe_file_name("123", name)
    assert "/" not in safe and "\\" not in safe and not safe.startswith(".") and ".." not in safe.split("-", 1)[0]
    assert safe.startswith("123-") and len(safe) <= 170


def test_a_system_event_is_kept_as_a_note_by_the_system():
    raw = {"id": 1, "type": "SYSTEM", "body_type": "TEXT", "message": "Label VIP toegevoegd door Ann",
           "created_at": "2024-05-01 10:00:00", "user_id": None}
    record, refs = map_message(raw, {"id": "9", "contact_id": "5"}, 1, AMS)
    assert record["kind"] == "note" and record["author_type"] == "system" and refs == []


def test_an_inbound_message_is_written_by_the_ticket_contact_when_the_message_has_none():
    raw = {"id": 2, "type": "INBOUND", "message": "hoi", "created_at": "2024-05-01 10:00:00", "contact": None}
    record, _ = map_message(raw, {"id": "9", "contact_id": "5"}, 1, AMS)
    assert record["author_type"] == "contact" and record["author_id"] == "5" and "body_html" not in record


def test_a_user_without_email_is_rejected_with_a_reason():
    out = map_user({"id": 4, "email": " ", "status": "ACTIVE"}, AMS)
    assert isinstance(out, Rejected) and "no email" in out.reason and out.fix


def test_contact_custom_fields_are_keyed_by_identifier_from_either_shape():
    fields = [{"id": 609825, "title": "Customer number", "identifier": "customer-number", "type": "CONTACT"}]
    lookups = Lookups.build(fields, [])
    by_id = map_contact({"id": 1, "custom_field_values": [{"custom_field_id": 609825, "field_name": "Customer number",
                                                           "value": "K-1"}]}, lookups, AMS)
    by_title = map_contact({"id": 1, "custom_field_data": {"Customer number": "K-1", "Gone field": None}}, lookups, AMS)
    assert by_id["custom_fields"] == by_title["custom_fields"] == {"customer-number": "K-1"}


def test_unknown_field_entities_are_rejected_and_unknown_types_stay_text():
    assert isinstance(map_custom_field({"id": 1, "title": "x", "type": "DEAL"}), Rejected)
    field = map_custom_field({"id": 1, "title": "x", "type": "TICKET", "field_type": "HOLOGRAM"})
    assert field["data_type"] == "text" and field["entity"] == "conversation"


def test_webhook_signing_secrets_never_leave_trengo():
    record = map_webhook({"id": 7, "title": "W", "url": "https://x", "type": "INBOUND", "signing_secret": "s3cr3t"})
    assert "s3cr3t" not in repr(record)


def test_a_thread_is_ordered_by_utc_time_then_id_and_numbered_without_rejects_or_repeats():
    raws = [  # ids do not follow time here; local times (summer: +02:00) and UTC ones are mixed
        {"id": 7, "type": "INBOUND", "message": "third", "created_at": "2024-05-01T08:30:00Z"},  # 10:30 local
        {"id": 30, "type": "INBOUND", "message": "second", "created_at": "2024-05-01 10:00:00"},
        {"id": 21, "type": "INBOUND", "message": "first", "created_at": "2024-05-01 10:00:00"},
        {"id": 5, "type": "INBOUND", "message": "no time", "created_at": "0000-00-00 00:00:00"},
        {"id": 30, "type": "INBOUND", "message": "second, read twice", "created_at": "2024-05-01 10:00:00"},
    ]
    records, rejected, _ = map_thread(raws, {"id": "9", "contact_id": "5"}, AMS)
    assert [(r["id"], r["sequence"], r["body_text"]) for r in records] == [
        ("21", 1, "first"), ("30", 2, "second"), ("7", 3, "third")]
    assert records[0]["created_at"] == "2024-05-01T08:00:00+00:00"
    assert [(r.source_id, r.rule) for r in rejected] == [("5", "message-created-at")]
    assert "zero date" in rejected[0].reason


def test_a_local_time_out_of_range_in_utc_is_refused():
    with pytest.raises(BadTimestamp):
        to_utc("9999-12-31 23:59:59", ZoneInfo("America/Los_Angeles"))
