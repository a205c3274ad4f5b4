"""The demo and the local UI: emulators with a seeded workspace, wired to the product through the same
environment variables a real migration uses. Nothing here names a platform: a pair is any registered
source and destination."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .hookspecs import OffersDemoSettings, RunningEmulator
from .pairs import Pair
from .registry import Registry, default_registry
from .store import default_home

DEMO_RATE_LIMIT = 3000  # requests/min: the demo rehearses the flow; benchmarks measure at the real limit


def parse_pair(registry: Registry, spec: str | None) -> Pair:
    if not spec:
        source = sorted(registry.sources)[0] if registry.sources else None
        destination = sorted(registry.destinations)[0] if registry.destinations else None
        if not source or not destination:
            raise KeyError("no source/destination plugins are installed (see `helpdesk-migrate plugins`)")
        return Pair(registry.source(source), registry.destination(destination))
    if "-" not in spec:
        raise KeyError(f"--pair {spec!r}: use SOURCE-DESTINATION (plugin names, see `helpdesk-migrate plugins`)")
    source, destination = spec.split("-", 1)
    return Pair(registry.source(source), registry.destination(destination))


def provisioning(src: RunningEmulator, leave_unmatched: int = 1) -> dict[str, list[dict[str, Any]]]:
    """The source's people and reference data, to provision in a destination emulator (minus
    `leave_unmatched` agents, so the reconciliation queue has something to show)."""
    existing: dict[str, list[dict[str, Any]]] = {}
    for canonical in ("agents", "teams", "tags", "custom_fields", "channels"):
        try:
            existing[canonical] = src.seed_records(canonical)
        except Exception:  # a source without that object provisions nothing for it
            existing[canonical] = []
    if leave_unmatched and existing["agents"]:
        existing["agents"] = existing["agents"][:-leave_unmatched]
    return existing


def start_pair_emulators(pair: Pair, *, seed: int, size: int,
                         rate_limit: int) -> tuple[RunningEmulator, RunningEmulator, dict[str, str]]:
    emulators = default_registry()
    src = emulators.emulator(pair.source.name).start(seed=seed, size=size, port=0, rate_limit=rate_limit)
    dst = emulators.emulator(pair.destination.name).start(seed=seed, size=size, port=0, rate_limit=rate_limit * 10,
                                                          existing=provisioning(src))
    return src, dst, {**src.env(), **dst.env(), **demo_settings(dst)}


def demo_settings(emulator: RunningEmulator) -> dict[str, str]:
    """An emulator's optional demo_env(): settings (e.g. a fallback owner) that let the demo run through."""
    return dict(emulator.demo_env()) if isinstance(emulator, OffersDemoSettings) else {}


