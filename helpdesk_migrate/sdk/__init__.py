"""The plugin SDK: the one module a platform plugin imports from this project.

Everything a plugin needs is here, under stable names: the contract (hook markers, the values plugins hand
back, the Protocols the engine calls), the canonical model, value conversion, payload shapes, the shared
rate limiter and report helpers. Two submodules are for tests and emulators only, so production plugin
code never loads them: ``helpdesk_migrate.sdk.emulator`` (the emulator kit) and
``helpdesk_migrate.sdk.testing`` (the conformance suites, which need pytest). ``helpdesk_migrate.sdk.corpus``
is the bad-input corpus: canonical rules a source's dirt cases exercise and a destination states its outcome for.

    from helpdesk_migrate import sdk

    @sdk.hookimpl
    def register_sources(register):
        register(MySource())

An architecture contract (tests/test_architecture.py) holds plugins to this: a module under
``helpdesk_migrate.plugins`` imports ``helpdesk_migrate.sdk`` and third-party libraries, never the engine.
"""

from migration_assets import markdown
from migration_assets.canonical import (
    OBJECTS,
    SCHEMA,
    CanonicalObject,
    Field,
    FieldType,
    canonical_object,
    conformance_errors,
    dependency_order,
)
from migration_assets.files import append_synced, hash_file, write_hashed
from migration_assets.hookspecs import (
    ENTRY_POINT_GROUP,
    EVERY_RECORD,
    PAIR_SOURCE_ENV,
    PROJECT_NAME,
    Change,
    CheckFinding,
    CheckSpec,
    Chunk,
    ConfigurationError,
    DestinationConnection,
    DestinationObject,
    DestinationPlugin,
    ExtractContext,
    FieldMapProposer,
    IdMapEntry,
    LoadContext,
    LoadOutcome,
    PayloadKey,
    PlansRequests,
    PlatformTotal,
    Preflight,
    Rejected,
    RequestBudget,
    RequestEstimate,
    RunningEmulator,
    Setting,
    SourceConnection,
    SourceObject,
    SourcePlugin,
    hookimpl,
)
from migration_assets.pacing import BudgetPacedExecutor, concurrency_for
from migration_assets.ratelimit import SharedRateLimit, credential_key, shared_rate_limit
from migration_assets.sessions import ThreadSessions
from migration_assets.settings import Settings, declaration_problems, read_settings, secure_or_local
from migration_assets.shapes import key_paths, tally, type_shape
from migration_assets.values import Coerced, coerce

__all__ = [
    "BudgetPacedExecutor",
    "ENTRY_POINT_GROUP",
    "EVERY_RECORD",
    "OBJECTS",
    "PAIR_SOURCE_ENV",
    "PROJECT_NAME",
    "SCHEMA",
    "CanonicalObject",
    "Change",
    "CheckFinding",
    "CheckSpec",
    "Chunk",
    "Coerced",
    "ConfigurationError",
    "DestinationConnection",
    "DestinationObject",
    "DestinationPlugin",
    "ExtractContext",
    "Field",
    "FieldMapProposer",
    "FieldType",
    "IdMapEntry",
    "LoadContext",
    "LoadOutcome",
    "PayloadKey",
    "PlansRequests",
    "PlatformTotal",
    "Preflight",
    "Rejected",
    "RequestBudget",
    "RequestEstimate",
    "RunningEmulator",
    "Setting",
    "Settings",
    "SharedRateLimit",
    "SourceConnection",
    "SourceObject",
    "SourcePlugin",
    "ThreadSessions",
    "append_synced",
    "canonical_object",
    "coerce",
    "concurrency_for",
    "conformance_errors",
    "credential_key",
    "declaration_problems",
    "dependency_order",
    "hash_file",
    "hookimpl",
    "key_paths",
    "markdown",
    "read_settings",
    "secure_or_local",
    "shared_rate_limit",
    "tally",
    "type_shape",
    "write_hashed",
]
