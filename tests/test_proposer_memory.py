"""Reviewing the map as a person does (mapping show/set/confirm) and the memory of confirmed choices
(kept in the migration home, reused by source field name or label, exported and imported)."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from migration_assets import cli, registry
from migration_assets.mapping import heuristic_proposer_plugin, map_fingerprint, read_map
from migration_assets.proposer import memory
from tests.tiny_pair import TinyDestination, TinyDestinationConnection, TinyPlugin, TinySource, TinyWorkspace

ARGS = ["--source", "tinysrc", "--destination", "tinydst"]
CONTACT_FIELDS = [
    {"name": "Phone", "label": "Business Phone", "type": "phone", "required": False, "picklist_values": []},
    {"name": "MobilePhone", "label": "Mobile Phone", "type": "phone", "required": False, "picklist_values": []},
    {"name": "Department", "label": "Department", "type": "string", "required": False, "picklist_values": []},
    {"name": "HasOptedOutOfEmail", "label": "Email Opt Out", "type": "boolean", "required": False,
     "picklist_values": []},
]


@pytest.fixture
def tiny(migration_home, monkeypatch):
    monkeypatch.setenv("TINYSRC_TOKEN", "tiny-secret-token-123")
    migration_home.mkdir(parents=True, exist_ok=True)
    # The tiny destination describes its contacts like an org, so the map has decisions to review.
    monkeypatch.setattr(TinyDestinationConnection, "describe_fields",
                        lambda self, canonical: CONTACT_FIELDS if canonical == "contacts" else None, raising=False)
    reg = registry.build_registry(registry.get_plugin_manager(
        [TinyPlugin(TinySource(TinyWorkspace()), TinyDestination()), heuristic_proposer_plugin],
        load_entry_points=False))
    monkeypatch.setattr(registry, "_default_registry", reg)
    out = invoke("run", *ARGS, "--job", "discover")
    assert out.exit_code in (0, 1), out.output
    return migration_home


def invoke(*args):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def test_show_is_a_table_of_decisions_with_samples(tiny):
    document = read_map("tinysrc_to_tinydst")
    assert document["proposer"] == "builtin"
    out = invoke("mapping", "show", *ARGS)
    assert out.exit_code == 0, out.output
    assert "Phone" in out.output and "+31 6 1234 5678" in out.output  # a sampled value
    assert "agents" not in out.output  # identity entries of objects the destination maps itself
    assert "NOT confirmed" in out.output
    raw = invoke("mapping", "show", *ARGS, "--yaml")
    assert "schema_fingerprint" in raw.output


def test_set_changes_the_map_asks_again_and_confirm_remembers(tiny):
    before = map_fingerprint("tinysrc_to_tinydst")
    assert invoke("mapping", "confirm", *ARGS).exit_code == 0
    out = invoke("mapping", "set", "MobilePhone", "phone", *ARGS)
    assert out.exit_code == 0, out.output
    assert "contacts.MobilePhone <- phone" in out.output and "no longer feeds Phone" in out.output
    assert map_fingerprint("tinysrc_to_tinydst") != before
    assert "changed since it was confirmed" in out.output
    contacts = {p["destination"]: p for p in read_map("tinysrc_to_tinydst")["objects"]["contacts"]}
    assert contacts["MobilePhone"]["source"] == "phone" and contacts["Phone"]["source"] is None
    assert invoke("mapping", "set", "Nope", "phone", *ARGS).exit_code == 2
    assert invoke("mapping", "set", "Department", "no_such_field", *ARGS).exit_code == 2
    assert invoke("mapping", "confirm", *ARGS).exit_code == 0
    kept = {(e["object"], e["destination"]): e["source"] for e in memory.load()}
    assert kept[("contacts", "MobilePhone")] == "phone"


def test_memory_is_reused_exported_and_imported(tiny, tmp_path, monkeypatch):
    invoke("mapping", "set", "Department", "company", *ARGS)
    invoke("mapping", "confirm", *ARGS)
    exported = tmp_path / "choices.yaml"
    assert invoke("mapping", "export", str(exported)).exit_code == 0
    choices = yaml.safe_load(exported.read_text())["choices"]
    assert {"platform": "tinydst", "object": "contacts", "destination": "Department", "source": "company"}.items() \
        <= next(c for c in choices if c["destination"] == "Department").items()
    # Another machine, another workspace: import, and the choice comes back for a source field of that name.
    monkeypatch.setenv("MIGRATION_HOME", str(tmp_path / "elsewhere"))
    assert memory.load() == []
    assert invoke("mapping", "import", str(exported)).exit_code == 0
    proposals = [{"destination": "Department", "source": None, "confidence": 0.0, "reasons": []},
                 {"destination": "Phone", "source": "company", "confidence": 0.8, "reasons": []}]
    fields = [{"name": "company", "label": "company", "type": "string"}]
    assert memory.apply("tinydst", "contacts", proposals, fields) >= 1
    assert proposals[0]["source"] == "company" and proposals[0]["confidence"] == 0.99
    assert proposals[1]["source"] is None  # one source feeds one field
    # Another destination platform or object does not take it.
    other = [{"destination": "Department", "source": None, "confidence": 0.0, "reasons": []}]
    assert memory.apply("salesforce", "contacts", other, fields) == 0 and other[0]["source"] is None


def test_memory_matches_by_label_and_refuses_a_broken_file(migration_home, tmp_path):
    migration_home.mkdir(parents=True, exist_ok=True)
    memory.save([{"platform": "salesforce", "object": "contacts", "destination": "MobilePhone",
                  "source": "custom_fields.mobiel", "source_label": "Mobiel nummer"}])
    proposals = [{"destination": "MobilePhone", "source": None, "confidence": 0.0, "reasons": []}]
    # Another workspace keys the field differently but titles it the same (case and dashes aside).
    fields = [{"name": "custom_fields.gsm-123", "label": "mobiel-nummer", "type": "phone"}]
    assert memory.apply("salesforce", "contacts", proposals, fields) == 1
    assert proposals[0]["source"] == "custom_fields.gsm-123"
    assert "confirmed before" in proposals[0]["reasons"][0]
    broken = tmp_path / "broken.yaml"
    broken.write_text("choices:\n  - {object: contacts}\n")
    out = CliRunner().invoke(cli.main, ["mapping", "import", str(broken)])
    assert out.exit_code == 2 and "lacks platform" in out.output



def test_a_broken_memory_file_neither_blocks_the_proposal_nor_the_confirmation(tiny):
    memory.memory_path().write_text("choices: [oops\n")
    out = invoke("mapping", "confirm", *ARGS)
    assert out.exit_code == 0 and "not remembered" in out.output
    from migration_assets.factory import Pair
    from migration_assets.gates import mapping_verdict
    from migration_assets.mapping_assets import propose_map
    from migration_assets.registry import default_registry
    from migration_assets.store import MigrationStore

    reg = default_registry()
    pair = Pair(reg.source("tinysrc"), reg.destination("tinydst"))
    document, _ = propose_map(MigrationStore(), pair)
    assert document["objects"]["contacts"]
    assert mapping_verdict(MigrationStore(), pair)[0]
