"""The engine's side of a run, independent of Dagster: extracting an object into the store, validating it,
loading it into a destination, and reconciling. Assets (factory.py), the CLI and the tests call these, so
the logic lives once and can be exercised without an orchestrator."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from . import audit as source_audit
from . import planner, ratelimit
from .canonical import SCHEMA, conformance_errors
from .gc_tuning import freeze_long_lived
from .hookspecs import (
    CONNECTION_CAPABILITIES,
    EVERY_RECORD,
    PAIR_SOURCE_ENV,
    DestinationConnection,
    DestinationPlugin,
    IdMapEntry,
    LoadOutcome,
    Rejected,
    Setting,
    SourceConnection,
    SourcePlugin,
)
from .mapping import map_fingerprint, read_map
from .partitions import shard_count, shard_of
from .quality import SuiteOutcome, SuiteValidator
from .registry import check_plugin
from .settings import read_settings, resolved_settings
from .store import MigrationStore, default_home, id_map, quarantine, reports_dir, staged_records

log = logging.getLogger("helpdesk_migrate")

LOAD_CHUNK_ENV = "MIGRATION_LOAD_CHUNK_SIZE"
DEFAULT_LOAD_CHUNK = 2000


def check_settings(settings: Sequence[Setting], env: Mapping[str, str], plugin_name: str) -> dict[str, str]:
    """The plugin's settings from the environment as text, defaults applied, after ``read_settings`` checked
    every one against its declaration (a missing or bad value names the variable, never a secret's value)."""
    read_settings(settings, env, plugin_name)
    values: dict[str, str] = {}
    for s in settings:
        value = env.get(s.env_var)
        if value is None or value == "":
            value = None if s.default is None else str(s.default)
        if value is not None:
            values[s.env_var] = value
    return values


def secret_values(plugins: Sequence[SourcePlugin | DestinationPlugin], env: Mapping[str, str] | None = None) -> list[str]:
    """Values of every secret setting, so reports and errors can be scrubbed of them."""
    env = os.environ if env is None else env
    out = []
    for p in plugins:
        for s in p.settings():
            if s.secret and env.get(s.env_var) and len(env[s.env_var]) >= 4:
                out.append(env[s.env_var])
    return out


def scrub(text: str, secrets: Sequence[str]) -> str:
    for value in secrets:
        text = text.replace(value, "***")
    return text


def _environment(plugin: SourcePlugin | DestinationPlugin, env: Mapping[str, str] | None) -> dict[str, str]:
    """The settings a connection opens with: ``env`` when given, else the process environment under what the
    step's connection resource resolved (its EnvVar references and any value set in the run's config)."""
    return dict(env) if env is not None else {**os.environ, **resolved_settings(plugin.name)}


def connect_source(plugin: SourcePlugin, env: Mapping[str, str] | None = None) -> SourceConnection:
    env = _environment(plugin, env)
    check_settings(plugin.settings(), env, plugin.name)
    conn = plugin.connect(env)
    check_plugin(conn, SourceConnection, f"{plugin.name} source connection")
    return conn


def connect_destination(plugin: DestinationPlugin, env: Mapping[str, str] | None = None, *,
                        source: str | None = None) -> DestinationConnection:
    """Open a destination connection for the pair whose source is ``source`` (handed to the plugin as
    ``PAIR_SOURCE_ENV`` in its environment)."""
    env = _environment(plugin, env)
    if source:
        env[PAIR_SOURCE_ENV] = source
    check_settings(plugin.settings(), env, plugin.name)
    conn = plugin.connect(env)
    check_plugin(conn, DestinationConnection, f"{plugin.name} destination connection", CONNECTION_CAPABILITIES)
    return conn


# --------------------------------------------------------------------------------------------------
# Extract
# --------------------------------------------------------------------------------------------------


@dataclass
class EngineExtractContext:
    store: MigrationStore
    source: str
    run_id: str
    log: Any = log
    files_dir: Path = field(default_factory=lambda: default_home() / "files")
    # When the object being extracted last finished completely: parents changed after it need a re-fetch of
    # their children, whichever run (or re-executed run) staged the change.
    last_complete: datetime | None = None
    partition: str | None = None  # the shard being extracted; parent records outside it are not shown
    parent: str | None = None  # the object the shards split (SourceObject.fan_out_from)
    shard_total: int | None = None  # how many shards there are, read once (_mine runs per parent record)

    def _mine(self, canonical: str, record_id: Any) -> bool:
        return self.partition is None or canonical != self.parent or \
            shard_of(str(record_id), self.shard_total) == self.partition

    def staged(self, canonical: str) -> Iterator[dict[str, Any]]:
        for chunk in self.store.iter_staged(self.source, canonical):
            yield from (r for r in chunk if self._mine(canonical, r["id"]))

    def changed_ids(self, canonical: str) -> set[str]:
        changed = self.store.staged_ids_changed_since(self.source, canonical, self.last_complete)
        return {i for i in changed if self._mine(canonical, i)}


@dataclass
class ExtractSummary:
    canonical: str
    records: int = 0
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: int = 0
    chunks: int = 0
    resumed_from: dict[str, Any] | None = None
    unknown_changes: int = 0  # changes a source reported for records that were not in their chunk
    mode: str = "full"
    preview: list[dict[str, Any]] = field(default_factory=list)


def extract_object(
    store: MigrationStore,
    plugin: SourcePlugin,
    canonical: str,
    *,
    run_id: str,
    connection: SourceConnection | None = None,
    delta: bool = False,
    restart: bool = False,
    logger: Any = log,
    since: datetime | None = None,
    shard: str | None = None,
) -> ExtractSummary:
    """Stream one object from the source into the store, saving the cursor after every chunk so a crash
    resumes where it stopped. Records that do not fit the canonical schema are quarantined, not dropped.
    ``shard``: for an object read per parent record (SourceObject.fan_out_from), only the parents of that
    shard, with its own cursor and watermark (shards run concurrently)."""
    freeze_long_lived()
    obj = SCHEMA[canonical]
    summary = ExtractSummary(canonical, mode="delta" if delta else "full")
    parent = next((o.fan_out_from for o in plugin.objects() if o.canonical == canonical), None)
    if shard is not None and parent is None:
        raise ValueError(f"{plugin.name}/{canonical} is not read per parent record: it has no shards")
    cursor_key = canonical if shard is None else f"{canonical}@{shard}"
    cursor, watermark = store.get_cursor(plugin.name, cursor_key)
    if restart:
        cursor = None
    summary.resumed_from = cursor
    if delta and since is None:
        since = watermark
        if since is None:
            logger.info("%s/%s: no watermark yet, the delta reads everything", plugin.name, canonical)
    started = datetime.now(UTC)
    requests_before = ratelimit.requests_acquired()
    own_connection = connection is None
    conn = connection or connect_source(plugin)
    files_dir = default_home() / "files" / plugin.name
    ctx = EngineExtractContext(store, plugin.name, run_id, logger, files_dir, last_complete=watermark,
                               partition=shard, parent=parent,
                               shard_total=shard_count() if shard is not None else None)
    may_hold_changes = store.has_changes(plugin.name, canonical)
    # The source audit (totals, payload shapes, findings) covers a full extract of the whole object (of the
    # shard): a delta reads only what changed, so its counts mean nothing against the platform's total.
    audit = None if delta else source_audit.start(store, plugin.name, canonical, shard, cursor=cursor)
    try:
        for chunk in conn.extract(canonical, context=ctx, cursor=cursor, since=since):
            good: list[dict[str, Any]] = []
            rejected: list[Rejected] = list(chunk.rejected)
            for rec in chunk.records:
                problems = conformance_errors(obj, rec)
                if problems:
                    rejected.append(Rejected(
                        source_id=str(rec.get("id", "?")),
                        reason="; ".join(f"{p.field}: {p.problem}" for p in problems),
                        rule="canonical-schema",
                        fix=f"a {plugin.name} plugin mapping bug: report it with this record",
                        raw=rec,
                    ))
                else:
                    good.append(rec)
            result = store.stage(plugin.name, canonical, good, run_id, shard=shard)
            if chunk.changes or may_hold_changes:  # else there is nothing to record or to clear: no write
                good_ids = {str(r["id"]) for r in good}
                kept = {k: v for k, v in chunk.changes.items() if k in good_ids or k == EVERY_RECORD}
                # A change to a record that was rejected means nothing; one to a record not in the chunk is a
                # plugin bug, said out loud rather than dropped in silence.
                unknown = set(chunk.changes) - set(kept) - {r.source_id for r in rejected}
                if unknown:
                    summary.unknown_changes += len(unknown)
                    logger.warning("%s/%s: changes reported for %d record(s) not in the chunk, e.g. %s",
                                   plugin.name, canonical, len(unknown), sorted(unknown)[:3])
                store.record_changes(plugin.name, canonical, kept, ids=sorted(good_ids), stage="extract",
                                     run_id=run_id)
                may_hold_changes = True
            store.quarantine_records(plugin.name, canonical, rejected, stage="extract", run_id=run_id)
            if audit is not None:  # saved with the cursor it ends at: a resumed extract goes on from this audit
                audit.add(chunk, extracted_ids=[str(r["id"]) for r in good],
                          rejected_ids=[r.source_id for r in rejected])
                source_audit.save(store, plugin.name, canonical, shard, audit, run_id=run_id, complete=False,
                                  cursor=chunk.cursor)
            # The cursor is saved only after the chunk is safely staged: a crash in between re-reads the
            # chunk, and staging is an upsert, so nothing is duplicated.
            store.set_cursor(plugin.name, cursor_key, chunk.cursor, run_id)
            summary.records += len(good)
            summary.inserted += result.inserted
            summary.changed += result.changed
            summary.unchanged += result.unchanged
            summary.rejected += len(rejected)
            summary.chunks += 1
            if len(summary.preview) < 5:
                summary.preview.extend(good[: 5 - len(summary.preview)])
        if audit is not None:
            source_audit.save(store, plugin.name, canonical, shard, audit, run_id=run_id, complete=True)
            if summary.resumed_from is None:  # a whole extract: what it cost is the throughput plan's basis
                planner.record_extract(store, plugin.name, canonical, shard, run_id=run_id,
                                       requests=ratelimit.requests_acquired() - requests_before,
                                       seconds=(datetime.now(UTC) - started).total_seconds())
        store.set_cursor(plugin.name, cursor_key, None, run_id, watermark=started)
    finally:
        if own_connection:
            conn.close()
    return summary


# --------------------------------------------------------------------------------------------------
# Validate
# --------------------------------------------------------------------------------------------------


def validate_object(store: MigrationStore, source: str, canonical: str, *, run_id: str,
                    chunk_size: int = 5000, shards: Sequence[str] | None = None) -> SuiteOutcome:
    """Run the object's GX suite over every staged record (of ``shards``, when given), chunk by chunk, and
    quarantine the records a quarantining expectation refuses (releasing earlier validate-stage entries
    that now pass). A value a clear_value expectation refuses costs the value, not the record: the record gets
    a validate-stage Change (which replaces the earlier ones, so a value fixed at the source loses its entry)
    and the load leaves the value out."""
    freeze_long_lived()
    validator = SuiteValidator(canonical, whole_object=shards is None)
    for chunk in store.iter_staged(source, canonical, chunk_size=chunk_size, shards=shards):
        validator.validate_chunk(chunk)
    outcome = validator.finish()
    reasons = outcome.quarantine_reasons()
    store.release_quarantine(source, canonical, stage="validate", keep_ids=reasons.keys(), shards=shards)
    store.quarantine_records(
        source, canonical,
        [Rejected(sid, reason=f"failed expectation: {why}", rule=rule, fix=fix) for sid, (rule, why, fix) in reasons.items()],
        stage="validate", run_id=run_id,
    )
    cleared = outcome.cleared_values()
    if cleared or store.has_changes(source, canonical, stage="validate"):  # else nothing to record or to clear
        store.replace_stage_changes(source, canonical, cleared, stage="validate", run_id=run_id, shards=shards)
    return outcome


# --------------------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------------------


@dataclass
class EngineLoadContext:
    store: MigrationStore
    source: str
    destination: str
    run_id: str
    log: Any = log
    options: Mapping[str, Any] = field(default_factory=dict)
    files_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.files_dir is None:
            self.files_dir = default_home() / "files" / self.source

    @property
    def pair(self) -> str:
        return f"{self.source}_to_{self.destination}"

    @property
    def reports_dir(self) -> Path:
        return reports_dir(self.pair)

    @property
    def field_map(self) -> Mapping[str, list[dict[str, Any]]] | None:
        """The confirmed map: the one the engine handed this load (``options["field_map"]``), else the map file
        when its current version is the one a person confirmed; None when no map is confirmed."""
        if "field_map" in self.options:
            return self.options.get("field_map") or {}
        fingerprint = map_fingerprint(self.pair)
        approval = self.store.latest_approval(self.source, self.destination, "mapping")
        if fingerprint is None or not approval or approval.get("fingerprint") != fingerprint:
            return None
        return (read_map(self.pair) or {}).get("objects") or {}

    def lookup(self, canonical: str, source_ids: Sequence[str]) -> dict[str, str]:
        return self.store.lookup(self.source, self.destination, canonical, [str(s) for s in source_ids if s])

    def previous(self, canonical: str, source_ids: Sequence[str]) -> dict[str, IdMapEntry]:
        return self.store.previous(self.source, self.destination, canonical, [str(s) for s in source_ids if s])

    def staged(self, canonical: str) -> Iterator[dict[str, Any]]:
        for chunk in self.store.iter_staged(self.source, canonical):
            yield from chunk


@dataclass
class LoadSummary:
    canonical: str
    actions: dict[str, int] = field(default_factory=dict)
    already_loaded: int = 0
    resent_pending: int = 0  # records sent again only because a pending change asked for it
    excluded: int = 0
    destination_count: int | None = None


def load_object(
    store: MigrationStore,
    source: str,
    plugin: DestinationPlugin,
    canonical: str,
    *,
    run_id: str,
    connection: DestinationConnection | None = None,
    logger: Any = log,
    options: Mapping[str, Any] | None = None,
    only_ids: Sequence[str] | None = None,
    chunk_size: int | None = None,
    shards: Sequence[str] | None = None,
) -> LoadSummary:
    """Load every staged, non-quarantined record of one object. A record whose staged content is the
    one already loaded is skipped without a destination call, so a re-run creates and changes nothing."""
    freeze_long_lived()
    summary = LoadSummary(canonical)
    chunk_size = chunk_size or int(os.environ.get(LOAD_CHUNK_ENV, DEFAULT_LOAD_CHUNK))
    own_connection = connection is None
    conn = connection or connect_destination(plugin, source=source)
    ctx = EngineLoadContext(store, source, plugin.name, run_id, logger, dict(options or {}))
    excluded = store.quarantined_ids(source, canonical)  # extract/validate stages only (destination "")
    entries = (ctx.options.get("field_map") or {}).get(canonical)
    map_fp = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest() if entries else ""
    # One probe each per object: a load with no cleared values and nothing pending pays nothing per chunk.
    may_clear = store.has_changes(source, canonical, stage="validate")
    may_pend = store.has_pending(source, plugin.name, canonical)
    try:
        for chunk in store.iter_staged(source, canonical, chunk_size=chunk_size, ids=only_ids, shards=shards):
            records = [r for r in chunk if str(r["id"]) not in excluded]
            summary.excluded += len(chunk) - len(records)
            if not records:
                continue
            ids = [str(r["id"]) for r in records]
            # Values validation took out (clear_value): the record goes without them, and what was loaded is the
            # staged content minus those fields, so a value fixed at the source (or newly refused) re-sends.
            cleared = store.cleared_values(source, canonical, ids) if may_clear else {}
            # What was loaded is the staged content under a given field map: a re-confirmed map re-sends.
            staged_sums = {k: _loaded_form_checksum(v, map_fp, cleared.get(k))
                           for k, v in store.staged_checksums(source, canonical, ids).items()}
            loaded_sums = store.loaded_checksums(source, plugin.name, canonical, ids)
            # A record loaded incomplete (a pending change: a link to a record that had not loaded yet) is sent
            # again although its content did not change; the destination updates it through the id map.
            pending = store.pending_ids(source, plugin.name, canonical, ids) if may_pend else set()
            todo = [r for r in records
                    if str(r["id"]) in pending or loaded_sums.get(str(r["id"])) != staged_sums.get(str(r["id"]))]
            summary.already_loaded += len(records) - len(todo)
            summary.resent_pending += sum(1 for r in todo if str(r["id"]) in pending)
            if not todo:
                continue
            todo = [_without(r, cleared[str(r["id"])]) if str(r["id"]) in cleared else r for r in todo]
            outcomes = conn.load(canonical, todo, context=ctx)
            outcomes = _complete_outcomes(todo, outcomes, plugin.name)
            store.record_outcomes(source, plugin.name, canonical, outcomes, run_id, staged_sums)
            for o in outcomes:
                summary.actions[o.action] = summary.actions.get(o.action, 0) + 1
        try:
            summary.destination_count = conn.count(canonical)
        except Exception as exc:  # the count is informative; a failure must not hide the load's result
            logger.warning("%s: could not read the destination's own count of %s: %s", plugin.name, canonical, exc)
    finally:
        if own_connection:
            conn.close()
    return summary


def _loaded_form_checksum(staged: str, map_fp: str, cleared: Mapping[str, str] | None) -> str:
    """The checksum of what a load sends: the staged content, under the confirmed field map, without the
    cleared fields. Unchanged for a record with neither (so stores written before keep matching)."""
    if not map_fp and not cleared:
        return staged
    without = f":{','.join(sorted(cleared))}" if cleared else ""
    return hashlib.sha256(f"{staged}:{map_fp}{without}".encode()).hexdigest()


def _without(record: dict[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    """The record as the destination gets it: the cleared fields set to None (the key stays, so a destination
    that updates writes the empty value over an earlier one)."""
    return {**record, **{f: None for f in fields}}


def _complete_outcomes(records: list[dict[str, Any]], outcomes: list[LoadOutcome], destination: str) -> list[LoadOutcome]:
    """Exactly one outcome per record: a destination that forgets one must not make a record vanish."""
    by_id: dict[str, LoadOutcome] = {}
    for o in outcomes:
        o.source_id = str(o.source_id)
        by_id[o.source_id] = o
    out = []
    for r in records:
        sid = str(r["id"])
        out.append(by_id.get(sid) or LoadOutcome(
            sid, "failed", reason=f"the {destination} plugin returned no outcome for this record",
            rule="missing-outcome", fix="a destination plugin bug: report it; re-running retries the record"))
    return out


# --------------------------------------------------------------------------------------------------
# Reconcile
# --------------------------------------------------------------------------------------------------


@dataclass
class Reconciliation:
    canonical: str
    extracted: int
    loaded: int
    quarantined: int
    skipped: int
    unaccounted: int
    unaccounted_sample: list[str]
    destination_count: int | None = None
    # Of ``quarantined``: records quarantined only because another record failed (every entry has caused_by).
    collateral: int = 0

    @property
    def balanced(self) -> bool:
        return self.unaccounted == 0 and self.extracted == self.loaded + self.quarantined + self.skipped

    def as_dict(self) -> dict[str, Any]:
        return {"extracted": self.extracted, "loaded": self.loaded, "quarantined": self.quarantined,
                "skipped": self.skipped, "unaccounted": self.unaccounted,
                "unaccounted_sample": self.unaccounted_sample, "destination_count": self.destination_count,
                "collateral": self.collateral}


def reconcile(store: MigrationStore, source: str, destination: str, canonical: str,
              shards: Sequence[str] | None = None) -> Reconciliation:
    """extracted = loaded + quarantined + skipped, computed in SQL over ids (constant memory).

    A record counts once: loaded wins over a stale quarantine entry; records rejected at extraction (never
    staged) count as extracted and quarantined. With ``shards``: the records staged in those shards (the
    extraction rejects, which belong to no shard, count in the whole object's reconciliation)."""
    s, m, q = staged_records, id_map, quarantine
    loaded_q = sa.exists().where(m.c.source == s.c.source, m.c.destination == destination, m.c.object == s.c.object,
                                 m.c.source_id == s.c.source_id, m.c.rolled_back_at.is_(None))

    def in_quarantine(kind: str, *, own_fault: bool = False):
        where = (q.c.source == s.c.source, q.c.object == s.c.object, q.c.source_id == s.c.source_id,
                 q.c.destination.in_(["", destination]), q.c.kind == kind)
        return sa.exists().where(*where, *((q.c.caused_by.is_(None),) if own_fault else ()))

    scope = (s.c.source == source, s.c.object == canonical) + ((s.c.shard.in_(list(shards)),) if shards else ())
    base = sa.select(sa.func.count()).select_from(s).where(*scope)
    with store.engine.connect() as conn:
        staged = conn.execute(base).scalar_one()
        loaded = conn.execute(base.where(loaded_q)).scalar_one()
        quarantined = conn.execute(base.where(~loaded_q, in_quarantine("quarantined"))).scalar_one()
        collateral = conn.execute(base.where(~loaded_q, in_quarantine("quarantined"),
                                             ~in_quarantine("quarantined", own_fault=True))).scalar_one()
        skipped = conn.execute(base.where(~loaded_q, ~in_quarantine("quarantined"), in_quarantine("skipped"))).scalar_one()
        unstaged_rejects = sa.select(sa.func.count(sa.distinct(q.c.source_id))).where(
            q.c.source == source, q.c.object == canonical, q.c.stage == "extract",
            ~sa.exists().where(s.c.source == source, s.c.object == canonical, s.c.source_id == q.c.source_id))
        rejected_unstaged = 0 if shards else conn.execute(unstaged_rejects).scalar_one()
        collateral += 0 if shards else conn.execute(unstaged_rejects.where(q.c.caused_by.is_not(None))).scalar_one()
        missing = conn.execute(
            sa.select(s.c.source_id).where(*scope, ~loaded_q,
                                           ~in_quarantine("quarantined"), ~in_quarantine("skipped")).limit(20)
        ).scalars().all()
        n_missing = staged - loaded - quarantined - skipped
    return Reconciliation(canonical, staged + rejected_unstaged, loaded, quarantined + rejected_unstaged, skipped,
                          n_missing, list(missing), collateral=collateral)

