"""Jobs per pair: full, delta, rollback (plus a delta schedule that is off by default)."""


from collections.abc import Mapping, Sequence

import dagster as dg

from .pairs import (
    Pair,
    archive_key,
    extract_key,
    field_map_key,
    go_ahead_key,
    inventory_key,
    load_key,
    pair_key,
    preflight_key,
    report_key,
    sample_key,
    scope_key,
)
from .partitions import all_shards_tags
from .resources import MigrationStoreResource, PlatformConnectionsResource
from .rollback import rollback_pair


def op_name(key: dg.AssetKey) -> str:
    return "__".join(key.path)


def job_name(pair: Pair, kind: str) -> str:
    return f"{pair.name}_{kind}"


def extract_keys(pair: Pair) -> list[dg.AssetKey]:
    return [extract_key(pair.source.name, o.canonical) for o in pair.source.objects()]


def migration_selection(pair: Pair) -> list[dg.AssetKey]:
    keys = extract_keys(pair) + [preflight_key(pair), field_map_key(pair), go_ahead_key(pair)]
    keys += [load_key(pair, c) for c in pair.loadable()]
    return keys + [report_key(pair), inventory_key(pair)]


def discover_selection(pair: Pair) -> list[dg.AssetKey]:
    return extract_keys(pair) + [scope_key(pair), field_map_key(pair), preflight_key(pair), inventory_key(pair),
                                 archive_key(pair.source.name)]


def sample_selection(pair: Pair) -> list[dg.AssetKey]:
    return extract_keys(pair) + [field_map_key(pair), preflight_key(pair), sample_key(pair)]


DEFAULT_DELTA_CRON = "*/30 * * * *"


def build_jobs(pairs: Sequence[Pair], *, tags: Mapping[str, str] | None = None, delta_cron: str = DEFAULT_DELTA_CRON,
               delta_running: bool = False) -> tuple[list, list[dg.ScheduleDefinition]]:
    """The pairs' jobs and delta schedules. ``tags``: on every job (a migration component's own);
    ``delta_cron``/``delta_running``: the delta schedule's cron and whether it starts running (off by default:
    a delta before the full run's sign-off would only wait at its gates)."""
    jobs: list = []
    extra = dict(tags or {})
    schedules: list[dg.ScheduleDefinition] = []
    # Jobs run every shard of a sharded object in one run (a backfill of the sharded assets runs them
    # concurrently instead, one run per shard).
    every_shard = all_shards_tags()
    for pair in pairs:
        selection = migration_selection(pair)
        extract_ops = [op_name(extract_key(pair.source.name, o.canonical)) for o in pair.source.objects()]
        full = dg.define_asset_job(
            job_name(pair, "full"), selection=dg.AssetSelection.assets(*selection),
            description=f"Full migration {pair.source.title} -> {pair.destination.title}: extract, validate, "
                        "propose the map, pre-flight, then load in dependency order with per-phase reconciliation.",
            tags={**extra, "helpdesk_migrate/pair": pair.name, "helpdesk_migrate/job": "full", **every_shard},
        )
        delta = dg.define_asset_job(
            job_name(pair, "delta"), selection=dg.AssetSelection.assets(*selection),
            config={"ops": {name: {"config": {"delta": True}} for name in extract_ops}},
            description="Delta at cutover: only what changed since each object's watermark (with overlap); "
                        "unchanged records are not sent again.",
            tags={**extra, "helpdesk_migrate/pair": pair.name, "helpdesk_migrate/job": "delta", **every_shard},
        )
        discover = dg.define_asset_job(
            job_name(pair, "discover"), selection=dg.AssetSelection.assets(*discover_selection(pair)),
            description="Discovery: extract and validate everything, write the scope report and inventories, "
                        "archive the source, propose the field map and run the pre-flight. Loads nothing.",
            tags={**extra, "helpdesk_migrate/pair": pair.name, "helpdesk_migrate/job": "discover", **every_shard},
        )
        sample = dg.define_asset_job(
            job_name(pair, "sample"), selection=dg.AssetSelection.assets(*sample_selection(pair)),
            description="Sample migration of 25-50 random conversations with their full graph, and the "
                        "side-by-side spot-check to sign off before the full run.",
            tags={**extra, "helpdesk_migrate/pair": pair.name, "helpdesk_migrate/job": "sample", **every_shard},
        )
        jobs += [discover, sample, full, delta, _rollback_job(pair, extra)]
        schedules.append(dg.ScheduleDefinition(
            name=f"{pair.name}_delta_schedule", job=delta, cron_schedule=delta_cron,
            default_status=dg.DefaultScheduleStatus.RUNNING if delta_running else dg.DefaultScheduleStatus.STOPPED,
            description=f"Runs the delta ({delta_cron}) while the cutover approaches"
                        + ("." if delta_running else ". Off until started."),
        ))
    return jobs, schedules


class RollbackConfig(dg.Config):
    """run_id: undo one run's records; empty undoes the whole migration of this pair."""

    run_id: str = ""


def _rollback_job(pair: Pair, tags: Mapping[str, str] | None = None) -> dg.JobDefinition:
    @dg.op(name=f"{pair.name}_rollback_op", description="Delete created records in reverse dependency order, "
           "restore before-images of updated ones, leave linked ones untouched, mark the id map, and report.")
    def rollback_op(context: dg.OpExecutionContext, config: RollbackConfig, store: MigrationStoreResource,
            connections: PlatformConnectionsResource):
        report = rollback_pair(store.get(), pair, run_id=config.run_id or None, logger=context.log)
        context.log_event(dg.AssetObservation(
            asset_key=pair_key(pair, "rollback_report"),
            metadata={"report": dg.MetadataValue.md(report.markdown), "undone": report.undone,
                      "not_undone": report.not_undone, "report_path": str(report.path)},
        ))
        if report.not_undone:
            raise dg.Failure(f"{report.not_undone} record(s) could not be rolled back; see {report.path}",
                             metadata={"report_path": str(report.path)})

    @dg.job(name=job_name(pair, "rollback"), tags={**(tags or {}), "helpdesk_migrate/pair": pair.name,
                                                   "helpdesk_migrate/job": "rollback"},
            description=f"Roll back what the migration put into {pair.destination.title}: one run (config run_id) "
                        "or all of it.")
    def rollback_job():
        rollback_op()

    return rollback_job
