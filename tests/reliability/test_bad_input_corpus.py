"""R3: the bad-input corpus, end to end. Every named case of the Trengo emulator's workspace
(``DIRT_CASES``, listed with its record by ``dirt_manifest()``) is migrated into each destination emulator,
and each must reach the outcome its canonical rules (``helpdesk_migrate.sdk.corpus.RULES``) have in that
destination: the destination plugin's own (``corpus_outcomes()``), else the rule's default. Neither side names
the other; ``corpus_support.expected_outcome`` combines them:

- loaded: in the id map, not in the quarantine;
- loaded-transformed: in the id map, and the change it names is there in the data;
- quarantined: in the quarantine under that rule, with a reason and a fix, and listed in report.md;
- skipped: counted apart under that rule, and listed in report.md.

The ten-thousand-message thread is gated (Workspace counts ``long_thread_messages``) and has its own test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from helpdesk_migrate.plugins.trengo.emulator.workspace import DIRT_CASES, DirtCase
from helpdesk_migrate.sdk.corpus import check_outcomes, outcome_for, parse_outcome
from tests.e2e_support import stop_migration
from tests.reliability.corpus_support import CorpusRun, destination_outcomes, expected_outcome, run_corpus

pytestmark = pytest.mark.slow

DESTINATIONS = ("salesforce", "tidio")
CASES = sorted(name for name, case in DIRT_CASES.items() if not case.gated)

# Where a destination plugin does not (yet) reach the outcome the corpus names: strict, so a fix shows.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> Callable[[str], CorpusRun]:
    """One run per destination for the whole module, made when a test first asks for it."""
    runs: dict[str, CorpusRun] = {}

    def get(destination: str) -> CorpusRun:
        if destination not in runs:
            with pytest.MonkeyPatch.context() as mp:
                run = run_corpus(destination, tmp_path_factory.mktemp(f"corpus-{destination}"), mp)
                stop_migration(run.migration)  # everything the tests read was read back already
            runs[destination] = run
        return runs[destination]

    return get


def _params() -> list[Any]:
    out = []
    for d in DESTINATIONS:
        for c in CASES:
            marks = [pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[(d, c)])] if (d, c) in KNOWN_GAPS else []
            out.append(pytest.param(d, c, marks=marks, id=f"{d}-{c}"))
    return out


# -- what each transformation looks like in the data ----------------------------------------------------------


def _twin_linked(run: CorpusRun, e: dict[str, Any]) -> None:
    mine, twin = run.loaded("contacts", e["canonical_id"]), run.loaded("contacts", e["related_id"])
    assert twin is not None, f"the twin {e['related_id']} was not loaded"
    assert mine["destination_id"] == twin["destination_id"], "the duplicate made a second destination contact"


def _email_trimmed(run: CorpusRun, e: dict[str, Any]) -> None:
    email = run.record("contacts", e["canonical_id"])["email"]
    assert email == email.strip() and email != email.lower(), email


def _replacement_char(field: str) -> Callable[[CorpusRun, dict[str, Any]], None]:
    def check(run: CorpusRun, e: dict[str, Any]) -> None:
        value = run.record(e["canonical"], e["canonical_id"])[field]
        assert "\ufffd" in value and not re.search("[\ud800-\udfff]", value), repr(value)
    return check


def _created_at(expected: str) -> Callable[[CorpusRun, dict[str, Any]], None]:
    def check(run: CorpusRun, e: dict[str, Any]) -> None:
        assert run.record(e["canonical"], e["canonical_id"])["created_at"] == expected
    return check


def _utc_created_at(run: CorpusRun, e: dict[str, Any]) -> None:
    assert run.record(e["canonical"], e["canonical_id"])["created_at"].endswith("+00:00")


def _status_open(run: CorpusRun, e: dict[str, Any]) -> None:
    rec = run.record("conversations", e["canonical_id"])
    assert (rec["status"], rec["source_status"]) == ("open", "SNOOZED")


def _markup_gone_from_text(*needles: str) -> Callable[[CorpusRun, dict[str, Any]], None]:
    def check(run: CorpusRun, e: dict[str, Any]) -> None:
        rec = run.record("messages", e["canonical_id"])
        assert all(n in rec["body_html"] for n in needles)  # the HTML is kept as it was
        assert not any(n in (rec.get("body_text") or "") for n in needles), rec.get("body_text")
    return check


def _fallback_owner(run: CorpusRun, e: dict[str, Any]) -> None:
    case_id = run.loaded("conversations", e["canonical_id"])["destination_id"]
    case = next(c for c in run.destination_data["Case"] if c["Id"] == case_id)
    assert case["OwnerId"] == run.env["SALESFORCE_FALLBACK_OWNER_ID"]


def _fallback_operator(run: CorpusRun, e: dict[str, Any]) -> None:
    ticket_id = run.loaded("conversations", e["canonical_id"])["destination_id"]
    ticket = next(t for t in run.destination_data["tickets"] if str(t["id"]) == str(ticket_id))
    wanted = run.env["TIDIO_FALLBACK_OPERATOR_ID"]
    operator = next(o for o in run.destination_data["operators"]
                    if wanted in (str(o.get("id")), o.get("email")))
    assert ticket.get("assigned_operator_id") == operator["id"], ticket


def _last_name_cut(run: CorpusRun, e: dict[str, Any]) -> None:
    name = run.record("contacts", e["canonical_id"])["name"]
    contact_id = run.loaded("contacts", e["canonical_id"])["destination_id"]
    contact = next(c for c in run.destination_data["Contact"] if c["Id"] == contact_id)
    assert len(name) == 300 and contact["LastName"] == name.split(" ")[-1][:80], contact["LastName"]


def change_entry(run: CorpusRun, e: dict[str, Any], rule: str) -> dict[str, Any]:
    """The report's (--json) change entry for the case's record under ``rule``."""
    found = [c for c in run.report_json["changed"]
             if (c["object"], c["source_id"], c["rule"]) == (e["canonical"], e["canonical_id"], rule)]
    assert found, f"no {rule} change for {e['canonical']} {e['canonical_id']}"
    return found[0]


def _value_kept(rule: str, field: str, original: Any = None) -> Callable[[CorpusRun, dict[str, Any]], None]:
    """Degrade, don't discard: the record loaded without the value, the report names the rule, the field, the
    original (the staged value when ``original`` is None) and where it is kept."""
    def check(run: CorpusRun, e: dict[str, Any]) -> None:
        change = change_entry(run, e, rule)
        staged = run.record(e["canonical"], e["canonical_id"])
        wanted = original if original is not None else staged[field.split(".")[0]]
        assert change["original"] == wanted, change
        assert change["kept_in"] and change["field"] and field.split(".")[-1] in change["field"], change
    return check


def _destination_contact(run: CorpusRun, e: dict[str, Any]) -> dict[str, Any]:
    dest_id = run.loaded("contacts", e["canonical_id"])["destination_id"]
    if run.destination == "salesforce":
        return next(c for c in run.destination_data["Contact"] if c["Id"] == dest_id)
    return next(c for c in run.destination_data["contacts"] if str(c["id"]) == str(dest_id))


def _email_not_carried(rule: str) -> Callable[[CorpusRun, dict[str, Any]], None]:
    def check(run: CorpusRun, e: dict[str, Any]) -> None:
        _value_kept(rule, "email")(run, e)
        raw = run.record("contacts", e["canonical_id"])["email"]
        contact = _destination_contact(run, e)
        assert (contact.get("Email") or contact.get("email")) != raw, contact
    return check


def _tidio_name_cut(run: CorpusRun, e: dict[str, Any]) -> None:
    name = run.record("contacts", e["canonical_id"])["name"]
    contact = _destination_contact(run, e)
    assert len(name) == 300 and 0 < len(contact.get("first_name") or "") < 300, contact
    assert change_entry(run, e, "text-truncated")["original"] == name
    assert name in json.dumps(contact.get("properties"), ensure_ascii=False), "the whole name is not kept in Tidio"


def _created_at_fallback(run: CorpusRun, e: dict[str, Any]) -> None:
    change = change_entry(run, e, "created-at-fallback")
    created = run.record("conversations", e["canonical_id"])["created_at"]
    assert created and not created.startswith(("0000", "9999")), created
    assert change["original"] and change["original"] != created, change


def _case_without_contact(run: CorpusRun, e: dict[str, Any]) -> None:
    change = change_entry(run, e, "contact-unlinked")
    assert change["original"] == run.record("conversations", e["canonical_id"])["contact_id"], change
    case_id = run.loaded("conversations", e["canonical_id"])["destination_id"]
    case = next(c for c in run.destination_data["Case"] if c["Id"] == case_id)
    assert not case.get("ContactId"), case


def _change_named(rule: str) -> Callable[[CorpusRun, dict[str, Any]], None]:
    def check(run: CorpusRun, e: dict[str, Any]) -> None:
        change = change_entry(run, e, rule)
        assert change["detail"].strip() and change["kept_in"], change
    return check


TRANSFORMED: dict[str, Callable[[CorpusRun, dict[str, Any]], None]] = {
    "contact_invalid_email": _email_not_carried("email-invalid"),
    "contact_email_no_tld": _email_not_carried("email-invalid"),
    "contact_email_non_ascii": _email_not_carried("email-not-carried"),
    "contact_custom_number_not_numeric": _value_kept("value-not-carried", "custom_fields", "n.v.t."),
    "ticket_zero_date": _created_at_fallback,
    "ticket_far_future_time": _created_at_fallback,
    "contact_duplicate_email": _twin_linked,
    "contact_email_mixed_case_duplicate": _twin_linked,
    "contact_email_whitespace_case": _email_trimmed,
    "contact_name_invalid_utf8": _replacement_char("name"),
    "message_invalid_utf8": _replacement_char("body_text"),
    "ticket_dst_gap_time": _created_at("2025-03-30T01:30:00+00:00"),
    "ticket_dst_ambiguous_time": _created_at("2024-10-27T00:30:00+00:00"),
    "message_naive_timestamp": _utc_created_at,
    "ticket_unknown_status": _status_open,
    "message_html_script": _markup_gone_from_text("<script>", "alert("),
    "message_html_event_handlers": _markup_gone_from_text("onerror", "onload", "<iframe"),
}
# A destination's own transformation of a canonical rule, whichever source's case exercises it.
TRANSFORMED_IN = {("salesforce", "assignee-missing"): _fallback_owner,
                  ("salesforce", "name-very-long"): _last_name_cut,
                  ("salesforce", "contact-missing"): _case_without_contact,
                  ("tidio", "assignee-missing"): _fallback_operator,
                  ("tidio", "name-very-long"): _tidio_name_cut,
                  ("tidio", "contact-missing"): _change_named("contact-unlinked"),
                  ("tidio", "tag-unknown"): _change_named("tag-dropped"),
                  ("tidio", "team-missing"): _change_named("department-fallback")}


def transformation_check(destination: str, case: str,
                         rules: list[str]) -> Callable[[CorpusRun, dict[str, Any]], None] | None:
    """How to see a loaded-transformed case's change in the data: the destination's check for one of its rules,
    else the case's own."""
    own = [TRANSFORMED_IN[(destination, r)] for r in rules if (destination, r) in TRANSFORMED_IN]
    return own[0] if own else TRANSFORMED.get(case)


