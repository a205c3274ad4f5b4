"""The SDK's bad-input corpus: how a case's rules and a destination's statements combine into one outcome."""

from __future__ import annotations

import pytest

from helpdesk_migrate.sdk.corpus import RULES, check_outcomes, outcome_for, parse_outcome


def test_every_rule_defaults_to_an_outcome_of_the_grammar():
    for rule in RULES.values():
        kind, detail = parse_outcome(rule.default)
        assert kind == "loaded" or detail, rule.name


def test_the_grammar_refuses_unknown_kinds_and_a_non_loaded_outcome_without_its_rule():
    assert parse_outcome("quarantined: file-empty") == ("quarantined", "file-empty")
    with pytest.raises(ValueError, match="unknown outcome"):
        parse_outcome("dropped: file-empty")
    with pytest.raises(ValueError, match="needs the rule"):
        parse_outcome("skipped")


def test_a_destination_states_an_outcome_per_rule_else_per_object_else_the_default_holds():
    assert outcome_for(["file-empty"], "attachments", {}) == "loaded"
    per_object = {"attachments": "skipped: manual-configuration"}
    assert outcome_for(["file-empty"], "attachments", per_object) == "skipped: manual-configuration"
    both = {**per_object, "file-empty": "quarantined: file-empty"}
    assert outcome_for(["file-empty"], "attachments", both) == "quarantined: file-empty"
    assert outcome_for(["text-emoji"], "messages", per_object) == "loaded"  # another object's statement


def test_a_rule_settled_at_extract_keeps_its_outcome_whatever_the_destination_states():
    everything_skipped = {"attachments": "skipped: manual-configuration"}
    assert outcome_for(["file-gone"], "attachments", everything_skipped) == "quarantined: attachment-missing"
    assert check_outcomes({"file-gone": "loaded"}) == [
        "file-gone: settled at extract (quarantined: attachment-missing), before any destination"]


def test_a_case_reaches_the_one_outcome_of_its_rules_that_is_not_loaded_and_two_such_are_ambiguous():
    rules = ["email-surrounding-whitespace", "email-mixed-case"]
    assert outcome_for(rules, "contacts", {}) == "loaded-transformed: email trimmed"
    with pytest.raises(ValueError, match="one rule per case"):
        outcome_for(["email-invalid", "name-invalid-utf8"], "contacts", {})


def test_check_outcomes_names_keys_that_are_no_rule_or_object_and_values_outside_the_grammar():
    problems = check_outcomes({"emial-invalid": "loaded", "name-very-long": "cut", "attachments": "loaded"})
    assert problems == ["emial-invalid: neither a corpus rule nor a canonical object",
                        "name-very-long: unknown outcome 'cut'; expected one of loaded, loaded-transformed, "
                        "quarantined, skipped"]
