"""Files, maps and reports land in the migration home: a run records its home (path and identity) in its tags, and
every step refuses to start in a process whose home is not the run's (a worker with its own disk)."""

from __future__ import annotations

import dagster as dg
import pytest

from migration_assets.hookspecs import ConfigurationError
from migration_assets.resources import MigrationStoreResource
from migration_assets.store import HOME_ID_TAG, HOME_TAG, check_home, home_tags


@dg.asset
def writes_a_file(store: MigrationStoreResource) -> None:
    store.get()


def run_with(tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    return dg.materialize([writes_a_file], resources={"store": MigrationStoreResource()}, tags=tags,
                          raise_on_error=False)


def test_the_run_home_is_recorded_once_and_checked_by_every_step(migration_home, tmp_path, monkeypatch):
    tags = home_tags()
    assert tags[HOME_TAG] == str(migration_home.resolve()) and len(tags[HOME_ID_TAG]) == 32
    assert home_tags() == tags  # the identity is written once, then read
    check_home(tags)
    assert run_with(tags).success

    # A worker with another MIGRATION_HOME.
    monkeypatch.setenv("MIGRATION_HOME", str(tmp_path / "worker-local"))
    with pytest.raises(ConfigurationError, match=f"set MIGRATION_HOME={migration_home.resolve()} on every worker"):
        check_home(tags)
    result = run_with(tags)
    assert not result.success
    failures = [e for e in result.all_events if e.is_failure]
    assert failures and any("on every worker" in str(e.event_specific_data) for e in failures), failures

    # The same path, but its own folder (not the shared mount): no identity, or another one.
    monkeypatch.setenv("MIGRATION_HOME", str(migration_home))
    (migration_home / ".home-id").unlink()
    with pytest.raises(ConfigurationError, match="has no .home-id"):
        check_home(tags)
    (migration_home / ".home-id").write_text("another-disk")
    with pytest.raises(ConfigurationError, match=".home-id differs"):
        check_home(tags)

    # A run started without the tags (a UI launch) is not checked.
    check_home({})
    assert run_with({}).success


def test_a_headless_run_records_its_home(migration_home, monkeypatch):
    """execution.run_job tags the run with the operator's home."""
    import migration_assets.execution as execution

    seen = {}
    monkeypatch.setattr(execution, "close_dead_runs", lambda instance: [])

    class Stop(Exception):
        pass

    def fake_execute_in_process(self, **kw):
        seen.update(kw["tags"])
        raise Stop

    monkeypatch.setattr(dg.JobDefinition, "execute_in_process", fake_execute_in_process)
    from migration_assets.factory import Pair
    from migration_assets.registry import default_registry

    reg = default_registry()
    with pytest.raises(Stop), dg.instance_for_test() as instance:
        execution.run_job(Pair(reg.source("trengo"), reg.destination("salesforce")), "discover", instance=instance,
                          echo=lambda _: None)
    assert seen[HOME_TAG] == str(migration_home.resolve()) and seen[HOME_ID_TAG]
