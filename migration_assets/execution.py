"""Headless execution of a pair's jobs, recorded in the Dagster instance the UI reads, with a summary a
person can act on instead of a traceback."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .pairs import Pair

# EXIT_WAITING: nothing ran because a decision is awaited from a person (not a failure, not done either).
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_WAITING = 0, 1, 2, 3
# Which process runs a headless run, so a later one can tell a killed run from a live one.
HOST_TAG, PID_TAG = "helpdesk_migrate/host", "helpdesk_migrate/pid"


# The console shows our summary, not Dagster's event stream with its stack traces; the full event log is in
# the Dagster instance (the UI's run page). HELPDESK_MIGRATE_LOG_LEVEL=DEBUG brings the stream back.
def _loggers() -> dict[str, Any]:
    return {"console": {"config": {"log_level": os.environ.get("HELPDESK_MIGRATE_LOG_LEVEL", "CRITICAL")}}}


def ensure_dagster_home() -> Path:
    """Headless runs are recorded in the same Dagster instance the UI reads (DAGSTER_HOME)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(Path.cwd() / ".dagster_home")
        os.environ["DAGSTER_HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    config = Path(home) / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    return Path(home)


def run_config_for(pair: Pair, job: str, *, run_id: str | None, sample_size: int | None) -> dict[str, Any]:
    config: dict[str, Any] = {"loggers": _loggers()}
    if job == "rollback":
        config["ops"] = {f"{pair.name}_rollback_op": {"config": {"run_id": run_id or ""}}}
    if job == "sample" and sample_size:
        from .jobs import op_name
        from .pairs import sample_key

        config["ops"] = {op_name(sample_key(pair)): {"config": {"size": sample_size}}}
    return config


def run_job(pair: Pair, job: str, *, run_id: str | None = None, sample_size: int | None = None,
            echo: Callable[[str], None] = print, instance: Any = None) -> int:
    import dagster as dg

    from .factory import build_definitions, executor_choice, start_step_server
    from .gates import waiting_for
    from .jobs import job_name
    from .reporting import has_problems, write_report
    from .store import MigrationStore, home_tags

    if instance is None:
        ensure_dagster_home()  # before the step server starts: it keeps the environment it starts with
    # Steps fork from it: it boots (~4 s of imports) while the gates are read and the run is set up (a no-op for
    # other executors). Started first: a run that then waits for a person leaves an idle server, ended at exit.
    start_step_server()
    if instance is None:
        instance = dg.DagsterInstance.get()
    if job in ("full", "delta", "sample"):
        waiting = waiting_for(MigrationStore(), pair, job)
        if waiting:  # checked before any run starts: a run could only stop at the gate
            echo(f"{job} not started: waiting for a person's decision:")
            for item in waiting:
                echo(f"  - {item}")
            return EXIT_WAITING
    name = job_name(pair, job)
    run_config = run_config_for(pair, job, run_id=run_id, sample_size=sample_size)
    for dead in close_dead_runs(instance):
        echo(f"run {dead} was left 'started' by a process that no longer exists (killed?): marked failed; this run "
             "resumes from the store")
    # The run's migration home: each step checks it is its own too (workers of a Celery or Kubernetes run).
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()), **home_tags()}
    if executor_choice() == "in_process":
        defs = build_definitions(pairs=[pair])
        result = defs.resolve_job_def(name).execute_in_process(instance=instance, run_config=run_config,
                                                               raise_on_error=False, tags=tags)
    else:
        # The code location's own job, reconstructed in each step process: the executor the definitions
        # choose (multiprocess by default) runs extracts and loads concurrently, as a UI launch would.
        recon = dg.build_reconstructable_job("migration_assets.definitions", "job_for", reconstructable_args=(name,))
        result = _execute_as_the_ui_would(recon, name, instance, run_config, tags)
    echo(f"run {result.run_id} ({name}): {'succeeded' if result.success else 'FAILED'}")
    problems = 0
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            echo(f"  step {event.step_key} failed: {root_cause(event.step_failure_data.error)}")
            problems += 1
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = event.event_specific_data
            if not ev.passed:
                key = "/".join(ev.asset_key.path)
                sev = ev.severity.value if ev.severity else "ERROR"
                echo(f"  check {key}:{ev.check_name} {sev}: {ev.description or ''}")
                problems += sev == "ERROR"
        elif event.event_type_value in ("RUN_FAILURE", "ENGINE_EVENT") and getattr(
                event.event_specific_data, "error", None) is not None:
            echo(f"  run: {event.message or event.event_type_value}: {root_cause(event.event_specific_data.error)}")
            problems += event.event_type_value == "RUN_FAILURE"
        elif event.event_type_value == "STEP_SKIPPED":
            echo(f"  step {event.step_key} skipped (an upstream blocking check failed)")
    if job != "rollback":
        report, path = write_report(MigrationStore(), pair)
        for obj, counts in report["objects"].items():
            echo(f"  {obj:15} extracted {counts['extracted']:>7}  loaded {counts['loaded']:>7}  "
                 f"quarantined {counts['quarantined']:>5} (collateral {counts['collateral']:>5})  "
                 f"skipped {counts['skipped']:>5}  "
                 f"changed {counts['changed']:>5}")
        echo(f"report: {path}")
        if has_problems(report):
            problems += 1
        waiting = waiting_for(MigrationStore(), pair, "full" if job == "discover" else job)
        if job == "discover" and waiting:
            echo("discovery is done; before records move, a person decides:")
            for item in waiting:
                echo(f"  - {item}")
        elif waiting and result.success:
            # The gates were open when the run started, but not after its extraction (schema drift asks for the
            # map again, a changed pre-flight for a new acknowledgement): the loads were skipped.
            echo(f"{job}: nothing loaded, the run stopped at the go-ahead; a person decides:")
            for item in waiting:
                echo(f"  - {item}")
            return EXIT_WAITING
    return EXIT_OK if result.success and not problems else EXIT_PROBLEMS


