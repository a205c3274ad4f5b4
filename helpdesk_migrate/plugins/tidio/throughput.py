"""What a migration of the discovered scope costs Tidio in requests, and Tidio's budget per plan (PlansRequests).

The figures follow what the loader sends: contacts go in batches of 100; a ticket is created
(``POST /tickets/as-contact``) and updated once only when something the create call cannot carry remains (a
status other than open, an operator); every message is one reply, posted without reading the ticket first
(journal.py). Agents, teams, tags and custom fields are matched, not created: one listing each.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from helpdesk_migrate.sdk import RequestBudget, RequestEstimate

from .config import TidioConfig

# https://developers.tidio.com/docs/rate-limits (reference: tidio-api.md §5): requests a minute per project.
PLANS = {"Plus": 60.0, "Premium": 120.0}
CONTACT_BATCH = 100
COUNT_MESSAGES_MAX_TICKETS = 300  # the setting's default (config.py)
TICKET_PAGE = 100  # tickets a listing page holds, as far as the plan is concerned (the cursor's page size)
# A conversations step reads its directory first (operators, departments, tags) and lists the tickets before and
# after (matching, then the count): counted on the emulator, about six requests whatever the size.
CONVERSATION_STEP_READS = 6
# Every step that connects (the pre-flight, the map, each load and its checks) lists the directory it matches
# against (operators, departments, tags, contact properties) once: counted on the emulator, about 60 in a full run
# whatever the size (62 for 50 conversations; benchmarks/end_to_end.py with BENCH_DUMP_LOG).
DIRECTORY_READS = 60


def request_budget(env: Mapping[str, str]) -> RequestBudget:
    per_minute = float(TidioConfig.from_env(env).rate_limit_per_minute)
    named = next((name for name, limit in PLANS.items() if limit == per_minute), None)
    return RequestBudget(per_minute=per_minute, plan=named or f"{per_minute:g} requests a minute (TIDIO_RATE_LIMIT_"
                                                             "PER_MINUTE)",
                         plans=PLANS, basis="https://developers.tidio.com/docs/rate-limits: Plus 60, Premium 120 "
                                            "requests a minute per project")


def estimate_requests(scope: Mapping[str, Any], env: Mapping[str, str] | None = None) -> list[RequestEstimate]:
    env = os.environ if env is None else env
    counts = scope.get("counts") or {}
    notes = scope.get("contact_notes") or {}
    with_notes, note_count = int(notes.get("contacts_with_notes", 0)), int(notes.get("notes", 0))
    # The reconciliation counts the migrated messages by reading each ticket, up to a setting's number of tickets.
    count_max = int(env.get("TIDIO_COUNT_MESSAGES_MAX_TICKETS") or COUNT_MESSAGES_MAX_TICKETS)
    conversations = int(counts.get("conversations", 0))
    messages = int(counts.get("messages", 0))
    # A new ticket is open and unassigned: only the others need the one update.
    unassigned_open = int((scope.get("conversations_unassigned_by_status") or {}).get("open", 0))
    updates = max(0, conversations - unassigned_open)
    return [
        RequestEstimate("agents", (1 if counts.get("agents") else 0) + DIRECTORY_READS,
                        f"one listing of operators; the directory listings of every step that connects (about "
                        f"{DIRECTORY_READS} a run)"),
        RequestEstimate("teams", 1 if counts.get("teams") else 0, "one listing of departments"),
        RequestEstimate("tags", 1 if counts.get("tags") else 0, "one listing of ticket tags"),
        RequestEstimate("custom_fields", 2 if counts.get("custom_fields") else 0,
                        "contact properties and ticket fields, one listing each"),
        RequestEstimate("contacts", -(-int(counts.get("contacts", 0)) // CONTACT_BATCH) + 2 * with_notes + note_count,
                        f"batches of {CONTACT_BATCH}; a notes ticket per contact with notes (create, solve) and one "
                        "reply per note (listings of the project's existing contacts, to match them, not counted)"),
        RequestEstimate("conversations", conversations + updates + CONVERSATION_STEP_READS
                        + 2 * (conversations // TICKET_PAGE),
                        "one create; one update unless open and unassigned; the step's directory and ticket "
                        "listings"),
        RequestEstimate("messages", messages + (conversations if conversations <= count_max else 0),
                        "one reply per message; the destination's count after the load reads each ticket once (up "
                        "to TIDIO_COUNT_MESSAGES_MAX_TICKETS tickets; the report reuses it)"),
    ]
