"""Scale-out, tested: the full Trengo -> Salesforce job on Dagster's Celery executor with two real worker
processes, Redis as broker and result backend, PostgreSQL for Dagster's storage (deploy/dagster.yaml) and for the
migration store, the shared limiter on Redis. Every command is the one deploy/README.md gives ("Celery").

It gets the counts of the same workspace migrated with the default (multiprocess) executor; the source's budget
holds across both workers (the Trengo emulator's request log: never more than the limit in any window); a worker
killed while it runs a step does not leave the run hanging: the step is handed to the other worker (acks_late,
task_reject_on_worker_lost, the broker's visibility timeout) and the run succeeds within a bounded time; a
re-run creates nothing (the destination's counts stay equal)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from migration_assets import gates
from migration_assets.demo import demo_settings, provisioning
from migration_assets.factory import Pair
from migration_assets.registry import default_registry
from migration_assets.store import MigrationStore
from tests.e2e_support import BOOKKEEPING

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
pytest.importorskip("dagster_celery", reason="the celery extra is not installed (pip install '.[celery]')")

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
SEED, SIZE = 5, 10
# The source's budget, binding: a 3-second window (the emulator's and the limiter's) keeps the test short.
LIMIT, WINDOW = 40, 3
VISIBILITY = 8  # seconds: a killed worker's step is handed out again after this (CELERY_VISIBILITY_TIMEOUT)
BOUND = 150  # seconds a run may take, killed worker included
LOAD_STEP = re.compile(r"salesforce__from_trengo__(contacts|conversations|messages)")




@pytest.fixture
def store_url(postgres_url):
    """The migration store in its own database beside Dagster's (deploy/README.md)."""
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"{sa.engine.make_url(postgres_url).database}_store"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def start_emulators():
    reg = default_registry()
    src = reg.emulator("trengo").start(seed=SEED, size=SIZE, port=0, rate_limit=LIMIT, window_seconds=WINDOW)
    dst = reg.emulator("salesforce").start(seed=SEED, size=SIZE, port=0, rate_limit=600_000,
                                           existing=provisioning(src))
    return src, dst, {**src.env(), **dst.env(), **demo_settings(dst), "TRENGO_RETRY_BASE_SECONDS": "0.05"}


def cli(env: dict[str, str], *args: str, timeout: float = BOUND) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / "helpdesk-migrate"), *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    keep(env, " ".join(args), done.stdout + done.stderr)
    return done


def keep(env: dict[str, str], what: str, output: str) -> None:
    """Each command's output beside the migration home, for the reader of a failure."""
    with open(Path(env["MIGRATION_HOME"]).parent / f"{Path(env['MIGRATION_HOME']).name}-commands.log", "a") as fh:
        fh.write(f"$ helpdesk-migrate {what}\n{output}\n")


def migrate(env: dict[str, str], monkeypatch, *, via_cli: bool) -> None:
    """discover (a run) -> confirm the map and the pre-flight, waive the sample: with deploy/README.md's commands
    (``via_cli``), or recording the same approvals in-process (the baseline: three fewer interpreters to start)."""
    pair_args = ["--source", "trengo", "--destination", "salesforce"]
    done = cli(env, "run", *pair_args, "--job", "discover")
    # 1: the run stops at its gates, which wait for a person (the field map, the pre-flight), as it should.
    assert done.returncode in (0, 1) and "_discover): " in done.stdout, done.stdout + done.stderr
    waive = "scale-out test: the sample job has its own test"
    if via_cli:
        for args in (["mapping", "confirm", *pair_args], ["approve", "preflight", *pair_args],
                     ["approve", "sample", *pair_args, "--waive", waive]):
            done = cli(env, *args)
            assert done.returncode == 0, done.stdout + done.stderr
        return
    reg = default_registry()
    pair = Pair(reg.source("trengo"), reg.destination("salesforce"))
    with monkeypatch.context() as m:
        for key in ("MIGRATION_HOME", "MIGRATION_STORE_URL"):
            m.setenv(key, env[key]) if key in env else m.delenv(key, raising=False)
        store = MigrationStore()
        for kind, reason in (("mapping", None), ("preflight", None), ("sample", waive)):
            ok, message = gates.approve(store, pair.name, "trengo", "salesforce", kind, by="test", waive_reason=reason)
            assert ok, message
        store.dispose()


def full(env: dict[str, str]) -> tuple[str, float]:
    began = time.monotonic()
    done = cli(env, "run", "--source", "trengo", "--destination", "salesforce", "--job", "full")
    out = done.stdout + done.stderr
    assert "_full): succeeded" in out, out
    return out, time.monotonic() - began