# -- the tests ------------------------------------------------------------------------------------------------


def _case_outcome(case: DirtCase, destination: str) -> str:
    return outcome_for(case.rules, case.canonical, destination_outcomes(destination))


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_the_destination_states_its_corpus_outcomes_by_rule_in_the_outcome_grammar(destination: str):
    assert check_outcomes(destination_outcomes(destination)) == []


def test_the_corpus_has_at_least_forty_cases_each_with_an_outcome_per_destination():
    assert len(CASES) >= 40
    for case in DIRT_CASES.values():
        for d in DESTINATIONS:
            kind, detail = parse_outcome(_case_outcome(case, d))
            assert kind == "loaded" or detail, f"{case.name}: '{kind}' needs the rule or the change it names"
            if kind == "loaded-transformed":
                assert transformation_check(d, case.name, list(case.rules)), \
                    f"{case.name}: no check of its transformation in {d}"


@pytest.mark.parametrize("destination, case", _params())
def test_named_case_reaches_its_outcome(corpora, destination: str, case: str):
    corpus = corpora(destination)
    e = corpus.entry(case)
    assert e["canonical_id"], e
    kind, detail = parse_outcome(expected_outcome(e, corpus.destination))
    key = (e["canonical"], e["canonical_id"])
    loaded, held = corpus.id_map.get(key), corpus.quarantine.get(key)
    where = f"{e['record']} ({e['description']}): id map {loaded and loaded['action']}, quarantine {held}"
    if kind in ("loaded", "loaded-transformed"):
        assert loaded is not None and held is None, f"expected {kind}; {where}"
        if kind == "loaded-transformed":
            transformation_check(corpus.destination, case, e["rules"])(corpus, e)
    else:
        assert loaded is None, f"expected {kind}; {where}"
        assert held is not None and held["kind"] == kind and held["rule"] == detail, f"expected {kind}: {detail}; {where}"
        assert held["reason"].strip(), where
        if kind == "quarantined":
            assert held["fix"].strip(), f"no fix for a person to act on; {where}"


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_report_md_lists_every_quarantined_and_skipped_case_with_record_rule_and_fix(corpora, destination: str):
    """The user-readable quarantine report (report.md from `helpdesk-migrate report`) lists each case that
    did not load: its object and record, the rule, the reason and, for a quarantined one, the fix."""
    corpus = corpora(destination)
    assert corpus.report_exit == 1  # records are quarantined: the command says so by its exit code
    sections = dict(re.findall(r"^## (Quarantine|Skipped with reason) \(\d+\)\n\n(.*?)(?=^## |\Z)", corpus.report_md,
                               flags=re.S | re.M))
    rows = {}
    for title, body in sections.items():
        for line in body.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if len(cells) >= 4 and cells[1].replace("-", "").replace(":", "").isalnum():
                rows[(title, cells[0], cells[1])] = cells
    missing = []
    for e in corpus.manifest:
        kind, detail = parse_outcome(expected_outcome(e, corpus.destination))
        if kind not in ("quarantined", "skipped") or (corpus.destination, e["case"]) in KNOWN_GAPS:
            continue
        title = "Quarantine" if kind == "quarantined" else "Skipped with reason"
        row = rows.get((title, e["canonical"], e["canonical_id"]))
        if row is None:
            missing.append(f"{e['case']}: {e['canonical']} {e['canonical_id']} not in '{title}'")
            continue
        if kind == "quarantined":  # object | source_id | stage | rule | reason | fix
            assert row[3] == detail and row[4] and row[5], (e["case"], row)
        else:  # object | source_id | rule | reason
            assert row[2] == detail and row[3], (e["case"], row)
    assert not missing, "\n".join(missing)
    # and report --json carries the same entries for scripts
    listed = {(q["object"], q["source_id"]) for q in corpus.report_json["quarantine"] + corpus.report_json["skipped"]}
    assert {(k[1], k[2]) for k in rows} <= listed


