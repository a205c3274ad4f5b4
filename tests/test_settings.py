"""Settings declared once: the SDK parses every plugin's environment by its declarations."""

from __future__ import annotations

import pytest

from helpdesk_migrate import sdk
from helpdesk_migrate.plugins.salesforce.settings import SalesforceConfig, field_prefix_for
from migration_assets.registry import default_registry
from migration_assets.runtime import check_settings

DECLARED = (
    sdk.Setting("ACME_TOKEN", "token", required=True, secret=True),
    sdk.Setting("ACME_URL", "API root", default="https://api.acme.example", kind="url"),
    sdk.Setting("ACME_RATE", "requests a minute", default=60, kind="int", minimum=1, maximum=6000),
    sdk.Setting("ACME_BACKOFF", "seconds", default=1.5, kind="float", minimum=0),
    sdk.Setting("ACME_NOTES", "read notes", default=True, kind="bool"),
    sdk.Setting("ACME_MODE", "how", default="notes", kind="choice", choices=("notes", "replies")),
    sdk.Setting("ACME_MAP", "status map", kind="mapping"),
    sdk.Setting("ACME_MONTH", "first month", pattern=r"\d{4}-\d{2}", pattern_help="a month as YYYY-MM"),
)


def test_defaults_are_typed_and_given_values_parsed_by_kind():
    values = sdk.read_settings(DECLARED, {"ACME_TOKEN": "t0k3n"}, "acme")
    assert values["ACME_RATE"] == 60 and values["ACME_BACKOFF"] == 1.5 and values["ACME_NOTES"] is True
    assert values["ACME_URL"] == "https://api.acme.example" and values["ACME_MAP"] == {}
    assert values["ACME_MONTH"] is None and values.given == {"ACME_TOKEN"}
    given = sdk.read_settings(DECLARED, {"ACME_TOKEN": "t", "ACME_RATE": " 1200 ", "ACME_NOTES": "off",
                                         "ACME_MODE": "Replies", "ACME_MAP": "open=New, closed=Done",
                                         "ACME_URL": "http://127.0.0.1:8080/api/", "ACME_MONTH": "2024-03"}, "acme")
    assert given["ACME_RATE"] == 1200 and given["ACME_NOTES"] is False and given["ACME_MODE"] == "replies"
    assert given["ACME_MAP"] == {"open": "New", "closed": "Done"}
    assert given["ACME_URL"] == "http://127.0.0.1:8080/api"  # plain http only because it is this machine
    assert sdk.read_settings(DECLARED, {"ACME_TOKEN": "t", "ACME_MAP": '{"a": {"b": 1}}'}, "acme")["ACME_MAP"] == {
        "a": {"b": 1}}


def test_every_bad_value_is_named_at_once_with_its_rule():
    env = {"ACME_RATE": "lots", "ACME_BACKOFF": "-1", "ACME_NOTES": "maybe", "ACME_MODE": "email",
           "ACME_MAP": "{not json", "ACME_URL": "http://api.acme.example", "ACME_MONTH": "March"}
    with pytest.raises(sdk.ConfigurationError) as refused:
        sdk.read_settings(DECLARED, env, "acme")
    text = str(refused.value)
    for expected in ("missing required setting(s): ACME_TOKEN (token)", "ACME_RATE must be a whole number, not 'lots'",
                     "ACME_BACKOFF must be at least 0", "ACME_NOTES must be true or false",
                     "ACME_MODE must be one of notes, replies", "ACME_MAP is not valid JSON",
                     "ACME_URL must use https", "ACME_MONTH must be a month as YYYY-MM, not 'March'"):
        assert expected in text, expected
    with pytest.raises(sdk.ConfigurationError, match="must be at most 6000"):
        sdk.read_settings(DECLARED, {"ACME_TOKEN": "t", "ACME_RATE": "7000"}, "acme")


def test_a_secret_value_never_appears_in_an_error():
    secret = (sdk.Setting("ACME_SECRET", "secret number", secret=True, kind="int"),)
    with pytest.raises(sdk.ConfigurationError) as refused:
        sdk.read_settings(secret, {"ACME_SECRET": "hunter2-not-a-number"}, "acme")
    assert "hunter2" not in str(refused.value) and "ACME_SECRET must be a whole number" in str(refused.value)
    assert "hunter2" not in repr(sdk.read_settings((sdk.Setting("ACME_T", "t", secret=True),), {"ACME_T": "hunter2"},
                                                   "acme"))


def test_the_engine_checks_settings_with_the_same_parser():
    with pytest.raises(sdk.ConfigurationError, match="ACME_RATE must be a whole number"):
        check_settings(DECLARED, {"ACME_TOKEN": "t", "ACME_RATE": "x"}, "acme")
    assert check_settings(DECLARED, {"ACME_TOKEN": "t"}, "acme")["ACME_RATE"] == "60"


def test_a_declaration_its_own_rules_refuse_is_found():
    bad = (sdk.Setting("A", "a", kind="choice", default="x"), sdk.Setting("B", "b", kind="number"),
           sdk.Setting("C", "c", kind="int", default=0, minimum=1))
    assert sdk.declaration_problems(bad) == ["A: a choice needs its choices",
                                              "A: its default must be one of , not 'x'",
                                              "B: unknown kind 'number' (one of text, int, float, bool, choice, url, "
                                              "mapping)", "C: its default must be at least 1, not '0'"]


@pytest.mark.parametrize("kind", ["sources", "destinations"])
def test_every_built_in_plugin_declares_settings_its_parser_accepts(kind):
    for plugin in getattr(default_registry(), kind).values():
        assert sdk.declaration_problems(plugin.settings()) == [], plugin.name


def test_the_field_prefix_follows_the_pair_source_not_the_destination():
    env = {"SALESFORCE_SESSION_ID": "s", "SALESFORCE_INSTANCE_URL": "https://acme.my.salesforce.com"}
    assert SalesforceConfig.from_env({**env, sdk.PAIR_SOURCE_ENV: "zendesk"}).id_field == "Zendesk_Id__c"
    assert SalesforceConfig.from_env({**env, sdk.PAIR_SOURCE_ENV: "acme_desk"}).field_prefix == "AcmeDesk"
    assert SalesforceConfig.from_env({**env, sdk.PAIR_SOURCE_ENV: "zendesk",
                                      "SALESFORCE_FIELD_PREFIX": "Legacy"}).field_prefix == "Legacy"
    assert field_prefix_for(None) == "Migrated" and field_prefix_for("9lives") == "Migrated"
    assert len(field_prefix_for("a_very_long_source_platform_name")) == 15
