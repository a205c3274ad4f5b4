"""The built-in proposer combined with semantic ones (an LLM, or any proposer a plugin registers through
``register_field_proposers``).

The built-in proposal wins where it is at or above its threshold: it rests on names it knows in five
languages, types and values. Where it is below (or has nothing), a semantic proposal at or above the
threshold fills in, for a source the built-in proposal does not already use; of several semantic proposers
the surest counts; a weaker semantic suggestion is only named in the reasons. Every proposal
says who proposed it (``proposed_by``) and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .engine import THRESHOLD

STANDALONE = {"builtin", "heuristic"}  # proposers used on their own when named


class CombinedProposer:
    def __init__(self, builtin: Any, semantic: Sequence[Any], threshold: float = THRESHOLD):
        self.builtin, self.semantic, self.threshold = builtin, list(semantic), threshold
        self.name = "+".join([builtin.name] + [s.name for s in self.semantic])

    def propose(self, *, destination_fields, source_fields, samples):
        base = self.builtin.propose(destination_fields=destination_fields, source_fields=source_fields,
                                    samples=samples)
        out = {p["destination"]: dict(p, proposed_by=self.builtin.name) for p in base}
        strong = {d for d, p in out.items() if p["source"] and p["confidence"] >= self.threshold}
        used = {out[d]["source"] for d in strong}
        offers: list[tuple[float, str, dict[str, Any], str]] = []
        for proposer in self.semantic:
            for p in proposer.propose(destination_fields=destination_fields, source_fields=source_fields,
                                      samples=samples):
                if p.get("source") and p.get("destination") in out and p["destination"] not in strong:
                    offers.append((float(p.get("confidence") or 0), str(p["destination"]), p, proposer.name))
        for conf, dest, p, who in sorted(offers, key=lambda o: (-o[0], o[1])):
            current = out[dest]
            if conf < self.threshold:
                # Below the threshold nothing is proposed (as the built-in does): a person confirming without
                # reading must not move a value on a guess. The suggestion is said for the review.
                current["reasons"] = list(current["reasons"]) + [f"{who} suggests {p['source']} ({conf:.2f})"]
                continue
            if p["source"] in used or (current["proposed_by"] != self.builtin.name) or conf <= current["confidence"]:
                continue
            if current["source"] and current["source"] != p["source"]:
                used.discard(current["source"])
            why = [f"{self.builtin.name} had {current['source'] or 'nothing'} ({current['confidence']:.2f}, below "
                   f"{self.threshold:.2f})"]
            out[dest] = {"destination": dest, "source": p["source"], "confidence": round(conf, 3),
                         "reasons": list(p.get("reasons") or []) + why, "proposed_by": who}
            used.add(p["source"])
        return [out[str(f["name"])] for f in destination_fields]


def choose(name: str | None, proposers: Mapping[str, Any], builtin: Any) -> Any:
    """The proposer MIGRATION_FIELD_PROPOSER names: "builtin" (default) or "heuristic" on their own;
    "llm:<model id>", "embedding" or any other registered proposer combined with the built-in one."""
    from .embedding_proposer import EmbeddingProposer
    from .llm_proposer import PREFIX, LlmProposer

    name = (name or "").strip()
    if not name or name == builtin.name:
        return builtin
    if name.startswith(PREFIX):
        return CombinedProposer(builtin, [LlmProposer(name[len(PREFIX):] or None)])
    if name == EmbeddingProposer.name:
        return CombinedProposer(builtin, [EmbeddingProposer()])
    found = proposers.get(name)
    if found is None:
        raise ValueError(f"MIGRATION_FIELD_PROPOSER={name!r}: no such proposer; use builtin, heuristic, "
                         f"llm:<model id> or one of {sorted(proposers)}")
    return found if name in STANDALONE else CombinedProposer(builtin, [found])
