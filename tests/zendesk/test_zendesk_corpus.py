"""The bad-input corpus for Zendesk's dirt: every named case is placed, names rules of the SDK's corpus, and the
extraction does what the case says on the source's side; what each destination then reaches follows from its
own statement per rule (``corpus_outcomes()``), combined here without either side naming the other."""

from __future__ import annotations

import pytest
from zendesk_support import env_for, extract, quarantined, staged

from helpdesk_migrate.plugins.zendesk.emulator.dirt import CASES, DIRT_CASES
from helpdesk_migrate.plugins.zendesk.settings import ZendeskConfig
from helpdesk_migrate.plugins.zendesk.source import ZendeskConnection
from helpdesk_migrate.sdk.corpus import RULES, outcome_for, parse_outcome
from migration_assets.registry import default_registry
from migration_assets.runtime import extract_object


@pytest.fixture(scope="module")
def outcomes() -> dict[str, dict[str, str]]:
    reg = default_registry()
    out = {}
    for name, plugin in reg.destinations.items():
        declared = getattr(plugin, "corpus_outcomes", None)
        out[name] = dict(declared()) if callable(declared) else {}
    return out


def test_every_case_is_placed_at_the_conformance_size_and_names_known_rules(emulator):
    em = emulator(size=30)
    placed = {e["case"] for e in em.dirt_manifest()}
    assert placed == {c.name for c in CASES if not c.gated}
    for case in CASES:
        assert set(case.rules) <= set(RULES), case.name


def test_each_case_reaches_one_outcome_in_every_destination(outcomes):
    for destination, stated in outcomes.items():
        for case in CASES:
            kind, _ = parse_outcome(outcome_for(case.rules, case.canonical, stated))
            assert kind in ("loaded", "loaded-transformed", "quarantined", "skipped"), (destination, case.name)
    # The one rule settled at extract: a file gone at Zendesk is quarantined whatever the destination.
    assert all(outcome_for(DIRT_CASES["attachment_gone"].rules, "attachments", o) == "quarantined: attachment-missing"
               for o in outcomes.values())


def test_the_extraction_does_what_each_case_expects(emulator, source, store):
    em = emulator(size=30)
    conn = ZendeskConnection(ZendeskConfig.from_env(env_for(em)))
    try:
        extract(store, source, conn)
    finally:
        conn.close()
    records = {c: {r["id"]: r for r in staged(store, c)} for c in
               ("contacts", "agents", "conversations", "messages", "attachments")}
    for entry in em.dirt_manifest():
        case, sid = entry["case"], entry["source_id"]
        if entry["resource"] == "users":
            assert sid in records[entry["canonical"]], case
        elif case == "ticket_deleted":
            assert quarantined(store, "conversations")[sid]["rule"] == "ticket-deleted"
        elif entry["resource"] == "tickets":
            assert sid in records["conversations"], case
        elif entry["resource"] == "comments":
            assert [m for m in records["messages"].values() if m["conversation_id"] == sid], case
        elif case == "attachment_gone":
            held = [q for q in quarantined(store, "attachments").values() if q["rule"] == "attachment-missing"]
            assert held, case
        else:  # attachments that load
            assert [a for a in records["attachments"].values() if a["conversation_id"] == sid], case


@pytest.mark.slow
def test_a_ticket_of_ten_thousand_comments_is_extracted_whole_in_order(emulator, source, store):
    em = emulator(size=20, huge_thread=10_000)
    assert "ticket_10k_comments" in {e["case"] for e in em.dirt_manifest()}
    conn = ZendeskConnection(ZendeskConfig.from_env(env_for(em)))
    try:
        for canonical in ("agents", "contacts", "conversations", "messages"):
            extract_object(store, source, canonical, run_id="long", connection=conn)
    finally:
        conn.close()
    thread = sorted((m for m in staged(store, "messages") if m["conversation_id"] == "19"), key=lambda m: m["sequence"])
    assert len(thread) == 10_000 and [m["sequence"] for m in thread] == list(range(1, 10_001))
    assert [m["created_at"] for m in thread] == sorted(m["created_at"] for m in thread)
