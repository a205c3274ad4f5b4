"""Per-pair assets for the field map (proposal + confirmation gate) and the sign-off asset the UI uses to
record a person's decisions."""


import getpass
import logging
import os
from typing import TYPE_CHECKING, Any

import dagster as dg

from . import markdown
from .asset_metadata import row_count, stage_metadata
from .hookspecs import DescribesFields
from .map_rules import map_problems, read_schema, write_schema
from .mapping import (
    DEFAULT_PROPOSER,
    IDENTITY_REASON,
    SAMPLE_SIZE,
    builtin_proposer,
    custom_field_defs,
    fingerprint,
    map_path,
    read_map,
    sample_values,
    source_fields,
    write_map,
)
from .mapping_review import decision_rows
from .pairs import field_map_key, gate_extract_keys
from .proposer import memory as field_memory
from .proposer.combine import choose as choose_proposer
from .resources import MigrationStoreResource, PlatformConnectionsResource
from .runtime import connect_destination
from .store import MigrationStore

if TYPE_CHECKING:
    from .pairs import Pair

log = logging.getLogger("helpdesk_migrate.mapping")
PROPOSER_ENV = "MIGRATION_FIELD_PROPOSER"
def _destination_fields(conn: Any, canonical: str) -> list[dict[str, Any]] | None:
    fields = conn.describe_fields(canonical) if isinstance(conn, DescribesFields) else None
    return list(fields) if fields else None


def _identity(canonical: str) -> list[dict[str, Any]]:
    """A destination without a describe takes canonical fields as they are: the map records that."""
    from .canonical import SCHEMA

    return [{"destination": f.name, "source": f.name, "confidence": 1.0, "reasons": [IDENTITY_REASON]}
            for f in SCHEMA[canonical].fields]


def propose_map(store: MigrationStore, pair: "Pair") -> tuple[dict[str, Any], bool]:
    """Propose (or keep) the pair's field map. Returns (document, rewritten)."""
    from .registry import default_registry

    # builtin (default) or heuristic alone; llm:<model id> or a plugin's proposer combined with the built-in one.
    proposer = choose_proposer(os.environ.get(PROPOSER_ENV, DEFAULT_PROPOSER), default_registry().proposers,
                               builtin_proposer)
    defs = custom_field_defs(store, pair)
    try:
        remembered = field_memory.load()
    except ValueError as exc:  # a hand-edited memory file must not stop the proposal: it is said, not used
        log.warning("remembered field-map choices not used: %s", exc)
        remembered = []
    conn = connect_destination(pair.destination, source=pair.source.name)
    objects: dict[str, Any] = {}
    schema: dict[str, Any] = {}
    try:
        for canonical in pair.loadable():
            dest_fields = _destination_fields(conn, canonical)
            src_fields = source_fields(canonical, defs)
            schema[canonical] = {"destination": dest_fields, "source": src_fields}
            if dest_fields is None:
                objects[canonical] = _identity(canonical)
                continue
            sample = next(iter(store.iter_staged(pair.source.name, canonical, chunk_size=SAMPLE_SIZE)), [])
            objects[canonical] = proposer.propose(destination_fields=dest_fields, source_fields=src_fields,
                                                  samples=sample_values(sample, src_fields))
            # Choices a person confirmed before (this or another workspace) win over any proposer.
            field_memory.apply(pair.destination.name, canonical, objects[canonical], src_fields, remembered)
    finally:
        conn.close()
    schema_fp = fingerprint(schema)
    map_file = map_path(pair.name)
    map_file.parent.mkdir(parents=True, exist_ok=True)
    write_schema(map_file, schema)  # what confirmation checks a person's edits against (map_rules)
    existing = read_map(pair.name)
    if existing and existing.get("schema_fingerprint") == schema_fp:
        return existing, False  # keep a person's edits while the schemas stand still
    if existing:
        map_path(pair.name).rename(map_path(pair.name).with_suffix(".previous.yaml"))
    document = {"pair": pair.name, "proposer": proposer.name, "schema_fingerprint": schema_fp, "objects": objects}
    write_map(pair.name, document)
    return document, True


def build_mapping_assets(pair: "Pair") -> list[dg.AssetsDefinition]:
    key = field_map_key(pair)
    # The root extracts the pair writes (custom fields among them): the map samples what is staged, and the loads
    # of parents must not wait for the long extraction of messages, nor for what is only inventoried.
    deps = gate_extract_keys(pair)

    @dg.asset(
        key=key,
        deps=deps,
        group_name=f"{pair.name}_gates",
        kinds={"yaml"},
        description=f"Field map proposal for {pair.source.title} -> {pair.destination.title}: for every destination "
                    "field, the proposed canonical or source field with a confidence (names and labels in five "
                    "languages, types, sampled values, choices confirmed before). Written to a YAML file a person reviews and confirms.",
        tags={"helpdesk_migrate/stage": "map"},
        metadata=stage_metadata("field_map"),
    )
    def _field_map(context: dg.AssetExecutionContext, store: MigrationStoreResource,
            connections: PlatformConnectionsResource):
        st = store.get()
        document, rewritten = propose_map(st, pair)
        rows = [
            {"object": obj, "destination": p["destination"], "source": p["source"], "confidence": p["confidence"]}
            for obj, proposals in document["objects"].items() for p in proposals
        ]
        low = [r for r in rows if r["source"] is not None and r["confidence"] < 0.75]
        # What a person decides, as `helpdesk-migrate mapping show` prints it: objects mapped one to one (the
        # identity entries) are left out; each row has the proposed source, its confidence, the evidence and
        # a few sample values.
        decisions, hidden = decision_rows(st, pair)
        refused = map_problems(document, read_schema(map_path(pair.name)))
        return dg.MaterializeResult(
            metadata={
                "map_path": dg.MetadataValue.path(str(map_path(pair.name))),
                "rewritten": rewritten,
                "fields": len(rows),
                **row_count(len(rows)),
                "unmapped": sum(1 for r in rows if r["source"] is None),
                "low_confidence": len(low),
                "decisions": len(decisions),
                # Entries the loader would refuse on every record: confirmation is refused until they are fixed.
                "refused_entries": len(refused),
                "refused": dg.MetadataValue.md("\n".join(f"- {r}" for r in refused) or "none"),
                "map": dg.MetadataValue.md(
                    (markdown.table(decisions[:200]) if decisions else "Nothing to decide: every object maps one "
                     "to one.") + (f"\n\n{hidden} destination field(s) with no candidate are left out "
                                   "(`helpdesk-migrate mapping show --all`)." if hidden else "")),
            },
        )

    return [_field_map]


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
