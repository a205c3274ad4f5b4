"""Build Dagster definitions from the registered plugins and (source, destination) pairs.

Per canonical object: one extract asset ``<source>/<object>`` with Great Expectations checks, shared by every
pair of that source, and per pair one load asset ``<destination>/from_<source>/<object>`` with a blocking
reconciliation check and the destination's own checks (every per-pair key names both sides: any number of
sources and destinations build together in one code location). Load assets depend on the destination's declared order and on the pair's pre-flight gate.
Data moves through the migration store; assets return only metadata, never pickled values.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from . import approvals, assets_extract, assets_load, jobs, lifecycle
from .asset_metadata import background_step_limits, owners
from .canonical import SCHEMA
from .hookspecs import SourcePlugin
from .pairs import Pair, extract_key, gate_extract_keys, load_key, pair_key, preflight_key
from .registry import Registry, default_registry
from .resources import MigrationStoreResource, connections_resource

PAIRS_ENV = "MIGRATION_PAIRS"
EXECUTOR_ENV = "MIGRATION_EXECUTOR"
START_METHOD_ENV = "MIGRATION_START_METHOD"
MAX_CONCURRENT_ENV = "MIGRATION_MAX_CONCURRENT"
DEFAULT_MAX_CONCURRENT = 6
# Celery (MIGRATION_EXECUTOR=celery): the run's executor and every worker (migration_assets.celery_app) read these,
# through celery_settings(), so they cannot disagree. Defaults: dagster-celery's own (RabbitMQ on this host, rpc://).
CELERY_BROKER_ENV, CELERY_BACKEND_ENV = "CELERY_BROKER_URL", "CELERY_BACKEND_URL"
CELERY_VISIBILITY_ENV = "CELERY_VISIBILITY_TIMEOUT"
CELERY_KEY_PREFIX_ENV = "CELERY_BROKER_KEY_PREFIX"  # Redis broker: its own keys, so several fleets share one Redis
DEFAULT_CELERY_BROKER, DEFAULT_CELERY_BACKEND = "pyamqp://guest@localhost:5672//", "rpc://"
DEFAULT_CELERY_VISIBILITY_TIMEOUT = 3600  # seconds (kombu's default): see celery_settings


def select_pairs(registry: Registry, spec: str | None = None) -> list[Pair]:
    spec = spec if spec is not None else os.environ.get(PAIRS_ENV, "")
    if spec.strip():
        pairs = []
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            if ":" not in item:
                raise ValueError(f"{PAIRS_ENV}: {item!r} is not SOURCE:DESTINATION")
            s, d = item.split(":", 1)
            pairs.append(Pair(registry.source(s.strip()), registry.destination(d.strip())))
        return pairs
    return [Pair(s, d) for s in registry.sources.values() for d in registry.destinations.values()]


class MissingSuiteError(ValueError):
    """A canonical object a plugin declares has no Great Expectations suite (or an unreadable one)."""


def require_suites(pairs: Iterable[Pair]) -> None:
    """Every canonical object a source or destination of ``pairs`` declares has a readable suite. Without
    one, the object's gx_critical check would pass on zero expectations: a silent pass. So the definitions
    refuse to load instead, naming the object, who declares it and where the suite is looked for."""
    from .quality import expectations_dir, load_suite_json

    declared: dict[str, set[str]] = {}
    for pair in pairs:
        for role, plugin in (("source", pair.source), ("destination", pair.destination)):
            for obj in plugin.objects():
                declared.setdefault(obj.canonical, set()).add(f"{role} {plugin.name}")
    problems = []
    for canonical in sorted(declared):
        by = ", ".join(sorted(declared[canonical]))
        try:
            suite = load_suite_json(canonical)
        except (OSError, ValueError) as exc:  # ValueError: broken JSON
            problems.append(f"{canonical!r} (declared by {by}): its suite cannot be read: {exc}")
            continue
        if suite is None:
            problems.append(f"{canonical!r} (declared by {by}): no suite {canonical}.json")
    if problems:
        raise MissingSuiteError(
            f"no Great Expectations suite for {len(problems)} declared object(s) in {expectations_dir()}: "
            + "; ".join(problems) + ". Add the suite (GX suite JSON, one per canonical object), or point "
            "MIGRATION_EXPECTATIONS_DIR at a directory that has it; an object without one would pass its "
            "critical checks unchecked.")


def build_definitions(registry: Registry | None = None, pairs: Sequence[Pair] | None = None,
                      store: MigrationStoreResource | None = None) -> dg.Definitions:
    # Backfill policies and code references are Dagster beta APIs, partitioned checks a preview: their warnings
    # would reach every command.
    with warnings.catch_warnings():
        _quiet_previews()
        return _build_definitions(registry, pairs, store)


def _build_definitions(registry: Registry | None, pairs: Sequence[Pair] | None,
                       store: MigrationStoreResource | None) -> dg.Definitions:
    registry = registry or default_registry()
    pairs = list(pairs) if pairs is not None else select_pairs(registry)
    parts: list[dg.Definitions] = []
    sources: dict[str, Any] = {}
    for pair in pairs:
        sources.setdefault(pair.source.name, pair.source)
    for name, source in sources.items():
        parts.append(source_definitions(source, [p for p in pairs if p.source.name == name]))
    parts += [pair_definitions(pair) for pair in pairs]
    plugins = [*sources.values(), *{p.destination.name: p.destination for p in pairs}.values()]
    return dg.Definitions.merge(*parts, runtime_definitions(store, plugins or None))


def runtime_definitions(store: MigrationStoreResource | None = None,
                        plugins: Sequence[Any] | None = None) -> dg.Definitions:
    """What a code location sets once for every migration in it: the store, the platforms' connection settings
    (``plugins``, default every registered one) and the executor."""
    if plugins is None:
        registry = default_registry()
        plugins = [*registry.sources.values(), *registry.destinations.values()]
    return dg.Definitions(resources={"store": store or MigrationStoreResource(),
                                     "connections": connections_resource(plugins)}, executor=select_executor())


@dataclass(frozen=True)
class Shaping:
    """What a component's attributes set instead of the environment: the owners of its assets (else
    MIGRATION_OWNERS), tags on its assets and jobs, the retries of a failed extract step (else
    MIGRATION_STEP_RETRIES), the delta schedule's cron and whether it starts running."""

    owners: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    step_retries: int | None = None
    delta_cron: str = jobs.DEFAULT_DELTA_CRON
    delta_running: bool = False


