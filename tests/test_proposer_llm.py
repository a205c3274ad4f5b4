"""The LLM field proposer, offline: a fake model registered through llm's own plugin mechanism answers
what a model might (right, wrong, unsafe, malformed), and the proposer and the combiner are checked against
the guards: the built-in proposal wins above its threshold, the model fills in below it, never for an
identifier or a platform-owned flag; samples are sent only when allowed."""

from __future__ import annotations

import json

import pytest

from migration_assets.mapping import builtin_proposer, read_map
from migration_assets.proposer.combine import CombinedProposer, choose
from migration_assets.proposer.llm_proposer import LlmProposer, parse_answer
from tests.test_proposer_memory import tiny  # noqa: F401  (a fixture: the tiny pair, discovered)

llm = pytest.importorskip("llm")  # the optional extra [llm]

DEST = [{"name": "Phone", "label": "Business Phone", "type": "phone"},
        {"name": "Loyalty_Tier__c", "label": "Loyalty tier", "type": "string"},
        {"name": "HasOptedOutOfEmail", "label": "Email Opt Out", "type": "boolean"},
        {"name": "Account_Ref__c", "label": "Account reference", "type": "string"}]
SRC = [{"name": "phone", "label": "Phone", "type": "phone"},
       {"name": "id", "label": "Source id", "type": "id"},
       {"name": "custom_fields.klantstatus", "label": "Klantstatus", "type": "string"},
       {"name": "custom_fields.nieuwsbrief", "label": "Nieuwsbrief", "type": "boolean"}]
SAMPLES = {"phone": ["+32 470 12 34 56"], "custom_fields.klantstatus": ["Goud", "Zilver", "secret-sample-42"]}


class FakeModel(llm.Model):
    model_id = "fake-mapper"
    answer = ""
    prompts: list[str] = []

    def execute(self, prompt, stream, response, conversation):
        FakeModel.prompts.append(prompt.prompt)
        yield FakeModel.answer


class FakePlugin:
    @llm.hookimpl
    def register_models(self, register):
        register(FakeModel())


@pytest.fixture
def fake_model(monkeypatch):
    monkeypatch.delenv("MIGRATION_PROPOSER_SAMPLES", raising=False)
    llm.plugins.pm.register(FakePlugin(), name="test-fake-mapper")
    FakeModel.prompts = []
    yield FakeModel
    llm.plugins.pm.unregister(name="test-fake-mapper")


def answer(*entries, prose="Here is the mapping:\n```json\n{}\n```") -> str:
    return prose.replace("{}", json.dumps(list(entries)))


def test_the_model_fills_in_where_the_builtin_is_weak_never_for_ids_or_flags(fake_model):
    fake_model.answer = answer(
        {"destination": "Loyalty_Tier__c", "source": "custom_fields.klantstatus", "confidence": 0.85,
         "reason": "klantstatus is Dutch for customer status/tier"},
        {"destination": "Account_Ref__c", "source": "id", "confidence": 0.99, "reason": "a reference"},
        {"destination": "HasOptedOutOfEmail", "source": "custom_fields.nieuwsbrief", "confidence": 0.95},
        {"destination": "Phone", "source": "custom_fields.klantstatus", "confidence": 0.99},
        {"destination": "NoSuchField", "source": "phone", "confidence": 0.9})
    proposer = choose("llm:fake-mapper", {}, builtin_proposer)
    assert isinstance(proposer, CombinedProposer) and proposer.name == "builtin+llm:fake-mapper"
    got = {p["destination"]: p for p in proposer.propose(destination_fields=DEST, source_fields=SRC,
                                                         samples=SAMPLES)}
    # The built-in proposal is sure of Phone: the model's other opinion does not move it.
    assert got["Phone"]["source"] == "phone" and got["Phone"]["proposed_by"] == "builtin"
    tier = got["Loyalty_Tier__c"]
    assert tier["source"] == "custom_fields.klantstatus" and tier["proposed_by"] == "llm:fake-mapper"
    assert 0 < tier["confidence"] <= 0.9 and any("Dutch" in r for r in tier["reasons"])
    # A source id and a platform-owned flag are never taken on a model's word.
    assert got["Account_Ref__c"]["source"] is None and got["HasOptedOutOfEmail"]["source"] is None
    # Without permission, no sample value leaves the machine; names, labels and types do.
    sent = fake_model.prompts[-1]
    assert "Klantstatus" in sent and "Goud" not in sent and "secret-sample-42" not in sent


def test_samples_are_sent_only_when_allowed(fake_model, monkeypatch):
    fake_model.answer = "[]"
    monkeypatch.setenv("MIGRATION_PROPOSER_SAMPLES", "allow")
    LlmProposer("fake-mapper").propose(destination_fields=DEST, source_fields=SRC, samples=SAMPLES)
    assert "Goud" in fake_model.prompts[-1]


@pytest.mark.parametrize("text", ["I cannot help with that.", "[{\"destination\": 1}", "{\"mappings\": 3}", ""])
def test_a_malformed_answer_proposes_nothing_and_the_builtin_stands(fake_model, text):
    fake_model.answer = text
    combined = CombinedProposer(builtin_proposer, [LlmProposer("fake-mapper")])
    got = combined.propose(destination_fields=DEST, source_fields=SRC, samples={})
    alone = builtin_proposer.propose(destination_fields=DEST, source_fields=SRC, samples={})
    assert [(p["destination"], p["source"]) for p in got] == [(p["destination"], p["source"]) for p in alone]


def test_an_unreachable_model_says_so_without_details(fake_model):
    got = LlmProposer("no-such-model").propose(destination_fields=DEST, source_fields=SRC, samples={})
    assert all(p["source"] is None for p in got)
    assert got[0]["reasons"] == ["model no-such-model not asked: UnknownModelError"]


def test_parse_answer_takes_the_first_json_array_or_mappings():
    assert parse_answer('noise {"mappings": [{"destination": "a", "source": "b"}]} tail') == \
        [{"destination": "a", "source": "b"}]
    assert parse_answer('x [1, {"destination": "a"}] [{"destination": "z"}]') == [{"destination": "a"}]


def test_choose_names_the_standalone_and_refuses_an_unknown_proposer():
    assert choose(None, {}, builtin_proposer) is builtin_proposer
    with pytest.raises(ValueError, match="no such proposer"):
        choose("gpt", {}, builtin_proposer)


def test_the_map_asset_uses_the_model_the_user_names(fake_model, monkeypatch, request):

    monkeypatch.setenv("MIGRATION_FIELD_PROPOSER", "llm:fake-mapper")
    fake_model.answer = answer({"destination": "Department", "source": "company", "confidence": 0.8,
                                "reason": "the company a contact works for names their department here"})
    request.getfixturevalue("tiny")  # the tiny pair's discover: the map asset proposes
    document = read_map("tinysrc_to_tinydst")
    assert document["proposer"] == "builtin+llm:fake-mapper"
    entries = {e["destination"]: e for e in document["objects"]["contacts"]}
    assert entries["Phone"]["proposed_by"] == "builtin" and entries["Phone"]["source"] == "phone"
    assert (entries["Department"]["source"], entries["Department"]["proposed_by"]) == ("company", "llm:fake-mapper")
    assert fake_model.prompts and "tiny-secret-token-123" not in fake_model.prompts[-1]
