"""The engine end to end on the tiny pair: Dagster runs, GX checks, quarantine, gates, reconciliation."""

from __future__ import annotations

import dagster as dg
import pytest

from migration_assets.factory import Pair, build_definitions
from migration_assets.gates import approve
from migration_assets.registry import build_registry, get_plugin_manager
from migration_assets.reporting import build_report, report_markdown
from migration_assets.resources import MigrationStoreResource
from migration_assets.rollback import rollback_pair
from migration_assets.store import MigrationStore
from tests.tiny_pair import TinyDestination, TinyOrg, TinyPlugin, TinySource, TinyWorkspace


@pytest.fixture
def tiny(migration_home, monkeypatch):
    monkeypatch.setenv("TINYSRC_TOKEN", "tiny-secret-token-123")
    ws, org = TinyWorkspace(), TinyOrg()
    src, dst = TinySource(ws), TinyDestination(org)
    registry = build_registry(get_plugin_manager([TinyPlugin(src, dst)], load_entry_points=False))
    pair = Pair(registry.source("tinysrc"), registry.destination("tinydst"))
    store_url = f"sqlite:///{migration_home}/store.sqlite"
    migration_home.mkdir(parents=True, exist_ok=True)
    defs = build_definitions(registry, [pair], store=MigrationStoreResource(url=store_url))
    store = MigrationStore(store_url)
    return dict(ws=ws, org=org, pair=pair, defs=defs, store=store)


def waive_sample(tiny):
    approve(tiny["store"], tiny["pair"].name, "tinysrc", "tinydst", "sample", by="tester",
            waive_reason="tiny pair: nothing to spot-check")


DISCOVER = "tinysrc_to_tinydst_discover"


def run(defs, name="tinysrc_to_tinydst_full", **kw):
    return defs.resolve_job_def(name).execute_in_process(instance=dg.DagsterInstance.ephemeral(),
                                                         raise_on_error=False, **kw)