def source_definitions(source: SourcePlugin, pairs: Sequence[Pair] = (), shaping: Shaping = Shaping()) -> \
        dg.Definitions:
    """One source's extracts, their checks and its archive; ``pairs``: the pairs it feeds (their jobs check
    their gates before extracting)."""
    with warnings.catch_warnings():
        _quiet_previews()
        require_suites([p for p in pairs] or [])
        assets, checks = assets_extract.build_source_assets(source, list(pairs), retries=shaping.step_retries)
        return dg.Definitions(assets=_standard([*assets, lifecycle._archive_asset(source)], shaping),
                              asset_checks=checks)


def pair_definitions(pair: Pair, shaping: Shaping = Shaping()) -> dg.Definitions:
    """One migration: its gates, decisions, loads, reports, jobs and schedules."""
    with warnings.catch_warnings():
        _quiet_previews()
        require_suites([pair])
        assets = assets_load.build_pair_assets(pair) + lifecycle.build_lifecycle_assets(pair)
        decided, gate_checks, decision_jobs = approvals.build_decisions(pair, shaping.tags)
        job_defs, schedules = jobs.build_jobs([pair], tags=shaping.tags, delta_cron=shaping.delta_cron,
                                              delta_running=shaping.delta_running)
        return dg.Definitions(assets=_standard(assets + decided, shaping), asset_checks=gate_checks,
                              jobs=job_defs + decision_jobs, schedules=schedules)


def _quiet_previews() -> None:
    """Inside warnings.catch_warnings(): the Dagster APIs we use on purpose that Dagster marks beta or preview."""
    warnings.simplefilter("ignore", dg.BetaWarning)
    warnings.simplefilter("ignore", dg.PreviewWarning)


def _standard(assets: list, shaping: Shaping = Shaping()) -> list:
    """Every asset names its owners and the code that defines it, in Dagster's own metadata, and carries the
    component's tags."""
    who = owners(shaping.owners)
    extra = dict(shaping.tags)
    assets = dg.map_asset_specs(lambda spec: spec.replace_attributes(
        owners=spec.owners or who, tags={**extra, **(spec.tags or {})}), assets)
    try:
        return dg.with_source_code_references(assets)
    except (OSError, TypeError) as exc:  # source files unreadable (a frozen install): the links are a nicety
        logging.getLogger("helpdesk_migrate").warning("assets without code references: %s", exc)
        return assets


def executor_choice() -> str:
    """MIGRATION_EXECUTOR as given: multiprocess (also when unset), in_process, celery or k8s."""
    return os.environ.get(EXECUTOR_ENV, "").strip().lower() or "multiprocess"


def select_executor():
    """Dagster's own executors: multiprocess by default; Celery or Kubernetes for multi-node runs."""
    choice = executor_choice()
    if choice == "multiprocess":
        # Steps wait on the network, not the CPU: more of them than cores keeps the source budget busy while
        # loads run. The shared rate limiter keeps them all under the token's limit.
        return dg.multiprocess_executor.configured(multiprocess_config())
    if choice == "in_process":
        return dg.in_process_executor
    try:
        if choice == "celery":
            from dagster_celery import celery_executor

            return celery_executor.configured(celery_executor_config(), name="celery")
        if choice == "k8s":
            from dagster_k8s import k8s_job_executor

            return k8s_job_executor
    except ImportError as exc:
        raise ValueError(f"{EXECUTOR_ENV}={choice} needs the optional extra: pip install "
                         f"'helpdesk-migrate[{choice}]' ({exc})") from None
    raise ValueError(f"{EXECUTOR_ENV}={choice!r}: use multiprocess, in_process, celery or k8s")


