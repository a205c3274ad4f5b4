"""Headless execution's bookkeeping in the Dagster instance."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import dagster as dg
from dagster._core.storage.dagster_run import DagsterRun

from migration_assets.execution import HOST_TAG, PID_TAG, close_dead_runs


def _started_run(instance, pid: int, host: str | None = None) -> str:
    run = DagsterRun(job_name="trengo_salesforce_full", status=dg.DagsterRunStatus.STARTED,
                     tags={HOST_TAG: host or socket.gethostname(), PID_TAG: str(pid)})
    instance.add_run(run)
    return run.run_id


def test_a_run_whose_process_was_killed_is_marked_failed_and_a_live_one_is_left_alone(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid now names no process
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        killed = _started_run(instance, dead.pid)
        live = _started_run(instance, os.getpid())
        elsewhere = _started_run(instance, dead.pid, host="another-machine")
        assert close_dead_runs(instance) == [killed]
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(live).status == dg.DagsterRunStatus.STARTED
        # another machine's process cannot be checked from here: left to that machine (or Dagster's daemon)
        assert instance.get_run_by_id(elsewhere).status == dg.DagsterRunStatus.STARTED
        messages = [e.message for e in instance.all_logs(killed)]
        assert any("no longer exists" in (m or "") for m in messages), messages


def test_steps_start_from_a_forkserver_with_the_code_preloaded_unless_told_otherwise(monkeypatch):
    import pytest

    from migration_assets.factory import multiprocess_config, select_executor

    monkeypatch.setenv("MIGRATION_EXECUTOR", "multiprocess")
    monkeypatch.delenv("MIGRATION_START_METHOD", raising=False)
    start = multiprocess_config()["start_method"]
    assert set(start) == {"forkserver"}
    preload = start["forkserver"]["preload_modules"]
    assert {"dagster", "migration_assets.definitions", "great_expectations"} <= set(preload)
    assert preload[-1] == "migration_assets.step_preload"  # last: it resolves the code location's jobs
    monkeypatch.setenv("MIGRATION_START_METHOD", "spawn")
    assert multiprocess_config()["start_method"] == {"spawn": {}}
    monkeypatch.setenv("MIGRATION_START_METHOD", "fork")
    with pytest.raises(ValueError, match="forkserver .* or spawn"):
        select_executor()


def test_the_step_preload_loads_the_instance_storage_and_never_raises(monkeypatch, tmp_path):
    """An exception in a preloaded module would stop the forkserver, and with it the run."""
    import importlib
    import sys
    import threading

    import dagster as dg

    from migration_assets import step_preload

    threads = threading.active_count()
    created = []
    real_get = dg.DagsterInstance.get

    def get():
        created.append(real_get())
        return created[-1]

    monkeypatch.setattr(dg.DagsterInstance, "get", staticmethod(get))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    importlib.reload(step_preload)
    assert len(created) == 1 and "dagster._core.storage.runs.sqlite" in sys.modules
    assert threading.active_count() == threads  # nothing left running to be forked with

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "no-such-home"))  # Dagster refuses a missing home
    importlib.reload(step_preload)
    monkeypatch.setattr("migration_assets.definitions.defs", None)  # a code location that fails to resolve
    importlib.reload(step_preload)


def test_the_step_server_is_started_before_the_run_for_forkserver_runs_only(monkeypatch):
    from multiprocessing import forkserver

    from migration_assets.factory import start_step_server

    started = []
    monkeypatch.setattr(forkserver, "ensure_running", lambda: started.append(True))
    monkeypatch.setattr(forkserver._forkserver, "_preload_modules", ["before"])  # restored after the test
    monkeypatch.delenv("MIGRATION_START_METHOD", raising=False)
    monkeypatch.setenv("MIGRATION_EXECUTOR", "multiprocess")
    assert start_step_server() is True and started == [True]
    # The list Dagster's executor sets for this job (its own module first), so it finds the server it wants.
    assert forkserver._forkserver._preload_modules == [
        "dagster._core.executor.multiprocess", "dagster", "migration_assets.definitions", "great_expectations",
        "migration_assets.step_preload"]
    for executor, start in (("in_process", ""), ("celery", ""), ("", "spawn")):
        monkeypatch.setenv("MIGRATION_EXECUTOR", executor)
        monkeypatch.setenv("MIGRATION_START_METHOD", start)
        assert start_step_server() is False
    assert started == [True]


def test_a_run_started_from_the_command_line_is_recorded_against_its_job_in_the_code_location(tmp_path, monkeypatch):
    """The UI lists a job's runs by the code location and repository the run names; a headless run made the way
    `helpdesk-migrate run` makes it names workspace.yaml's location, as a launch from the UI would."""
    from dagster._core.storage.dagster_run import RunsFilter

    from tests.e2e_support import start_migration, stop_migration

    monkeypatch.setenv("MIGRATION_EXECUTOR", "multiprocess")
    monkeypatch.setenv("MIGRATION_PAIRS", "trengo:salesforce")  # the step processes build only this pair
    m = start_migration("salesforce", tmp_path, monkeypatch, size=4)
    try:
        assert m.run("discover") in (0, 1), "\n".join(m.output)
        [run] = m.instance.get_runs(RunsFilter(job_name="trengo_to_salesforce_discover"))
        origin = run.remote_job_origin
        assert origin is not None and origin.location_name == "helpdesk_migration"
        assert origin.repository_origin.repository_name == "__repository__" and origin.job_name == run.job_name
        assert run.tags["helpdesk_migrate/pair"] == "trengo_to_salesforce"
        from migration_assets.partitions import all_shards_tags

        assert all_shards_tags().items() <= run.tags.items()  # the job's own tags, as execute_job merges them
        assert any("_discover): succeeded" in line for line in m.output), "\n".join(m.output)
    finally:
        stop_migration(m)
