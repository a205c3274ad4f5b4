"""The field map as a person reviews it: the decisions (a destination field, the proposed source, how sure,
why, a few sampled values) without the identity entries of objects a destination maps itself; a choice
set by hand; confirmed choices remembered for the next workspace."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .mapping import (
    IDENTITY_REASON,
    SAMPLE_SIZE,
    custom_field_defs,
    read_map,
    sample_values,
    source_fields,
    write_map,
)
from .proposer import memory as field_memory
from .store import MigrationStore

if TYPE_CHECKING:
    from .pairs import Pair

SAMPLES_SHOWN = 3
NONE_WORDS = {"none", "null", "-", ""}
# An empty field whose best candidate is at least this sure is shown (a near miss worth a look).
CANDIDATE_SHOWN = 0.5
_CANDIDATE = re.compile(r"^best candidate \S+ \((\d\.\d+)\)")


def _candidate_confidence(reason: str) -> float:
    match = _CANDIDATE.match(reason)
    return float(match[1]) if match else 0.0


def _is_identity(proposals: Sequence[Mapping[str, Any]]) -> bool:
    return bool(proposals) and all(p.get("reasons") == [IDENTITY_REASON] for p in proposals)


def _shown(value: Any, width: int = 24) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def decision_rows(store: MigrationStore, pair: Pair, *, include_empty: bool = False) -> tuple[list[dict[str, Any]], int]:
    """Rows of the decisions in the pair's map, and how many destination fields were left out (no source and
    no candidate; shown with ``include_empty``)."""
    document = read_map(pair.name) or {}
    defs = custom_field_defs(store, pair)
    rows, hidden = [], 0
    for obj, proposals in (document.get("objects") or {}).items():
        if _is_identity(proposals):
            continue
        fields = source_fields(obj, defs)
        labels = {f["name"]: f["label"] for f in fields}
        staged = next(iter(store.iter_staged(pair.source.name, obj, chunk_size=SAMPLE_SIZE)), [])
        samples = sample_values(staged, fields)
        for p in proposals:
            reasons = [str(r) for r in p.get("reasons") or []]
            candidate = bool(reasons) and _candidate_confidence(reasons[0]) >= CANDIDATE_SHOWN
            if not p.get("source") and not candidate and not include_empty:
                hidden += 1
                continue
            source = p.get("source")
            values = sorted({_shown(v) for v in samples.get(source, [])})[:SAMPLES_SHOWN] if source else []
            rows.append({
                "object": obj, "destination": p["destination"],
                "source": f"{source} ({labels[source]})" if source and labels.get(source) not in (None, source)
                else (source or "—"),
                "confidence": f"{float(p.get('confidence') or 0):.2f}",
                "evidence": "; ".join(reasons[:3]), "samples": " | ".join(values),
            })
    return rows, hidden


def set_choice(store: MigrationStore, pair: Pair, destination: str, source: str, *, obj: str | None, by: str) -> str:
    """Point ``destination`` at ``source`` (a source field name or label; "none" leaves it empty) in the map
    file. The file changes, so the map asks for confirmation again. Returns what was done, in words."""
    document = read_map(pair.name)
    if not document:
        raise LookupError(f"no field map yet for {pair.name}: run the discover job first")
    objects = document.get("objects") or {}
    hits = [(o, p) for o, proposals in objects.items() if obj in (None, o) and not _is_identity(proposals)
            for p in proposals if p["destination"] == destination]
    if not hits:
        raise LookupError(f"the map has no destination field {destination!r}"
                          + (f" in {obj}" if obj else "") + "; see `helpdesk-migrate mapping show --all`")
    if len(hits) > 1:
        raise LookupError(f"{destination!r} is a field of {', '.join(o for o, _ in hits)}: say which with --object")
    obj, entry = hits[0]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    if source.strip().lower() in NONE_WORDS:
        entry.update(source=None, confidence=1.0, reasons=[f"left empty by {by} ({when})"])
        write_map(pair.name, document)
        return f"{obj}.{destination} left empty"
    fields = source_fields(obj, custom_field_defs(store, pair))
    chosen = resolve_source(fields, source)
    if chosen is None:
        known = ", ".join(f["name"] for f in fields)
        raise LookupError(f"no source field {source!r} for {obj}; the source fields are: {known}")
    moved = []
    for other in objects[obj]:
        if other["source"] == chosen and other is not entry:
            other.update(source=None, confidence=0.0, reasons=[f"{chosen} was chosen for {destination} by {by}"])
            moved.append(other["destination"])
    entry.update(source=chosen, confidence=1.0, reasons=[f"chosen by {by} ({when})"])
    write_map(pair.name, document)
    note = f" ({chosen} no longer feeds {', '.join(moved)}: one source feeds one field)" if moved else ""
    return f"{obj}.{destination} <- {chosen}{note}"


def resolve_source(fields: Sequence[Mapping[str, Any]], text: str) -> str | None:
    """A source field by its name, its custom key, or its label (case does not matter)."""
    wanted = text.strip()
    for f in fields:
        if wanted in (f["name"], f"custom_fields.{wanted}"):
            return str(f["name"])
    matches = [f for f in fields if str(f.get("label") or "").casefold() == wanted.casefold()]
    return str(matches[0]["name"]) if len(matches) == 1 else None


def remember_confirmed(store: MigrationStore, pair: Pair, by: str) -> int:
    """Remember the confirmed map's choices (``memory``), so another workspace with the same source field
    names gets them proposed."""
    document = read_map(pair.name) or {}
    defs = custom_field_defs(store, pair)
    objects = {o: ps for o, ps in (document.get("objects") or {}).items() if not _is_identity(ps)}
    labels = {o: {f["name"]: f["label"] for f in source_fields(o, defs)} for o in objects}
    return field_memory.remember(pair.destination.name, objects, labels, pair=pair.name, by=by)
