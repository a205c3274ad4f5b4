"""Running the Trengo bad-input corpus (named dirt, ``helpdesk_migrate.plugins.trengo.emulator.workspace.DIRT_CASES``) end to end into
one destination, and reading back everything a person could: the id map, the quarantine, report.md and
report.json written by ``helpdesk-migrate report``, the staged records, the destination's own data and the
asset checks recorded in the Dagster instance.

What a case must reach is combined here, from parties that do not know each other: the source's case names
the canonical rules it exercises, the SDK's corpus gives each rule a default outcome, and the destination
plugin states its own where it differs (``corpus_outcomes()``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from helpdesk_migrate.sdk.corpus import outcome_for
from migration_assets.registry import default_registry
from tests.e2e_support import Migration, start_migration, stop_migration

CORPUS_SEED = 3
CORPUS_SIZE = 40  # the smallest size at which every named case is placed (tests/trengo checks placement)


def destination_outcomes(destination: str) -> dict[str, str]:
    """The destination plugin's outcomes per corpus rule (its optional ``corpus_outcomes()``; none: defaults)."""
    declared = getattr(default_registry().destination(destination), "corpus_outcomes", None)
    return dict(declared()) if callable(declared) else {}


def expected_outcome(entry: dict[str, Any], destination: str) -> str:
    """The outcome a ``dirt_manifest()`` entry must reach in ``destination``: its rules, as the destination
    states them (else as the SDK's corpus defaults them), on the entry's canonical object."""
    return outcome_for(entry["rules"], entry["canonical"], destination_outcomes(destination))


def cli(*args: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """``helpdesk-migrate ARGS`` as a user runs it (its own process, the current environment)."""
    exe = Path(sys.executable).with_name("helpdesk-migrate")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from migration_assets.cli import run; run()"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def check_evaluations(instance: dg.DagsterInstance) -> list[dict[str, Any]]:
    """Every asset check evaluation of every run, with its metadata as plain values."""
    out = []
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            ev = entry.dagster_event.event_specific_data
            out.append({"run_id": run.run_id, "asset": "/".join(ev.asset_key.path), "check": ev.check_name,
                        "passed": ev.passed, "description": ev.description,
                        "metadata": {k: getattr(v, "value", v) for k, v in (ev.metadata or {}).items()}})
    return out


@dataclass
class CorpusRun:
    """One migration of the corpus into one destination, read back once (the tests only look)."""

    destination: str
    migration: Migration
    manifest: list[dict[str, Any]]
    exit_code: int
    report_exit: int
    report_md: str
    report_json: dict[str, Any]
    id_map: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    quarantine: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    staged: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    destination_data: Any = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def entry(self, case: str) -> dict[str, Any]:
        found = [e for e in self.manifest if e["case"] == case]
        assert found, f"named case {case} was not placed in the workspace (seed {CORPUS_SEED}, size {CORPUS_SIZE})"
        return found[0]

    def loaded(self, canonical: str, source_id: str) -> dict[str, Any] | None:
        return self.id_map.get((canonical, str(source_id)))

    def record(self, canonical: str, source_id: str) -> dict[str, Any]:
        return self.staged[(canonical, str(source_id))]


def run_corpus(destination: str, base: Path, monkeypatch, *, seed: int = CORPUS_SEED, size: int = CORPUS_SIZE,
               source_options: dict[str, Any] | None = None) -> CorpusRun:
    # The in-process executor: the same assets and checks, recorded in the same instance, without a process
    # per step (the multiprocess executor has its own end-to-end test).
    monkeypatch.setenv("MIGRATION_EXECUTOR", "in_process")
    m = start_migration(destination, base, monkeypatch, seed=seed, size=size, source_options=source_options)
    try:
        code = m.migrate()
        report = cli("report", "--source", m.pair.source.name, "--destination", destination, "--json")
        assert report.returncode in (0, 1), report.stderr
        md_path = m.home / "reports" / m.pair.name / "report.md"
        src, dst = m.pair.source.name, destination
        store = m.store
        manifest = m.source_emulator.workspace.dirt_manifest(base=m.source_emulator.root)
        run = CorpusRun(destination, m, manifest, code, report.returncode, md_path.read_text(),
                        json.loads(report.stdout), env={k: v for k, v in os.environ.items()
                                                        if k.startswith(("TIDIO_", "SALESFORCE_", "TRENGO_"))})
        for row in store.id_map_entries(src, dst):
            run.id_map[(row["object"], row["source_id"])] = row
        for row in store.quarantine_entries(src, dst):
            run.quarantine[(row["object"], row["source_id"])] = row
        wanted: dict[str, set[str]] = {}
        for e in manifest:
            for sid in (e["canonical_id"], e["related_id"]):
                if sid:
                    wanted.setdefault(e["canonical"], set()).add(sid)
        for canonical, ids in wanted.items():
            for chunk in store.iter_staged(src, canonical, ids=sorted(ids)):
                for rec in chunk:
                    run.staged[(canonical, str(rec["id"]))] = rec
        emulator = m.destination_emulator
        run.destination_data = emulator.dump()
        run.checks = check_evaluations(m.instance)
        return run
    except BaseException:
        stop_migration(m)
        raise
