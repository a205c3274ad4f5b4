"""R1 crash campaign, CI-sized: the migration (``helpdesk-migrate run`` in a child process) is SIGKILLed at
seeded points, half during extraction and half during loading, and re-run; every time the destination must
hold exactly one record per loaded source record, nothing may be missing, and the id map must be consistent.

The full campaign (20 points per destination, a larger workspace) is benchmarks/reliability_crash.py."""

from __future__ import annotations

import re

import pytest

from .campaigns import KillPoint, crash_migration, kill_points
from .harness import Tripwire, start_rig

pytestmark = pytest.mark.slow

POINTS_PER_DESTINATION = 4
KILL_SEED = 20


def describe(outcomes) -> str:
    return "\n".join(f"{o.point}: {'killed on ' + (o.fired_on or '?') if o.killed else 'NOT KILLED'}; "
                     f"{o.problems or 'ok'}" for o in outcomes)


@pytest.mark.parametrize("destination", ["salesforce", "tidio"])
def test_sigkill_and_rerun_leave_no_duplicate_and_nothing_missing(destination, baseline):
    clean = baseline(destination)
    points = kill_points(clean, POINTS_PER_DESTINATION, KILL_SEED)
    outcomes = []
    for i in range(0, len(points), 2):
        outcomes += crash_migration(destination, clean, points[i], points[i + 1])
    assert all(o.killed for o in outcomes), describe(outcomes)
    assert all(o.ok for o in outcomes), describe(outcomes)
    assert sum(o.id_map_checked for o in outcomes) > 0


def _email_insert(method: str, path: str, body: bytes = b"") -> bool:
    return method == "POST" and path.endswith("/composite/sobjects") and \
        re.search(rb'"type":\s*"EmailMessage"', body) is not None


def test_salesforce_kill_right_after_the_email_insert_keeps_the_full_bodies():
    rig = start_rig("salesforce", size=24)  # a workspace with emails longer than an EmailMessage holds
    try:
        rig.run("discover")
        rig.approve_all()
        child = rig.spawn("full", Tripwire(rig.dst_tap, _email_insert, 1))
        assert child.killed, child.output
        rig.run("full")
        org = rig.snapshot()
    finally:
        rig.stop()
    truncated = {r["Trengo_Id__c"] for r in org["EmailMessage"].values() if r.get("Trengo_Body_Truncated__c")}
    bodies = {r["Trengo_Id__c"][len("message-body-"):] for r in org["ContentVersion"].values()
              if str(r.get("Trengo_Id__c") or "").startswith("message-body-")}
    assert truncated, "the workspace should hold truncated emails"
    assert truncated <= bodies, f"truncated emails without their full body: {sorted(truncated - bodies)}"


def _article_insert(method: str, path: str, body: bytes = b"") -> bool:
    return method == "POST" and path.endswith("/composite/sobjects") and \
        re.search(rb'"type":\s*"Knowledge__kav"', body) is not None


def test_salesforce_kill_right_after_the_article_insert_keeps_the_categories(baseline):
    clean = baseline("salesforce")
    rig = start_rig("salesforce")
    try:
        rig.run("discover")
        rig.approve_all()
        before = set(rig.snapshot().get("Knowledge__DataCategorySelection", {}))
        child = rig.spawn("full", Tripwire(rig.dst_tap, _article_insert, 1))
        assert child.killed, child.output
        rig.run("full")
        selections = set(rig.snapshot().get("Knowledge__DataCategorySelection", {})) - before
    finally:
        rig.stop()
    assert len(selections) == clean.new_per_object.get("Knowledge__DataCategorySelection", 0) > 0


def test_kill_points_are_seeded_and_split_between_phases(baseline):
    clean = baseline("tidio")
    points = kill_points(clean, 20, KILL_SEED)
    assert points == kill_points(clean, 20, KILL_SEED)
    assert [p.phase for p in points].count("extraction") == 10
    assert all(isinstance(p, KillPoint) and p.at >= 1 for p in points)
    assert any(p.delay_ms for p in points) and any(not p.delay_ms for p in points)
