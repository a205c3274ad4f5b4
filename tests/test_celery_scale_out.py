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
VISIBILITY = 12  # seconds: a killed worker's step is handed out again after this (CELERY_VISIBILITY_TIMEOUT)
BOUND = 150  # seconds a run may take, killed worker included


@pytest.fixture
def redis_url():
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/15); .ci/run sets it")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis at TEST_REDIS_URL is not reachable: {exc}")
    return url


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
    return subprocess.run([str(BIN / "helpdesk-migrate"), *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def migrate(env: dict[str, str], monkeypatch) -> None:
    """discover (a run) -> confirm the map and the pre-flight, waive the sample (what `helpdesk-migrate mapping
    confirm` and `approve` record, here in-process: three fewer interpreters to start)."""
    done = cli(env, "run", "--source", "trengo", "--destination", "salesforce", "--job", "discover")
    # 1: the run stops at its gates, which wait for a person (the field map, the pre-flight), as it should.
    assert done.returncode in (0, 1) and "_discover): " in done.stdout, done.stdout + done.stderr
    reg = default_registry()
    pair = Pair(reg.source("trengo"), reg.destination("salesforce"))
    with monkeypatch.context() as m:
        for key in ("MIGRATION_HOME", "MIGRATION_STORE_URL"):
            m.setenv(key, env[key]) if key in env else m.delenv(key, raising=False)
        store = MigrationStore()
        for kind, waive in (("mapping", None), ("preflight", None), ("sample", "scale-out test: sampled elsewhere")):
            ok, message = gates.approve(store, pair.name, "trengo", "salesforce", kind, by="test", waive_reason=waive)
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
        migrate(env, monkeypatch)
        out, _ = full(env)
        assert_budget_held(src)
        return report_counts(out), destination_counts(dst)
    finally:
        src.stop()
        dst.stop()


def test_the_full_job_runs_on_two_celery_workers_holds_the_budget_and_survives_a_killed_worker(
        postgres_url, store_url, redis_url, tmp_path, monkeypatch):
    pg = sa.engine.make_url(postgres_url)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", dagster_home / "dagster.yaml")
    home = tmp_path / "shared-home"  # on every node: a shared mount (here one machine)
    src, dst, emulators = start_emulators()
    env = {**os.environ, **emulators,
           "DAGSTER_HOME": str(dagster_home), "DAGSTER_PG_HOST": pg.host, "DAGSTER_PG_PORT": str(pg.port or 5432),
           "DAGSTER_PG_DB": pg.database, "DAGSTER_PG_USER": pg.username, "DAGSTER_PG_PASSWORD": pg.password or "",
           "MIGRATION_EXECUTOR": "celery", "CELERY_BROKER_URL": redis_url, "CELERY_BACKEND_URL": redis_url,
           "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY),
           "MIGRATION_STORE_URL": store_url, "MIGRATION_RATE_LIMIT_URL": redis_url, "MIGRATION_HOME": str(home),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log", tmp_path / "worker1-restarted.log"]
    timings: dict[str, float] = {}
    workers = [start_worker(env, f"w1-{uuid.uuid4().hex[:6]}", logs[0]),
               start_worker(env, f"w2-{uuid.uuid4().hex[:6]}", logs[1])]
    try:
        # The workers start while the same workspace is migrated with the default executor, for the counts.
        began = time.monotonic()
        expected_report, expected_destination = baseline(tmp_path, monkeypatch)
        timings["multiprocess baseline"] = time.monotonic() - began
        assert expected_report["conversations"][1] > 0 and expected_report["messages"][1] > 0

        began = time.monotonic()
        migrate(env, monkeypatch)
        timings["discover"] = time.monotonic() - began
        assert all(task_ids(log, "succeeded") for log in logs[:2]), "each worker ran steps of the discover run"

        # The full run; worker 1 is killed (the whole process group, as a lost node) while it runs a step.
        began = time.monotonic()
        run = subprocess.Popen([str(BIN / "helpdesk-migrate"), "run", "--source", "trengo", "--destination",
                                "salesforce", "--job", "full"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        done_before = len(task_ids(logs[0], "succeeded"))
        lost: set[str] = set()
        while time.monotonic() - began < BOUND and run.poll() is None:
            received, succeeded = task_ids(logs[0], "received"), set(task_ids(logs[0], "succeeded"))
            running = [t for t in received if t not in succeeded]
            if len(succeeded) > done_before and running:
                stop(workers[0])
                lost = set(running)
                break
            time.sleep(0.05)
        assert lost, "worker 1 was never seen running a step of the full run"
        try:
            out, _ = run.communicate(timeout=BOUND)
        except subprocess.TimeoutExpired:
            run.kill()
            raise AssertionError(f"the run did not end within {BOUND} s of a killed worker") from None
        timings["full, a worker killed"] = elapsed = time.monotonic() - began
        assert "_full): succeeded" in out, out
        # The steps the killed worker held were handed to the other one, which finished them.
        assert lost <= set(task_ids(logs[1], "succeeded")), (lost, logs[1].read_text()[-3000:])

        assert report_counts(out) == expected_report
        assert destination_counts(dst) == expected_destination
        assert_budget_held(src)
        assert elapsed < BOUND

        # A re-run creates nothing.
        before = destination_counts(dst)
        workers[0] = start_worker(env, f"w1b-{uuid.uuid4().hex[:6]}", logs[2])
        out, timings["re-run"] = full(env)
        assert destination_counts(dst) == before
        assert report_counts(out) == expected_report
        assert_budget_held(src)
        source_requests = len([r for r in src.request_log() if r["path"].startswith("/api/")])
        print("; ".join(f"{k} {v:.0f} s" for k, v in timings.items())
              + f"; {source_requests} source requests at {LIMIT} per {WINDOW} s")
    finally:
        for worker in workers:
            stop(worker)
        src.stop()
        dst.stop()
