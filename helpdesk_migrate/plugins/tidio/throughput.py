"""What a migration of the discovered scope costs Tidio in requests, and Tidio's budget per plan (PlansRequests).

The figures follow what the loader sends (see the README's "Requests" section): contacts go in batches of 100;
a ticket is created with its first message (``POST /tickets/as-contact``) and updated once only when something
the create call cannot carry remains (status other than open, an operator); every later message is one reply.
Agents, teams, tags and custom fields are matched, not created: one listing each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from helpdesk_migrate.sdk import RequestBudget, RequestEstimate

from .config import TidioConfig

# https://developers.tidio.com/docs/rate-limits (reference: tidio-api.md §5): requests a minute per project.
PLANS = {"Plus": 60.0, "Premium": 120.0}
CONTACT_BATCH = 100


def request_budget(env: Mapping[str, str]) -> RequestBudget:
    per_minute = float(TidioConfig.from_env(env).rate_limit_per_minute)
    named = next((name for name, limit in PLANS.items() if limit == per_minute), None)
    return RequestBudget(per_minute=per_minute, plan=named or f"{per_minute:g} requests a minute (TIDIO_RATE_LIMIT_"
                                                             "PER_MINUTE)",
                         plans=PLANS, basis="https://developers.tidio.com/docs/rate-limits: Plus 60, Premium 120 "
                                            "requests a minute per project")


def estimate_requests(scope: Mapping[str, Any]) -> list[RequestEstimate]:
    counts = scope.get("counts") or {}
    conversations = int(counts.get("conversations", 0))
    threads = {int(k): int(v) for k, v in (scope.get("thread_lengths") or {}).items()}
    with_messages = sum(n for length, n in threads.items() if length > 0)
    messages = int(counts.get("messages", 0))
    # A new ticket is open and unassigned: only the others need the one update.
    unassigned_open = int((scope.get("conversations_unassigned_by_status") or {}).get("open", 0))
    updates = max(0, conversations - unassigned_open)
    return [
        RequestEstimate("agents", 1 if counts.get("agents") else 0, "one listing of operators"),
        RequestEstimate("teams", 1 if counts.get("teams") else 0, "one listing of departments"),
        RequestEstimate("tags", 1 if counts.get("tags") else 0, "one listing of ticket tags"),
        RequestEstimate("custom_fields", 2 if counts.get("custom_fields") else 0,
                        "contact properties and ticket fields, one listing each"),
        RequestEstimate("contacts", -(-int(counts.get("contacts", 0)) // CONTACT_BATCH),
                        f"batches of {CONTACT_BATCH}"),
        RequestEstimate("conversations", conversations + updates,
                        "one create carrying the first message; one update unless open and unassigned"),
        RequestEstimate("messages", max(0, messages - with_messages),
                        "one reply per message after the first (the create carried it)"),
    ]
