"""Shards: Dagster partitions of the objects a source reads per parent record (messages per conversation).

A shard is the set of parent records whose id hashes to it, so the split is stable whatever the workspace's
size or age and needs no discovery first. The fan-out object's extract and its loads are partitioned by
shard: a backfill extracts and loads shards concurrently (one shared rate limiter keeps the whole run under
the source's budget) and a failed shard re-runs alone. The pair's jobs cover every shard in one run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from functools import lru_cache

import dagster as dg

SHARDS_ENV = "MIGRATION_SHARDS"
DEFAULT_SHARDS = 8
MAX_SHARDS = 256
# Dagster's run tags for a run over a partition range.
RANGE_START_TAG, RANGE_END_TAG = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def shard_count() -> int:
    raw = os.environ.get(SHARDS_ENV, "").strip() or str(DEFAULT_SHARDS)
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_SHARDS:
        raise ValueError(f"{SHARDS_ENV}={raw!r}: a whole number of shards from 1 to {MAX_SHARDS}")
    return int(raw)


def shard_keys(count: int | None = None) -> list[str]:
    return list(_keys(shard_count() if count is None else count))


@lru_cache(maxsize=8)
def _keys(count: int) -> tuple[str, ...]:
    width = len(str(count - 1))
    return tuple(f"{i:0{width}d}" for i in range(count))


@lru_cache(maxsize=8)
def _definition(count: int) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(shard_keys(count))


def shards_definition() -> dg.StaticPartitionsDefinition:
    """One definition object per shard count: Dagster compares partitioned assets' definitions."""
    return _definition(shard_count())


def shard_of(parent_id: str, count: int | None = None) -> str:
    """The shard a parent record (and every child read through it) belongs to: stable across runs,
    processes and machines (not Python's salted hash). Called per parent record: pass ``count`` read once."""
    keys = _keys(shard_count() if count is None else count)
    digest = hashlib.blake2b(str(parent_id).encode(), digest_size=8).digest()
    return keys[int.from_bytes(digest) % len(keys)]


def all_shards_tags() -> dict[str, str]:
    """Tags that make a run of a job holding sharded assets cover every shard in one run."""
    keys = shard_keys()
    return {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]}


def covers_all(keys: Sequence[str] | None) -> bool:
    return keys is None or set(keys) >= set(shard_keys())


def narrowed_to(keys: Sequence[str] | None) -> list[str] | None:
    """The shards a step must narrow its work to: None when ``keys`` cover every shard, or when the run
    is not partitioned (the whole object)."""
    return None if covers_all(keys) else list(keys or ())
