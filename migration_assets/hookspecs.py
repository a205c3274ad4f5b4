"""The plugin contract: every hook a platform plugin may implement, and the objects it hands back.

Register-callback style (as `llm` and `datasette` do): a plugin module implements
``register_sources(register)`` and calls ``register(MySource())``. The plugin objects follow the typed
Protocols below; the engine never imports a platform by name.

Hooks are always called with keyword arguments. A plugin module that misspells a hook name fails loudly
at start-up, because the plugin manager calls ``check_pending()`` after loading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import pluggy

PROJECT_NAME = "helpdesk_migrate"
ENTRY_POINT_GROUP = "helpdesk_migrate.plugins"

# Set by the engine in the environment a destination's connect(env) receives: the pair's source plugin name, so a
# destination can name what it creates after the source (a field prefix) without knowing any source itself.
PAIR_SOURCE_ENV = "MIGRATION_PAIR_SOURCE"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --------------------------------------------------------------------------------------------------
# Values exchanged between the engine and plugins
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One environment variable a plugin reads, declared once: the SDK's ``read_settings`` parses it by this
    declaration (the plugin writes no parser), the engine checks every setting before a run, and nothing ever
    prints the value of a secret one."""

    env_var: str
    help: str
    required: bool = False
    secret: bool = False
    default: Any = None  # applied when the variable is unset or empty; parsed like a given value
    # text, int, float, bool, choice, url (https, or http to 127.0.0.1/localhost only), mapping (a JSON object
    # or key=value pairs)
    kind: str = "text"
    minimum: float | None = None  # int and float: the smallest value accepted
    maximum: float | None = None  # int and float: the largest value accepted
    choices: tuple[str, ...] = ()  # choice: the accepted words (compared in lower case)
    pattern: str | None = None  # text: a regular expression the whole value must match
    pattern_help: str | None = None  # text: what the pattern means, for the error message


@dataclass(frozen=True)
class PayloadKey:
    """A key of the platform's payload that a source's mapping reads (dotted path, "[]" for list items, as
    ``migration_assets.shapes.key_paths`` writes it). Discover's shape audit counts how often each declared key
    was present; a declared key that never appears is a blocking finding a person acknowledges."""

    path: str
    feeds: str  # the feature it feeds, in words: "attachments are downloaded", "the ticket result"
    required: bool = False  # every payload should carry it


@dataclass(frozen=True)
class SourceObject:
    """A canonical object a source can extract."""

    canonical: str  # name in migration_assets.canonical, e.g. "contacts"
    depends_on: tuple[str, ...] = ()  # canonical objects whose staged records this extract reads
    description: str = ""
    supports_since: bool = False  # True when extract(since=...) really narrows the fetch (delta)
    # The object is read per record of this parent object (e.g. messages per conversation): the engine splits
    # it into shards of parents (Dagster partitions) that extract and load concurrently. The source then
    # reads parents only through ExtractContext.staged(parent), which yields the shard's parents.
    fan_out_from: str | None = None
    # The payload keys the mapping reads (the shape audit's declaration); () when the source declares none.
    payload_keys: tuple[PayloadKey, ...] = ()


@dataclass(frozen=True)
class CheckSpec:
    """A destination-specific check on a load asset, e.g. "every owner is matched". Declared up front
    (Dagster needs check keys when definitions load) and evaluated after the load by
    ``DestinationConnection.evaluate_check``. A blocking check that fails with ERROR stops the downstream
    loads in that run."""

    name: str
    description: str
    blocking: bool = True


@dataclass
class CheckFinding:
    passed: bool
    description: str
    severity: Literal["ERROR", "WARN"] = "ERROR"
    metadata: dict[str, Any] = field(default_factory=dict)  # JSON-safe


