"""The Tidio client over real HTTP: headers, pagination, shared budget, retries, ambiguity, error messages."""

from __future__ import annotations

import pytest

from helpdesk_migrate.plugins.tidio.client import (
    TidioAmbiguousWrite,
    TidioAuthError,
    TidioClient,
    TidioNotFound,
    TidioUnavailable,
    TidioValidationError,
)
from helpdesk_migrate.plugins.tidio.config import TidioConfig
from helpdesk_migrate.plugins.tidio.emulator.server import TidioEmulator
from migration_assets.hookspecs import ConfigurationError


@pytest.fixture
def emu(tmp_path, monkeypatch):
    monkeypatch.setenv("MIGRATION_HOME", str(tmp_path))
    e = TidioEmulator(seed=8, size=7, rate_limit=600_000, page_size=3)
    yield e
    e.stop()


def client_for(e: TidioEmulator, **env) -> TidioClient:
    values = {**e.env(), "TIDIO_RETRY_BACKOFF_SECONDS": "0", **env}
    return TidioClient(TidioConfig.from_env(values))


def test_paginates_with_the_required_headers(emu):
    client = client_for(emu)
    contacts = list(client.paginate("/contacts", "contacts"))
    assert len(contacts) == 7 and emu.state.requests["GET /contacts"] == 3
    assert client.departments()[0]["name"] == "General"
    client.close()


def test_429_and_5xx_are_retried_and_a_lost_create_is_reported_as_ambiguous(emu):
    client = client_for(emu)
    emu.set_faults(rate_limit_next=2)
    assert client.project()["status"] == "active" and client.rate_limited == 2
    emu.set_faults(server_error_next=2)
    assert client.get("/operators")
    emu.set_faults(server_error_next=1)
    with pytest.raises(TidioAmbiguousWrite):
        client.post("/contacts", {"distinct_id": "x:1", "email": "x@example.org"})  # never resent blindly
    emu.set_faults(server_error_next=10)
    with pytest.raises(TidioUnavailable, match="after 6 attempts"):
        client.get("/operators")
    emu.set_faults(server_error_next=0, rate_limit_next=10)
    with pytest.raises(TidioUnavailable, match="TIDIO_RATE_LIMIT_PER_MINUTE"):
        client.get("/operators")
    client.close()


def test_errors_become_clear_messages_without_secrets(emu):
    client = client_for(emu, TIDIO_CLIENT_SECRET="cs_not_the_right_one")
    with pytest.raises(TidioAuthError) as exc:
        client.project()
    assert "TIDIO_CLIENT_ID and TIDIO_CLIENT_SECRET" in str(exc.value)
    assert "cs_not_the_right_one" not in str(exc.value) and emu.client_id not in str(exc.value)
    client.close()
    good = client_for(emu)
    with pytest.raises(TidioValidationError) as bad:
        good.post("/contacts/batch", {"contacts": [{"distinct_id": "a:1", "email": "nope"}]})
    assert bad.value.status == 422 and bad.value.reason.startswith("validation_error: contacts[0].email")
    with pytest.raises(TidioNotFound):
        good.get("/tickets/99999")
    good.close()


def test_shared_budget_spaces_requests_to_the_plan_limit(emu):
    client = client_for(emu, TIDIO_RATE_LIMIT_PER_MINUTE="120")
    assert client.budget.per_minute == 120
    assert client.budget.backend.startswith("sqlite:")  # shared by every process of the migration
    client.close()


def test_configuration_is_checked_with_clear_messages(emu):
    env = emu.env()
    with pytest.raises(ConfigurationError, match="must use https"):
        TidioConfig.from_env({**env, "TIDIO_BASE_URL": "http://api.tidio.com"})
    with pytest.raises(ConfigurationError, match="TIDIO_CLIENT_ID must start with ci_"):
        TidioConfig.from_env({**env, "TIDIO_CLIENT_ID": env["TIDIO_CLIENT_SECRET"]})
    with pytest.raises(ConfigurationError, match="TIDIO_HISTORY_MODE"):
        TidioConfig.from_env({**env, "TIDIO_HISTORY_MODE": "emails"})
    with pytest.raises(ConfigurationError, match="TIDIO_STATUS_MAP"):
        TidioConfig.from_env({**env, "TIDIO_STATUS_MAP": '{"closed": "closed"}'})
    config = TidioConfig.from_env({**env, "TIDIO_PROPERTY_MAP": "company=,customer_number=cust_no"})
    assert config.property_map == {"company": "", "customer_number": "cust_no"}
    assert TidioConfig.from_env({k: v for k, v in env.items() if k != "TIDIO_BASE_URL"}).base_url == \
        "https://api.tidio.com"
    assert "cs_" not in repr(TidioConfig.from_env(env))
