"""The Kubernetes deployment (deploy/k8s-values.yaml): the configuration its run and step pods inherit is valid
config of dagster-k8s's k8s_job_executor, and carries the guarantees a multi-node run needs (the same migration
home on every pod, the shared limiter, the secrets from a Kubernetes Secret, the k8s executor)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("dagster_k8s", reason="the k8s extra is not installed (pip install '.[k8s]')")

from dagster._config import validate_config  # noqa: E402
from dagster_k8s import k8s_job_executor  # noqa: E402

VALUES = Path(__file__).resolve().parents[1] / "deploy" / "k8s-values.yaml"


def deployment() -> dict:
    values = yaml.safe_load(VALUES.read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    (dep,) = values["dagster-user-deployments"]["deployments"]
    return dep


def executor_config(dep: dict) -> dict:
    """What the chart hands run pods (includeConfigInLaunchedRuns), in the k8s_job_executor's terms: its steps'
    pods get the same environment, secrets and volumes."""
    return {
        "env_vars": [f"{e['name']}={e['value']}" for e in dep["env"]],
        "env_secrets": [s["name"] for s in dep["envSecrets"]],
        "volumes": dep["volumes"],
        "volume_mounts": dep["volumeMounts"],
        "image_pull_policy": dep["image"]["pullPolicy"],
    }


def test_the_step_pods_configuration_is_valid_k8s_executor_config():
    dep = deployment()
    assert dep["includeConfigInLaunchedRuns"]["enabled"] is True  # run and step pods inherit what follows
    config = executor_config(dep)
    result = validate_config(k8s_job_executor.config_schema.config_type, config)
    assert result.success, [e.message for e in result.errors]


def test_every_step_pod_shares_the_home_limiter_and_secrets_and_runs_on_the_k8s_executor(monkeypatch):
    dep = deployment()
    env = {e["name"]: e["value"] for e in dep["env"]}
    assert env["MIGRATION_EXECUTOR"] == "k8s"
    assert env["MIGRATION_RATE_LIMIT_URL"].startswith("redis://")  # one budget for every pod, not a pod's SQLite
    mounts = {m["mountPath"]: m["name"] for m in dep["volumeMounts"]}
    assert env["MIGRATION_HOME"] in mounts, "MIGRATION_HOME must be a mounted volume, not a pod's own disk"
    volume = next(v for v in dep["volumes"] if v["name"] == mounts[env["MIGRATION_HOME"]])
    assert "persistentVolumeClaim" in volume  # a claim every pod mounts (ReadWriteMany), not an emptyDir
    assert dep["envSecrets"] and not any(k.endswith(("_TOKEN", "_PASSWORD", "_SECRET")) for k in env), \
        "credentials come from the Secret, never from plain values"

    from migration_assets.factory import select_executor

    monkeypatch.setenv("MIGRATION_EXECUTOR", env["MIGRATION_EXECUTOR"])
    assert select_executor().name == k8s_job_executor.name
