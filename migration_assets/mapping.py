"""The field map: proposed by a proposer plugin (the built-in one is in proposer/), written to a readable YAML
file, confirmed by a person, and fingerprinted so any later change (an edit or schema drift) asks for a
new confirmation before records move."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .canonical import SCHEMA, FieldType
from .hookspecs import hookimpl
from .proposer import KnowledgeProposer
from .store import MigrationStore, default_home

if TYPE_CHECKING:
    from .pairs import Pair

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
PHONE_RE = re.compile(r"^\+?[\d\s().-]{6,20}$")
BOOL_WORDS = {"true", "false", "yes", "no", "0", "1", "ja", "nee"}

# Which canonical field types can feed which destination types (lower-cased describe types).
TYPE_AFFINITY: dict[str, set[str]] = {
    "string": {"string", "text", "email", "phone", "enum", "reference", "datetime", "list"},
    "textarea": {"text", "string"},
    "email": {"email", "string"},
    "phone": {"phone", "string"},
    "datetime": {"datetime"},
    "date": {"datetime", "string"},
    "boolean": {"boolean"},
    "int": {"integer"},
    "integer": {"integer", "number"},
    "double": {"number", "integer"},
    "number": {"number", "integer"},
    "currency": {"number", "integer"},
    "picklist": {"enum", "string"},
    "multipicklist": {"list", "enum"},
    "reference": {"reference"},
    "id": {"reference", "string"},
    "url": {"string"},
}


def _norm(name: str) -> str:
    name = re.sub(r"__c$", "", name)
    name = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def _value_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "list"
    if not isinstance(value, str) or not value.strip():
        return None
    v = value.strip()
    if EMAIL_RE.match(v):
        return "email"
    if v.lower() in BOOL_WORDS:
        return "boolean"
    try:
        datetime.fromisoformat(v.replace("Z", "+00:00"))
        return "datetime"
    except ValueError:
        pass
    if re.fullmatch(r"-?\d+(\.\d+)?", v):
        return "number"
    if PHONE_RE.match(v) and sum(c.isdigit() for c in v) >= 6:
        return "phone"
    return "string"


def _value_fit(dest_type: str, samples: Sequence[Any], picklist: Sequence[str]) -> tuple[float, str]:
    kinds = [k for k in (_value_kind(s) for s in samples) if k]
    if not kinds:
        return 0.5, "no sample values"
    wanted = {
        "email": {"email"}, "phone": {"phone", "number"}, "datetime": {"datetime"}, "date": {"datetime"},
        "boolean": {"boolean"}, "double": {"number"}, "int": {"number"}, "currency": {"number"},
        "percent": {"number"},
    }.get(dest_type)
    if picklist:
        flat = [x for s in samples for x in (s if isinstance(s, list) else [s]) if isinstance(x, str)]
        if flat:
            inside = sum(1 for x in flat if x in set(picklist)) / len(flat)
            return inside, f"{inside:.0%} of sampled values are picklist values"
    if wanted is None:
        return 0.6, "free text accepts the sampled values"
    share = sum(1 for k in kinds if k in wanted) / len(kinds)
    return share, f"{share:.0%} of sampled values look like {dest_type}"


class HeuristicProposer:
    """Weighs fuzzy name similarity, type compatibility and sampled values."""

    name = "heuristic"
    threshold = 0.55
    min_name_similarity = 0.6

    def propose(self, *, destination_fields, source_fields, samples):
        from rapidfuzz import fuzz

        # Score every (destination, source) pair, then assign one to one, best first: a source field feeds
        # at most one destination field, and a weak name match never wins on type and values alone.
        candidates: list[tuple[float, int, int, list[str]]] = []
        for di, dest in enumerate(destination_fields):
            dest_type = str(dest.get("type", "string")).lower()
            picklist = [str(v) for v in dest.get("picklist_values") or []]
            names = [n for n in (_norm(dest["name"]), _norm(str(dest.get("label") or ""))) if n]
            for si, src in enumerate(source_fields):
                src_names = [n for n in (_norm(src["name"]), _norm(str(src.get("label") or ""))) if n]
                name_score = max((fuzz.token_set_ratio(a, b) for a in names for b in src_names), default=0) / 100
                if name_score < self.min_name_similarity:
                    continue
                compatible = str(src.get("type")) in TYPE_AFFINITY.get(dest_type, {"string"})
                fit, why = _value_fit(dest_type, samples.get(src["name"], []), picklist)
                score = round(0.55 * name_score + 0.25 * (1.0 if compatible else 0.0) + 0.20 * fit, 3)
                if score >= self.threshold:
                    candidates.append((score, di, si, [
                        f"name similarity {name_score:.2f}",
                        "types compatible" if compatible else f"type {src.get('type')} vs {dest_type}", why]))
        chosen: dict[int, tuple[float, int, list[str]]] = {}
        used_sources: set[int] = set()
        for score, di, si, reasons in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
            if di in chosen or si in used_sources:
                continue
            chosen[di] = (score, si, reasons)
            used_sources.add(si)
        proposals = []
        for di, dest in enumerate(destination_fields):
            if di in chosen:
                score, si, reasons = chosen[di]
                proposals.append({"destination": dest["name"], "source": source_fields[si]["name"],
                                  "confidence": score, "reasons": reasons})
            else:
                proposals.append({"destination": dest["name"], "source": None, "confidence": 0.0,
                                  "reasons": ["no source field is similar enough, or the best one maps elsewhere"]})
        return proposals


heuristic_proposer = HeuristicProposer()
# The default: it knows the destination fields in five languages and reads the values (proposer/).
builtin_proposer = KnowledgeProposer()
DEFAULT_PROPOSER = builtin_proposer.name


class _HeuristicPlugin:
    """The built-in proposers, registered through the same hook a third-party proposer would use: "builtin"
    (the default) and "heuristic" (fuzzy names only, kept for comparison)."""

    @staticmethod
    @hookimpl
    def register_field_proposers(register):
        register(builtin_proposer)
        register(heuristic_proposer)


heuristic_proposer_plugin = _HeuristicPlugin()


# The reason on every entry of an object the destination maps itself (it has no describe): identity entries.
IDENTITY_REASON = "the destination maps canonical fields itself (no describe)"
# Staged records a proposal and a review sample values from (the first chunk of this size).
SAMPLE_SIZE = 200


def custom_field_defs(store: MigrationStore, pair: Pair) -> list[dict[str, Any]]:
    """The source's custom field definitions, as it staged them."""
    return [r for chunk in store.iter_staged(pair.source.name, "custom_fields") for r in chunk]


