"""R2 fault campaign, CI-sized: the emulators inject 5% of responses as 5xx, 429 storms, connection resets
mid-body, answers slower than the client's timeout, and on Salesforce expired sessions (401 INVALID_SESSION_ID,
answered by logging in again), UNABLE_TO_LOCK_ROW and partial Bulk API 2.0 failures. The migration must
complete with extracted = loaded + quarantined (+ skipped) and nothing loaded twice.

Faults are the emulators' own switches (their platform's error shapes); a seeded schedule decides when the
destination's one-shot switches fire. The larger run is benchmarks/reliability_faults.py."""

from __future__ import annotations

import pytest

from .campaigns import faulted_migration

pytestmark = pytest.mark.slow


def check(outcome) -> None:
    figures = outcome.audit.figures
    detail = (f"exits {outcome.exits}, injected {outcome.injected}\nproblems: {outcome.audit.problems}\n"
              + "\n".join(figures.get("output", [])[-25:]))
    assert outcome.audit.ok, detail
    assert outcome.audit.duplicates == 0, detail
    assert all(a["unaccounted"] == 0 for a in figures["accounts"].values()), detail
    assert outcome.audit.id_map_checked > 0, detail


def test_tidio_migration_completes_under_every_fault(baseline):
    outcome = faulted_migration("tidio", baseline("tidio"), ["5xx", "429", "reset", "slow", "lost_write"])
    check(outcome)
    for kind in ("5xx", "429", "reset", "slow", "lost_write"):
        assert outcome.injected.get(kind), f"no {kind} fault was injected: {outcome.injected}"
    assert any(k.startswith("source ") for k in outcome.injected), outcome.injected


SALESFORCE_SURVIVED = ["5xx", "429", "slow", "lost_write", "session", "lock", "bulk_partial"]


def test_salesforce_migration_completes_under_faults(baseline):
    outcome = faulted_migration("salesforce", baseline("salesforce"), SALESFORCE_SURVIVED)
    check(outcome)
    for kind in ("5xx", "session", "lock", "bulk_partial"):
        assert outcome.injected.get(kind), f"no {kind} fault was injected: {outcome.injected}"


def test_salesforce_migration_completes_when_answers_are_cut_mid_body(baseline):
    check(faulted_migration("salesforce", baseline("salesforce"), ["reset"]))


def test_salesforce_migration_completes_when_a_field_permission_row_is_locked(baseline):
    check(faulted_migration("salesforce", baseline("salesforce"), ["lock_schema"]))