# A case's change as the report names it; a change made to every record is reported once for its object.
CHANGE_RULES = {
    "contact_email_whitespace_case": "email-trimmed",
    "contact_name_invalid_utf8": "invalid-bytes-replaced",
    "contact_duplicate_email": "merged",
    "contact_email_mixed_case_duplicate": "merged",
    "contact_name_300_chars": "text-truncated",
    "ticket_dst_gap_time": "time-in-dst-gap",
    "ticket_dst_ambiguous_time": "time-ambiguous",
    "ticket_unknown_status": "status-fallback",
    "ticket_assignee_deleted": "owner-fallback",
    "message_invalid_utf8": "invalid-bytes-replaced",
    "message_html_script": "active-content-dropped",
    "message_html_event_handlers": "active-content-dropped",
    "message_naive_timestamp": "times-converted-to-utc",
    "contact_invalid_email": "email-invalid",
    "contact_email_no_tld": "email-invalid",
    "contact_email_non_ascii": "email-not-carried",
    "contact_custom_number_not_numeric": "value-not-carried",
    "ticket_zero_date": "created-at-fallback",
    "ticket_far_future_time": "created-at-fallback",
    "ticket_deleted_contact": "contact-unlinked",
    "ticket_unknown_label": "tag-dropped",
    "ticket_team_deleted": "department-fallback",
}
EVERY = "(every record)"


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_report_lists_every_transformed_case_with_its_rule_and_detail(corpora, destination: str):
    """'Every report says what was lossy, and why': each loaded-transformed case is in report.md's "Loaded with
    changes" table and in report --json's "changed" list, under the rule that names its change."""
    corpus = corpora(destination)
    section = re.search(r"^## Loaded with changes \((\d+)\)\n(.*?)(?=^## |\Z)", corpus.report_md, flags=re.S | re.M)
    assert section, "report.md has no 'Loaded with changes' section"
    rows = set()
    for line in section.group(2).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 5:  # object | source_id | stage | rule | detail
            rows.add((cells[0], cells[1], cells[3]))
    listed = {(c["object"], c["source_id"], c["rule"]): c for c in corpus.report_json["changed"]}
    transformed = [e for e in corpus.manifest
                   if parse_outcome(expected_outcome(e, corpus.destination))[0] == "loaded-transformed"]
    assert transformed
    missing = []
    for e in transformed:
        rule = CHANGE_RULES[e["case"]]
        wanted = {(e["canonical"], e["canonical_id"], rule), (e["canonical"], EVERY, rule)}
        if not wanted & rows or not wanted & listed.keys():
            missing.append(f"{e['case']}: {e['canonical']} {e['canonical_id']} under {rule}")
            continue
        detail = listed[next(iter(wanted & listed.keys()))]["detail"]
        assert detail.strip(), e["case"]
    assert not missing, "transformed but not listed:\n" + "\n".join(missing)
    # and the per-object counts say how many records (or whole objects) changed
    counts = corpus.report_json["objects"]
    assert all(counts[e["canonical"]]["changed"] >= 1 for e in transformed
               if (e["canonical"], EVERY, CHANGE_RULES[e["case"]]) not in listed), counts
