"""The Zendesk source's read-only probe (``helpdesk-migrate probe --source zendesk``): the first page of every
endpoint the source reads, as (endpoint, payload), so the engine can compare their shapes with the emulator's
profiles. Only GETs; endpoint names carry no id. An endpoint that fails is yielded as its exception (the engine
keeps only its type) and the rest is still probed; refused credentials stop the probe."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from helpdesk_migrate.sdk import ConfigurationError

from .client import LIST_PAGE_SIZE, ZendeskClient, ZendeskError
from .settings import ZendeskConfig
from .source import TICKET_SIDE_LOADS

LISTS = ("groups", "group_memberships", "ticket_fields", "user_fields", "organization_fields", "tags", "macros",
         "triggers", "automations", "views", "deleted_tickets", "help_center/sections", "help_center/categories")


def probe(env: Mapping[str, str]) -> Iterator[tuple[str, Any]]:
    client = ZendeskClient(ZendeskConfig.from_env(env))

    def get(path: str, params: Mapping[str, Any] | None = None) -> Any:
        try:
            return client.get(f"api/v2/{path}.json", params)
        except ConfigurationError:
            raise
        except ZendeskError as exc:
            return exc

    try:
        for path in LISTS:
            yield path, get(path, {"page[size]": LIST_PAGE_SIZE})
        yield "users?role=agent", get("users", {"role": "agent", "page[size]": LIST_PAGE_SIZE})
        yield "slas/policies", get("slas/policies")
        yield "incremental/organizations", get("incremental/organizations", {"start_time": 0})
        yield "incremental/users/cursor", get("incremental/users/cursor", {"start_time": 0, "per_page": 100})
        tickets = get("incremental/tickets/cursor", {"start_time": 0, "per_page": 100, "include": TICKET_SIDE_LOADS})
        yield "incremental/tickets/cursor", tickets
        alive = [t for t in (tickets.get("tickets") or [] if isinstance(tickets, dict) else [])
                 if isinstance(t, dict) and t.get("status") != "deleted"]
        # Comment shapes vary with the channel (an email's carry its addresses): one email ticket, one other.
        by_channel: dict[bool, dict[str, Any]] = {}
        for t in alive:
            by_channel.setdefault(((t.get("via") or {}).get("channel") == "email"), t)
        for t in by_channel.values():
            yield "tickets/{id}/comments", get(f"tickets/{t['id']}/comments",
                                              {"include": "users", "page[size]": LIST_PAGE_SIZE})
        locales = get("help_center/locales")
        yield "help_center/locales", locales
        codes = locales.get("locales") if isinstance(locales, dict) else None
        if codes:
            yield "help_center/{locale}/articles", get(f"help_center/{codes[0]}/articles",
                                                       {"page[size]": LIST_PAGE_SIZE})
    finally:
        client.close()


__all__ = ["probe"]