def run_demo(pair: Pair, *, seed: int, size: int, sample_size: int, echo: Callable[[str], None]) -> int:
    from . import gates
    from .execution import run_job
    from .mapping_assets import _whoami
    from .store import MigrationStore

    home = Path(os.environ.get("MIGRATION_HOME") or Path.cwd() / ".migration" / f"demo-{pair.name}")
    if home.exists():
        shutil.rmtree(home)  # a demo starts from a clean store so its numbers mean something
    home.mkdir(parents=True)
    os.environ["MIGRATION_HOME"] = str(home)
    os.environ.pop("MIGRATION_STORE_URL", None)
    # Its own Dagster instance too: the demo's runs and auto-approvals never show up in the UI of `dev`.
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    echo(f"demo: migration home {home}, Dagster home {home / 'dagster'} (the demo's own, rebuilt each time)")
    # A demo-sized workspace finishes sooner in one process than it takes to start a process per step; real
    # runs (`helpdesk-migrate run`) use the definitions' executor (multiprocess by default).
    os.environ.setdefault("MIGRATION_EXECUTOR", "in_process")
    echo(f"demo: {pair.source.title} -> {pair.destination.title}, seed {seed}, {size} conversations")
    echo(f"demo: emulators rate-limited at {DEMO_RATE_LIMIT}/min (scaled up from the real limits so the demo is "
         "quick; benchmarks/ measures at the real ones)")
    src, dst, env = start_pair_emulators(pair, seed=seed, size=size, rate_limit=DEMO_RATE_LIMIT)
    os.environ.update(env)
    for key in sorted(demo_settings(dst)):
        echo(f"demo: {key}={env[key]} (a demo default; a real migration names its own)")
    store = MigrationStore()
    who = f"{_whoami()} (demo auto-approval)"
    try:
        echo("\n== 1. discover: extract, validate, scope report, field map proposal, pre-flight")
        if run_job(pair, "discover", echo=echo) != 0:
            echo("   (exit 1: the demo workspace's dirt is quarantined at extraction or validation, each record "
                 "with its rule and fix; discovery itself succeeded and waits at its gates for a person)")
        echo(f"   scope report: {home / 'reports' / pair.name / 'scope.md'}")
        echo("\n== 2. confirm: the field map and the pre-flight are AUTO-CONFIRMED because this is the demo; "
             "a real migration waits for a person (helpdesk-migrate mapping confirm / approve preflight)")
        for kind in ("mapping", "preflight"):
            ok, message = gates.approve(store, pair.name, pair.source.name, pair.destination.name, kind, by=who)
            echo(f"   {message}" if ok else f"   {kind}: {message}")
        echo(f"\n== 3. sample: {sample_size} random conversations with their full graph")
        run_job(pair, "sample", sample_size=sample_size, echo=echo)
        echo(f"   spot-check: {home / 'reports' / pair.name / 'sample.md'}")
        ok, message = gates.approve(store, pair.name, pair.source.name, pair.destination.name, "sample", by=who)
        echo(f"   sample sign-off AUTO-APPROVED for the demo: {message}")
        echo("\n== 4. full migration, in dependency order, with per-phase reconciliation")
        code = run_job(pair, "full", echo=echo)
        report = home / "reports" / pair.name / "report.md"
        echo("\n== 5. report\n")
        echo(report.read_text() if report.exists() else "(no report written)")
        if code == 1:
            echo("demo finished with exit code 1: records are quarantined, as the report above lists with their "
                 "fixes (the demo workspace holds dirt on purpose, so a real migration's exit codes can be seen)")
        return code
    finally:
        src.stop()
        dst.stop()


def run_dev(registry: Registry, *, seed: int, size: int, echo: Callable[[str], None], port: int = 3000) -> int:
    """Start every plugin's emulator and `dagster dev` wired to them, for clicking through the UI."""
    env = dict(os.environ)
    emulators: list[RunningEmulator] = []
    try:
        sources: dict[str, RunningEmulator] = {}
        for source in registry.sources.values():
            sources[source.name] = registry.emulator(source.name).start(seed=seed, size=size, port=0,
                                                                        rate_limit=DEMO_RATE_LIMIT)
            emulators.append(sources[source.name])
            env.update(sources[source.name].env())
        first_source = next(iter(sources.values()), None)
        for destination in registry.destinations.values():
            existing = provisioning(first_source) if first_source else {}
            dst = registry.emulator(destination.name).start(seed=seed, size=size, port=0,
                                                            rate_limit=DEMO_RATE_LIMIT * 10, existing=existing)
            emulators.append(dst)
            env.update({**dst.env(), **demo_settings(dst)})
        # The same home the command line uses from this folder (MIGRATION_HOME, else ./.migration): a command a
        # gate recommends acts on what the UI shows.
        env["MIGRATION_HOME"] = str(default_home().resolve())
        echo(f"migration home: {env['MIGRATION_HOME']} (the command line run from here uses the same; "
             "MIGRATION_HOME changes both)")
        echo("emulators running; the UI uses:")
        secret = {st.env_var for p in [*registry.sources.values(), *registry.destinations.values()]
                  for st in p.settings() if st.secret}
        for key in sorted(k for k in env if k not in os.environ or env[k] != os.environ.get(k)):
            echo(f"  {key}={'*** (emulator credential)' if key in secret else env[key]}")
        cmd = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-p", str(port)]
        echo(f"starting: {' '.join(cmd)}  (open http://127.0.0.1:{port})")
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0
    finally:
        for emu in emulators:
            emu.stop()
