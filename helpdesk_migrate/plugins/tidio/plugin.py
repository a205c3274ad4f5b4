"""The Tidio destination plugin: entry point ``tidio = "helpdesk_migrate.plugins.tidio.plugin"`` in the group
``helpdesk_migrate.plugins``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from helpdesk_migrate.sdk import (
    CheckSpec,
    DestinationObject,
    RequestBudget,
    RequestEstimate,
    Setting,
    hookimpl,
)

from . import __version__, throughput
from .config import SETTINGS, TidioConfig
from .connection import TidioConnection
from .inventory import SKIP_REASONS
from .probe import probe

INVENTORY_CHECK = CheckSpec("manual_inventory", "Tidio's API cannot create these: they are listed, with their content, "
                            "in the manual-configuration inventory for an admin to rebuild", blocking=False)


class TidioDestination:
    name = "tidio"
    title = "Tidio"
    version = __version__

    def objects(self) -> Sequence[DestinationObject]:
        matched = ("Matched, not created: Tidio's API cannot create {what}. Unmatched ones are quarantined with "
                   "what an admin must create.")
        objects = [
            DestinationObject("agents", targets=("operator",), description=matched.format(what="operators"), checks=(
                CheckSpec("operators_matched", "Every agent has a Tidio operator (by email, then unique name), or "
                          "TIDIO_FALLBACK_OPERATOR_ID takes their tickets; otherwise ticket loads stop."),)),
            DestinationObject("teams", targets=("department",), description=matched.format(what="departments"),
                              checks=(CheckSpec("departments_matched", "Every team has a Tidio department (by name); "
                                                "tickets of the others go to TIDIO_FALLBACK_DEPARTMENT or General "
                                                "(department-fallback).", blocking=False),)),
            DestinationObject("tags", targets=("ticket_tag",), description=matched.format(what="tags"), checks=(
                CheckSpec("tags_defined", "Every ticket label has a Tidio tag; tickets load without the others, "
                          "named in their opening message (tag-dropped).", blocking=False),)),
            DestinationObject("custom_fields", targets=("contact_property", "ticket_field"),
                              description=matched.format(what="property definitions"), checks=(
                CheckSpec("properties_defined", "Every mapped contact property exists in Tidio with a type that "
                          "holds the values; otherwise contact loads stop."),)),
            DestinationObject("contacts", depends_on=("custom_fields", "agents"),
                              targets=("contact", "ticket", "ticket_message"),
                              description="Batches of <= 100 (all or nothing, bisected on refusal), found by "
                                          "distinct_id and email before creating, custom data patched after; contact "
                                          "notes become internal notes on a ticket of the contact.",
                              checks=(CheckSpec("contacts_unique", "No source contact exists twice in Tidio (create "
                                                "never deduplicates).", blocking=False),)),
            DestinationObject("conversations", depends_on=("contacts", "agents", "teams", "tags"),
                              targets=("ticket",),
                              description="POST /tickets/as-contact in the matched department, then status, "
                                          "priority, assignee and tags by PATCH.",
                              checks=(CheckSpec("original_timestamps", "Tidio cannot backdate: the original times "
                                                "are kept in each ticket's text and listed here.", blocking=False),)),
            DestinationObject("messages", depends_on=("conversations", "agents"), targets=("ticket_message",),
                              description="History replayed as internal notes with the original author and time "
                                          "(TIDIO_HISTORY_MODE); never emailed to customers by default.",
                              checks=(CheckSpec("customers_not_emailed", "No public operator reply (which Tidio "
                                                "emails to the customer) was sent, unless public_replies was chosen.",
                                                blocking=False),
                                      CheckSpec("original_timestamps", "The original times of the notes, listed.",
                                                blocking=False))),
        ]
        # Nothing here waits for another load: each record is listed from the store, so an inventory is written
        # as soon as its extract is checked, not after the long replay of messages.
        for canonical in SKIP_REASONS:
            objects.append(DestinationObject(canonical,
                                             targets=("manual_configuration_inventory",),
                                             description=f"Not loaded: {SKIP_REASONS[canonical][0]}. Each record is "
                                                         "skipped with this reason and listed in the inventory.",
                                             checks=(INVENTORY_CHECK,), inventory_only=True))
        return objects

    def settings(self) -> Sequence[Setting]:
        return SETTINGS

    def connect(self, env: Mapping[str, str]) -> TidioConnection:
        return TidioConnection(TidioConfig.from_env(env))

    def request_budget(self, env: Mapping[str, str]) -> RequestBudget:
        """The budget on the user's plan (PlansRequests), for discovery's throughput plan."""
        return throughput.request_budget(env)

    def estimate_requests(self, scope: Mapping[str, Any]) -> list[RequestEstimate]:
        """Requests per object for a full migration of ``scope`` (PlansRequests)."""
        return throughput.estimate_requests(scope)

    def corpus_outcomes(self) -> dict[str, str]:
        """What a migration reaches here per rule of the SDK's bad-input corpus, where not the rule's default."""
        from .corpus import OUTCOMES

        return dict(OUTCOMES)


tidio_destination = TidioDestination()
tidio_destination.probe = probe  # the read-only probe (helpdesk-migrate probe)


@hookimpl
def register_destinations(register) -> None:
    register(tidio_destination)