@dataclass
class Preflight:
    """What would fire or refuse during the load (validation rules, flows, missing permissions, schema
    to create), with the recommended bypass. When ``requires_acknowledgement`` is true, loads are blocked
    until a person approves this ``fingerprint`` (``helpdesk-migrate approve preflight``)."""

    markdown: str
    items: list[dict[str, Any]]
    fingerprint: str
    requires_acknowledgement: bool
    blocking_problems: list[str] = field(default_factory=list)  # cannot be acknowledged away (e.g. missing fields)


@dataclass(frozen=True)
class DestinationObject:
    """A canonical object a destination loads, and the destination objects it lands in."""

    canonical: str
    depends_on: tuple[str, ...] = ()  # canonical objects that must be loaded first (lookups)
    targets: tuple[str, ...] = ()  # destination object names, e.g. ("Case",) or ("EmailMessage", "CaseComment")
    description: str = ""
    checks: tuple[CheckSpec, ...] = ()
    # True when the destination writes no record of this object (its API cannot create them): each record is
    # listed for a person to rebuild. The go-ahead does not wait for its extraction, and its requests to the
    # source go after those of the objects the destination writes.
    inventory_only: bool = False


@dataclass
class Rejected:
    """A source record that could not be mapped to the canonical model. It goes to the quarantine."""

    source_id: str
    reason: str  # what is wrong, in words a person understands
    rule: str = "source-mapping"  # the rule that refused it
    fix: str = ""  # what to do about it
    raw: Any = None  # the payload as received, for the quarantine report
    # "<canonical>/<source id>" of another record whose failure this one follows (collateral quarantine);
    # None when the record was refused for its own fault. The report counts the two apart.
    caused_by: str | None = None


@dataclass(frozen=True)
class Change:
    """A change made to a record on its way (a value trimmed or cut to a limit, bytes replaced, a status or an
    owner replaced by a fallback, a time converted). The record still loads; the migration report lists the
    change, so a person knows what was lossy and why."""

    rule: str  # short and stable, e.g. "email-trimmed", "owner-fallback", "text-truncated"
    detail: str  # what happened, in words a person understands, e.g. "LastName cut to 80 characters"
    # Degrade, don't discard: a value that could not be written as it is. The record loads without it (or with a
    # safe form of it); ``original`` is the value as the source held it (JSON-safe; the report shows it escaped)
    # and ``kept_in`` says where a person still finds it (a migration field, the description, the source archive).
    field: str | None = None  # the canonical (or destination) field the change is about
    original: Any = None
    kept_in: str | None = None
    # The record is not complete yet, but a later run can complete it (a link to a contact that did not load, a
    # value a person will fix at the source): the engine re-sends the record on the next run (delta or full)
    # even when its source content did not change, and the change entry is cleared once a load no longer
    # reports it.
    pending: bool = False
    # With ``pending``: "<canonical>/<source id>" of the record the completion waits for (e.g. the contact a Case
    # is to be linked to). The engine then re-sends the record only once that record has loaded, so a record
    # whose blocker stays quarantined is not re-sent (and re-written) on every run. None: re-sent on every run
    # until a load no longer reports the change (use it only for what a next run can really complete).
    waits_for: str | None = None


# Key of Chunk.changes for a change made to every record of the object (e.g. naive times read in the
# workspace's zone): recorded once instead of once per record.
EVERY_RECORD = "*"


@dataclass(frozen=True)
class PlatformTotal:
    """The platform's own count of an object's records, as the API reports it (a paginator's ``meta.total``,
    a count endpoint, the sum of per-status counts, the reporting API). The engine reconciles
    ``extracted + rejected`` with it in a blocking check, and the scope report shows both numbers."""

    count: int
    basis: str  # where the number comes from, e.g. "meta.total of GET /contacts", "sum of 4 per-status totals"


