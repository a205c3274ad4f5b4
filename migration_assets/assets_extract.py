"""Extract assets (``<source>/<object>``) and their Great Expectations checks."""


from collections.abc import Iterator, Sequence

import dagster as dg

from . import audit as source_audit
from . import markdown, validation_history
from .asset_metadata import api_pool, deferred_op_tags, definition_metadata, resume_retry_policy, row_count
from .canonical import SCHEMA
from .gates import pair_of_run, waiting_for
from .hookspecs import SourceObject, SourcePlugin
from .pairs import Pair, extract_priority
from .partitions import SHARDS_ENV, narrowed_to, shards_definition
from .quality import outcome_markdown
from .ratelimit import Priority, request_priority
from .resources import MigrationStoreResource, PlatformConnectionsResource
from .runtime import extract_object, validate_object


class ExtractConfig(dg.Config):
    """How this extract runs. ``delta`` reads only what changed since the object's watermark (with the
    source's overlap); ``restart`` ignores a cursor left by an interrupted run and starts from the top."""

    delta: bool = False
    restart: bool = False


def build_source_assets(source: SourcePlugin, pairs: Sequence[Pair] = (), *, retries: int | None = None) -> \
        tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """``pairs``: the pairs this source feeds, so a pair's job can check its gates before extracting;
    ``retries``: of a failed extract step (None: MIGRATION_STEP_RETRIES or the default)."""
    provided = {o.canonical for o in source.objects()}
    by_name = {p.name: p for p in pairs}
    assets, checks = [], []
    for spec in source.objects():
        if spec.canonical not in SCHEMA:
            raise ValueError(f"source {source.name!r} declares unknown canonical object {spec.canonical!r}")
        assets.append(_extract_asset(source, spec, provided, by_name, retries))
        checks.append(_gx_checks(source, spec))
    return assets, checks


def _extract_asset(source: SourcePlugin, spec: SourceObject, provided: set[str], pairs: dict[str, Pair],
                   retries: int | None = None) -> dg.AssetsDefinition:
    canonical = spec.canonical
    key = dg.AssetKey([source.name, canonical])
    deps = [dg.AssetKey([source.name, d]) for d in spec.depends_on if d in provided]
    description = (
        f"{source.title}: {SCHEMA[canonical].description} Extracted into the migration store in chunks, "
        f"resumable from the last saved cursor. {spec.description}".strip()
    )

    sharded = spec.fan_out_from is not None
    if sharded:
        description += (f" Sharded by {spec.fan_out_from} ({SHARDS_ENV} partitions): a backfill extracts shards "
                        "concurrently; the pair's jobs cover every shard in one run.")

    @dg.asset(
        key=key,
        deps=deps,
        group_name=f"{source.name}_extract",
        kinds={source.name, "extract"},
        description=description,
        tags={"helpdesk_migrate/stage": "extract", "helpdesk_migrate/source": source.name},
        # An object no pair in this location writes: its requests go last, so its step should not hold a slot
        # the gates and loads need while it waits for them.
        op_tags=deferred_op_tags(background_requests=True)
        if extract_priority(source, canonical, pairs.values()) is Priority.BACKGROUND else None,
        metadata={"canonical_object": canonical, "supports_delta": spec.supports_since,
                  "sharded_by": spec.fan_out_from or "n/a: not sharded", **definition_metadata(canonical)},
        partitions_def=shards_definition() if sharded else None,
        # "Materialize all" or a backfill over every shard is one run, never one per shard (each re-doing the
        # whole job's other steps against the same budget): the step covers its partition range itself.
        backfill_policy=dg.BackfillPolicy.single_run() if sharded else None,
        pool=api_pool(source.name),
        retry_policy=resume_retry_policy(retries),
        # A pair's job whose gates wait for a person extracts nothing (no output: every step after it is skipped
        # and the run succeeds, showing what is awaited) instead of spending the source's budget first.
        output_required=False,
    )
    def _extract(context: dg.AssetExecutionContext, config: ExtractConfig, store: MigrationStoreResource,
            connections: PlatformConnectionsResource) -> \
            Iterator[dg.MaterializeResult]:
        st = store.get()
        pair, job = pair_of_run(context.run.tags, pairs)
        waiting = waiting_for(st, pair, job) if pair is not None else []
        if waiting:
            context.log.warning(f"{pair.name} {job}: nothing extracted, the run waits for a person: "
                                + "; ".join(waiting))
            return
        # The run's pair decides how soon these requests are needed (a gate waits, a load, only an inventory);
        # a run that is no pair's job serves every pair this source feeds.
        priority = extract_priority(source, canonical, [pair] if pair is not None else pairs.values())
        with request_priority(priority):
            summaries = [extract_object(st, source, canonical, run_id=context.run_id, delta=config.delta,
                                        restart=config.restart, logger=context.log, shard=shard)
                         for shard in (context.partition_keys if sharded else [None])]
        counts = st.quarantine_counts(source.name, "", canonical)
        staged = st.count_staged(source.name, canonical)
        audited = source_audit.object_audit(st, source, canonical)
        yield dg.MaterializeResult(
            metadata={
                "mode": summaries[0].mode,
                "request_priority": priority.name.lower(),
                "records_read": sum(x.records for x in summaries),
                "new": sum(x.inserted for x in summaries),
                "changed": sum(x.changed for x in summaries),
                "unchanged": sum(x.unchanged for x in summaries),
                "rejected_at_extract": sum(x.rejected for x in summaries),
                "chunks": sum(x.chunks for x in summaries),
                "resumed_from_cursor": dg.MetadataValue.json([x.resumed_from or {} for x in summaries]
                                                             if sharded else summaries[0].resumed_from or {}),
                "staged_total": staged,
                **row_count(staged),
                "quarantined_total": counts["quarantined"],
                "preview": dg.MetadataValue.md(markdown.table([r for x in summaries for r in x.preview][:5])),
                "platform_total": audited.platform_total if audited.platform_total is not None else "n/a",
                "shape_audit": dg.MetadataValue.md(source_audit.shape_markdown(audited)),
            }
        )

    return _extract


