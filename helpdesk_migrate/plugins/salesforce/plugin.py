"""Entry point of the Salesforce Service Cloud destination (``helpdesk_migrate.plugins`` group)."""

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

# Imported with the plugin rather than on connect: a run's step processes fork from a server that has
# imported the code location, so each of them would otherwise import the whole loader again (~0.15 s).
from .destination import SalesforceConnection
from .probe import probe
from .settings import SETTINGS, SalesforceConfig

OBJECTS: tuple[DestinationObject, ...] = (
    DestinationObject(
        "agents", (), ("User",),
        "Matched to existing Users by email (never created); inactive agents to inactive Users. Unmatched agents "
        "form the reconciliation queue.",
        (CheckSpec("owners_matched", "Every agent who owns conversations has a Salesforce User, or "
                   "SALESFORCE_FALLBACK_OWNER_ID is set; the metadata lists the reconciliation queue for the admin.",
                   blocking=True),),
    ),
    DestinationObject("teams", ("agents",), ("Group", "QueueSobject", "GroupMember"),
                      "Queues for Cases with their members; an existing queue of the same name is linked."),
    DestinationObject("channels", (), ("Case.Origin",),
                      "Not records in Salesforce: an inventory of channels to set up, and the Origin of their Cases.",
                      (CheckSpec("channel_inventory", "Channels to rebuild (Email-to-Case, Messaging, Voice).",
                                 blocking=False),)),
    DestinationObject("tags", (), ("Case.<prefix>_Tags__c", "Contact.<prefix>_Tags__c"),
                      "Values of the tag multi-select picklists (prefixed on a case-only name collision)."),
    DestinationObject("custom_fields", (), ("CustomField",),
                      "Custom contact/conversation properties as custom fields (Tooling API) with their options."),
    DestinationObject(
        "contacts", ("custom_fields", "tags", "agents"), ("Contact", "Task"),
        "Upserted by external id; an existing Contact with the same email is linked, not duplicated. Notes become "
        "completed Tasks.",
        (CheckSpec("email_links", "Contacts linked to existing Contacts by email; ambiguous matches listed.",
                   blocking=False),
         CheckSpec("field_map", "How the confirmed field map placed contact values in Contact fields; "
                   "entries not applied are listed with the reason.", blocking=False)),
    ),
    DestinationObject(
        "conversations", ("agents", "teams", "contacts", "tags", "custom_fields", "channels"), ("Case",),
        "Cases with mapped Status/Origin/Priority, owner (User or Queue), tags and the source's timestamps.",
        (CheckSpec("audit_fields", "Original CreatedDate/ClosedDate written through audit fields.", blocking=False),
         CheckSpec("field_map", "How the confirmed field map placed conversation values in Case "
                   "fields; entries not applied are listed with the reason.", blocking=False)),
    ),
    DestinationObject(
        "messages", ("conversations", "agents", "contacts"),
        ("EmailMessage", "CaseComment", "Task", "ContentVersion", "ContentDocumentLink"),
        "Emails as EmailMessage, notes (and other channels) as CaseComments split at 4,000 bytes, call logs as "
        "Tasks; inline images become files.",
        (CheckSpec("bodies_and_images", "Truncated bodies and inline images that could not be moved.",
                   blocking=False),),
    ),
    DestinationObject("attachments", ("messages", "conversations"), ("ContentVersion",),
                      "Files on the EmailMessage or the Case (JSON upload, or multipart up to 2 GB beyond "
                      "SALESFORCE_MAX_FILE_BYTES)."),
    DestinationObject(
        "articles", (), ("Knowledge__kav", "Knowledge__DataCategorySelection"),
        "Knowledge articles (draft or published) with data categories; a report when Knowledge is off.",
        (CheckSpec("knowledge_enabled", "Articles went into Knowledge (or are listed when it is off).",
                   blocking=False),),
    ),
)


class SalesforceDestination:
    name = "salesforce"
    title = "Salesforce Service Cloud"
    version = __version__

    def objects(self) -> Sequence[DestinationObject]:
        return OBJECTS

    def settings(self) -> Sequence[Setting]:
        return SETTINGS

    def connect(self, env: Mapping[str, str], **kw: Any) -> Any:
        return SalesforceConnection(SalesforceConfig.from_env(env), session=kw.get("session"))

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


@hookimpl
def register_destinations(register: Any) -> None:
    destination = SalesforceDestination()
    destination.probe = probe  # the read-only probe (helpdesk-migrate probe)
    register(destination)
