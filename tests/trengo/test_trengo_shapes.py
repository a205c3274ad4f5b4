"""Tolerant shapes, the created_at fallback, the zone measurement and the shape audit, payload by payload."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from helpdesk_migrate.plugins.trengo.audit import PAYLOAD_KEYS, tally
from helpdesk_migrate.plugins.trengo.changes import ticket_changes
from helpdesk_migrate.plugins.trengo.mapping import (
    Lookups,
    email_addresses,
    help_center_locales,
    map_article,
    map_message,
    map_team,
    map_ticket,
)
from helpdesk_migrate.plugins.trengo.source import OBJECTS
from helpdesk_migrate.plugins.trengo.zones import ZoneEvidence, zone_finding
from migration_assets.hookspecs import Rejected

AMS = ZoneInfo("Europe/Amsterdam")
TICKET = {"id": "1", "contact_id": "9"}


@pytest.mark.parametrize("value, expected", [
    ("a@x.nl", ["a@x.nl"]),
    ("a@x.nl, B <b@y.nl>; c@z.nl", ["a@x.nl", "b@y.nl", "c@z.nl"]),
    ('"Doe, J" <j@x.nl>', ["j@x.nl"]),
    (["a@x.nl", "Bee <b@y.nl>"], ["a@x.nl", "b@y.nl"]),
    ([{"email": "a@x.nl", "name": "A"}, {"address": "b@y.nl"}, {"name": "no address"}], ["a@x.nl", "b@y.nl"]),
    ({"email": "a@x.nl"}, ["a@x.nl"]),
    (None, []), ("", []), ([], []),
])
def test_email_addresses_in_every_shape(value, expected):
    assert email_addresses(value) == expected


def test_a_message_reads_to_and_from_in_any_shape():
    raw = {"id": 5, "type": "INBOUND", "body_type": "EMAIL", "message": "hi", "created_at": "2024-01-11 10:28:24",
           "email_message": {"from": [{"email": "c@x.nl", "name": "C"}], "to": "support@trengomail.com, b@y.nl"}}
    record, _ = map_message(raw, TICKET, 1, AMS)
    assert record["from_address"] == "c@x.nl"
    assert record["to_addresses"] == ["support@trengomail.com", "b@y.nl"]


@pytest.mark.parametrize("attachment", [
    {"id": 1, "client_name": "a.pdf", "full_url": "https://trengo.com/f/1"},
    {"id": 1, "file_name": "a.pdf", "url": "https://trengo.com/f/1"},
    {"id": 1, "original_name": "a.pdf", "path": "https://trengo.com/f/1"},
    {"id": 1, "name": "a.pdf", "download_url": "https://trengo.com/f/1"},
])
def test_attachment_keys_in_the_variants_clients_show(attachment):
    raw = {"id": 5, "type": "INBOUND", "created_at": "2024-01-11 10:28:24", "attachments": [attachment]}
    _, refs = map_message(raw, TICKET, 1, AMS)
    assert [(r.file_name, r.url) for r in refs] == [("a.pdf", "https://trengo.com/f/1")]


@pytest.mark.parametrize("members", [
    {"users": [{"id": 7}, {"id": 8}]}, {"members": [{"id": 7}, {"user_id": 8}]}, {"user_ids": [7, 8]},
])
def test_team_members_under_any_key(members):
    assert map_team({"id": 1, "name": "T", **members})["member_ids"] == ["7", "8"]


def test_article_translations_as_list_mapping_or_a_single_language():
    as_list = {"id": 1, "translations": [{"locale_code": "nl", "title": "Hoi", "content": "<p>x</p>"}]}
    as_map = {"id": 1, "translations": {"nl": {"title": "Hoi", "body": "<p>x</p>"}}}
    single = {"id": 1, "title": "Hoi", "content": "<p>x</p>"}
    for raw in (as_list, as_map):
        records, rejected = map_article(raw, {}, "4400", AMS)
        assert [(r["id"], r["title"], r["body_html"]) for r in records] == [("1:nl", "Hoi", "<p>x</p>")] and not rejected
    records, _ = map_article(single, {}, "4400", AMS, listed_locale="nl")
    assert records[0]["locale"] == "nl"  # the locale it was listed under, never an assumed "en"
    records, rejected = map_article(single, {}, "4400", AMS)
    assert not records and rejected[0].rule == "article-locale-unknown"


def test_help_centre_locales_are_enumerated_never_assumed():
    assert help_center_locales({"default_locale": "nl", "locales": ["nl", {"code": "de"}]}) == ["nl", "de"]
    assert help_center_locales({}, [{"id": 1, "locales": ["fr"]}, {"translations": [{"locale": "en"}]}]) == ["fr", "en"]
    assert help_center_locales({}) == []


# -- created_at: degrade, don't discard ------------------------------------------------------------------


@pytest.mark.parametrize("created", ["0000-00-00 00:00:00", "9999-12-31 23:59:59", None, "not a date"])
def test_an_unusable_created_at_falls_back_to_the_earliest_other_time(created):
    raw = {"id": 3, "status": "CLOSED", "created_at": created, "updated_at": "2024-03-02 10:00:00",
           "assigned_at": "2024-03-01 09:00:00", "closed_at": "2024-03-02 09:59:00",
           "latest_message": {"created_at": "2024-03-01 12:00:00"}}
    record = map_ticket(raw, Lookups(), AMS)
    assert record["created_at"] == "2024-03-01T08:00:00+00:00"  # assigned_at, in UTC
    (change,) = [c for c in ticket_changes(raw, record, AMS) if c.rule == "created-at-fallback"]
    assert change.field == "created_at" and change.original == created and change.kept_in == "the source archive"
    assert "assigned_at" in change.detail


def test_a_ticket_without_any_usable_time_is_rejected_with_the_reason():
    raw = {"id": 3, "status": "OPEN", "created_at": "0000-00-00 00:00:00", "updated_at": "9999-12-31 23:59:59"}
    rejected = map_ticket(raw, Lookups(), AMS)
    assert isinstance(rejected, Rejected) and rejected.rule == "conversation-created-at"
    assert "zero date" in rejected.reason and rejected.fix


def test_a_usable_created_at_is_kept_without_a_fallback_change():
    raw = {"id": 3, "status": "OPEN", "created_at": "2024-03-01 08:00:00", "updated_at": "2024-01-01 00:00:00"}
    record = map_ticket(raw, Lookups(), AMS)
    assert record["created_at"] == "2024-03-01T07:00:00+00:00"
    assert not [c for c in ticket_changes(raw, record, AMS) if c.rule == "created-at-fallback"]


# -- zones measured, not assumed -------------------------------------------------------------------------


def test_pairs_are_classified_by_the_zone_they_fit():
    ev = ZoneEvidence("Europe/Amsterdam")
    assert ev.add("2024-01-11 10:28:24", 1704968904) == "UTC"  # the 2024 recorded payload
    assert ev.add("2024-01-11 11:28:24", 1704968904) == "Europe/Amsterdam"  # winter: +1
    assert ev.add("2024-07-11 12:00:00", 1720692000) == "Europe/Amsterdam"  # summer: +2
    assert ev.add("2024-01-11 05:28:24", 1704968904) == "other (UTC-05:00)"
    assert ev.add("2024-01-11T10:28:24Z", 1704968904) is None  # a zoned time is no evidence
    assert ev.measured() == "Europe/Amsterdam" and ev.total() == 4


def test_findings_say_what_was_measured_and_what_to_do():
    none = zone_finding("message times", ZoneEvidence("Europe/Amsterdam"), configured="Europe/Amsterdam",
                        explicit=False)
    assert none.passed and none.metadata["level"] == "INFO" and "assumed" in none.description
    utc = ZoneEvidence("Europe/Amsterdam")
    for _ in range(3):
        utc.add("2024-01-11 10:28:24", 1704968904)
    measured = zone_finding("message times", utc, configured="Europe/Amsterdam", explicit=False)
    assert not measured.passed and measured.severity == "WARN" and measured.metadata["measured"] == "UTC"
    assert measured.metadata["evidence_count"] == 3
    conflict = zone_finding("message times", utc, configured="Europe/Amsterdam", explicit=True)
    assert conflict.severity == "ERROR" and not conflict.passed
    assert "Europe/Amsterdam" in conflict.description and "UTC" in conflict.description
    assert "TRENGO_TIMEZONE" in conflict.description
    agreed = zone_finding("message times", utc, configured="UTC", explicit=True)
    assert agreed.passed and agreed.metadata["level"] == "INFO"


def test_the_epoch_wins_over_the_naive_time_unless_the_setting_overrides():
    raw = {"id": 5, "type": "NOTE", "created_at": "2024-01-11 10:28:24", "created_at_time": 1704968904}
    record, _ = map_message(raw, TICKET, 1, AMS)
    assert record["created_at"] == "2024-01-11T10:28:24+00:00"


# -- shape audit -----------------------------------------------------------------------------------------


def test_every_mapped_object_declares_the_keys_it_reads():
    declared = {o.canonical: o.payload_keys for o in OBJECTS}
    for canonical in ("agents", "teams", "contacts", "conversations", "messages", "articles"):
        assert declared[canonical] and any(k.required for k in declared[canonical]), canonical


def test_the_tally_counts_alternatives_as_one_declared_key():
    payloads = [{"id": 1, "attachments": [{"download_url": "u", "original_name": "n"}]},
                {"id": 2, "attachments": [{"full_url": "u"}]}, {"id": 3, "attachments": []}]
    n, counts = tally("messages", payloads)
    assert n == 3 and counts["id"] == 3
    url_key = next(k.path for k in PAYLOAD_KEYS["messages"] if "download_url" in k.path)
    name_key = next(k.path for k in PAYLOAD_KEYS["messages"] if "original_name" in k.path)
    assert counts[url_key] == 2 and counts[name_key] == 1
    assert tally("messages", payloads, stride=2)[0] == 2 and tally("messages", payloads, stride=2, offset=1)[0] == 1


def test_the_auditor_tallies_whole_then_samples():
    from helpdesk_migrate.plugins.trengo.audit import Auditor

    auditor = Auditor(whole=4, stride=3)
    page = [{"id": k} for k in range(6)]
    assert auditor.tally("contacts", page)[0] == 6  # nothing seen yet: the whole page
    assert auditor.tally("contacts", page)[0] == 2  # past the first 4: one in 3
    assert auditor.tally("agents", page)[0] == 6  # counted per object
