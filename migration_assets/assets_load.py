"""Per-pair assets: the destination's pre-flight gate and one load asset per canonical object."""


import re
from collections.abc import Sequence

import dagster as dg

from . import markdown
from .asset_metadata import (
    api_pool,
    column_lineage,
    deferred_op_tags,
    definition_metadata,
    row_count,
    stage_metadata,
)
from .canonical import SCHEMA
from .gates import gate_keys, loads_allowed, write_preflight_report
from .hookspecs import DestinationObject
from .mapping import read_map
from .pairs import Pair, extract_key, gate_extract_keys, load_key, preflight_key
from .partitions import narrowed_to, shards_definition
from .resources import MigrationStoreResource, PlatformConnectionsResource
from .runtime import EngineLoadContext, connect_destination, load_object, reconcile


def build_pair_assets(pair: Pair) -> list[dg.AssetsDefinition]:
    assets: list[dg.AssetsDefinition] = [_preflight_asset(pair)]
    from .mapping_assets import build_mapping_assets

    assets += build_mapping_assets(pair)
    dest_objects = {o.canonical: o for o in pair.destination.objects()}
    loadable = pair.loadable()
    for canonical in loadable:
        assets.append(_load_asset(pair, dest_objects[canonical], loadable))
    return assets


def _preflight_asset(pair: Pair) -> dg.AssetsDefinition:
    key = preflight_key(pair)
    @dg.asset(
        key=key,
        # After the root extracts: a pre-flight weighs what will be loaded (unmatched owners, email-less
        # contacts...), and its fingerprint must not change with how far extraction had got.
        deps=gate_extract_keys(pair),
        group_name=f"{pair.name}_gates",
        kinds={pair.destination.name, "preflight"},
        description=f"Pre-flight inspection of {pair.destination.title} before any record loads: what would fire "
                    "or refuse during the load, with the recommended bypass.",
        tags={"helpdesk_migrate/stage": "preflight"},
        metadata=stage_metadata("preflight"),
    )
    def _preflight(context: dg.AssetExecutionContext, store: MigrationStoreResource,
            connections: PlatformConnectionsResource):
        st = store.get()
        conn = connect_destination(pair.destination, source=pair.source.name)
        try:
            ctx = EngineLoadContext(st, pair.source.name, pair.destination.name, context.run_id, context.log,
                                    {"field_map": (read_map(pair.name) or {}).get("objects", {})})
            report = conn.preflight(context=ctx)
        finally:
            conn.close()
        path = write_preflight_report(pair, report)
        return dg.MaterializeResult(
            metadata={
                "report_path": dg.MetadataValue.path(str(path)),
                "items": len(report.items) if report else 0,
                **row_count(len(report.items) if report else 0),
                "fingerprint": report.fingerprint if report else "",
                "report": dg.MetadataValue.md(report.markdown if report else "Nothing to review."),
            },
        )

    return _preflight


def _target_kinds(targets: Sequence[str]) -> list[str]:
    """The destination objects a load lands as (Contact, ticket...), as kinds: the object of each target
    (``Contact.<prefix>_Tags__c`` is a Contact), at most two (Dagster shows three kinds)."""
    objects = dict.fromkeys(re.split(r"[^A-Za-z0-9_-]", t, maxsplit=1)[0] for t in targets)
    return [o for o in objects if o][:2]