@dataclass
class Chunk:
    """A batch of canonical records from a source, with the cursor that resumes *after* it."""

    records: list[dict[str, Any]]
    cursor: dict[str, Any] | None = None  # None: the object is finished
    rejected: list[Rejected] = field(default_factory=list)
    # source id (or EVERY_RECORD) -> the changes the source made while mapping it to the canonical model
    changes: dict[str, list[Change]] = field(default_factory=dict)
    # The platform's count for the whole object (full extracts only); set on any chunk, the last one set wins.
    platform_total: PlatformTotal | None = None
    # Shape audit: how many platform payloads this chunk read (``payloads``), and per payload key (dotted path,
    # "[]" for list items, see migration_assets.shapes.key_paths) how many of them carried it with a
    # non-empty value. The engine adds them up per object and compares with SourceObject.payload_keys.
    payloads: int = 0
    key_counts: dict[str, int] = field(default_factory=dict)
    # What the source measured about the workspace that a person must know before records move (e.g. the zone
    # the data's naive timestamps are in, and a conflict with the setting). ERROR findings block the loads.
    findings: list[CheckFinding] = field(default_factory=list)


Action = Literal["created", "updated", "unchanged", "linked", "failed", "skipped"]


@dataclass
class LoadOutcome:
    """What happened to one canonical record in the destination.

    - created: a new destination record; rollback deletes it.
    - updated: an existing record was changed; ``before_image`` holds the fields as they were, and
      rollback writes them back.
    - unchanged: the record is already there as it should be (a re-run).
    - linked: an existing destination record stands for this one (e.g. a Contact matched by email);
      nothing was written and rollback leaves it alone.
    - failed: the destination refused it; it goes to the quarantine with ``reason``.
    - skipped: deliberately not loaded (e.g. an object the destination has no place for); counted
      separately with ``reason``.
    """

    source_id: str
    action: Action
    destination_id: str | None = None
    destination_object: str | None = None
    reason: str | None = None
    rule: str | None = None  # e.g. the destination's error code
    fix: str | None = None
    before_image: dict[str, Any] | None = None
    extra_ids: list[tuple[str, str]] = field(default_factory=list)  # (object, id) also created, e.g. comment parts
    changes: list[Change] = field(default_factory=list)  # what the destination changed on a record it loaded
    # For a failed or skipped record: "<canonical>/<source id>" of another record whose failure this one
    # follows (collateral); None when it failed for its own fault. Degrade, don't discard: a record that is
    # itself sound should load (with a pending Change) rather than fail because of another record.
    caused_by: str | None = None


@dataclass
class IdMapEntry:
    source_id: str
    destination_id: str
    destination_object: str
    action: str
    run_id: str


class ExtractContext(Protocol):
    """What the engine gives a source while it extracts one object."""

    run_id: str
    log: Any  # a logging.Logger-compatible object
    files_dir: Path  # where a source streams binary content (attachments); records keep paths relative to it
    # The shard being extracted (see SourceObject.fan_out_from), else None. A source keeping side files per
    # extract (e.g. a manifest of attachments to fetch) keeps one per shard: shards run concurrently.
    partition: str | None

    def staged(self, canonical: str) -> Iterator[dict[str, Any]]:
        """Records of another object already staged in the store (e.g. conversations, for messages); in a
        sharded extract, the parent object's records of this shard only."""
        ...

    def changed_ids(self, canonical: str) -> set[str]:
        """Ids of `canonical` records whose content changed in this run (for delta of children)."""
        ...


class LoadContext(Protocol):
    """What the engine gives a destination while it loads one chunk (also its pre-flight, checks and rollback)."""

    run_id: str
    source: str  # the pair's source plugin name: e.g. the default prefix of the fields a destination creates
    destination: str  # the pair's destination plugin name (the plugin's own)
    pair: str  # "<source>_to_<destination>", the pair's name in keys and reports
    log: Any
    options: Mapping[str, Any]  # what the engine passes to this load; prefer the named members below
    files_dir: Path  # where the source streamed binary content (attachments' local_path is relative to it)
    # The confirmed field map, {canonical: [{destination, source, confidence}]}; None while no map is confirmed
    # (the plugin's defaults apply). The engine decides what "confirmed" means: a plugin never re-checks it.
    field_map: Mapping[str, list[dict[str, Any]]] | None
    reports_dir: Path  # where the plugin writes documents for people (inventories), shared with the engine's

    def staged(self, canonical: str) -> Iterator[dict[str, Any]]:
        """Staged source records of any object (e.g. attachments while loading messages)."""
        ...

    def lookup(self, canonical: str, source_ids: Sequence[str]) -> dict[str, str]:
        """Destination ids of already-loaded records, by source id (missing ids are absent)."""
        ...

    def previous(self, canonical: str, source_ids: Sequence[str]) -> dict[str, IdMapEntry]:
        """Id-map rows from earlier runs, so a re-run updates or skips instead of creating again."""
        ...


