"""R4 rollback proof: after a full run, a delta and a rollback, the destination emulator equals its
pre-migration snapshot: records created are gone, records updated have their before-images back, records
linked (or only given notes) were never modified. Left aside: platform system stamps (Salesforce
LastModifiedDate and kin; no API can set them back) and, as in tests/e2e_support.py, the schema metadata the
migration creates on purpose (custom fields and their permissions stay after a rollback of data)."""

from __future__ import annotations

import pytest

from .campaigns import SALESFORCE_SCHEMA, rollback_migration

pytestmark = pytest.mark.slow


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
    # and get notes, which the rollback removes.
    o = rollback_migration("salesforce", destination_options={"schema": "prepared"}, import_marked=True,
                           schema_objects=SALESFORCE_SCHEMA)
    check(o)
    assert o.restored >= 1 and o.enriched >= 1, o


def test_salesforce_rollback_of_a_migration_into_a_bare_org():
    o = rollback_migration("salesforce", schema_objects=SALESFORCE_SCHEMA)
    check(o)
    assert o.figures["schema_left"], o  # the fields it created are still there, as intended
