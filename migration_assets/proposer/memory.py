"""Choices a person confirmed, remembered in the migration home (field_memory.yaml) and reused when this or
another workspace has a source field of the same name: a map confirmed once for "Klantnummer" need not be
made again for the next workspace of the same company, or the next customer of the same consultant.

An entry is (destination platform, object, destination field) <- (source field, its label). It is applied on
top of whichever proposer ran (``apply``), so it works for third-party proposers too, and it is exported
and imported as a plain YAML file (``helpdesk-migrate mapping export|import``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from ..store import default_home
from .names import compact

FILE_NAME = "field_memory.yaml"
REQUIRED = ("platform", "object", "destination", "source")
HEADER = ("# Field-map choices confirmed by people: reused when a workspace has a source field of the same name\n"
          "# or label. Edit freely; helpdesk-migrate mapping export/import moves it between machines.\n")


def memory_path() -> Path:
    return default_home() / FILE_NAME


def _key(entry: Mapping[str, Any]) -> tuple[str, str, str, str]:
    source = compact(str(entry.get("source_label") or "")) or str(entry["source"])
    return str(entry["platform"]), str(entry["object"]), str(entry["destination"]), source


def load(path: Path | None = None) -> list[dict[str, Any]]:
    path = path or memory_path()
    if not path.exists():
        return []
    try:
        document = yaml.safe_load(path.read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from None
    entries = document.get("choices") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path} has no `choices:` list of remembered field-map choices")
    for i, entry in enumerate(entries):
        missing = [k for k in REQUIRED if not isinstance(entry, dict) or not entry.get(k)]
        if missing:
            raise ValueError(f"{path}: choice #{i + 1} lacks {', '.join(missing)}")
    return entries


def save(entries: Sequence[Mapping[str, Any]], path: Path | None = None) -> Path:
    path = path or memory_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(entries, key=lambda e: _key(e))
    path.write_text(HEADER + yaml.safe_dump({"choices": [dict(e) for e in ordered]}, sort_keys=False,
                                            allow_unicode=True, width=110), "utf-8")
    return path


def merge(entries: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``new`` replaces an entry for the same destination field and source name; the rest is kept."""
    merged = {_key(e): dict(e) for e in entries}
    for e in new:
        merged[_key(e)] = dict(e)
    return list(merged.values())


def remember(platform: str, objects: Mapping[str, Sequence[Mapping[str, Any]]],
             labels: Mapping[str, Mapping[str, str]], *, pair: str, by: str) -> int:
    """Keep the confirmed entries of a map that name a source (``labels``: object -> source name -> label)."""
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    new = [{"platform": platform, "object": obj, "destination": p["destination"], "source": p["source"],
            "source_label": labels.get(obj, {}).get(p["source"], ""), "confirmed": when, "by": by, "pair": pair}
           for obj, proposals in objects.items() for p in proposals if p.get("source")]
    if new:
        save(merge(load(), new))
    return len(new)


def _matches(entry: Mapping[str, Any], src: Mapping[str, Any]) -> bool:
    if entry["source"] == src["name"]:
        return True
    label = compact(str(entry.get("source_label") or ""))
    return bool(label) and label == compact(str(src.get("label") or ""))


def apply(platform: str, obj: str, proposals: list[dict[str, Any]], source_fields: Sequence[Mapping[str, Any]],
          entries: Sequence[Mapping[str, Any]] | None = None) -> int:
    """Put remembered choices into ``proposals`` (in place): the destination field gets the source field
    that matches, and that source leaves any other field (one source feeds one field). Returns how many."""
    entries = load() if entries is None else entries
    by_dest = {p["destination"]: p for p in proposals}
    applied = 0
    for entry in entries:
        if entry["platform"] != platform or entry["object"] != obj or entry["destination"] not in by_dest:
            continue
        src = next((s for s in source_fields if _matches(entry, s)), None)
        if src is None:
            continue
        for other in proposals:
            if other["source"] == src["name"] and other["destination"] != entry["destination"]:
                other.update(source=None, confidence=0.0,
                             reasons=[f"{src['name']} was confirmed before for {entry['destination']}"])
        by_dest[entry["destination"]].update(
            source=src["name"], confidence=0.99,
            reasons=[f"confirmed before for {entry['destination']} ({entry.get('confirmed', '?')}, "
                     f"{entry.get('pair') or 'another workspace'})"])
        if "proposed_by" in by_dest[entry["destination"]]:  # a combined proposal names who proposed each entry
            by_dest[entry["destination"]]["proposed_by"] = "remembered"
        applied += 1
    return applied
