"""The read-only client against the emulator: paginators, retries, rate-limit answers and auth errors."""

from __future__ import annotations

import pytest
import requests
from trengo_support import api_requests, env_for

from helpdesk_migrate.plugins.trengo.client import (
    TrengoAuthError,
    TrengoClient,
    TrengoConfig,
    TrengoNotFound,
    TrengoRequestError,
    _retry_after,
)
from helpdesk_migrate.plugins.trengo.emulator.workspace import TICKET_BASE
from migration_assets.hookspecs import ConfigurationError


def client_for(em, **extra: str) -> TrengoClient:
    return TrengoClient(TrengoConfig.from_env(env_for(em, **extra)))


def test_simple_paginator_stops_on_next_null_without_last_page(emulator):
    em = emulator(size=60)
    client = client_for(em)
    pages = list(client.pages("tickets", {"per_page": 100}))  # per_page is ignored: 25, fixed
    assert [len(p.items) for p in pages] == [25, 25, 10]
    assert pages[-1].is_last and all(p.total is None for p in pages)
    client.close()


def test_length_aware_paginator_stops_on_last_page(emulator):
    em = emulator(size=60, counts={"agents": 51})
    client = client_for(em)
    pages = list(client.pages("users"))
    assert [len(p.items) for p in pages] == [25, 25, 1] and pages[0].total == 51
    assert len(api_requests(em)) == 3
    client.close()


def test_an_empty_list_is_one_request(emulator):
    em = emulator(size=0)
    client = client_for(em)
    assert [p.items for p in client.pages("tickets")] == [[]]
    assert len(api_requests(em)) == 1
    client.close()


def test_5xx_and_connection_resets_are_retried_until_they_succeed(emulator):
    em = emulator(size=30, faults={"server_error_rate": 0.2, "reset_rate": 0.1})
    client = client_for(em, TRENGO_MAX_RETRIES="12")
    ids = [t["id"] for p in client.pages("tickets") for t in p.items]
    for t in ids[:15]:
        client.get(f"tickets/{t}/messages")
    assert len(ids) == 30
    statuses = {r["status"] for r in em.request_log()}
    assert statuses & {500, 502, 503} and 0 in statuses  # 0: the connection was reset
    assert client.stats.retries > 0
    client.close()


def test_persistent_5xx_gives_up_with_a_clear_error(emulator):
    em = emulator(size=5, faults={"server_error_rate": 1.0})
    client = client_for(em, TRENGO_MAX_RETRIES="2")
    with pytest.raises(TrengoRequestError, match=r"GET /channels: HTTP 50\d.*gave up after 3 attempts"):
        client.get("channels")
    assert len(api_requests(em)) == 3
    client.close()


@pytest.mark.parametrize("path, params, error, status", [
    (f"tickets/{TICKET_BASE + 999_999}", None, TrengoNotFound, 404),
    ("tickets", {"status": "BOGUS"}, TrengoRequestError, 422),
])
def test_other_4xx_are_never_retried(emulator, path, params, error, status):
    em = emulator(size=5)
    client = client_for(em)
    with pytest.raises(error) as exc:
        client.get(path, params)
    assert exc.value.status == status
    assert len(api_requests(em)) == 1
    client.close()


@pytest.mark.parametrize("which", ["wrong", "observer"])
def test_401_and_403_name_the_variable_never_the_token(emulator, which):
    em = emulator(size=5)
    token = "not-the-right-token-123" if which == "wrong" else em.forbidden_token
    client = client_for(em, TRENGO_API_TOKEN=token)
    with pytest.raises(TrengoAuthError) as exc:
        client.get("users")
    message = str(exc.value)
    assert "TRENGO_API_TOKEN" in message and token not in message and em.token not in message
    assert isinstance(exc.value, ConfigurationError)
    assert len(api_requests(em)) == 1
    client.close()


def test_a_429_waits_for_retry_after_instead_of_hammering(emulator):
    # The server allows 5 a second; the client believes in far more, so the server has to say no.
    em = emulator(size=5, rate_limit=5, window_seconds=1)
    client = client_for(em, TRENGO_RATE_LIMIT_PER_MINUTE="60000", TRENGO_RATE_LIMIT_WINDOW_SECONDS="60")
    for _ in range(12):
        client.get("channels")
    refused = [r for r in em.request_log() if r["status"] == 429]
    assert refused and client.stats.rate_limited == len(refused)
    assert len(refused) <= 3  # one per window at most: the client waits out Retry-After, it does not spin
    client.close()


def test_every_api_response_carries_rate_limit_headers_and_a_429_says_when(emulator):
    em = emulator(size=5, rate_limit=2, window_seconds=30)
    headers = {"Authorization": f"Bearer {em.token}", "Accept": "application/json"}
    first = requests.get(f"{em.url}/labels", headers=headers, timeout=5)
    assert first.headers["x-ratelimit-limit"] == "2" and first.headers["x-ratelimit-remaining"] == "1"
    requests.get(f"{em.url}/labels", headers=headers, timeout=5)
    refused = requests.get(f"{em.url}/labels", headers=headers, timeout=5)
    assert refused.status_code == 429 and refused.json() == {"message": "Too Many Attempts."}
    assert 1 <= int(refused.headers["Retry-After"]) <= 30
    assert int(refused.headers["X-RateLimit-Reset"]) > 1_700_000_000
    assert refused.headers["x-ratelimit-remaining"] == "0"


def test_retry_after_falls_back_to_the_reset_time():
    resp = requests.Response()
    resp.headers["X-RateLimit-Reset"] = "4102444800"  # far future: capped at one window
    assert _retry_after(resp, 60) == 60
    resp.headers["Retry-After"] = "7"
    assert _retry_after(resp, 60) == 7


def test_the_client_can_only_read():
    assert not any(hasattr(TrengoClient, verb) for verb in ("post", "put", "patch", "delete"))


def test_bad_settings_are_clear_configuration_errors():
    with pytest.raises(ConfigurationError, match="missing required setting.*TRENGO_API_TOKEN"):
        TrengoConfig.from_env({})
    with pytest.raises(ConfigurationError, match="TRENGO_TIMEZONE"):
        TrengoConfig.from_env({"TRENGO_API_TOKEN": "x", "TRENGO_TIMEZONE": "Mars/Olympus"})
    with pytest.raises(ConfigurationError, match="TRENGO_RATE_LIMIT_PER_MINUTE must be a number"):
        TrengoConfig.from_env({"TRENGO_API_TOKEN": "x", "TRENGO_RATE_LIMIT_PER_MINUTE": "lots"})
    with pytest.raises(ConfigurationError, match="TRENGO_BASE_URL"):
        TrengoConfig.from_env({"TRENGO_API_TOKEN": "x", "TRENGO_BASE_URL": "app.trengo.com"})
    config = TrengoConfig.from_env({"TRENGO_API_TOKEN": "secret-value"})
    assert config.base_url == "https://app.trengo.com/api/v2" and "secret-value" not in repr(config)
