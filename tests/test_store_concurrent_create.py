"""Steps on several workers open a fresh PostgreSQL store at the same moment: each creates the schema or finds
it made, none fails (two concurrent CREATE TABLEs of one name used to end in UniqueViolation on store_meta)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from migration_assets.store import SCHEMA_VERSION, MigrationStore

ROOT = Path(__file__).resolve().parents[1]

# Each process waits for the same start instant, then opens the store (creating its tables if missing).
OPEN = """
import sys, time
start = float(sys.argv[2])
from migration_assets.store import MigrationStore
time.sleep(max(0.0, start - time.time()))
store = MigrationStore(sys.argv[1])
print(store.schema_version)
"""


@pytest.mark.postgres
def test_processes_opening_a_fresh_postgres_store_at_once_all_succeed(postgres_url):
    start = time.time() + 3.0  # after every interpreter has imported SQLAlchemy
    procs = [subprocess.Popen([sys.executable, "-c", OPEN, postgres_url, str(start)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    outcomes = [p.communicate(timeout=120) for p in procs]
    failures = [err.strip().splitlines()[-1] for p, (_, err) in zip(procs, outcomes, strict=True) if p.returncode]
    assert failures == [], failures
    assert [out.strip() for out, _ in outcomes] == [str(SCHEMA_VERSION)] * 6
    store = MigrationStore(postgres_url)
    assert {"store_meta", "staged_records", "id_map"} <= set(sa.inspect(store.engine).get_table_names())
    store.dispose()


@pytest.mark.postgres
def test_threads_opening_a_fresh_postgres_store_at_once_all_succeed(postgres_url):
    import threading

    barrier, errors = threading.Barrier(8), []

    def open_store():
        barrier.wait()
        try:
            MigrationStore(postgres_url).dispose()
        except Exception as exc:  # recorded, not raised: the assertion names every failure
            errors.append(repr(exc))

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert MigrationStore(postgres_url).schema_version == SCHEMA_VERSION


def test_processes_opening_a_fresh_sqlite_store_at_once_all_succeed(tmp_path):
    """The default store, a SQLite file, opened by a multiprocess run's first steps at once (was: "table cursors
    already exists" when one created a table between another's check and its CREATE)."""
    for attempt in range(2):  # the race was hit on the first file every time it was tried
        url = f"sqlite:///{tmp_path / f'store{attempt}.sqlite'}"
        start = time.time() + 3.0
        procs = [subprocess.Popen([sys.executable, "-c", OPEN, url, str(start)], cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(8)]
        outcomes = [p.communicate(timeout=120) for p in procs]
        failures = [err.strip().splitlines()[-1] for p, (_, err) in zip(procs, outcomes, strict=True) if p.returncode]
        assert failures == [], failures
        assert [out.strip() for out, _ in outcomes] == [str(SCHEMA_VERSION)] * 8
