"""R4 rollback proof: after a full run, a delta and a rollback, the destination emulator equals its
pre-migration snapshot: records created are gone, records updated have their before-images back, records
linked (or only given notes) were never modified. Platform system stamps (Salesforce LastModifiedDate and
kin) are left aside: no API can set them back."""

from __future__ import annotations

import pytest

from .campaigns import rollback_migration

pytestmark = pytest.mark.slow

SCHEMA_OBJECTS = frozenset({"CustomField", "FieldPermissions", "PermissionSet", "PermissionSetAssignment"})


def check(o) -> None:
    detail = f"actions {o.actions}, figures {o.figures}\n" + "\n".join(o.problems)
    assert o.rollback_exit == 0, detail
    assert not o.problems, detail
    assert o.linked > 0, detail
    assert o.figures["created_by_full"] > 0, detail


def test_tidio_rollback_restores_updated_contacts_and_leaves_linked_records_untouched():
    o = rollback_migration("tidio")
    check(o)
    assert o.restored >= 1, o  # pre-existing contacts matched by email were filled in, then restored


def test_salesforce_rollback_restores_before_images_and_leaves_linked_records_untouched():
    # The org already has the migration's fields (an admin followed the plan) and a Contact carrying a source id
    # from an earlier import, which the migration updates through upsert; contacts matched by email are linked
    # and get notes.
    # The schema's own leftovers are the next test's subject.
    o = rollback_migration("salesforce", destination_options={"schema": "prepared"}, import_marked=True,
                           schema_objects=SCHEMA_OBJECTS)
    check(o)
    assert o.restored >= 1 and o.enriched >= 1, o


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "plugins/salesforce rollback: the schema the migration created (its custom fields, their FieldPermissions, "
    "the permission set and its assignment) stays in the org after a rollback of the whole migration"))
def test_salesforce_rollback_also_removes_the_schema_the_migration_created():
    check(rollback_migration("salesforce"))