# --------------------------------------------------------------------------------------------------
# Plugin Protocols
# --------------------------------------------------------------------------------------------------


@runtime_checkable
class RunningEmulator(Protocol):
    """An emulator serving on 127.0.0.1 in a daemon thread of this process.

    ``EmulatorPlugin.start(seed=, size=, port=, profile=, **options)`` starts one. Options every emulator understands:
    ``rate_limit`` (requests per minute), ``faults`` (a mapping of the plugin's fault switches), and for
    destinations ``existing``: canonical records by object name (e.g. ``{"agents": [...]}``) to provision
    in the emulated org before the migration, so matching by email can be rehearsed.
    """

    url: str

    def env(self) -> dict[str, str]:
        """Environment variables that point the product at this emulator (base URL, credentials)."""
        ...

    def seed_records(self, canonical: str) -> list[dict[str, Any]]:
        """Canonical records of the seeded workspace (sources), for wiring demos and for exact-count tests."""
        ...

    def stop(self) -> None: ...


@runtime_checkable
class SourceConnection(Protocol):
    def extract(
        self,
        canonical: str,
        *,
        context: ExtractContext,
        cursor: Mapping[str, Any] | None = None,
        since: datetime | None = None,
    ) -> Iterator[Chunk]:
        """Yield canonical records in chunks. Resume after ``cursor`` when given; with ``since``, yield
        only what changed after it (plus the plugin's overlap)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class DestinationConnection(Protocol):
    def load(self, canonical: str, records: list[dict[str, Any]], *, context: LoadContext) -> list[LoadOutcome]:
        """Load one chunk; return exactly one outcome per input record, in any order."""
        ...

    def count(self, canonical: str) -> int | None:
        """The destination's own count of records this migration put there, for reconciliation."""
        ...

    def rollback(self, canonical: str, entries: Sequence[dict[str, Any]], *, context: LoadContext) -> list[str]:
        """Undo id-map entries (``created``: delete; ``updated``: restore ``before_image``). Return the
        source ids undone; what could not be undone is logged with the reason."""
        ...

    def evaluate_check(self, name: str, canonical: str, *, context: LoadContext) -> CheckFinding:
        """Evaluate a ``CheckSpec`` the destination declared on ``canonical`` (after its load)."""
        ...

    def preflight(self, *, context: LoadContext) -> Preflight | None:
        """Inspect the destination before any load (describe/Tooling); None when there is nothing to ask."""
        ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------------------------------
# Optional capabilities: small Protocols a plugin object or connection may follow. The engine asks
# ``isinstance(obj, Capability)``; registration refuses a plugin that has a capability's member in a form the
# engine cannot call (``registry.capability_problems``), naming it.
# --------------------------------------------------------------------------------------------------


@runtime_checkable
class DescribesFields(Protocol):
    """A destination connection that lists the destination's fields, for the field-map proposal (without it,
    canonical fields map as they are)."""

    def describe_fields(self, canonical: str) -> list[dict[str, Any]]:
        """The destination fields of ``canonical``'s object: ``{name, label, type, required, picklist_values}``."""
        ...