def report_counts(out: str) -> dict[str, tuple[int, ...]]:
    """The run summary's per-object counts (extracted, loaded, quarantined, collateral, skipped, changed)."""
    rows = re.findall(r"^\s+(\w+)\s+extracted\s+(\d+)\s+loaded\s+(\d+)\s+quarantined\s+(\d+) \(collateral\s+(\d+)\)"
                      r"\s+skipped\s+(\d+)\s+changed\s+(\d+)", out, re.M)
    return {r[0]: tuple(int(v) for v in r[1:]) for r in rows}


def destination_counts(dst) -> dict[str, int]:
    snap = dst.snapshot()
    return {obj: len(records) for obj, records in snap.items() if obj not in BOOKKEEPING}


def most_in_any_window(times: list[float], window: float) -> int:
    """The most requests in any window of ``window`` seconds (sliding: stricter than the emulator's fixed one)."""
    times, most, first = sorted(times), 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def assert_budget_held(src) -> None:
    answered = [r["time"] for r in src.request_log() if r["path"].startswith("/api/") and r["status"] != 429]
    assert answered, "no request reached the source"
    assert src.throttle.refused == 0, f"the source refused {src.throttle.refused} requests (over its budget)"
    assert src.throttle.max_hits_in_window <= LIMIT
    assert most_in_any_window(answered, WINDOW) <= LIMIT