LOCATION_NAME = "helpdesk_migration"  # workspace.yaml's code location


def _execute_as_the_ui_would(recon: Any, name: str, instance: Any, run_config: dict[str, Any],
                             tags: dict[str, str]) -> Any:
    """Run a job headless, recorded against the code location's job like a launch from the UI: the run names
    the location and repository it belongs to, so the UI lists it under the job (a run made by execute_job
    has no such origin and shows only in the global runs list)."""
    from dagster._core.execution.api import execute_run
    from dagster._core.remote_origin import (
        ManagedGrpcPythonEnvCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(executable_path=sys.executable, working_directory=os.getcwd(),
                                                    module_name="migration_assets.definitions"),
        location_name=LOCATION_NAME)
    origin = RemoteJobOrigin(repository_origin=RemoteRepositoryOrigin(location, "__repository__"), job_name=name)
    job_def = recon.get_definition()
    # The job's own tags (its pair, its kind, every shard) first, as execute_job merges them.
    run = instance.create_run_for_job(job_def, run_config=run_config, tags={**job_def.run_tags, **tags},
                                      remote_job_origin=origin, job_code_origin=recon.get_python_origin())
    return execute_run(recon, run, instance, raise_on_error=False)


def close_dead_runs(instance: Any) -> list[str]:
    """Headless runs of this machine still 'started' although the process that ran them is gone (SIGKILL, a
    crash, a reboot): without a daemon nothing else would ever end them, and the UI would show them running
    forever. They are marked failed, with the reason, in the instance's event log."""
    import dagster as dg

    host = socket.gethostname()
    closed = []
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags={HOST_TAG: host}))
    for run in runs:
        pid = run.tags.get(PID_TAG, "")
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            instance.report_run_failed(run, message=f"the process running it (pid {pid} on {host}) no longer "
                                                    "exists; a new run resumes from the migration store")
            closed.append(run.run_id)
    return closed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def root_cause(err: Any) -> str:
    """The innermost error's one-line message: what went wrong, not Dagster's wrapping or a traceback."""
    if err is None:
        return "unknown error"
    while getattr(err, "cause", None) is not None:
        err = err.cause
    lines = [line for line in (err.message or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else (err.cls_name or "unknown error")
