"""Shards: the partitions of objects a source reads per parent record (messages per conversation)."""

from __future__ import annotations

import sqlite3

import pytest

from migration_assets.partitions import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    all_shards_tags,
    covers_all,
    shard_count,
    shard_keys,
    shard_of,
)
from migration_assets.store import SCHEMA_VERSION, MigrationStore


def test_a_parent_always_lands_in_the_same_shard_and_shards_share_the_work(monkeypatch):
    monkeypatch.setenv("MIGRATION_SHARDS", "8")
    assert shard_keys() == [str(i) for i in range(8)]
    ids = [str(2500000000 + i) for i in range(4000)]
    first = [shard_of(i) for i in ids]
    assert first == [shard_of(i) for i in ids]  # stable (no salted hash)
    sizes = [first.count(k) for k in shard_keys()]
    assert min(sizes) > 400 and max(sizes) < 600, sizes  # 500 each, give or take
    monkeypatch.setenv("MIGRATION_SHARDS", "12")
    assert shard_keys()[:3] == ["00", "01", "02"] and shard_of("42") in shard_keys()


@pytest.mark.parametrize("bad", ["0", "-1", "many", "257"])
def test_a_bad_shard_count_is_a_clear_error(monkeypatch, bad):
    monkeypatch.setenv("MIGRATION_SHARDS", bad)
    with pytest.raises(ValueError, match="MIGRATION_SHARDS"):
        shard_count()


def test_a_run_over_every_shard_narrows_nothing(monkeypatch):
    monkeypatch.setenv("MIGRATION_SHARDS", "4")
    assert all_shards_tags() == {RANGE_START_TAG: "0", RANGE_END_TAG: "3"}
    assert covers_all(["0", "1", "2", "3"]) and covers_all(None) and not covers_all(["1", "2"])


def test_a_sharded_objects_checks_are_partitioned_like_it():
    """Checks of a sharded extract have the extract's partitions (Dagster's partitioned asset checks), so a run
    over some shards validates those and records each evaluation against its shard; not run tags read back."""
    from migration_assets.factory import build_definitions

    defs = build_definitions()
    by_key = {(c.key.asset_key.to_user_string(), c.key.name): c for a in defs.asset_checks or [] for c in a.check_specs}
    assert by_key[("trengo/messages", "gx_critical")].partitions_def is not None
    assert by_key[("trengo/messages", "gx_critical")].partitions_def.get_partition_keys() == shard_keys()
    assert by_key[("trengo/contacts", "gx_critical")].partitions_def is None


def test_records_are_read_back_per_shard(tmp_path):
    store = MigrationStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    store.stage("src", "messages", [{"id": "m1"}, {"id": "m2"}], "run1", shard="0")
    store.stage("src", "messages", [{"id": "m3"}], "run1", shard="1")
    store.stage("src", "messages", [{"id": "m1"}], "run2", shard="1")  # unchanged content, re-sharded
    by_shard = {k: [r["id"] for chunk in store.iter_staged("src", "messages", shards=[k]) for r in chunk]
                for k in ("0", "1")}
    assert by_shard == {"0": ["m2"], "1": ["m1", "m3"]}
    assert [r["id"] for chunk in store.iter_staged("src", "messages", chunk_size=1) for r in chunk] == ["m1", "m2", "m3"]


def test_a_store_from_before_shards_is_upgraded_in_place(tmp_path):
    path = tmp_path / "store.sqlite"
    with sqlite3.connect(path) as db:  # the version-1 layout of staged_records
        db.executescript("""
            CREATE TABLE store_meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO store_meta VALUES ('schema_version', '1');
            CREATE TABLE staged_records (source VARCHAR(64), object VARCHAR(64), source_id VARCHAR(255),
                seq BIGINT NOT NULL, payload TEXT NOT NULL, checksum VARCHAR(64) NOT NULL, run_id VARCHAR(64) NOT NULL,
                extracted_at DATETIME NOT NULL, PRIMARY KEY (source, object, source_id));
            INSERT INTO staged_records VALUES ('src', 'messages', 'm1', 1, '{"id": "m1"}', 'x', 'old',
                '2026-01-01 00:00:00');
        """)
    store = MigrationStore(f"sqlite:///{path}")
    assert store.schema_version == SCHEMA_VERSION  # a version-1 store upgrades through 2 to the current one
    assert [r["id"] for chunk in store.iter_staged("src", "messages") for r in chunk] == ["m1"]
    store.stage("src", "messages", [{"id": "m1"}], "new", shard="3")
    assert [r["id"] for chunk in store.iter_staged("src", "messages", shards=["3"]) for r in chunk] == ["m1"]


@pytest.mark.slow
def test_one_shard_loads_alone_and_the_rest_follow_without_duplicates(tmp_path, monkeypatch):
    """What a backfill does per shard: the full job for shard 1 only loads that shard's messages (and
    balances for it); the whole run after it loads the rest and creates nothing twice."""
    import dagster as dg

    from migration_assets.factory import build_definitions
    from migration_assets.jobs import job_name
    from migration_assets.runtime import reconcile
    from tests.e2e_support import start_migration, stop_migration

    monkeypatch.setenv("MIGRATION_SHARDS", "4")
    m = start_migration("tidio", tmp_path, monkeypatch)
    try:
        m.run("discover")
        for kind in ("mapping", "preflight"):
            m.approve(kind)
        m.approve("sample", waive="shard test")
        src, dst = m.pair.source.name, m.pair.destination.name
        job = build_definitions(pairs=[m.pair]).resolve_job_def(job_name(m.pair, "full"))
        result = job.execute_in_process(instance=m.instance, partition_key="1", raise_on_error=False,
                                        tags={RANGE_START_TAG: "1", RANGE_END_TAG: "1"})
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        store = m.store
        conversation_of = {r["id"]: r["conversation_id"] for chunk in store.iter_staged(src, "messages") for r in chunk}
        first = {e["source_id"]: e["destination_id"] for e in store.id_map_entries(src, dst, "messages")}
        loaded = set(first)
        assert loaded and {shard_of(conversation_of[sid]) for sid in loaded} == {"1"}
        assert reconcile(store, src, dst, "messages", shards=["1"]).balanced
        assert not reconcile(store, src, dst, "messages").balanced  # the other shards are not loaded yet
        materialized = {(e.asset_key.to_user_string(), e.partition) for e in result.asset_materializations_for_node(
            "trengo__messages")}
        assert materialized == {("trengo/messages", "1")}
        # The partitioned check validated shard 1 alone, and its evaluation is recorded against shard 1.
        critical = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                    and e.event_specific_data.asset_key.to_user_string() == "trengo/messages"
                    and e.event_specific_data.check_name == "gx_critical"]
        assert [c.partition for c in critical] == ["1"] and critical[0].passed
        shard_one = sum(1 for sid in conversation_of if shard_of(conversation_of[sid]) == "1")
        assert critical[0].metadata["records_validated"].value == shard_one

        assert m.run("full") in (0, 1)
        assert not m.unbalanced()
        after = {e["source_id"]: e["destination_id"] for e in store.id_map_entries(src, dst, "messages")}
        assert len(after) > len(first)
        # shard 1's messages were not sent again: same destination records
        assert {sid: after[sid] for sid in first} == first
        assert dg.DagsterRunStatus.SUCCESS == m.instance.get_run_by_id(result.run_id).status
    finally:
        stop_migration(m)