def start_worker(env: dict[str, str], name: str, log: Path) -> subprocess.Popen:
    """deploy/README.md's worker command; its own session, so that killing it kills its pool processes too."""
    return subprocess.Popen([str(BIN / "celery"), "-A", "migration_assets.celery_app", "worker", "-n", f"{name}@%h",
                             "--concurrency", "2", "--loglevel", "INFO"],
                            env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def running_steps(instance) -> dict[str, str]:
    """Steps of the newest run started on a Celery worker and not finished yet: step key -> worker (name@host)."""
    runs = instance.get_runs(limit=1)
    if not runs:
        return {}
    started, finished = {}, set()
    for record in instance.all_logs(runs[0].run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type_value == "ENGINE_EVENT" and "in celery worker" in (event.message or ""):
            started[event.step_key] = event.event_specific_data.metadata["Celery worker"].value
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            finished.add(event.step_key)
    return {step: worker for step, worker in started.items() if step not in finished}


def finished_on(instance, worker_name: str) -> set[str]:
    """Steps of the newest run that succeeded after starting on ``worker_name``."""
    run_id = instance.get_runs(limit=1)[0].run_id
    on, succeeded = set(), set()
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type_value == "ENGINE_EVENT" and "in celery worker" in (event.message or ""):
            if event.event_specific_data.metadata["Celery worker"].value.split("@")[0] == worker_name:
                on.add(event.step_key)
        elif event.event_type_value == "STEP_SUCCESS":
            succeeded.add(event.step_key)
    return on & succeeded


def task_ids(log: Path, what: str) -> list[str]:
    return re.findall(rf"Task execute_plan\[([0-9a-f-]+)\] {what}", log.read_text(errors="replace"))


def baseline(tmp_path: Path, monkeypatch) -> tuple[dict, dict]:
    """The same workspace migrated with the default executor (multiprocess) on a local home: the counts to match."""
    src, dst, emulators = start_emulators()
    try:
        env = {**os.environ, **emulators, "MIGRATION_HOME": str(tmp_path / "mp-home"),
               "DAGSTER_HOME": str(tmp_path / "mp-dagster"), "MIGRATION_EXECUTOR": "multiprocess",
               "MIGRATION_RATE_LIMIT_URL": f"sqlite:///{tmp_path / 'mp-rl.sqlite'}"}
        for key in ("MIGRATION_STORE_URL", "CELERY_BROKER_URL", "CELERY_BACKEND_URL"):
            env.pop(key, None)
        migrate(env, monkeypatch, via_cli=False)
        out, _ = full(env)
        assert_budget_held(src)
        return report_counts(out), destination_counts(dst)
    finally:
        src.stop()
        dst.stop()


def test_the_full_job_runs_on_two_celery_workers_holds_the_budget_and_survives_a_killed_worker(
        postgres_url, store_url, redis_url, tmp_path, monkeypatch):
    pg = sa.engine.make_url(postgres_url)
    prefix = f"hm-test-{uuid.uuid4().hex[:8]}:"  # this run's queue on the shared Redis: no other fleet takes its steps
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", dagster_home / "dagster.yaml")
    home = tmp_path / "shared-home"  # on every node: a shared mount (here one machine)
    src, dst, emulators = start_emulators()
    env = {**os.environ, **emulators,
           "DAGSTER_HOME": str(dagster_home), "DAGSTER_PG_HOST": pg.host, "DAGSTER_PG_PORT": str(pg.port or 5432),
           "DAGSTER_PG_DB": pg.database, "DAGSTER_PG_USER": pg.username, "DAGSTER_PG_PASSWORD": pg.password or "",
           "MIGRATION_EXECUTOR": "celery", "CELERY_BROKER_URL": redis_url, "CELERY_BACKEND_URL": redis_url,
           "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY), "CELERY_BROKER_KEY_PREFIX": prefix,
           "MIGRATION_STORE_URL": store_url, "MIGRATION_RATE_LIMIT_URL": redis_url, "MIGRATION_HOME": str(home),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log", tmp_path / "replacement.log"]
    timings: dict[str, float] = {}
    names = [f"w1-{uuid.uuid4().hex[:6]}", f"w2-{uuid.uuid4().hex[:6]}"]
    workers = [start_worker(env, names[0], logs[0]), start_worker(env, names[1], logs[1])]
    run = None
    try:
        # The workers start while the same workspace is migrated with the default executor, for the counts (not at
        # the same time as the Celery run: on two cores both would only take longer).
        began = time.monotonic()
        expected_report, expected_destination = baseline(tmp_path, monkeypatch)
        timings["multiprocess baseline"] = time.monotonic() - began
        assert expected_report["conversations"][1] > 0 and expected_report["messages"][1] > 0

        began = time.monotonic()
        migrate(env, monkeypatch, via_cli=True)
        timings["discover"] = time.monotonic() - began
        assert all(task_ids(log, "succeeded") for log in logs[:2]), "each worker ran steps of the discover run"

        # The full run. The worker that runs a load step (records going into Salesforce) is killed in the middle of it,
        # its whole process group as a lost node; the destination answers slowly until then, so the load lasts.
        for key, value in env.items():
            if key.startswith("DAGSTER_"):
                monkeypatch.setenv(key, value)
        instance = dg.DagsterInstance.from_config(str(dagster_home))
        dst.faults.arm(latency_ms=200)
        began = time.monotonic()
        run = subprocess.Popen([str(BIN / "helpdesk-migrate"), "run", "--source", "trengo", "--destination",
                                "salesforce", "--job", "full"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        killed = None
        while time.monotonic() - began < BOUND and run.poll() is None and killed is None:
            for step, worker in running_steps(instance).items():
                if LOAD_STEP.fullmatch(step):
                    killed = names.index(worker.split("@")[0]), step
                    stop(workers[killed[0]])
                    # A replacement starts (as a supervisor or Kubernetes would restart it); the lost step is not
                    # waiting for it: the broker hands it to whichever worker asks after the visibility timeout.
                    names.append(f"replacement-{uuid.uuid4().hex[:6]}")
                    workers.append(start_worker(env, names[-1], logs[2]))
                    break
            time.sleep(0.1)
        dst.faults.arm(latency_ms=0)
        assert killed, "no load step was seen running on a worker"
        lost_worker, lost_step = killed
        try:
            out, _ = run.communicate(timeout=BOUND)
            keep(env, "run --job full (a worker killed)", out)
        except subprocess.TimeoutExpired:
            run.kill()
            raise AssertionError(f"the run did not end within {BOUND} s of a killed worker") from None
        timings["full, a worker killed"] = elapsed = time.monotonic() - began
        assert "_full): succeeded" in out, out
        # The step the killed worker held was handed to another worker, which finished it.
        others = [n for i, n in enumerate(names) if i != lost_worker]
        assert any(lost_step in finished_on(instance, n) for n in others), (lost_step, out)
        lost_tasks = set(task_ids(logs[lost_worker], "received")) - set(task_ids(logs[lost_worker], "succeeded"))
        done_elsewhere = {t for i, log in enumerate(logs) if i != lost_worker for t in task_ids(log, "succeeded")}
        assert lost_tasks and lost_tasks <= done_elsewhere
        instance.dispose()

        assert report_counts(out) == expected_report
        assert destination_counts(dst) == expected_destination
        assert_budget_held(src)
        assert elapsed < BOUND

        # A re-run creates nothing.
        before = destination_counts(dst)
        out, timings["re-run"] = full(env)
        assert destination_counts(dst) == before, out
        assert report_counts(out) == expected_report
        assert_budget_held(src)
        source_requests = len([r for r in src.request_log() if r["path"].startswith("/api/")])
        print("; ".join(f"{k} {v:.0f} s" for k, v in timings.items())
              + f"; {source_requests} source requests at {LIMIT} per {WINDOW} s")
    finally:
        if run is not None and run.poll() is None:
            run.kill()
            run.wait()
        for worker in workers:
            stop(worker)
        import redis

        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        src.stop()
        dst.stop()
