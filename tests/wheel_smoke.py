"""Run by tests/test_wheel.py with the interpreter of a fresh virtual environment the built wheel is installed
in (never from the source tree): the code location loads with the suites of the installed package, and a
failed critical expectation blocks the tiny pair's loads. Prints one JSON line with what it saw."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import dagster as dg
from tiny_pair import TinyDestination, TinyOrg, TinyPlugin, TinySource, TinyWorkspace

import migration_assets
from migration_assets.factory import Pair, build_definitions
from migration_assets.gates import approve
from migration_assets.quality import expectations_dir
from migration_assets.registry import build_registry, get_plugin_manager
from migration_assets.resources import MigrationStoreResource
from migration_assets.store import MigrationStore


def run(defs: dg.Definitions, name: str) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(name).execute_in_process(instance=dg.DagsterInstance.ephemeral(),
                                                         raise_on_error=False)


def main() -> None:
    seen: dict = {"engine": migration_assets.__file__, "suites": str(expectations_dir())}
    seen["suite_files"] = sorted(p.name for p in expectations_dir().glob("*.json"))
    # The real code location, from the wheel's entry points: every declared object finds its suite.
    from migration_assets.definitions import defs as location

    seen["location_assets"] = len(list(location.resolve_asset_graph().get_all_asset_keys()))

    home = Path(os.environ["MIGRATION_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    os.environ["TINYSRC_TOKEN"] = "tiny-secret-token-123"
    ws = TinyWorkspace()
    ws.agents.clear()  # the agents suite wants at least one agent: a critical expectation fails
    registry = build_registry(get_plugin_manager([TinyPlugin(TinySource(ws), TinyDestination(TinyOrg()))],
                                                 load_entry_points=False))
    pair = Pair(registry.source("tinysrc"), registry.destination("tinydst"))
    url = f"sqlite:///{home}/store.sqlite"
    defs = build_definitions(registry, [pair], store=MigrationStoreResource(url=url))
    store = MigrationStore(url)
    # Discovery meets the failed critical expectation: the map (behind every root extract's checks) is not
    # proposed, so nothing can be confirmed and no full run loads anything.
    result = run(defs, "tinysrc_to_tinydst_discover")
    seen["mapping_confirmable"] = approve(store, pair.name, "tinysrc", "tinydst", "mapping", by="wheel test")[0]
    approve(store, pair.name, "tinysrc", "tinydst", "sample", by="wheel test", waive_reason="tiny pair")
    full = run(defs, "tinysrc_to_tinydst_full")
    seen["full_materialized"] = sorted("/".join(e.asset_key.path) for e in full.get_asset_materialization_events())
    checks = {f"{'/'.join(e.event_specific_data.asset_key.path)}:{e.event_specific_data.check_name}":
              e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    agents = checks["tinysrc/agents:gx_critical"]
    seen["agents_gx_critical_passed"] = agents.passed
    seen["agents_failed_expectations"] = agents.metadata["failed_expectations"].value
    seen["contacts_gx_critical_passed"] = checks["tinysrc/contacts:gx_critical"].passed
    seen["materialized"] = sorted("/".join(e.asset_key.path) for e in result.get_asset_materialization_events())
    print(json.dumps(seen))


if __name__ == "__main__":
    sys.exit(main())