def celery_settings(env: Mapping[str, str] | None = None) -> dict:
    """Broker, result backend and Celery settings of a Celery run, from the environment: the executor that submits
    a run's steps and every worker that runs them (``celery -A migration_assets.celery_app worker``) build their
    Celery app from this one function, so a worker can never listen on another broker or write results where the
    run does not read them.

    A step's task is acknowledged when it ends, not when it starts (``task_acks_late``), and given back to the
    queue when its worker process dies (``task_reject_on_worker_lost``): a step whose worker is killed runs again
    on another worker and the run goes on. On RabbitMQ that happens as soon as the broker sees the worker's
    connection drop; on Redis, once ``CELERY_VISIBILITY_TIMEOUT`` seconds have passed since the task was handed
    out, which must therefore exceed the longest step (a longer one would be handed out twice while it runs)."""
    env = os.environ if env is None else env
    raw = (env.get(CELERY_VISIBILITY_ENV) or "").strip() or str(DEFAULT_CELERY_VISIBILITY_TIMEOUT)
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{CELERY_VISIBILITY_ENV}={raw!r}: a whole number of seconds, at least 1")
    visibility = int(raw)
    from dagster_celery.defaults import broker_transport_options

    return {
        "broker": (env.get(CELERY_BROKER_ENV) or "").strip() or DEFAULT_CELERY_BROKER,
        "backend": (env.get(CELERY_BACKEND_ENV) or "").strip() or DEFAULT_CELERY_BACKEND,
        "config_source": {
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,  # a worker holds no step it is not running
            "broker_transport_options": {
                **broker_transport_options,  # dagster-celery's connection retries
                "visibility_timeout": visibility,
                # Redis: sweep for tasks of dead workers often enough that the timeout is what bounds recovery.
                "unacked_restore_interval": max(1, min(10, visibility // 4)),
                "unacked_restore_throttle": 1,
                # Redis: a fleet's queue and bookkeeping under their own prefix; workers of another deployment (or
                # test run) on the same Redis never take this one's steps.
                **({"global_keyprefix": prefix} if (prefix := (env.get(CELERY_KEY_PREFIX_ENV) or "").strip()) else {}),
            },
        },
    }


def celery_executor_config() -> dict:
    """celery_settings() as the executor's config; a URL the environment sets stays a reference to its variable
    (resolved when the run starts), so a password in it is never written into the definitions."""
    config = celery_settings()
    for key, var in (("broker", CELERY_BROKER_ENV), ("backend", CELERY_BACKEND_ENV)):
        if (os.environ.get(var) or "").strip():
            config[key] = {"env": var}
    return config


def multiprocess_config() -> dict:
    """Config of Dagster's multiprocess executor for a migration run."""
    # Each step is a process; started from a forkserver that has already imported Dagster, the code
    # location and Great Expectations (~4 s on its own, in every check step), a step begins in a fraction
    # of a second instead of re-importing everything (dozens of steps per run). GX starts no threads at
    # import, so forking after it is safe. MIGRATION_START_METHOD=spawn goes back to Dagster's default.
    start = os.environ.get(START_METHOD_ENV, "forkserver").strip().lower() or "forkserver"
    if start not in ("forkserver", "spawn"):
        raise ValueError(f"{START_METHOD_ENV}={start!r}: use forkserver (the default) or spawn")
    preload = ["dagster", "migration_assets.definitions", "great_expectations", "migration_assets.step_preload"]
    return {"max_concurrent": int(os.environ.get(MAX_CONCURRENT_ENV, DEFAULT_MAX_CONCURRENT)),
            "tag_concurrency_limits": background_step_limits(),
            "start_method": {"forkserver": {"preload_modules": preload}} if start == "forkserver" else {start: {}}}


def start_step_server() -> bool:
    """Start, now, the forkserver the multiprocess executor will fork a run's steps from, so that its imports
    (~4 s: Dagster, the code location, Great Expectations) overlap the run's own setup (creating the run,
    planning it) instead of following it. The executor finds the server running and uses it (Python keeps
    one per process). Only for the multiprocess executor with the forkserver start method; the environment
    must be complete (the server keeps the one it starts with). True when a server is running."""
    if executor_choice() != "multiprocess":
        return False
    start = multiprocess_config()["start_method"]
    if "forkserver" not in start:
        return False
    import multiprocessing
    from multiprocessing import forkserver

    # The list the executor sets (it puts its own module first): the same server either way.
    preload = ["dagster._core.executor.multiprocess", *start["forkserver"]["preload_modules"]]
    multiprocessing.get_context("forkserver").set_forkserver_preload(preload)
    forkserver.ensure_running()  # spawns the server and returns; the server imports while we go on
    return True


def pair_names(pairs: Iterable[Pair]) -> list[str]:
    return [p.name for p in pairs]


# Pair and its keys live in .pairs (below the asset builders, so these need not import this module); they stay
# importable from here for callers that build definitions.
__all__ = ["MissingSuiteError", "Pair", "build_definitions", "extract_key", "gate_extract_keys", "load_key", "pair_key",
           "preflight_key", "require_suites", "select_pairs", "SCHEMA"]
