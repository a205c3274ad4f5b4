"""Migrations as Dagster Components: a source and a migration are instances in ``defs/<name>/defs.yaml``.

``MigrationSource`` builds one source's extracts (shared by every migration from it); ``Migration`` builds one
source -> destination pair. Neither sets the store or the executor: the code location sets those once
(definitions.py), so migrations compose. MIGRATION_PAIRS, when set, still narrows a location to the pairs it
names (benchmarks and step processes use it): a migration it leaves out builds nothing.

What shapes the graph is an attribute (owners, tags, step retries, the delta schedule); the environment
variables of the same meaning are only the defaults. Two stay in the environment on purpose:
MIGRATION_SHARDS, because the command line (gates, audits) must agree with the steps on the shard layout
without loading the code location, and the platforms' credentials, which are secrets.
"""

import dagster as dg
from pydantic import Field

from .factory import Shaping, pair_definitions, select_pairs, source_definitions
from .jobs import DEFAULT_DELTA_CRON
from .pairs import Pair
from .registry import default_registry


def _selected(source: str, destination: str | None = None) -> list[Pair]:
    return [p for p in select_pairs(default_registry())
            if p.source.name == source and destination in (None, p.destination.name)]


class MigrationSource(dg.Component, dg.Model, dg.Resolvable):
    """A source platform's extracts, their data-quality checks and its archive (its plugin name)."""

    source: str = Field(description="The source plugin's name (helpdesk-migrate plugins lists them).")
    owners: list[str] = Field(default_factory=list, description="Owners of the extracts: emails or team:<name> "
                              "(default: MIGRATION_OWNERS, else team:migration).")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on every asset of this source.")
    step_retries: int | None = Field(default=None, ge=0, description="Retries of a failed extract step, which "
                                     "resumes from its cursor (default: MIGRATION_STEP_RETRIES, else 2).")

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        registry = default_registry()
        pairs = _selected(self.source)
        if not pairs:
            return dg.Definitions()
        return source_definitions(registry.source(self.source), pairs, Shaping(
            owners=tuple(self.owners), tags=dict(self.tags), step_retries=self.step_retries))


class Migration(dg.Component, dg.Model, dg.Resolvable):
    """One migration, source -> destination (plugin names): gates, decisions, loads, reports and jobs.
    Its source needs a MigrationSource instance too."""

    source: str = Field(description="The source plugin's name.")
    destination: str = Field(description="The destination plugin's name.")
    owners: list[str] = Field(default_factory=list, description="Owners of the migration's assets: emails or "
                              "team:<name> (default: MIGRATION_OWNERS, else team:migration).")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on every asset and job of the migration.")
    delta_schedule: str = Field(default=DEFAULT_DELTA_CRON, description="Cron of the delta schedule at cutover.")
    delta_schedule_running: bool = Field(default=False, description="Whether the delta schedule starts running "
                                         "(off by default: a delta before sign-off only waits at its gates).")

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        pairs = _selected(self.source, self.destination)
        return pair_definitions(pairs[0], Shaping(
            owners=tuple(self.owners), tags=dict(self.tags), delta_cron=self.delta_schedule,
            delta_running=self.delta_schedule_running)) if pairs else dg.Definitions()
