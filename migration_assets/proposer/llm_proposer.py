"""A semantic field-map proposer through Simon Willison's ``llm`` package (optional extra ``[llm]``): the user
chooses the model, hosted or local (``llm models`` lists what the installed llm plugins offer), with
MIGRATION_FIELD_PROPOSER=llm:<model id>. It is off by default.

What is sent: destination and source field names, labels and types, and picklist values. Sample values only
when the user allows it (MIGRATION_PROPOSER_SAMPLES=allow): they are customer data, and a hosted model is a
third party. The answer is parsed defensively (the first JSON array in the text, entries checked one by one)
and never trusted where the built-in proposer is strict: source identifiers and audit times never feed a
field, platform-owned flags are never proposed, one source feeds one field, and an unknown field name is
dropped. A model that cannot be reached proposes nothing (the built-in proposal stands), with the reason.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .names import is_system_destination, is_system_source

log = logging.getLogger("helpdesk_migrate.mapping")

PREFIX = "llm:"
SAMPLES_ENV = "MIGRATION_PROPOSER_SAMPLES"
SAMPLES_PER_FIELD = 3
SAMPLE_CHARS = 60
# A model's self-reported confidence is capped: it never looks surer than an exact name match the built-in
# proposer backs with types and values.
CONFIDENCE_CAP = 0.9

SYSTEM_PROMPT = (
    "You map fields of a helpdesk export (source) onto fields of a destination system. Field titles may be in "
    "any language. Answer with a JSON array only, one object per destination field you can map: "
    '{"destination": <destination name>, "source": <source name>, "confidence": <0..1>, "reason": <short>}. '
    "Use each source at most once. Never map record ids, external ids or audit timestamps. Leave a destination "
    "out when no source clearly means the same thing."
)


def samples_allowed(env: Mapping[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get(SAMPLES_ENV, "").strip().lower() == "allow"


def _field(f: Mapping[str, Any]) -> dict[str, Any]:
    out = {"name": f["name"], "label": f.get("label") or f["name"], "type": f.get("type") or "string"}
    if f.get("picklist_values"):
        out["picklist_values"] = list(f["picklist_values"])[:20]
    return out


def build_prompt(destination_fields: Sequence[Mapping[str, Any]], source_fields: Sequence[Mapping[str, Any]],
                 samples: Mapping[str, Sequence[Any]], *, with_samples: bool) -> str:
    sources = []
    for f in source_fields:
        item = _field(f)
        if with_samples and samples.get(f["name"]):
            item["examples"] = [str(v)[:SAMPLE_CHARS] for v in list(samples[f["name"]])[:SAMPLES_PER_FIELD]]
        sources.append(item)
    return json.dumps({"destination_fields": [_field(f) for f in destination_fields], "source_fields": sources},
                      ensure_ascii=False)


def parse_answer(text: str) -> list[dict[str, Any]]:
    """The entries of the first JSON array in ``text`` (or of an object's "mappings"); [] when there is none."""
    decoder = json.JSONDecoder()
    for start, ch in enumerate(text or ""):
        if ch not in "[{":
            continue
        try:
            value, _end = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict):
            value = value.get("mappings") or value.get("fields")
        if isinstance(value, list):
            return [v for v in value if isinstance(v, dict)]
    return []


def _confidence(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return round(max(0.0, min(CONFIDENCE_CAP, number)), 3) if number == number else 0.0  # NaN -> 0


def checked(entries: Sequence[Mapping[str, Any]], destination_fields: Sequence[Mapping[str, Any]],
            source_fields: Sequence[Mapping[str, Any]], who: str) -> dict[str, dict[str, Any]]:
    """The model's entries that pass the guards, by destination (the surer entry wins). A source may appear
    twice here: the combiner gives it to one field, after the built-in proposal has taken what it is sure of
    (else a model's wrong guess for a field the built-in one is sure of would hide its right one elsewhere)."""
    dests = {str(f["name"]) for f in destination_fields}
    label_of = {str(f["name"]): str(f.get("label") or "") for f in source_fields}
    kept: dict[str, dict[str, Any]] = {}
    for e in sorted(entries, key=lambda e: -_confidence(e.get("confidence"))):
        dest, src = str(e.get("destination") or ""), e.get("source")
        if dest not in dests or not isinstance(src, str) or src not in label_of or dest in kept:
            continue
        if is_system_source(src, label_of[src]) or is_system_destination(dest):
            continue  # identifiers, audit times and platform-owned flags: never on a model's word
        reason = str(e.get("reason") or "")[:200]
        kept[dest] = {"destination": dest, "source": src, "confidence": _confidence(e.get("confidence")),
                      "reasons": [f"{who}: {reason}" if reason else f"{who} proposed it"]}
    return kept


class LlmProposer:
    """Asks a model chosen through ``llm`` (see the module's docstring)."""

    def __init__(self, model_id: str | None = None, *, allow_samples: bool | None = None):
        self.model_id = model_id
        self.allow_samples = allow_samples

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.model_id}" if self.model_id else "llm"

    def _ask(self, prompt: str) -> str:
        import llm  # the optional extra: pip install 'helpdesk-migrate[llm]'

        model = llm.get_model(self.model_id) if self.model_id else llm.get_model()
        return model.prompt(prompt, system=SYSTEM_PROMPT).text()

    def propose(self, *, destination_fields, source_fields, samples):
        with_samples = samples_allowed() if self.allow_samples is None else self.allow_samples
        prompt = build_prompt(destination_fields, source_fields, samples, with_samples=with_samples)
        try:
            answer = self._ask(prompt)
            problem = None
        except Exception as exc:  # no package, unknown model, no key, no network: the built-in stands
            # Only the kind of error: a provider's message may quote part of a key.
            answer, problem = "", f"model {self.model_id or '(default)'} not asked: {type(exc).__name__}"
            log.warning("llm field proposer: %s", problem)
        kept = checked(parse_answer(answer), destination_fields, source_fields, self.name)
        out = []
        for f in destination_fields:
            out.append(kept.get(str(f["name"])) or {
                "destination": f["name"], "source": None, "confidence": 0.0,
                "reasons": [problem or f"{self.name} proposed no source (or one the guards refuse)"]})
        return out