@runtime_checkable
class AssessesScope(Protocol):
    """A destination connection that says which of its features the discovered workspace needs."""

    def assess(self, scope: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``[{feature, needed, available, note}]`` for the scope report (Knowledge, queues, audit fields...)."""
        ...


@runtime_checkable
class FetchesRecords(Protocol):
    """A destination connection that reads records back, for the sample's side-by-side spot-check."""

    def fetch(self, canonical: str, destination_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The destination's view of each record, by destination id. An entry may carry ``_canonical``: the
        record re-expressed in canonical field names, which the spot-check then compares field by field
        with the source record (without it, only presence is compared)."""
        ...


@runtime_checkable
class RecommendsEquivalents(Protocol):
    """A destination connection that suggests its equivalent of a source automation, for the inventory."""

    def recommend(self, workflow: Mapping[str, Any]) -> str:
        """One sentence: what to build in the destination for this workflow (``{name, kind, trigger}``)."""
        ...


@runtime_checkable
class ProbesPlatform(Protocol):
    """A plugin object that can read one page of every endpoint it uses, read-only, for
    ``helpdesk-migrate probe`` (which keeps only the payloads' shapes, never their values)."""

    def probe(self, env: Mapping[str, str]) -> Iterable[tuple[str, Any]]:
        """``(endpoint, payload)`` pairs from GETs and queries only; nothing is written."""
        ...


@runtime_checkable
class StatesCorpusOutcomes(Protocol):
    """A destination plugin that states what a migration reaches in it per rule of the SDK's bad-input corpus
    (``helpdesk_migrate.sdk.corpus``), where it differs from the rule's default."""

    def corpus_outcomes(self) -> Mapping[str, str]:
        """``{rule or canonical object: outcome}``; the corpus tests combine it with the sources' dirt cases."""
        ...


@runtime_checkable
class OffersDemoSettings(Protocol):
    """A running emulator that knows settings a demo needs to run through (e.g. a fallback owner)."""

    def demo_env(self) -> dict[str, str]:
        """Environment variables for the demo, on top of ``env()``."""
        ...


@dataclass(frozen=True)
class RequestBudget:
    """A platform's request budget on the user's plan, for the throughput plan of the scope report.

    ``per_minute``: requests a minute the credential may spend (None when time is not what the platform limits,
    e.g. a daily allowance: then each request is counted as ``seconds_per_request``).
    ``plan``: the plan (or setting) the figure comes from; ``plans``: every plan's requests a minute, so the
    report can say what a higher plan changes; ``basis``: where the figures are documented."""

    per_minute: float | None
    plan: str
    plans: Mapping[str, float] = field(default_factory=dict)
    seconds_per_request: float = 0.0
    per_day: int | None = None
    basis: str = ""


@dataclass(frozen=True)
class RequestEstimate:
    """Requests one object costs a platform in a full migration of the discovered scope."""

    canonical: str
    requests: int
    basis: str = ""  # how the number was reached, shown in the report ("1 per 100 contacts (batch create)")


@runtime_checkable
class PlansRequests(Protocol):
    """A source or destination plugin that says what a migration of the discovered scope costs it in requests,
    so discovery can plan the run's duration and name its bottleneck (``migration_assets/planner.py``)."""

    def request_budget(self, env: Mapping[str, str]) -> RequestBudget:
        """The budget of the credential in ``env`` (no request is made: from settings and documented plans)."""
        ...

    def estimate_requests(self, scope: Mapping[str, Any]) -> list[RequestEstimate]:
        """Per canonical object, the requests a full migration costs. ``scope`` is the scope report: ``counts``
        per object, ``thread_lengths`` ({messages in a conversation: conversations}), ``conversations_by_status``...
        A source's estimate is used only where discovery did not measure the requests it spent itself."""
        ...


CONNECTION_CAPABILITIES: tuple[type, ...] = (DescribesFields, AssessesScope, FetchesRecords, RecommendsEquivalents)
PLUGIN_CAPABILITIES: tuple[type, ...] = (ProbesPlatform, StatesCorpusOutcomes, PlansRequests)


@runtime_checkable
class SourcePlugin(Protocol):
    name: str  # asset key prefix and the name the CLI takes, e.g. "acme_desk"
    title: str
    version: str

    def objects(self) -> Sequence[SourceObject]: ...

    def settings(self) -> Sequence[Setting]: ...

    def connect(self, env: Mapping[str, str]) -> SourceConnection:
        """Open a connection from the environment; raise ConfigurationError naming a bad setting."""
        ...


@runtime_checkable
class DestinationPlugin(Protocol):
    name: str
    title: str
    version: str

    def objects(self) -> Sequence[DestinationObject]: ...

    def settings(self) -> Sequence[Setting]: ...

    def connect(self, env: Mapping[str, str]) -> DestinationConnection: ...


@runtime_checkable
class EmulatorPlugin(Protocol):
    """A platform's emulator, registered on its own (``register_emulators``) from the plugin's ``emulator``
    package, so the plugin's production code never imports it. Tests, demos, the conformance suites and the
    probe start emulators through the registry (``registry.emulator(name)``)."""

    name: str  # the platform it emulates: the source or destination plugin's name

    def profiles(self) -> dict[str, str]:
        """Profile name -> what differs from the default and the public evidence for it ("default" first):
        variants of the platform's behaviour we could not confirm. ``start(profile="a,b")`` serves them
        combined; the end-to-end tests, the conformance suites and the probe run under them."""
        ...

    def start(self, *, seed: int = 42, size: int = 100, port: int = 0, profile: str = "default",
              **options: Any) -> RunningEmulator:
        """Start the emulator in this process (a daemon thread) with a deterministic workspace of about
        ``size`` records per main object, and return it serving."""
        ...


class ConfigurationError(Exception):
    """Bad or missing configuration. The message names the setting and never contains a secret."""


class FieldMapProposer(Protocol):
    name: str

    def propose(self, *, destination_fields: Sequence[Mapping[str, Any]], source_fields: Sequence[Mapping[str, Any]],
                samples: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
        """Return one proposal per destination field: {destination, source, confidence, reasons}."""
        ...


# --------------------------------------------------------------------------------------------------
# Hook specifications
# --------------------------------------------------------------------------------------------------


@hookspec
def register_sources(register: Callable[[SourcePlugin], None]) -> None:
    """Register source platforms.

    Implemented by: platform plugins that read a helpdesk (the built-in ones are in ``helpdesk_migrate.plugins``).
    Called: once, when the plugin manager builds the registry.
    Call ``register(plugin)`` once per source; the plugin follows the ``SourcePlugin`` Protocol.
    Returns nothing.
    """


@hookspec
def register_destinations(register: Callable[[DestinationPlugin], None]) -> None:
    """Register destination platforms.

    Implemented by: platform plugins that write a helpdesk (the built-in ones are in ``helpdesk_migrate.plugins``).
    Called: once, when the plugin manager builds the registry.
    Call ``register(plugin)`` once per destination; the plugin follows ``DestinationPlugin``.
    Returns nothing.
    """


@hookspec
def register_field_proposers(register: Callable[[FieldMapProposer], None]) -> None:
    """Register field-map proposers (the heuristic one is built in; an LLM-backed one could be added).

    Implemented by: any plugin offering a way to propose destination-field mappings.
    Called: when the map-proposal asset runs. ``MIGRATION_FIELD_PROPOSER`` names the proposer: ``builtin``
    (the default: multilingual knowledge and value evidence) or ``heuristic`` alone, or a registered proposer
    (``llm:<model>``, ``embedding``, a plugin's name) that is combined with the built-in one: the built-in
    proposal wins at or above the confirm threshold, a semantic one can fill in below it.
    Returns nothing.
    """


@hookspec
def register_emulators(register: Callable[[EmulatorPlugin], None]) -> None:
    """Register platform emulators (local HTTP stand-ins for tests, demos and rehearsals).

    Implemented by: a plugin's ``emulator`` package, through an entry point of its own, so that production
    code never loads it.
    Called: once, when the plugin manager builds the registry.
    Call ``register(emulator)`` once per emulated platform; it follows ``EmulatorPlugin``.
    Returns nothing.
    """
