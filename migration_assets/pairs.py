"""A (source, destination) pair and the keys of the assets it builds.

The keys live here, below every module that builds or gates assets, so a gate can name the assets it waits
for (the field map, the go-ahead...) without importing the modules that build them: the engine stays layered,
without import cycles (tests/test_architecture.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import dagster as dg

from .canonical import dependency_order
from .hookspecs import DestinationPlugin, SourcePlugin
from .ratelimit import Priority


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

    def written(self) -> list[str]:
        """The loadable objects the destination writes records of (not only lists for a person)."""
        inventory = {o.canonical for o in self.destination.objects() if o.inventory_only}
        return [n for n in self.loadable() if n not in inventory]

    def gate_objects(self) -> list[str]:
        """The objects whose extracts the gates wait for: the root objects (reading no other) the pair writes."""
        written = set(self.written())
        return [o.canonical for o in self.source.objects() if not o.depends_on and o.canonical in written]

    def request_priority(self, canonical: str) -> Priority:
        """How soon this pair needs the source's requests for ``canonical``: URGENT when a gate waits for it,
        NORMAL when the destination writes it, BACKGROUND when it only lists it or does not take it."""
        if canonical in self.gate_objects():
            return Priority.URGENT
        return Priority.NORMAL if canonical in self.written() else Priority.BACKGROUND


def gate_extract_keys(pair: Pair) -> list[dg.AssetKey]:
    """The extracts the gates (field map, pre-flight) wait for: the root objects the pair writes. Not the
    children (messages, attachments: one request per conversation), so loads of parents overlap with their
    long extraction; not what the destination only lists for a person or does not take (reports, workflows),
    whose extraction goes last (``extract_priority``)."""
    return [extract_key(pair.source.name, c) for c in pair.gate_objects()]


def extract_priority(source: SourcePlugin, canonical: str, pairs: Iterable[Pair]) -> Priority:
    """How soon the source's requests for ``canonical`` are needed by ``pairs`` (the run's pair, or every pair
    the code location builds for this source): URGENT when a gate waits for it, NORMAL when a destination writes
    it, BACKGROUND when none does (an inventory, the archive); NORMAL when no pair reads this source."""
    feeding = [p for p in pairs if p.source.name == source.name]
    return min((p.request_priority(canonical) for p in feeding), default=Priority.NORMAL)


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