def _load_asset(pair: Pair, spec: DestinationObject, loadable: list[str]) -> dg.AssetsDefinition:
    canonical = spec.canonical
    src, dst = pair.source, pair.destination
    key = load_key(pair, canonical)
    deps = [extract_key(src.name, canonical), *gate_keys(pair)]
    deps += [load_key(pair, d) for d in spec.depends_on if d in loadable]
    check_specs = [
        dg.AssetCheckSpec(
            "reconciliation", asset=key, blocking=True,
            description="extracted = loaded + quarantined + skipped-with-reason: every record is accounted for.",
        ),
        *[dg.AssetCheckSpec(c.name, asset=key, blocking=c.blocking, description=c.description) for c in spec.checks],
    ]
    targets = ", ".join(spec.targets) or canonical
    # The load of an object the source reads per parent record is sharded like its extract: shard by shard,
    # a backfill loads what is extracted while other shards still extract.
    sharded = any(o.canonical == canonical and o.fan_out_from for o in src.objects())

    @dg.asset(
        partitions_def=shards_definition() if sharded else None,
        key=key,
        deps=deps,
        group_name=f"{pair.name}_load",
        # The platform and the object(s) it lands as (Contact, ticket...), as the lineage shows them.
        kinds={dst.name, *_target_kinds(spec.targets)},
        check_specs=check_specs,
        description=f"Load {SCHEMA[canonical].description.lower()} into {dst.title} ({targets}). {spec.description}".strip(),
        tags={"helpdesk_migrate/stage": "load", "helpdesk_migrate/pair": pair.name},
        # Only listed for a person: the loads of what the destination writes take the free slots first.
        op_tags=deferred_op_tags() if spec.inventory_only else None,
        metadata={"canonical_object": canonical, "targets": list(spec.targets), **definition_metadata(canonical)},
        backfill_policy=dg.BackfillPolicy.single_run() if sharded else None,
        pool=api_pool(dst.name),
    )
    def _load(context: dg.AssetExecutionContext, store: MigrationStoreResource,
            connections: PlatformConnectionsResource) -> dg.MaterializeResult:
        st = store.get()
        allowed = loads_allowed(st, pair)
        if not allowed.passed:
            raise dg.Failure(f"nothing loaded: {allowed.message}", metadata={"gates": allowed.problems})
        shards = narrowed_to(context.partition_keys if sharded else None)
        conn = connect_destination(dst, source=src.name)
        try:
            # Destinations apply the confirmed map (custom fields, overrides): options["field_map"][canonical].
            confirmed = (read_map(pair.name) or {}).get("objects", {})
            summary = load_object(st, src.name, dst, canonical, run_id=context.run_id, connection=conn,
                                  logger=context.log, options={"field_map": confirmed}, shards=shards)
            ctx = EngineLoadContext(st, src.name, dst.name, context.run_id, context.log, {"field_map": confirmed})
            check_results = []
            for c in spec.checks:
                finding = conn.evaluate_check(c.name, canonical, context=ctx)
                check_results.append(dg.AssetCheckResult(
                    check_name=c.name, passed=finding.passed, description=finding.description,
                    severity=dg.AssetCheckSeverity.ERROR if finding.severity == "ERROR" else dg.AssetCheckSeverity.WARN,
                    metadata={k: dg.MetadataValue.json(v) if isinstance(v, dict | list) else v
                              for k, v in finding.metadata.items()},
                ))
        finally:
            conn.close()
        rec = reconcile(st, src.name, dst.name, canonical, shards=shards)
        rec.destination_count = summary.destination_count
        check_results.insert(0, dg.AssetCheckResult(
            check_name="reconciliation", passed=rec.balanced, severity=dg.AssetCheckSeverity.ERROR,
            description=(f"{rec.extracted} extracted = {rec.loaded} loaded + {rec.quarantined} quarantined + "
                         f"{rec.skipped} skipped" if rec.balanced else
                         f"{rec.unaccounted} record(s) are neither loaded nor quarantined, e.g. {rec.unaccounted_sample[:5]}"),
            metadata={k: v for k, v in rec.as_dict().items() if v is not None and not isinstance(v, list)}
            | {"unaccounted_sample": dg.MetadataValue.json(rec.unaccounted_sample)},
        ))
        quarantined = st.quarantine_entries(src.name, dst.name, canonical)[:10]
        return dg.MaterializeResult(
            metadata={
                **{f"action_{k}": v for k, v in sorted(summary.actions.items())},
                "already_loaded_unchanged": summary.already_loaded,
                "excluded_quarantined_upstream": summary.excluded,
                "extracted": rec.extracted,
                "loaded": rec.loaded,
                "quarantined": rec.quarantined,
                "skipped": rec.skipped,
                "destination_count": summary.destination_count if summary.destination_count is not None else
                "n/a: the destination does not count this object",
                **row_count(rec.loaded),
                **column_lineage(confirmed.get(canonical), extract_key(src.name, canonical)),
                "quarantine_preview": dg.MetadataValue.md(markdown.table(
                    quarantined, ["source_id", "stage", "rule", "reason", "fix"])),
            },
            check_results=check_results,
        )

    return _load
