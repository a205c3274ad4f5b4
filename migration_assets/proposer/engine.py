"""The built-in field-map proposer: it knows the destination fields we ship (names and labels in five
languages, what values they hold), reads the evidence in the sampled values, and assigns sources to
destination fields one to one.

Confidence is calibrated so the threshold means something: a proposal that rests only on a vaguely alike
name stays below it, whatever the types and values say; source identifiers and audit times never go into
a business field; flags a platform or a compliance process owns (opt-outs, Is*/Has*) are proposed only
when the source field's name says exactly that."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import evidence
from .names import (
    Concept,
    best_concept,
    best_name_match,
    concept_for_destination,
    is_system_destination,
    is_system_source,
    knowledge,
    tokens,
)

THRESHOLD = 0.7
NAME_WEIGHT, TYPE_WEIGHT, VALUE_WEIGHT = 0.72, 0.14, 0.14
# A flag the platform or a compliance process owns: only a name that says exactly this.
SYSTEM_NAME_FLOOR = 0.95
# Strong value evidence against the field (e.g. no sampled value is a date for a date field).
CONTRADICTION_PENALTY = 0.2

KIND_OF_TYPE = {"email": "email", "phone": "phone", "date": "date", "datetime": "datetime", "boolean": "boolean",
                "double": "number", "int": "number", "integer": "number", "currency": "number", "percent": "number",
                "number": "number", "url": "url"}

# How well a source field's type can feed a destination type: 1 as it is, between 0 and 1 through a
# conversion that may fail for some values, 0 not at all.
_TEXTUAL = {"string", "textarea", "text", "combobox", "encryptedstring"}
TYPE_FIT: dict[str, dict[str, float]] = {
    "date": {"datetime": 1.0, "date": 1.0, "string": 0.6, "text": 0.6},
    "datetime": {"datetime": 1.0, "date": 0.9, "string": 0.6, "text": 0.6},
    "boolean": {"boolean": 1.0, "string": 0.6, "text": 0.6, "enum": 0.6, "number": 0.5, "integer": 0.5},
    "number": {"number": 1.0, "integer": 1.0, "string": 0.6, "text": 0.6},
    "email": {"email": 1.0, "string": 0.7, "text": 0.7},
    "phone": {"phone": 1.0, "string": 0.7, "text": 0.7, "number": 0.5, "integer": 0.5},
    "multipicklist": {"list": 1.0, "enum": 0.8, "string": 0.6, "text": 0.6},
    "picklist": {"enum": 1.0, "string": 0.8, "text": 0.8, "boolean": 0.6, "list": 0.4},
    "url": {"string": 0.9, "text": 0.9, "url": 1.0},
}
for _t in ("double", "int", "integer", "currency", "percent"):
    TYPE_FIT[_t] = TYPE_FIT["number"]
TYPE_FIT["list"] = TYPE_FIT["multipicklist"]
TYPE_FIT["enum"] = TYPE_FIT["picklist"]


def type_fit(dest_type: str, src_type: str) -> float:
    dest_type, src_type = dest_type.lower(), (src_type or "string").lower()
    if dest_type in TYPE_FIT:
        return TYPE_FIT[dest_type].get(src_type, 0.0)
    if dest_type in _TEXTUAL or dest_type not in KIND_OF_TYPE:
        return 0.6 if src_type == "list" else 1.0  # text takes anything; a list is joined
    return 0.5


@dataclass
class Candidate:
    confidence: float
    reasons: list[str]


class KnowledgeProposer:
    """Proposes, for every destination field, the source field that feeds it (see the module's docstring).
    Choices a person confirmed before are applied on top by the engine (``memory.apply``), for any proposer."""

    name = "builtin"
    threshold = THRESHOLD

    # -- scoring -----------------------------------------------------------------------------------------

    def score(self, dest: Mapping[str, Any], src: Mapping[str, Any], prof: evidence.Profile) -> Candidate | None:
        """The confidence that ``src`` feeds ``dest`` (None: never proposed), with the evidence."""
        src_name, src_label = str(src["name"]), str(src.get("label") or "")
        if is_system_source(src_name, src_label):
            return None
        concept = concept_for_destination(str(dest["name"]), str(dest.get("label") or ""))
        aliases = sorted({" ".join(tokens(str(dest["name"]))), " ".join(tokens(str(dest.get("label") or "")))}
                         | set(concept.names if concept else ()))
        name_score, alias, how = best_name_match([src_label, src_name], [a for a in aliases if a])
        system = is_system_destination(str(dest["name"]))
        if system and name_score < SYSTEM_NAME_FLOOR:
            return None
        dest_type = str(dest.get("type") or "string").lower()
        t = type_fit(dest_type, str(src.get("type") or "string"))
        picklist = [str(v) for v in dest.get("picklist_values") or []]
        fit = evidence.fit(self._kind(concept, dest_type, picklist), prof, picklist)
        confidence = NAME_WEIGHT * name_score + TYPE_WEIGHT * t + VALUE_WEIGHT * fit.score
        if fit.strong and fit.score < 0.2:
            confidence -= CONTRADICTION_PENALTY
        if t == 0.0:
            confidence -= CONTRADICTION_PENALTY
        rival = self._rival(src_name, src_label, concept, name_score)
        if rival is not None:
            # "Channel type" contains "type", but says Origin more: it is not proposed for Type.
            confidence = min(confidence, self.threshold - 0.02)
        if name_score <= 0.5:
            # A vaguely alike name never decides, however well types and values fit.
            confidence = min(confidence, self.threshold - 0.05 - (0.5 - name_score) * 0.2)
        reasons = [
            f"name {src_label or src_name!r} {how} {alias!r} ({name_score:.2f})"
            + (" [system field: exact name required]" if system else "")
            + (f", but says {rival} more" if rival else ""),
            "types fit" if t == 1.0 else f"type {src.get('type')} into {dest_type}: "
            + ("not possible" if t == 0 else "converted where the value allows"),
            fit.reason,
        ]
        return Candidate(round(max(0.0, min(1.0, confidence)), 3), reasons)

    @staticmethod
    def _rival(src_name: str, src_label: str, concept: Concept | None, name_score: float) -> str | None:
        """Another known field the source's name says more clearly than this one (None: none does)."""
        best_key, best_score = best_concept(src_label or src_name)
        if best_key is None or (concept is not None and best_key == concept.key):
            return None
        if best_score >= 0.85 and best_score > name_score + 0.03:
            rival = knowledge().concepts[best_key]
            return "/".join(rival.fields) or f"the {rival.key.replace('_', ' ')}"
        return None

    @staticmethod
    def _kind(concept: Concept | None, dest_type: str, picklist: Sequence[str]) -> str:
        if picklist:
            return "picklist"
        kind = KIND_OF_TYPE.get(dest_type)
        if concept is not None and concept.kind != "picklist" and (kind is None or kind in ("phone",)):
            return concept.kind  # knowledge refines a type (mobile vs landline, postcode, city)
        return kind or (concept.kind if concept and concept.kind != "picklist" else "text")

    # -- proposing ---------------------------------------------------------------------------------------

    def propose(self, *, destination_fields, source_fields, samples):
        profiles = {s["name"]: evidence.profile(samples.get(s["name"], [])) for s in source_fields}
        table: dict[tuple[int, int], Candidate] = {}
        for di, dest in enumerate(destination_fields):
            for si, src in enumerate(source_fields):
                cand = self.score(dest, src, profiles[src["name"]])
                if cand is not None and cand.confidence > 0:
                    table[(di, si)] = cand
        chosen = assign(table, len(destination_fields), len(source_fields), self.threshold)
        proposals = []
        for di, dest in enumerate(destination_fields):
            if di in chosen:
                si = chosen[di]
                cand = table[(di, si)]
                proposals.append({"destination": dest["name"], "source": source_fields[si]["name"],
                                  "confidence": cand.confidence, "reasons": cand.reasons})
                continue
            below = [(c.confidence, si) for (d, si), c in table.items() if d == di]
            reasons = ["no source field's name says this field"]
            if below:
                conf, si = max(below)
                why = "feeds another field" if conf >= self.threshold else f"stays below {self.threshold:.2f}"
                reasons = [f"best candidate {source_fields[si]['name']} ({conf:.2f}) {why}"] + table[(di, si)].reasons
            proposals.append({"destination": dest["name"], "source": None, "confidence": 0.0, "reasons": reasons})
        return proposals


def assign(table: Mapping[tuple[int, int], Candidate], n_dest: int, n_src: int, threshold: float) -> dict[int, int]:
    """One source per destination field and one destination per source, among the pairs at or above the
    threshold. The weights are cubed so one sure pair is not traded for two doubtful ones."""
    pairs = {k: c.confidence for k, c in table.items() if c.confidence >= threshold}
    if not pairs:
        return {}
    try:
        import numpy as np
        from scipy.optimize import linear_sum_assignment
    except ImportError:  # greedy best-first without scipy
        chosen: dict[int, int] = {}
        used: set[int] = set()
        for (di, si), _conf in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0])):
            if di not in chosen and si not in used:
                chosen[di] = si
                used.add(si)
        return chosen
    weights = np.zeros((n_dest, n_src))
    for (di, si), conf in pairs.items():
        weights[di, si] = conf ** 3
    rows, cols = linear_sum_assignment(weights, maximize=True)
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True) if (int(r), int(c)) in pairs}
