"""The command line: stable names, JSON shape and exit codes, clear errors instead of tracebacks."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from migration_assets import cli, registry
from migration_assets.factory import Pair
from migration_assets.gates import approve
from migration_assets.mapping import heuristic_proposer_plugin
from migration_assets.store import MigrationStore
from tests.tiny_pair import TinyDestination, TinyOrg, TinyPlugin, TinySource, TinyWorkspace


@pytest.fixture
def tiny_cli(migration_home, monkeypatch):
    monkeypatch.setenv("TINYSRC_TOKEN", "tiny-secret-token-123")
    migration_home.mkdir(parents=True, exist_ok=True)
    org = TinyOrg()
    reg = registry.build_registry(registry.get_plugin_manager(
        [TinyPlugin(TinySource(TinyWorkspace()), TinyDestination(org)), heuristic_proposer_plugin],
        load_entry_points=False))
    monkeypatch.setattr(registry, "_default_registry", reg)
    return reg, org


def invoke(*args):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def test_plugins_lists_versions_and_objects(tiny_cli):
    out = invoke("plugins", "--json")
    assert out.exit_code == 0
    rows = {r["name"]: r for r in json.loads(out.output)}
    assert rows["tinysrc"]["version"] == "0.0.1"
    assert rows["tinydst"]["objects"] == ["agents", "contacts", "conversations"]
    assert rows["heuristic"]["kind"] == "field-proposer"


def test_run_full_then_report_json_with_stable_shape_and_exit_codes(tiny_cli):
    reg, org = tiny_cli
    args = ["--source", "tinysrc", "--destination", "tinydst"]
    early = invoke("run", *args, "--job", "full")
    assert early.exit_code == 3, early.output  # nothing to decide on yet: no run, not an error either
    assert "full not started: waiting for a person's decision" in early.output and "--job discover" in early.output
    discover = invoke("run", *args, "--job", "discover")
    # Waiting for a person is discovery's normal end: the run succeeds. It exits 1 only because the tiny
    # workspace's conversation t3 is quarantined at extraction (as the report says).
    assert discover.exit_code == 1, discover.output
    assert "succeeded" in discover.output and "FAILED" not in discover.output
    assert "conversations   extracted       3  loaded       0  quarantined     1" in discover.output
    assert "before records move, a person decides" in discover.output
    assert "field map awaits confirmation" in discover.output
    first = invoke("run", *args, "--job", "full")
    assert first.exit_code == 3 and "field map awaits confirmation" in first.output
    assert not org.records  # checked before anything was extracted or loaded
    assert invoke("mapping", "confirm", *args).exit_code == 0
    assert invoke("approve", "sample", *args, "--waive", "tiny pair").exit_code == 0
    second = invoke("run", *args, "--job", "full")
    assert "contacts" in second.output and second.exit_code == 1  # quarantined records -> 1
    report = invoke("report", *args, "--json")
    assert report.exit_code == 1
    data = json.loads(report.output)
    assert {"source", "destination", "objects", "quarantine"} <= set(data)
    assert data["objects"]["contacts"] == {"extracted": 5, "loaded": 4, "quarantined": 1, "own_fault": 1,
                                           "collateral": 0, "skipped": 0, "changed": 3}
    cleared = next(c for c in data["changed"] if c["rule"] == "email-invalid")
    assert (cleared["field"], cleared["original"], cleared["pending"]) == ("email", "not-an-email", False)
    assert "collateral" in second.output
    assert {"object", "source_id", "stage", "reason"} <= set(data["quarantine"][0])
    rollback = invoke("run", *args, "--job", "rollback")
    assert rollback.exit_code == 0, rollback.output
    assert all(not v for v in org.records.values())


def test_bad_usage_exits_2_with_a_clear_message(tiny_cli, monkeypatch):
    import subprocess
    import sys

    out = CliRunner().invoke(cli.main, ["run", "--source", "nope", "--destination", "tinydst", "--job", "full"])
    assert out.exit_code == 2 and "no source plugin named 'nope'" in out.output
    monkeypatch.delenv("TINYSRC_TOKEN")
    store = MigrationStore()
    pair = Pair(registry.default_registry().source("tinysrc"), registry.default_registry().destination("tinydst"))
    assert approve(store, pair.name, "tinysrc", "tinydst", "preflight")[0] is False
    # The installed entry point turns unexpected errors into one line, never a traceback.
    proc = subprocess.run([sys.executable, "-c", "from migration_assets.cli import run; run()", "run", "--source",
                           "x", "--destination", "y", "--job", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_a_missing_setting_names_the_variable_and_never_shows_a_traceback(tiny_cli, monkeypatch):
    monkeypatch.delenv("TINYSRC_TOKEN")
    out = invoke("run", "--source", "tinysrc", "--destination", "tinydst", "--job", "discover")
    assert out.exit_code == 1
    assert "TINYSRC_TOKEN" in out.output and "Traceback" not in out.output


def test_audit_prints_each_expectations_history_across_runs_from_the_kept_validations(tiny_cli, migration_home):
    args = ["--source", "tinysrc", "--destination", "tinydst"]
    assert invoke("audit", "--source", "tinysrc", "--object", "contacts").exit_code == 2  # nothing kept yet
    invoke("run", *args, "--job", "discover")
    invoke("run", *args, "--job", "discover")
    kept = sorted((migration_home / "validations" / "tinysrc" / "contacts").glob("*.json"))
    assert len(kept) == 2 and len(list(kept[0].parent.glob("*.md"))) == 2
    record = json.loads(kept[0].read_text())
    quality = next(e for e in record["expectations"] if e["column"] == "email" and not e["success"])
    assert quality["unexpected_count"] == 1 and quality["sample_ids"] == ["c2"]
    out = invoke("audit", "--source", "tinysrc", "--object", "contacts", "--quality")
    assert out.exit_code == 0, out.output  # the critical expectations held
    table = [line for line in out.output.splitlines() if line.startswith("| ")]
    assert len(table) == 3  # the header and one row per run
    assert quality["name"] in table[0]
    assert all("1 !" in row for row in table[1:])  # the invalid email, failing, in both runs
    as_json = json.loads(invoke("audit", "--source", "tinysrc", "--object", "contacts", "--json").output)
    assert len(as_json) == 2 and as_json[0]["validated_at"] <= as_json[1]["validated_at"]
    assert {r["run_id"] for r in as_json} == {path.stem for path in kept}


def test_a_full_run_whose_gate_closes_on_the_way_loads_nothing_and_says_why(tiny_cli):
    """The gates were open when the run started; what the run itself found (here a new pre-flight finding) closes
    the go-ahead: the loads are skipped, and the command says so and exits 3 instead of a silent success."""
    reg, org = tiny_cli
    args = ["--source", "tinysrc", "--destination", "tinydst"]
    invoke("run", *args, "--job", "discover")
    assert invoke("mapping", "confirm", *args).exit_code == 0
    assert invoke("approve", "sample", *args, "--waive", "tiny pair").exit_code == 0
    org.preflight_items.append({"what": "validation rule Contact.Require_Phone is active"})
    closed = invoke("run", *args, "--job", "full")
    assert closed.exit_code == 3, closed.output
    assert "full: nothing loaded, the run stopped at the go-ahead" in closed.output
    assert "pre-flight report awaits acknowledgement" in closed.output and not org.records.get("contacts")
    assert invoke("approve", "preflight", *args).exit_code == 0
    opened = invoke("run", *args, "--job", "full")
    assert opened.exit_code == 1 and org.records["contacts"]  # loaded (with the tiny pair's quarantined dirt)