def check_results(result):
    return {
        ("/".join(e.event_specific_data.asset_key.path), e.event_specific_data.check_name): e.event_specific_data
        for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def materialized(result):
    return {"/".join(e.asset_key.path) for e in result.get_asset_materialization_events()}


def test_loads_wait_for_the_confirmed_map_then_clean_records_load_and_dirty_ones_are_quarantined(tiny):
    store, pair, org = tiny["store"], tiny["pair"], tiny["org"]
    first = run(tiny["defs"], DISCOVER)
    assert first.success  # discovery's normal end, waiting for a person, is not a failure
    checks = check_results(first)
    confirmed = checks[("tinydst/from_tinysrc/field_map", "confirmed")]
    assert not confirmed.passed and confirmed.severity == dg.AssetCheckSeverity.WARN
    assert "awaits confirmation" in confirmed.description
    assert org.records == {}
    # A full run before the decisions extracts nothing (the source's budget is not spent on a run that could
    # only stop at the gate), loads nothing, and is not a failure either.
    requests = tiny["ws"].requests
    waiting = run(tiny["defs"])
    assert waiting.success and not materialized(waiting)
    assert tiny["ws"].requests == requests and org.records == {}
    # The dirty email costs the value, not the contact: the GX check flags it, the record is not quarantined and
    # carries a change naming the field and the value as the source held it.
    assert "c2" not in {e["source_id"] for e in store.quarantine_entries("tinysrc", "tinydst", "contacts")}
    cleared = [c for c in store.change_entries("tinysrc", "", "contacts") if c["source_id"] == "c2"]
    assert [(c["stage"], c["rule"], c["field"], c["original"]) for c in cleared] == \
        [("validate", "email-invalid", "email", "not-an-email")]
    assert "valid email" in cleared[0]["detail"] and cleared[0]["kept_in"]
    assert checks[("tinysrc/contacts", "gx_quality")].passed is False
    assert checks[("tinysrc/contacts", "gx_critical")].passed is True
    # Each expectation has its own number, under a name stable across runs (the UI plots its history), and the
    # run's full validation is kept and linked.
    quality = checks[("tinysrc/contacts", "gx_quality")].metadata
    email = [k for k in quality if k.startswith("unexpected ") and k.endswith("(email)")]
    assert email and any(quality[k].value == 1 for k in email)
    assert quality["validation_results"].value.endswith(f"{first.run_id}.json")

    ok, _ = approve(store, pair.name, "tinysrc", "tinydst", "mapping", by="tester")
    assert ok
    waive_sample(tiny)
    second = run(tiny["defs"])
    assert {"tinydst/from_tinysrc/agents", "tinydst/from_tinysrc/contacts", "tinydst/from_tinysrc/conversations"} <= materialized(second)
    checks = check_results(second)
    assert checks[("tinydst/from_tinysrc/contacts", "reconciliation")].passed
    assert checks[("tinydst/from_tinysrc/conversations", "reconciliation")].passed
    assert checks[("tinydst/from_tinysrc/conversations", "owners_resolved")].passed
    assert sorted(r["name"] for r in org.records["contacts"].values()) == \
        ["Clean One", "Clean Thre", "Dirty Emai", "Phone Only"]
    # The destination got the contact without the refused value.
    assert next(r for r in org.records["contacts"].values() if r["id"] == "c2")["email"] is None
    # Conversations were linked through the id map to the destination's own ids.
    owners = {r["id"]: r["owner"] for r in org.records["conversations"].values()}
    assert owners["t1"] == store.lookup("tinysrc", "tinydst", "agents", ["a1"])["a1"]

    # The report shows the destination's own counts, read once by each load of the run, not read again (on a
    # destination with a small budget a count can cost a request per ticket).
    report_event = next(e for e in second.get_asset_materialization_events()
                        if e.asset_key.path[-1] == "reconciliation_report")
    counts = report_event.materialization.metadata["destination_counts"].value
    assert counts["contacts"] == 4 and counts["conversations"] == 2
    assert org.counted == {"agents": 1, "contacts": 1, "conversations": 1}  # by the loads, once each

    report = build_report(store, pair)
    assert report["objects"]["contacts"] == {"extracted": 5, "loaded": 4, "quarantined": 1, "own_fault": 1,
                                             "collateral": 0, "skipped": 0, "changed": 3}
    assert report["objects"]["conversations"] == {"extracted": 3, "loaded": 2, "quarantined": 1, "own_fault": 1,
                                                  "collateral": 0, "skipped": 0,
                                                  "changed": 0}  # only the every-record conversion
    # What was changed on the way, by the source, validation or the destination, is listed with its rule and why.
    changed = {(c["object"], c["source_id"], c["stage"], c["rule"]) for c in report["changed"]}
    assert changed == {("contacts", "c5", "extract", "phone-normalised"),
                       ("contacts", "c2", "validate", "email-invalid"),
                       ("contacts", "c2", "load", "text-truncated"),
                       ("contacts", "c3", "load", "text-truncated"),
                       ("conversations", "(every record)", "extract", "times-converted-to-utc")}
    md = report_markdown(report)
    assert "## Loaded with changes (5)" in md and "name cut to the tiny org" in md
    # The markdown keeps its 5 columns; the original value and where it is kept end the detail cell.
    row = next(line for line in md.splitlines() if line.startswith("| contacts | c2 | validate |"))
    assert row.count(" | ") == 4 and row.endswith('original "not-an-email"; kept in the source archive (and this '
                                                  'report) |')
    reasons = {(q["object"], q["source_id"]): q for q in report["quarantine"]}
    assert reasons[("contacts", "c4")]["rule"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert reasons[("conversations", "t3")]["stage"] == "extract"

    # Re-running creates nothing new: unchanged records are not even sent again.
    before = {k: dict(v) for k, v in org.records.items()}
    third = run(tiny["defs"])
    assert third.success
    assert org.records == before
    assert org.next_id == 9


def test_a_failed_critical_expectation_blocks_the_downstream_load(tiny):
    tiny["ws"].agents.clear()  # the agents suite requires at least one agent: a critical expectation
    result = run(tiny["defs"], DISCOVER)
    checks = check_results(result)
    assert checks[("tinysrc/agents", "gx_critical")].passed is False
    assert not result.success  # a broken source is a real failure, unlike a decision awaited
    done = materialized(result)
    assert "tinysrc/contacts" in done  # extraction of other objects went on
    # The map and the pre-flight sit downstream of every root extract's checks: nothing to confirm, so nothing
    # can load either.
    assert "tinydst/from_tinysrc/field_map" not in done
    ok, message = approve(tiny["store"], tiny["pair"].name, "tinysrc", "tinydst", "mapping")
    assert not ok and "no field map" in message
    waive_sample(tiny)
    assert run(tiny["defs"]).success and tiny["org"].records == {}


def test_preflight_blocks_loads_until_acknowledged(tiny):
    tiny["org"].preflight_items.append({"what": "validation rule Contact.Require_Phone is active"})
    store, pair = tiny["store"], tiny["pair"]
    discovered = run(tiny["defs"], DISCOVER)
    acknowledged = check_results(discovered)[("tinydst/from_tinysrc/preflight", "acknowledged")]
    assert not acknowledged.passed and acknowledged.severity == dg.AssetCheckSeverity.WARN
    approve(store, pair.name, "tinysrc", "tinydst", "mapping")
    waive_sample(tiny)
    blocked = run(tiny["defs"])
    assert blocked.success and "tinydst/from_tinysrc/contacts" not in materialized(blocked)
    approve(store, pair.name, "tinysrc", "tinydst", "preflight", by="admin")
    allowed = run(tiny["defs"])
    assert check_results(allowed)[("tinydst/from_tinysrc/preflight", "acknowledged")].passed
    assert "tinydst/from_tinysrc/contacts" in materialized(allowed)


def test_rollback_deletes_what_the_migration_created(tiny):
    store, pair, org = tiny["store"], tiny["pair"], tiny["org"]
    run(tiny["defs"], DISCOVER)
    approve(store, pair.name, "tinysrc", "tinydst", "mapping")
    waive_sample(tiny)
    run(tiny["defs"])
    assert org.records["contacts"]
    report = rollback_pair(store, pair)
    assert report.not_undone == 0
    assert all(not v for v in org.records.values())
    assert store.count_loaded("tinysrc", "tinydst", "contacts") == 0


def test_a_crashed_extract_resumes_from_its_cursor_without_duplicates(tiny):
    ws, store = tiny["ws"], tiny["store"]
    ws.fail_after_chunks = 1
    run(tiny["defs"], DISCOVER)
    assert store.get_cursor("tinysrc", "contacts")[0] == {"offset": 2}
    assert store.count_staged("tinysrc", "contacts") == 2
    ws.fail_after_chunks = None
    ws.requests = 0
    run(tiny["defs"], DISCOVER)
    assert store.count_staged("tinysrc", "contacts") == 5
    # contacts resumed at offset 2: two more chunks, not three
    assert store.get_cursor("tinysrc", "contacts")[0] is None


def test_the_full_run_waits_for_the_sample_sign_off_and_the_report_shows_a_waiver(tiny, migration_home):
    store, pair, org = tiny["store"], tiny["pair"], tiny["org"]
    discover = run(tiny["defs"], DISCOVER)
    assert discover.success  # the map awaits confirmation, and discovery has written its reports
    assert (migration_home / "reports" / pair.name / "scope.md").exists()
    # The scope counts what the run's report counts as extracted (t3, refused at extraction, included).
    import json

    scope = json.loads((migration_home / "reports" / pair.name / "scope.json").read_text())
    assert scope["counts"]["conversations"] == build_report(store, pair)["objects"]["conversations"]["extracted"] == 3
    assert (migration_home / "archive" / "tinysrc" / "manifest.json").exists()
    approve(store, pair.name, "tinysrc", "tinydst", "mapping", by="tester")
    blocked = run(tiny["defs"])
    assert blocked.success and not materialized(blocked)  # checked before anything is extracted
    assert org.records == {}
    sample = run(tiny["defs"], "tinysrc_to_tinydst_sample",
                 run_config={"ops": {"tinydst__from_tinysrc__sample_spot_check": {"config": {"size": 1, "seed": 3}}}})
    assert sample.success
    spot = (migration_home / "reports" / pair.name / "sample.md").read_text()
    assert "Conversation t" in spot and "Thread" in spot
    assert len(org.records["conversations"]) == 1  # only the sample's graph moved
    ok, _ = approve(store, pair.name, "tinysrc", "tinydst", "sample", by="lead")
    assert ok
    full = run(tiny["defs"])
    assert check_results(full)[("tinydst/from_tinysrc/go_ahead", "sample_signed_off")].passed
    assert len(org.records["conversations"]) == 2
    waive_sample(tiny)
    from migration_assets.reporting import report_markdown
    assert "WAIVED" in report_markdown(build_report(store, pair))


def test_runs_on_postgresql_for_both_the_store_and_dagster_storage(migration_home, monkeypatch, postgres_url,
                                                                   tmp_path):
    """The migration store and Dagster's own run/event storage (dagster-postgres) on a real server."""
    monkeypatch.setenv("TINYSRC_TOKEN", "tiny-secret-token-123")
    ws, org = TinyWorkspace(), TinyOrg()
    registry = build_registry(get_plugin_manager([TinyPlugin(TinySource(ws), TinyDestination(org))],
                                                 load_entry_points=False))
    pair = Pair(registry.source("tinysrc"), registry.destination("tinydst"))
    defs = build_definitions(registry, [pair], store=MigrationStoreResource(url=postgres_url))
    store = MigrationStore(postgres_url)
    import sqlalchemy as sa

    url = sa.engine.make_url(postgres_url)
    instance_home = tmp_path / "pg_dagster_home"
    instance_home.mkdir()
    (instance_home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_db:\n"
        f"      username: {url.username}\n      hostname: {url.host}\n      db_name: {url.database}\n"
        f"      port: {url.port or 5432}\n" + (f"      password: {url.password}\n" if url.password else "")
        + "telemetry:\n  enabled: false\n")
    instance = dg.DagsterInstance.from_config(str(instance_home))
    try:
        approve(store, pair.name, "tinysrc", "tinydst", "mapping")  # refused: no map yet
        defs.resolve_job_def(DISCOVER).execute_in_process(instance=instance, raise_on_error=False)
        approve(store, pair.name, "tinysrc", "tinydst", "mapping")
        approve(store, pair.name, "tinysrc", "tinydst", "sample", waive_reason="postgres test")
        result = defs.resolve_job_def("tinysrc_to_tinydst_full").execute_in_process(instance=instance,
                                                                                  raise_on_error=False)
        assert "tinydst/from_tinysrc/contacts" in materialized(result)
        assert instance.get_run_by_id(result.run_id) is not None
        assert len(instance.get_runs()) == 2
        assert build_report(store, pair)["objects"]["contacts"]["loaded"] == 4  # c2 without its invalid email
    finally:
        instance.dispose()
        store.dispose()


def test_a_load_materialized_without_its_gates_in_the_run_still_waits_for_them(tiny):
    """Blocking checks only stop assets of their own run: a load asset launched alone (a backfill of it, a
    re-executed step) checks the recorded decisions itself."""
    run(tiny["defs"], "tinysrc_to_tinydst_discover")
    alone = dg.define_asset_job("contacts_alone", selection=[dg.AssetKey(["tinydst", "from_tinysrc", "contacts"])])
    defs = dg.Definitions.merge(tiny["defs"], dg.Definitions(jobs=[alone]))
    refused = run(defs, "contacts_alone")
    assert not refused.success and not tiny["org"].records.get("contacts")
    failure = next(e for e in refused.all_events if e.event_type_value == "STEP_FAILURE")
    assert "field map awaits confirmation" in failure.step_failure_data.error.message
    approve(tiny["store"], tiny["pair"].name, "tinysrc", "tinydst", "mapping", by="tester")
    waive_sample(tiny)
    assert run(defs, "contacts_alone").success and tiny["org"].records["contacts"]


def test_a_rule_applied_to_every_record_and_to_single_records_is_summed_up_once():
    report = {"source": "s", "destination": "d", "objects": {}, "decisions": {}, "quarantine": [], "skipped": [],
              "changed": [{"object": "messages", "source_id": "(every record)", "stage": "extract",
                           "rule": "times-converted-to-utc", "detail": "read in Europe/Amsterdam"},
                          {"object": "messages", "source_id": "m1", "stage": "extract",
                           "rule": "times-converted-to-utc", "detail": "read in Europe/Amsterdam, in a DST gap"}]}
    md = report_markdown(report)
    assert "| messages | times-converted-to-utc | every record | read in Europe/Amsterdam |" in md


# -- Degrade, don't discard: values, not records; a record never costs another ------------------------------------

T4 = {"id": "t4", "status": "open", "contact_id": "c4", "assignee_id": "a1", "created_at": "2024-01-04T10:00:00+00:00"}


def ready(tiny):
    """Discovery (extract, validate, the map proposed), then the map confirmed and the sample waived."""
    run(tiny["defs"], DISCOVER)
    approve(tiny["store"], tiny["pair"].name, "tinysrc", "tinydst", "mapping", by="tester")
    waive_sample(tiny)


def loaded(org, canonical, source_id):
    return next(r for r in org.records[canonical].values() if r["id"] == source_id)


def entries(store, canonical, source_id, destination="tinydst"):
    return {c["rule"]: c for c in store.change_entries("tinysrc", destination, canonical)
            if c["source_id"] == source_id}


def test_a_value_fixed_at_the_source_is_written_by_the_delta_and_its_change_cleared(tiny):
    ws, store, org = tiny["ws"], tiny["store"], tiny["org"]
    ready(tiny)
    assert run(tiny["defs"]).success
    assert loaded(org, "contacts", "c2")["email"] is None and "email-invalid" in entries(store, "contacts", "c2")
    phone = entries(store, "contacts", "c5")
    assert "phone-normalised" in phone

    ws.contacts[1]["email"] = "two@example.com"  # a person fixes the address at the source
    ws.contacts[0]["email"] = "one(at)example.com"  # and breaks another one
    del ws.contacts[4]["phone"]  # the phone-only contact gets an email instead: nothing to normalise any more
    ws.contacts[4]["email"] = "five@example.com"
    assert run(tiny["defs"], "tinysrc_to_tinydst_delta").success
    assert loaded(org, "contacts", "c2")["email"] == "two@example.com"
    assert set(entries(store, "contacts", "c2")) == {"text-truncated"}  # the destination's own change stays
    assert loaded(org, "contacts", "c1")["email"] is None
    assert entries(store, "contacts", "c1")["email-invalid"]["original"] == "one(at)example.com"
    assert "phone-normalised" not in entries(store, "contacts", "c5")
    assert loaded(org, "contacts", "c5")["email"] == "five@example.com"
    assert len(org.records["contacts"]) == 4  # updated in place, nothing created twice


def test_a_conversation_whose_contact_failed_loads_with_a_pending_link_completed_after_the_fix(tiny):
    ws, store, org, pair = tiny["ws"], tiny["store"], tiny["org"], tiny["pair"]
    ws.conversations.append(dict(T4))
    ready(tiny)
    assert run(tiny["defs"]).success
    assert loaded(org, "conversations", "t4")["contact"] is None
    report = build_report(store, pair)
    assert report["objects"]["conversations"]["loaded"] == 3
    assert report["objects"]["conversations"]["quarantined"] == 1  # t3, for its own fault; t4 is not collateral
    link = next(c for c in report["changed"] if c["source_id"] == "t4")
    assert (link["rule"], link["pending"], link["field"], link["original"]) == ("contact-missing", True,
                                                                                 "contact_id", "c4")
    assert "pending until contacts/c4 loads, then the next run completes it: link to contact c4 pending" in \
        report_markdown(report)

    org.loads.clear()  # unchanged at the source, and its contact still refused: nothing to complete, not re-sent
    assert run(tiny["defs"]).success
    assert not [x for x in org.loads if x[0] == "conversations"]
    assert entries(store, "conversations", "t4")["contact-missing"]["waits_for"] == "contacts/c4"

    ws.contacts[3]["name"] = "Four"  # the fix at the source: the contact loads, the link is completed
    org.loads.clear()
    assert run(tiny["defs"], "tinysrc_to_tinydst_delta").success
    contact_id = store.lookup("tinysrc", "tinydst", "contacts", ["c4"])["c4"]
    assert loaded(org, "conversations", "t4")["contact"] == contact_id
    assert entries(store, "conversations", "t4") == {}  # settled: the pending entry is cleared
    assert len(org.records["conversations"]) == 3

    org.loads.clear()  # settled records are not sent again
    assert run(tiny["defs"], "tinysrc_to_tinydst_delta").success
    assert not [x for x in org.loads if x[0] == "conversations"]


def test_collateral_quarantine_is_counted_apart_with_the_record_that_caused_it(tiny):
    ws, store, org, pair = tiny["ws"], tiny["store"], tiny["org"], tiny["pair"]
    org.missing_contact = "fail"  # a destination that cannot load the conversation without its contact
    ws.conversations.append(dict(T4))
    ready(tiny)
    run(tiny["defs"])
    report = build_report(store, pair)
    conversations = report["objects"]["conversations"]
    assert (conversations["quarantined"], conversations["own_fault"], conversations["collateral"]) == (2, 1, 1)
    assert report["objects"]["contacts"]["collateral"] == 0
    by_id = {q["source_id"]: q for q in report["quarantine"]}
    assert by_id["t4"]["caused_by"] == "contacts/c4" and by_id["t3"]["caused_by"] is None
    md = report_markdown(report)
    assert "## Quarantine (3)\n\n2 for their own data, 1 collateral" in md
    row = next(line for line in md.splitlines() if line.startswith("| conversations | t4 |"))
    assert row.startswith("| conversations | t4 | load | contact-missing |") and row.endswith("| contacts/c4 |")


def test_each_decision_is_one_click_records_who_and_updates_its_gate_at_once(tiny):
    """The UI's decisions: an asset per decision, no config to type. Its job records the decision with the
    run's user and re-evaluates the gate check in the same run; a click with nothing to decide on fails and
    records nothing."""
    store = tiny["store"]
    early = run(tiny["defs"], "tinysrc_to_tinydst_confirm_field_map", tags={"dagster/user": "ann@example.com"})
    assert not early.success and store.latest_approval("tinysrc", "tinydst", "mapping") is None
    failure = next(e for e in early.all_events if e.event_type_value == "STEP_FAILURE")
    assert "nothing recorded" in failure.step_failure_data.error.message
    run(tiny["defs"], DISCOVER)
    clicked = run(tiny["defs"], "tinysrc_to_tinydst_confirm_field_map", tags={"dagster/user": "ann@example.com"})
    assert clicked.success
    assert check_results(clicked)[("tinydst/from_tinysrc/field_map", "confirmed")].passed  # at once
    assert "confirmed by ann@example.com" in \
        check_results(clicked)[("tinydst/from_tinysrc/field_map", "confirmed")].description
    assert store.latest_approval("tinysrc", "tinydst", "mapping")["by"] == "ann@example.com"
    # Without a signed-in user (the open-source UI) the account is recorded, and marked as such.
    sample = run(tiny["defs"], "tinysrc_to_tinydst_sample",
                 run_config={"ops": {"tinydst__from_tinysrc__sample_spot_check": {"config": {"size": 1, "seed": 3}}}})
    assert sample.success
    signed = run(tiny["defs"], "tinysrc_to_tinydst_sign_off_sample")
    assert check_results(signed)[("tinydst/from_tinysrc/go_ahead", "sample_signed_off")].passed
    assert "UI without sign-in" in store.latest_approval("tinysrc", "tinydst", "sample")["by"]
    assert run(tiny["defs"]).success and tiny["org"].records["contacts"]


def test_an_extract_that_fails_is_retried_by_its_policy_and_resumes_from_its_cursor(migration_home, monkeypatch):
    """The retry policy of steps that resume: each attempt fails after one chunk (an outage the client's retries
    did not absorb), each retry goes on from the saved cursor, and one run ends with everything staged once."""
    monkeypatch.setenv("MIGRATION_STEP_RETRIES", "3")
    monkeypatch.setenv("MIGRATION_STEP_RETRY_DELAY", "0")
    monkeypatch.setenv("TINYSRC_TOKEN", "tiny-secret-token-123")
    ws = TinyWorkspace(fail_after_chunks=1)
    registry = build_registry(get_plugin_manager([TinyPlugin(TinySource(ws), TinyDestination(TinyOrg()))],
                                                 load_entry_points=False))
    pair = Pair(registry.source("tinysrc"), registry.destination("tinydst"))
    store_url = f"sqlite:///{migration_home}/store.sqlite"
    migration_home.mkdir(parents=True, exist_ok=True)
    defs = build_definitions(registry, [pair], store=MigrationStoreResource(url=store_url))
    extract = defs.get_assets_def(dg.AssetKey(["tinysrc", "contacts"]))
    assert extract.op.retry_policy.max_retries == 3 and extract.op.pool == "tinysrc_api"
    load = defs.get_assets_def(dg.AssetKey(["tinydst", "from_tinysrc", "contacts"]))
    assert load.op.pool == "tinydst_api"
    result = run(defs, DISCOVER)
    store = MigrationStore(store_url)
    assert store.count_staged("tinysrc", "contacts") == 5 and store.get_cursor("tinysrc", "contacts")[0] is None
    retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"
               and e.step_key == "tinysrc__contacts"]
    assert len(retried) == 2  # three chunks: two failures, each resumed after its last saved chunk
    # A clean discovery of the tiny workspace reads 5 chunks (agents 1, contacts 3, conversations 1): the
    # retried one reads no chunk twice.
    assert ws.requests == 5
