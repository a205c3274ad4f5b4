"""The platforms' connection settings are a Dagster resource (``connections``, one nested resource per platform):
variables the environment sets are EnvVar references, so no secret is copied into definitions or run config,
and a value given to the resource wins over the environment when a step opens the platform's connection."""

from __future__ import annotations

import dagster as dg

from migration_assets.registry import default_registry
from migration_assets.resources import PlatformConnectionsResource, connection_resource, connections_resource
from migration_assets.runtime import _environment

SECRET = "trengo-secret-token-value"


def test_every_step_that_talks_to_a_platform_requires_the_connections_resource(monkeypatch):
    from migration_assets.factory import build_definitions

    monkeypatch.setenv("TRENGO_API_TOKEN", SECRET)
    defs = build_definitions()
    connections = defs.resources["connections"]
    token = connections.trengo.trengo_api_token
    assert isinstance(token, dg.EnvVar) and token.env_var_name == "TRENGO_API_TOKEN"
    assert connections.salesforce.salesforce_api_version is None  # unset: the plugin's own default applies
    assert SECRET not in repr(connections) and SECRET not in str(connections.model_dump())
    requiring = {key.to_user_string() for a in defs.assets if "connections" in a.required_resource_keys
                 for key in a.keys}
    assert {"trengo/messages", "salesforce/from_trengo/contacts", "salesforce/from_trengo/preflight",
            "tidio/from_trengo/reconciliation_report"} <= requiring
    assert "salesforce/from_trengo/go_ahead" not in requiring  # a gate reads the store only


def test_a_step_opens_connections_with_what_the_resource_resolved(monkeypatch):
    trengo = default_registry().source("trengo")
    monkeypatch.setenv("TRENGO_API_TOKEN", "at-definition-time")
    monkeypatch.setenv("TRENGO_BASE_URL", "http://127.0.0.1:1/api/v2")
    plain = connection_resource(trengo)
    given = type(plain)(trengo_api_token=dg.EnvVar("TRENGO_API_TOKEN"), trengo_base_url="http://127.0.0.1:2/api/v2")
    seen = {}

    @dg.asset
    def opens_trengo(connections: PlatformConnectionsResource) -> None:
        seen.update(_environment(trengo, None))

    monkeypatch.setenv("TRENGO_API_TOKEN", "at-run-time")  # EnvVar: resolved in the step, not when defined
    resource = connections_resource([trengo]).model_copy(update={"trengo": given})
    assert dg.materialize([opens_trengo], resources={"connections": resource}).success
    assert seen["TRENGO_API_TOKEN"] == "at-run-time"
    assert seen["TRENGO_BASE_URL"] == "http://127.0.0.1:2/api/v2"  # the resource's value over the environment
    # Nothing of that run outlives it: outside a step, the environment is what counts.
    assert _environment(trengo, None)["TRENGO_BASE_URL"] == "http://127.0.0.1:1/api/v2"
