"""The Celery executor and its workers take broker, result backend and Celery settings from one place
(factory.celery_settings, from the environment), so they cannot disagree (a worker writing results to Redis while
the run waits on rpc:// hung forever). The end-to-end run on two workers is tests/test_celery_scale_out.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dagster_celery", reason="the celery extra is not installed (pip install '.[celery]')")

from migration_assets.factory import celery_executor_config, celery_settings, select_executor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORKER_CONF = """
import json
from migration_assets.celery_app import app
c = app.conf
print(json.dumps({"broker": c.broker_url, "backend": c.result_backend, "acks_late": c.task_acks_late,
                  "reject_on_worker_lost": c.task_reject_on_worker_lost, "prefetch": c.worker_prefetch_multiplier,
                  "transport": c.broker_transport_options, "tasks": sorted(t for t in app.tasks if "celery." not in t)}))
"""


def worker_conf(env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", WORKER_CONF], env={**os.environ, **env}, cwd=ROOT, text=True,
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def executor_config(monkeypatch, env: dict[str, str]) -> dict:
    monkeypatch.setenv("MIGRATION_EXECUTOR", "celery")
    for key in ("CELERY_BROKER_URL", "CELERY_BACKEND_URL", "CELERY_VISIBILITY_TIMEOUT", "CELERY_BROKER_KEY_PREFIX"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    executor = select_executor()
    resolved = executor.config_schema.resolve_config({})
    assert resolved.success, resolved.errors
    return resolved.value["config"]


@pytest.mark.parametrize("env", [
    {},  # the documented defaults: dagster-celery's own
    {"CELERY_BROKER_URL": "redis://:s3cret@127.0.0.1:6379/3", "CELERY_BACKEND_URL": "redis://127.0.0.1:6379/4",
     "CELERY_VISIBILITY_TIMEOUT": "120", "CELERY_BROKER_KEY_PREFIX": "fleet-a:"},
], ids=["defaults", "redis"])
def test_the_run_executor_and_the_workers_use_the_same_broker_backend_and_settings(monkeypatch, env):
    run = executor_config(monkeypatch, env)
    worker = worker_conf({k: v for k, v in env.items()} | {"MIGRATION_EXECUTOR": "celery"} if env else
                         {"CELERY_BROKER_URL": "", "CELERY_BACKEND_URL": "", "CELERY_VISIBILITY_TIMEOUT": "",
                          "CELERY_BROKER_KEY_PREFIX": ""})
    assert worker["broker"] == run["broker"] == env.get("CELERY_BROKER_URL", "pyamqp://guest@localhost:5672//")
    assert worker["backend"] == run["backend"] == env.get("CELERY_BACKEND_URL", "rpc://")
    source = run["config_source"]
    # A step's task is acknowledged when it ends and given back when its worker dies: another worker runs it.
    assert worker["acks_late"] is source["task_acks_late"] is True
    assert worker["reject_on_worker_lost"] is source["task_reject_on_worker_lost"] is True
    assert worker["prefetch"] == source["worker_prefetch_multiplier"] == 1
    assert worker["transport"] == source["broker_transport_options"]
    assert worker["transport"]["visibility_timeout"] == int(env.get("CELERY_VISIBILITY_TIMEOUT", 3600))
    assert worker["transport"].get("global_keyprefix") == env.get("CELERY_BROKER_KEY_PREFIX")
    assert "execute_plan" in worker["tasks"]  # dagster-celery's step task


def test_a_url_from_the_environment_stays_a_reference_in_the_definitions(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://:s3cret@broker:6379/0")
    monkeypatch.delenv("CELERY_BACKEND_URL", raising=False)
    config = celery_executor_config()
    assert config["broker"] == {"env": "CELERY_BROKER_URL"} and config["backend"] == "rpc://"
    assert "s3cret" not in json.dumps(config)


@pytest.mark.parametrize("bad", ["0", "soon", "-5"])
def test_a_bad_visibility_timeout_is_refused_naming_the_variable(monkeypatch, bad):
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", bad)
    with pytest.raises(ValueError, match="CELERY_VISIBILITY_TIMEOUT"):
        celery_settings()