# A custom field's data type (as sources stage it) -> the canonical type the proposers compare.
CUSTOM_FIELD_TYPES = {"text": "string", "number": "number", "date": "datetime", "boolean": "boolean",
                      "select": "enum", "multiselect": "list", "email": "email", "phone": "phone", "url": "string"}


def source_fields(canonical: str, custom_field_defs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    obj = SCHEMA[canonical]
    out = [{"name": f.name, "label": f.description or f.name, "type": f.type.value} for f in obj.fields
           if f.type is not FieldType.JSON]
    entity = {"contacts": "contact", "conversations": "conversation"}.get(canonical)
    type_of = CUSTOM_FIELD_TYPES
    for d in custom_field_defs:
        if entity and d.get("entity") in (entity, "profile" if entity == "contact" else None):
            out.append({"name": f"custom_fields.{d['key']}", "label": d.get("name") or d["key"],
                        "type": type_of.get(d.get("data_type", "text"), "string")})
    return out


def sample_values(records: Sequence[Mapping[str, Any]], fields: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for f in fields:
        name = f["name"]
        values = []
        for r in records:
            if name.startswith("custom_fields."):
                v = (r.get("custom_fields") or {}).get(name.split(".", 1)[1])
            else:
                v = r.get(name)
            if v not in (None, "", []):
                values.append(v)
        out[name] = values[:50]
    return out


def fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def map_path(pair_name: str) -> Path:
    """Where a pair's field map lives; asking creates nothing (a read-only command leaves no trace)."""
    return default_home() / "maps" / f"{pair_name}.yaml"


def write_map(pair_name: str, document: dict[str, Any]) -> Path:
    path = map_path(pair_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Field map for {pair_name}: proposed by the '{document.get('proposer')}' proposer.\n"
        "# Review every entry; edit `source` (a canonical field, custom_fields.<key>, or null to leave the\n"
        "# destination field empty). Then confirm: helpdesk-migrate mapping confirm, or Materialize the\n"
        "# confirm_field_map asset in the UI. Any later change to this file or to either schema asks for a\n"
        "# new confirmation.\n"
    )
    path.write_text(header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110))
    return path


def read_map(pair_name: str) -> dict[str, Any] | None:
    path = map_path(pair_name)
    if not path.exists():
        return None
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"the field map {path} is not valid YAML: {exc}") from None


def map_fingerprint(pair_name: str) -> str | None:
    path = map_path(pair_name)
    if not path.exists():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
