"""R3, the gated case: a ticket with a thread of 10,000 messages (``ticket_10k_messages``), end to end into
each destination. Its own small workspace (no other dirt) keeps it CI-sized; the thread is the cost."""

from __future__ import annotations

import pytest

from helpdesk_migrate.plugins.trengo.emulator.workspace import DIRT_CASES
from tests.e2e_support import stop_migration
from tests.reliability.corpus_support import expected_outcome, run_corpus

pytestmark = pytest.mark.slow

THREAD = 10_000


@pytest.mark.parametrize("destination", ["salesforce", "tidio"])
def test_a_ten_thousand_message_thread_loads_whole_and_in_order(destination, tmp_path, monkeypatch):
    assert DIRT_CASES["ticket_10k_messages"].gated
    run = run_corpus(destination, tmp_path, monkeypatch, size=10,
                     source_options={"dirt": False, "counts": {"long_thread_messages": THREAD}})
    try:
        (e,) = run.manifest
        assert e["case"] == "ticket_10k_messages" and expected_outcome(e, destination) == "loaded"
        assert run.loaded("conversations", e["canonical_id"]) is not None
        store, src = run.migration.store, run.migration.pair.source.name
        thread = [m for chunk in store.iter_staged(src, "messages") for m in chunk
                  if m["conversation_id"] == e["canonical_id"]]
        assert len(thread) == THREAD
        assert [m["sequence"] for m in sorted(thread, key=lambda m: m["created_at"])] == list(range(1, THREAD + 1))
        loaded = {r["source_id"] for r in store.id_map_entries(src, destination, "messages")}
        missing = [m["id"] for m in thread if m["id"] not in loaded]
        assert not missing, f"{len(missing)} of the thread's messages did not load, e.g. {missing[:5]}"
        assert run.migration.unbalanced() == {}
    finally:
        stop_migration(run.migration)
