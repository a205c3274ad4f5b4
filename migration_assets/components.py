"""Migrations as Dagster Components: a source and a migration are instances in ``defs/<name>/defs.yaml``.

``MigrationSource`` builds one source's extracts (shared by every migration from it); ``Migration`` builds one
source -> destination pair. Neither sets the store or the executor: the code location sets those once
(definitions.py), so migrations compose. MIGRATION_PAIRS, when set, still narrows a location to the pairs it
names (benchmarks and step processes use it): a migration it leaves out builds nothing.
"""

import dagster as dg

from .factory import pair_definitions, select_pairs, source_definitions
from .pairs import Pair
from .registry import default_registry


def _selected(source: str, destination: str | None = None) -> list[Pair]:
    return [p for p in select_pairs(default_registry())
            if p.source.name == source and destination in (None, p.destination.name)]


class MigrationSource(dg.Component, dg.Model, dg.Resolvable):
    """A source platform's extracts, their data-quality checks and its archive (its plugin name)."""

    source: str

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        registry = default_registry()
        pairs = _selected(self.source)
        if not pairs:
            return dg.Definitions()
        return source_definitions(registry.source(self.source), pairs)


class Migration(dg.Component, dg.Model, dg.Resolvable):
    """One migration, source -> destination (plugin names): gates, decisions, loads, reports and jobs.
    Its source needs a MigrationSource instance too."""

    source: str
    destination: str

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        pairs = _selected(self.source, self.destination)
        return pair_definitions(pairs[0]) if pairs else dg.Definitions()
