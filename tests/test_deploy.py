"""The deployment's Dagster instance config (deploy/dagster.yaml) loads against a real PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_the_deployment_instance_config_loads_with_its_run_queue_limits(postgres_url, tmp_path, monkeypatch):
    url = sa.engine.make_url(postgres_url)
    for key, value in {"DAGSTER_PG_HOST": url.host, "DAGSTER_PG_PORT": str(url.port or 5432),
                       "DAGSTER_PG_DB": url.database, "DAGSTER_PG_USER": url.username,
                       "DAGSTER_PG_PASSWORD": url.password or ""}.items():
        monkeypatch.setenv(key, value)
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        limits = {lim["key"]: lim["limit"] for lim in instance.run_coordinator.get_run_queue_config().tag_concurrency_limits}
        assert limits == {"helpdesk_migrate/pair": 1, "dagster/backfill": 4}
        assert instance.get_runs() == []  # the run storage is live on the server
    finally:
        instance.dispose()
