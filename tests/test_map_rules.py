"""The field map is checked against what the loader accepts before it can be confirmed."""

from __future__ import annotations

from migration_assets.gates import approve
from migration_assets.map_rules import entry_problems, map_problems, write_schema
from migration_assets.mapping import map_path, write_map
from migration_assets.store import MigrationStore

DESTINATION = {f["name"]: f for f in [
    {"name": "LastName", "type": "string", "required": True},
    {"name": "Email", "type": "email", "required": False},
    {"name": "NumberOfEmployees", "type": "int", "required": False},
    {"name": "Birthdate", "type": "date", "required": False},
    {"name": "HasOptedOutOfEmail", "type": "boolean", "required": False},
]}
SOURCE = {f["name"]: f for f in [
    {"name": "name", "type": "string"}, {"name": "email", "type": "email"},
    {"name": "custom_fields.size", "type": "integer"}, {"name": "custom_fields.plan", "type": "string"},
    {"name": "created_at", "type": "datetime"}, {"name": "is_blocked", "type": "boolean"},
]}


def problems(destination, source):
    return entry_problems("contacts", {"destination": destination, "source": source}, DESTINATION, SOURCE)


def test_entries_the_loader_accepts_pass():
    assert problems("LastName", "name") == []
    assert problems("Email", "email") == []
    assert problems("Email", None) == []  # an optional field may stay empty
    assert problems("NumberOfEmployees", "custom_fields.size") == []
    assert problems("Birthdate", "created_at") == []
    assert problems("HasOptedOutOfEmail", "is_blocked") == []


def test_entries_refused_on_every_record_are_named_with_the_fix():
    [missing] = problems("Fax__c", "name")
    assert "Fax__c is not a field the destination offers" in missing
    [required] = problems("LastName", None)
    assert "required" in required and "mapping set" in required
    [unknown] = problems("Email", "custom_fields.mail")
    assert "the source has no such field" in unknown
    [number] = problems("NumberOfEmployees", "custom_fields.plan")
    assert "int" in number and "string value in a numeric field" in number
    assert "temporal" in problems("Birthdate", "name")[0]
    assert "boolean" in problems("HasOptedOutOfEmail", "email")[0]


def test_a_destination_that_describes_no_fields_is_not_second_guessed():
    document = {"objects": {"contacts": [{"destination": "anything", "source": "nothing"}]}}
    assert map_problems(document, {"contacts": {"destination": None, "source": []}}) == []
    assert map_problems(document, None) == []


def test_confirmation_refuses_a_hand_edited_map_until_the_entry_is_fixed(migration_home):
    migration_home.mkdir(parents=True)
    store = MigrationStore()
    schema = {"contacts": {"destination": list(DESTINATION.values()), "source": list(SOURCE.values())}}
    entries = [{"destination": "LastName", "source": "name", "confidence": 1.0},
               {"destination": "NumberOfEmployees", "source": "custom_fields.plan", "confidence": 0.4}]
    write_map("a_to_b", {"pair": "a_to_b", "objects": {"contacts": entries}})
    write_schema(map_path("a_to_b"), schema)
    ok, message = approve(store, "a_to_b", "a", "b", "mapping", by="ann")
    assert not ok and "cannot be confirmed: 1 entry" in message and "NumberOfEmployees" in message
    assert store.latest_approval("a", "b", "mapping") is None
    entries[1]["source"] = "custom_fields.size"
    write_map("a_to_b", {"pair": "a_to_b", "objects": {"contacts": entries}})
    ok, message = approve(store, "a_to_b", "a", "b", "mapping", by="ann")
    assert ok, message
    assert store.latest_approval("a", "b", "mapping")["by"] == "ann"
