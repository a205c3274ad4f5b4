"""Harness for end-to-end runs on the emulators: a pair's emulators, its environment, and the jobs run
exactly as `helpdesk-migrate run` runs them (recorded in a Dagster instance)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import requests

from migration_assets import gates
from migration_assets.demo import start_pair_emulators
from migration_assets.execution import run_job
from migration_assets.factory import Pair
from migration_assets.registry import default_registry, emulator_for
from migration_assets.reporting import build_report
from migration_assets.runtime import reconcile
from migration_assets.store import MigrationStore

FAST = 60_000  # requests/min: end-to-end tests rehearse the flow; the limiter is tested on its own


@dataclass
class Migration:
    pair: Pair
    source_emulator: Any
    destination_emulator: Any
    home: Path
    instance: dg.DagsterInstance
    output: list[str] = field(default_factory=list)

    @property
    def store(self) -> MigrationStore:
        return MigrationStore()

    def run(self, job: str, **kw) -> int:
        return run_job(self.pair, job, echo=self.output.append, instance=self.instance, **kw)

    def approve(self, kind: str, waive: str | None = None) -> None:
        ok, message = gates.approve(self.store, self.pair.name, self.pair.source.name, self.pair.destination.name,
                                    kind, by="e2e", waive_reason=waive)
        assert ok, message

    def migrate(self) -> int:
        """discover -> confirm map and pre-flight -> waive the sample -> full."""
        self.run("discover")
        self.approve("mapping")
        self.approve("preflight")
        self.approve("sample", waive="end-to-end test: the sample job has its own test")
        return self.run("full")

    def report(self) -> dict[str, Any]:
        return build_report(self.store, self.pair)

    def unbalanced(self) -> dict[str, Any]:
        out = {}
        for canonical in self.pair.loadable():
            rec = reconcile(self.store, self.pair.source.name, self.pair.destination.name, canonical)
            if not rec.balanced:
                out[canonical] = rec.as_dict()
        return out

    def trengo(self, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        """Act on the source emulator as a Trengo user would (never the migration)."""
        env = self.source_emulator.env()
        base = next(v for k, v in env.items() if k.endswith("_BASE_URL"))
        token = next(v for k, v in env.items() if k.endswith("_TOKEN"))
        return requests.request(method, f"{base}{path}", json=body or {}, timeout=10,
                                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})


def start_migration(destination: str, tmp_path: Path, monkeypatch, *, seed: int = 3, size: int = 24,
                    source: str = "trengo", source_options: dict[str, Any] | None = None,
                    destination_options: dict[str, Any] | None = None) -> Migration:
    """A pair's emulators and environment; ``*_options`` go to the emulators (e.g. a given token, counts)."""
    reg = default_registry()
    pair = Pair(reg.source(source), reg.destination(destination))
    home = tmp_path / "migration"
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("MIGRATION_HOME", str(home))
    monkeypatch.delenv("MIGRATION_STORE_URL", raising=False)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir(exist_ok=True)
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    from migration_assets.demo import demo_settings, provisioning

    if source_options or destination_options:  # start_pair_emulators, with the options passed on
        src = emulator_for(pair.source).start(seed=seed, size=size, port=0, rate_limit=FAST, **(source_options or {}))
        dst = emulator_for(pair.destination).start(seed=seed, size=size, port=0, rate_limit=FAST * 10,
                                              existing=provisioning(src), **(destination_options or {}))
        env = {**src.env(), **dst.env()}
    else:
        src, dst, env = start_pair_emulators(pair, seed=seed, size=size, rate_limit=FAST)

    for key, value in {**env, **demo_settings(dst)}.items():
        monkeypatch.setenv(key, value)
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    return Migration(pair, src, dst, home, instance)


def stop_migration(m: Migration) -> None:
    m.instance.dispose()
    m.source_emulator.stop()
    m.destination_emulator.stop()


# Emulator bookkeeping that is not the destination's data (request counters, the deletion log), and schema
# metadata the migration creates on purpose (custom fields and their permissions stay after a rollback of data).
BOOKKEEPING = {"requests", "deleted", "CustomField", "PermissionSet", "PermissionSetAssignment", "FieldPermissions"}


def data_snapshot(emulator: Any) -> str:
    """A destination's data as a canonical JSON string (for equality after rollback)."""
    snap = emulator.snapshot()
    if isinstance(snap, dict):
        snap = {k: v for k, v in snap.items() if k not in BOOKKEEPING}
    return json.dumps(snap, sort_keys=True, default=str)


def env_value(suffix: str) -> str:
    return next(v for k, v in os.environ.items() if k.endswith(suffix))
