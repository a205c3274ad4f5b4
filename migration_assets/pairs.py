"""A (source, destination) pair and the keys of the assets it builds.

The keys live here, below every module that builds or gates assets, so a gate can name the assets it waits
for (the field map, the go-ahead...) without importing the modules that build them: the engine stays layered,
without import cycles (tests/test_architecture.py)."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from .canonical import dependency_order
from .hookspecs import DestinationPlugin, SourcePlugin


@dataclass(frozen=True)
class Pair:
    source: SourcePlugin
    destination: DestinationPlugin

    @property
    def name(self) -> str:
        return f"{self.source.name}_to_{self.destination.name}"

    def loadable(self) -> list[str]:
        """Canonical objects both sides handle, in the destination's dependency order."""
        provided = {o.canonical for o in self.source.objects()}
        dest = {o.canonical: o for o in self.destination.objects()}
        names = [n for n in dest if n in provided]
        return dependency_order(names, {n: dest[n].depends_on for n in names})


def root_extract_keys(source: SourcePlugin) -> list[dg.AssetKey]:
    """Extracts of objects that depend on no other object (agents, contacts, conversations...). The gates wait
    for these only, so loads of parents overlap with the long extraction of children (messages,
    attachments), which needs one request per conversation."""
    return [extract_key(source.name, o.canonical) for o in source.objects() if not o.depends_on]


def extract_key(source: str, canonical: str) -> dg.AssetKey:
    return dg.AssetKey([source, canonical])


def archive_key(source_name: str) -> dg.AssetKey:
    return dg.AssetKey([source_name, "archive"])


def pair_key(pair: Pair, name: str) -> dg.AssetKey:
    """The key of a per-pair asset: ``<destination>/from_<source>/<name>``. Both sides are in it, or a second
    source beside the first would give two assets one key; the destination leads so the UI's asset tree
    groups what lands in one platform, and ``from_`` keeps the path readable."""
    return dg.AssetKey([pair.destination.name, f"from_{pair.source.name}", name])


def load_key(pair: Pair, canonical: str) -> dg.AssetKey:
    return pair_key(pair, canonical)


def preflight_key(pair: Pair) -> dg.AssetKey:
    return pair_key(pair, "preflight")


def field_map_key(pair: Pair) -> dg.AssetKey:
    return pair_key(pair, "field_map")


def scope_key(pair: Pair) -> dg.AssetKey:
    return pair_key(pair, "scope_report")


def sample_key(pair: Pair) -> dg.AssetKey:
    return pair_key(pair, "sample_spot_check")


def go_ahead_key(pair: Pair) -> dg.AssetKey:
    return pair_key(pair, "go_ahead")


def inventory_key(pair: Pair) -> dg.AssetKey:
    return pair_key(pair, "inventories")


def report_key(pair: Pair) -> dg.AssetKey:
    return pair_key(pair, "reconciliation_report")
