"""The Zendesk client: settings from the environment (secrets never shown), the two shared budgets, Retry-After on
429, retries of server errors, and credentials refused with a message that names the settings."""

from __future__ import annotations

import base64
import logging

import pytest
from zendesk_support import env_for, extract

from helpdesk_migrate.plugins.zendesk.client import ZendeskAuthError, ZendeskClient, endpoint_kind
from helpdesk_migrate.plugins.zendesk.settings import SETTINGS, ZendeskConfig
from helpdesk_migrate.plugins.zendesk.source import ZendeskConnection, ZendeskSource
from helpdesk_migrate.sdk import ConfigurationError, declaration_problems


def test_settings_are_well_declared_and_a_missing_account_is_named():
    assert declaration_problems(SETTINGS) == []
    with pytest.raises(ConfigurationError, match="ZENDESK_SUBDOMAIN"):
        ZendeskConfig.from_env({"ZENDESK_EMAIL": "a@b.example", "ZENDESK_API_TOKEN": "s3cret"})
    config = ZendeskConfig.from_env({"ZENDESK_SUBDOMAIN": "acme", "ZENDESK_EMAIL": "a@b.example",
                                     "ZENDESK_API_TOKEN": "s3cret", "ZENDESK_PLAN": "team"})
    assert config.base_url == "https://acme.zendesk.com" and config.rate_limit_per_minute == 200
    assert config.incremental_per_minute == 10 and "s3cret" not in repr(config)
    hv = ZendeskConfig.from_env({"ZENDESK_SUBDOMAIN": "acme", "ZENDESK_EMAIL": "a@b.example",
                                 "ZENDESK_API_TOKEN": "x", "ZENDESK_HIGH_VOLUME_API": "true"})
    assert hv.rate_limit_per_minute == 2500 and hv.incremental_per_minute == 30


def test_a_bad_value_is_refused_without_echoing_the_token():
    with pytest.raises(ConfigurationError) as exc:
        ZendeskConfig.from_env({"ZENDESK_SUBDOMAIN": "Not A Domain!", "ZENDESK_EMAIL": "a@b.example",
                                "ZENDESK_API_TOKEN": "s3cret-token"})
    assert "ZENDESK_SUBDOMAIN" in str(exc.value) and "s3cret-token" not in str(exc.value)


def test_refused_credentials_name_the_settings_never_the_token(emulator):
    em = emulator()
    client = ZendeskClient(ZendeskConfig.from_env(env_for(em, ZENDESK_API_TOKEN="wrong-secret-value")))
    try:
        with pytest.raises(ZendeskAuthError) as exc:
            client.get("api/v2/groups.json")
    finally:
        client.close()
    assert "ZENDESK_API_TOKEN" in str(exc.value) and "wrong-secret-value" not in str(exc.value)


def test_a_429_is_waited_out_for_its_retry_after_and_the_request_succeeds(emulator):
    # The emulator allows 4 requests a second; the client is told the budget is far higher, so it is refused
    # and must honour Retry-After rather than fail.
    em = emulator(rate_limit=4, window_seconds=1)
    client = ZendeskClient(ZendeskConfig.from_env(env_for(em, ZENDESK_RATE_LIMIT_PER_MINUTE="100000",
                                                          ZENDESK_RATE_LIMIT_WINDOW_SECONDS="60")))
    try:
        for _ in range(10):
            assert client.get("api/v2/groups.json")["groups"]
    finally:
        client.close()
    refused = [r for r in em.request_log() if r["status"] == 429]
    assert refused and client.stats.rate_limited == len(refused)
    assert client.stats.account_limit_seen == 4


def test_within_its_budget_the_client_is_never_refused(emulator):
    em = emulator(rate_limit=6, incremental_rate_limit=3, window_seconds=1)
    client = ZendeskClient(ZendeskConfig.from_env(env_for(em)))  # the emulator's env: the true budgets
    try:
        for _ in range(6):
            client.get("api/v2/incremental/organizations.json", {"start_time": 0})
            client.get("api/v2/groups.json")
    finally:
        client.close()
    assert not [r for r in em.request_log() if r["status"] == 429]


def test_server_errors_are_retried(emulator):
    em = emulator(faults={"server_error_next": 2})
    client = ZendeskClient(ZendeskConfig.from_env(env_for(em)))
    try:
        assert client.get("api/v2/groups.json")["groups"]
    finally:
        client.close()
    assert [r["status"] for r in em.request_log()] == [503, 503, 200]


def test_lists_follow_offset_pagination_when_an_endpoint_has_no_cursors(emulator):
    em = emulator(size=60, profile="offset-pagination")
    client = ZendeskClient(ZendeskConfig.from_env(env_for(em)))
    try:
        users = client.every("api/v2/users.json", "users")
    finally:
        client.close()
    assert len(users) == len({u["id"] for u in users}) == len(em.account.agents) + len(em.account.end_users)


def test_the_throughput_plan_states_the_budget_and_counts_exports_at_their_own_rate(emulator):
    em = emulator()
    source = ZendeskSource()
    budget = source.request_budget(env_for(em))
    assert budget.per_minute == em.rate_limit and budget.plans["enterprise"] == 700 and "rate-limits" in budget.basis
    estimates = {e.canonical: e for e in source.estimate_requests(
        {"counts": {"conversations": 10_000, "contacts": 5_000}, "thread_lengths": {"5": 9_000, "250": 1_000}})}
    assert estimates["conversations"].requests == 10 * 70  # 10 export requests, each a tenth of a minute
    assert estimates["messages"].requests == 9_000 + 3 * 1_000


def test_endpoint_kinds_drop_ids():
    assert endpoint_kind("/api/v2/tickets/12/comments.json") == "tickets/comments"
    assert endpoint_kind("/api/v2/incremental/tickets/cursor.json") == "incremental/tickets/cursor"


def test_an_extraction_with_retries_and_429s_logs_no_secret(emulator, source, store, caplog):
    em = emulator(faults={"server_error_every": 7, "rate_limit_every": 11, "reset_every": 13})
    env = env_for(em)
    caplog.set_level(logging.DEBUG)
    conn = ZendeskConnection(ZendeskConfig.from_env(env))
    try:
        summaries = extract(store, source, conn, ["agents", "contacts", "conversations"])
    finally:
        conn.close()
    assert summaries["conversations"].records == 29
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert env["ZENDESK_API_TOKEN"] not in caplog.text
    basic = base64.b64encode(f"{env['ZENDESK_EMAIL']}/token:{env['ZENDESK_API_TOKEN']}".encode()).decode()
    assert basic not in caplog.text
