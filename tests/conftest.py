from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture(autouse=True)
def _in_process_runs(monkeypatch):
    """Tests run jobs in-process (fast, and they see the tests' own plugins); the multiprocess default is
    exercised by the browser test and the benchmarks."""
    monkeypatch.setenv("MIGRATION_EXECUTOR", "in_process")
    # A failing extract is retried after 30 s by default; tests that crash one on purpose check the failure
    # (the retry itself has its own test).
    monkeypatch.setenv("MIGRATION_STEP_RETRIES", "0")


@pytest.fixture
def migration_home(tmp_path, monkeypatch):
    """Every test gets its own migration home (store, maps, reports, files) and Dagster home."""
    home = tmp_path / "migration"
    monkeypatch.setenv("MIGRATION_HOME", str(home))
    monkeypatch.delenv("MIGRATION_STORE_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    return home


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database per test, dropped afterwards; skips when TEST_POSTGRES_URL is unset."""
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        pytest.skip("TEST_POSTGRES_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/test); "
                    ".ci/run sets it against the local server")
    import sqlalchemy as sa

    try:
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        name = f"hm_test_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL at TEST_POSTGRES_URL is not reachable: {exc.orig}")
    url = sa.engine.make_url(base).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def redis_url():
    """The Redis server named by TEST_REDIS_URL; skips, saying why, when it is unset or unreachable."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/15); .ci/run sets it")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis at TEST_REDIS_URL is not reachable: {exc}")
    return url
