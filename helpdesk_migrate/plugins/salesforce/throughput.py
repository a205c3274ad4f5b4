"""What a migration of the discovered scope costs Salesforce in API calls (PlansRequests).

Salesforce limits calls per 24 hours (the org's allowance, read by the pre-flight from /limits), not per minute:
the plan counts each call as the time one takes. A load chunk (MIGRATION_LOAD_CHUNK_SIZE records) at or above
SALESFORCE_BULK_THRESHOLD goes through one Bulk API 2.0 job (create, upload, close, poll, results: about seven
calls), a smaller one through sObject Collections (200 records a call), plus one query for what exists already.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from helpdesk_migrate.sdk import RequestBudget, RequestEstimate

from .settings import SalesforceConfig

BULK_CALLS_PER_JOB = 7
COLLECTION_SIZE = 200
SECONDS_PER_CALL = 0.5  # a REST or Bulk status round trip; Bulk jobs finishing later are polled, counted above
LOAD_CHUNK_ENV, DEFAULT_LOAD_CHUNK = "MIGRATION_LOAD_CHUNK_SIZE", 2000  # the engine's load chunk (runtime.py)
PER_RECORD = {"messages": 1, "conversations": 1, "contacts": 1, "attachments": 1, "articles": 1}


def request_budget(env: Mapping[str, str]) -> RequestBudget:
    SalesforceConfig.from_env(env)  # the settings are sound (else the plan says why it has no budget)
    return RequestBudget(per_minute=None, plan="daily API allowance of the org", seconds_per_request=SECONDS_PER_CALL,
                         basis="https://developer.salesforce.com/docs/atlas.en-us.salesforce_app_limits_cheatsheet."
                               "meta/salesforce_app_limits_cheatsheet/salesforce_app_limits_platform_api.htm: calls "
                               "per 24 hours by edition and licences; no per-minute limit")


def estimate_requests(scope: Mapping[str, Any], env: Mapping[str, str] | None = None) -> list[RequestEstimate]:
    env = os.environ if env is None else env
    chunk = int(env.get(LOAD_CHUNK_ENV) or DEFAULT_LOAD_CHUNK)
    threshold = int(env.get("SALESFORCE_BULK_THRESHOLD") or 2000)
    out = []
    for canonical, count in (scope.get("counts") or {}).items():
        n = int(count)
        if not n:
            continue
        full, rest = divmod(n, chunk)
        calls = 0
        for size in [chunk] * full + ([rest] if rest else []):
            calls += 1 + (BULK_CALLS_PER_JOB if size >= threshold else -(-size // COLLECTION_SIZE))
        out.append(RequestEstimate(canonical, calls, f"chunks of {chunk}: a Bulk API 2.0 job from {threshold} "
                                                     f"records, else {COLLECTION_SIZE} a call; one query each"))
    return out