def _gx_checks(source: SourcePlugin, spec: SourceObject) -> dg.AssetChecksDefinition:
    canonical = spec.canonical
    key = dg.AssetKey([source.name, canonical])
    # A sharded object's checks are partitioned like it: a run over some shards validates those shards, and a
    # shard's evaluation is recorded against it.
    shards_def = shards_definition() if spec.fan_out_from else None
    specs = [
        dg.AssetCheckSpec(
            "gx_critical", asset=key, blocking=True, partitions_def=shards_def,
            description=f"Critical expectations of the {canonical} suite (migration_assets/expectations/{canonical}.json) (ids, types, counts). "
                        "A failure stops the loads downstream in this run.",
        ),
        dg.AssetCheckSpec(
            "gx_quality", asset=key, blocking=False, partitions_def=shards_def,
            description=f"Data-quality expectations of the {canonical} suite (migration_assets/expectations/{canonical}.json) (emails, required values). "
                        "Offending records are quarantined with the expectation as the reason; the rest load.",
        ),
        dg.AssetCheckSpec(
            "source_audit", asset=key, blocking=True, partitions_def=shards_def,
            description="The full extract against the platform: extracted + rejected equals the platform's own "
                        "total, no ERROR finding of the source, and every declared payload key appeared at least "
                        "once (or a person acknowledged the shape audit: helpdesk-migrate approve shape-audit).",
        ),
    ]

    @dg.multi_asset_check(specs=specs, name=f"{source.name}__{canonical}__expectations")
    def _checks(context: dg.AssetCheckExecutionContext, store: MigrationStoreResource):
        st = store.get()
        partitioned = shards_def is not None and (context.has_partition_key or context.has_partition_key_range)
        shards = narrowed_to(list(context.partition_keys) if partitioned else None)
        outcome = validate_object(st, source.name, canonical, run_id=context.run.run_id, shards=shards)
        kept = validation_history.keep(source.name, canonical, context.run.run_id, outcome)
        for check_name, severity in (("gx_critical", "critical"), ("gx_quality", "warning")):
            failed = outcome.failed(severity)
            rows = [e for e in outcome.expectations if (e.severity == "critical") == (severity == "critical")]
            # One number per expectation, under a name stable across runs: the UI plots each one's history.
            per_expectation = {f"unexpected {validation_history.expectation_name(e)}": e.unexpected for e in rows}
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name=check_name,
                passed=not failed,
                severity=dg.AssetCheckSeverity.ERROR if severity == "critical" else dg.AssetCheckSeverity.WARN,
                metadata={
                    "records_validated": outcome.records,
                    "failed_expectations": len(failed),
                    "unexpected_total": sum(e.unexpected for e in failed),
                    "quarantined_now": sum(len(e.unexpected_ids) for e in rows if e.quarantine),
                    "expectations": dg.MetadataValue.json([e.as_metadata() for e in rows]),
                    "summary": dg.MetadataValue.md(outcome_markdown(outcome, severity)),
                    "validation_results": dg.MetadataValue.path(str(kept)),
                    "validation_report": dg.MetadataValue.path(str(kept.with_suffix(".md"))),
                    **per_expectation,
                },
                description=(
                    "; ".join(f"{e.description}: {e.unexpected} unexpected" for e in failed) or "all expectations met"
                ),
            )
        yield _audit_result(st, source, canonical, key)

    return _checks


def _audit_result(store, source: SourcePlugin, canonical: str, key: dg.AssetKey) -> dg.AssetCheckResult:
    verdict = source_audit.evaluate(store, source, canonical)
    a = verdict.audit
    return dg.AssetCheckResult(
        asset_key=key, check_name="source_audit", passed=verdict.passed, severity=dg.AssetCheckSeverity.ERROR,
        description=verdict.description,
        metadata={
            "platform_total": a.platform_total if a.platform_total is not None else "n/a",
            "total_basis": a.total_basis or "the platform reports no total",
            "extracted": a.extracted, "rejected": a.rejected, "payloads": a.payloads,
            "never_present": dg.MetadataValue.json([k.path for k in a.never_present]),
            "findings": dg.MetadataValue.json([f.description for f in a.findings]),
            "shape_audit": dg.MetadataValue.md(source_audit.shape_markdown(a)),
        },
    )
