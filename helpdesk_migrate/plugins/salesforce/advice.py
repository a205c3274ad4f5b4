"""Advice before and beside the load: which Salesforce features the discovered scope needs (``assess``), and
the Salesforce equivalent of each source automation for the inventory (``recommend``)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from simple_salesforce.exceptions import SalesforceError

from .base import Services
from .client import error_message
from .schema import custom_property_spec, plan_fields

# Requests per 200 records (Collections) an object's load spends: writes plus the look-ups around them.
CALLS_PER_BATCH = {"agents": 1, "teams": 4, "tags": 2, "contacts": 3, "conversations": 3, "messages": 4,
                   "attachments": 3, "articles": 3}
SETUP_CALLS = 60  # logins, describes, limits, pre-flight reads, schema creation
NON_EMAIL = ("chat", "whatsapp", "facebook", "instagram", "sms", "telegram", "twitter", "wechat", "gbm", "voice")


def _feature(feature: str, needed: bool, available: bool | None, note: str) -> dict[str, Any]:
    return {"feature": feature, "needed": needed, "available": available, "note": note}


def estimate_calls(counts: Mapping[str, int], articles_published: int = 0) -> int:
    """API requests a full load of these counts needs through sObject Collections (an upper bound: Bulk API
    2.0 takes over at SALESFORCE_BULK_THRESHOLD records per chunk and needs fewer)."""
    calls = SETUP_CALLS
    for canonical, per_batch in CALLS_PER_BATCH.items():
        n = int(counts.get(canonical) or 0)
        if n:
            batch = 50 if canonical == "attachments" else 200  # files are big: fewer per request
            calls += math.ceil(n / batch) * per_batch
    calls += 4 * int(counts.get("custom_fields") or 0)  # Tooling create, describe, field-level security
    return calls + articles_published  # publishing is one request per article


def assess(svc: Services, scope: Mapping[str, Any]) -> list[dict[str, Any]]:
    c, cfg = svc.client, svc.cfg
    counts: Mapping[str, int] = scope.get("counts") or {}
    by_channel: Mapping[str, int] = scope.get("conversations_by_channel") or {}
    help_center = scope.get("help_center") or {}
    conversations = int(counts.get("conversations") or 0)
    out = []

    articles = int(help_center.get("articles") or counts.get("articles") or 0)
    knowledge = svc.schema.knowledge_enabled()
    out.append(_feature("Salesforce Knowledge", articles > 0, knowledge,
                        f"{articles} article(s) in {help_center.get('translations', articles)} translation(s) go to "
                        f"{cfg.knowledge_object}" if knowledge else
                        f"{articles} article(s): enable Lightning Knowledge (a Knowledge licence), else they are "
                        "listed in a report instead of loaded"))

    teams = int(counts.get("teams") or 0)
    manage_users = svc.user_permission("PermissionsManageUsers")
    queues = c.has_object("Group") and c.has_object("QueueSobject")
    out.append(_feature("Queues (Manage Users)", teams > 0, bool(queues and manage_users),
                        (f"{teams} team(s) become Case queues (creating queues needs Manage Users)"
                         if manage_users else f"Manage Users is missing: {teams} team(s) can't become queues; grant it "
                         "to the migration user" if manage_users is False else
                         f"{teams} team(s) become Case queues; whether the user has Manage Users could not be read")))

    audit = svc.audit_allowed("Case")
    out.append(_feature("Set Audit Fields upon Record Creation", conversations > 0, audit,
                        "original CreatedDate/ClosedDate (and message times and authors) are kept" if audit else
                        "missing: Cases carry the load time as CreatedDate; the original times go to "
                        f"{cfg.field('Created_At')}/{cfg.field('Closed_At')}. Enable it in Setup > User Interface "
                        "and grant it to the migration user"))

    inactive = svc.inactive_owner_allowed()
    out.append(_feature("Update Records with Inactive Owners", conversations > 0, inactive,
                        "conversations of departed agents keep their (inactive) User as owner" if inactive else
                        "missing: conversations of departed agents go to SALESFORCE_FALLBACK_OWNER_ID"
                        + (" (set)" if cfg.fallback_owner else " (not set: they would be refused)")))

    email = int(by_channel.get("email") or 0)
    email_object = next((o for o in c.describe_global().get("sobjects", []) if o.get("name") == "EmailMessage"), None)
    email_ok = bool(email_object and email_object.get("createable", True))
    out.append(_feature("Email-to-Case / Enhanced Email (EmailMessage)", email > 0, email_ok,
                        f"{email} email conversation(s): their messages become EmailMessages" if email_ok else
                        f"{email} email conversation(s): EmailMessage is not available; enable Email-to-Case or "
                        "Enhanced Email, else email history can't be loaded as emails"))

    others = sum(int(v or 0) for k, v in by_channel.items() if k in NON_EMAIL)
    history = {"comment": "CaseComments", "task": "Tasks"}.get(cfg.non_email_messages, "nothing (skipped)")
    out.append(_feature("Messaging / Voice channels", False, None,
                        f"{others} chat/social/SMS/voice conversation(s): history as {history} "
                        "(SALESFORCE_NON_EMAIL_MESSAGES); live channels need Digital Engagement or Service Cloud Voice "
                        "licences (see the channel inventory)"))

    out.append(_custom_fields(svc, scope))
    out.append(_api_allowance(svc, counts))
    return out


def _custom_fields(svc: Services, scope: Mapping[str, Any]) -> dict[str, Any]:
    c, cfg = svc.client, svc.cfg
    own = [s for s in plan_fields(cfg, knowledge=svc.schema.knowledge_enabled()) if c.has_object(s.object)]
    props = [custom_property_spec(cfg, d["entity"], d["key"], d.get("type") or "text", d.get("name") or d["key"])
             for d in scope.get("custom_fields") or [] if d.get("entity") in ("contact", "conversation") and d.get("key")]
    missing_own, missing_props = svc.schema.missing(own), svc.schema.missing(props)
    total, missing = len(own) + len(props), len(missing_own) + len(missing_props)
    if not missing:
        return _feature("Custom fields", True, True, f"all {total} field(s) the load writes exist")
    names = ", ".join(s.full_name for s in missing_props[:8]) + (" …" if len(missing_props) > 8 else "")
    what = (f"{len(missing_own)} for the migration's bookkeeping (external ids, original times, tags)"
            + (f" and {len(missing_props)} for custom properties ({names})" if missing_props else ""))
    if cfg.create_schema:
        return _feature("Custom fields", True, True, f"{missing} of {total} to create, by the migration (Tooling "
                        f"API, SALESFORCE_CREATE_SCHEMA=true): {what}; a field map can point custom properties at "
                        "existing fields instead")
    return _feature("Custom fields", True, False, f"{missing} of {total} are missing: {what}. Create them as in the "
                    "pre-flight schema plan, or set SALESFORCE_CREATE_SCHEMA=true")


def _api_allowance(svc: Services, counts: Mapping[str, int]) -> dict[str, Any]:
    cfg = svc.cfg
    needed = estimate_calls(counts)
    try:
        daily = svc.client.limits().get("DailyApiRequests") or {}
    except SalesforceError as exc:
        return _feature("Daily API requests", True, None, f"the load needs about {needed} requests; the org's "
                        f"allowance could not be read ({error_message(exc)})")
    remaining, maximum = daily.get("Remaining"), daily.get("Max")
    if remaining is None:
        return _feature("Daily API requests", True, None, f"the load needs about {needed} requests; the org did not "
                        "report its allowance")
    usable = int(remaining) - cfg.api_reserve
    note = (f"the load needs about {needed} of {remaining} left today (of {maximum}; reserve {cfg.api_reserve}); "
            "estimated for sObject Collections, Bulk API 2.0 needs fewer")
    if cfg.api_budget is not None and cfg.api_budget < needed:
        note += f"; SALESFORCE_API_BUDGET={cfg.api_budget} stops it earlier: re-runs continue where it stopped"
    if usable < needed:
        note += "; run it over several days (re-runs send only what is missing) or buy more API capacity"
    return _feature("Daily API requests", True, usable >= needed, note)


# -- recommend --------------------------------------------------------------------------------------------

FLOW_ON_CASE = "a record-triggered Flow on Case (after save)"
MESSAGE_EVENTS = {
    "INBOUND": ("EmailMessage", "Incoming = TRUE", "an inbound message arrives"),
    "OUTBOUND": ("EmailMessage", "Incoming = FALSE", "an agent replies"),
    "NOTE": ("CaseComment", "IsPublished = FALSE", "an internal note is added"),
}
CASE_EVENTS = {
    "TICKET_CREATED": "when a Case is created",
    "TICKET_CLOSED": "when IsClosed changes to TRUE",
    "TICKET_REOPENED": "when IsClosed changes from TRUE to FALSE",
    "TICKET_ASSIGNED": "when OwnerId changes (a User or a queue)",
    "TICKET_LABEL_ADDED": "when the tags field ({tags}) changes and includes the label",
    "TICKET_LABEL_DELETED": "when the tags field ({tags}) changes and no longer includes the label",
    "TICKET_MARKED_AS_SPAM": "when Status changes to the value spam maps to ({spam})",
    "TICKET_UNMARKED_AS_SPAM": "when Status changes away from the value spam maps to ({spam})",
}

VOICE_EVENTS = {
    "STARTED": "when a call is created", "ENDED": "when CallEndDateTime is set",
    "RECORDED": "when the call recording is attached", "MISSED": "when CallDisposition marks it missed",
    "ROUTE_NUMBER": "before routing (or an Omni-Channel flow for the number)",
}


def _text(value: Any) -> str:
    return json.dumps(value, default=str).lower() if value not in (None, "", {}, []) else ""


def _target(workflow: Mapping[str, Any]) -> str:
    actions = workflow.get("actions")
    url = (actions.get("post_to") or actions.get("url")) if isinstance(actions, Mapping) else None
    return f" to {url}" if url else ""


def recommend(workflow: Mapping[str, Any], *, tags_field: str, spam_status: str = "Closed") -> str:
    """The Salesforce feature that rebuilds one source automation, specific to its trigger and actions."""
    kind = str(workflow.get("kind") or "").lower()
    trigger = str(workflow.get("trigger") or "").upper().strip()
    said = _text(workflow.get("conditions")) + " " + _text(workflow.get("actions"))
    if kind == "webhook" or "webhook" in kind:
        return _webhook(trigger, _target(workflow), tags_field, spam_status)
    if "rout" in kind or "omni" in kind:
        return ("Omni-Channel routing: the migrated queues with a routing configuration (most available or least "
                "active), or skills-based routing where the rule routes by channel, language or topic")
    if any(w in kind for w in ("bot", "flowbot", "chatbot")):
        return ("an Einstein Bot (Enhanced Bot) on the Messaging / Embedded Service channel, handing over to an "
                "Omni-Channel queue")
    if "sla" in kind or "escalat" in kind:
        return ("Entitlements with an Entitlement Process and Milestones (first response, resolution) on Business "
                "Hours, plus Case Escalation Rules for overdue Cases")
    if "hour" in kind:
        return "Setup > Business Hours (and Holidays), referenced by Escalation Rules and Entitlement Processes"
    if ("auto" in kind and "repl" in kind) or "auto-repl" in said or "auto_reply" in said:
        return ("Case Auto-Response Rules (Email-to-Case / Web-to-Case) with an email template; for messaging "
                "channels, an automated message in the Messaging channel settings")
    if kind in ("rule", "rules", "automation", "trigger") or "rule" in kind:
        return _rule(trigger, said, tags_field)
    if "survey" in kind or "csat" in kind:
        return "Salesforce Feedback Management (Surveys) sent by a record-triggered Flow when a Case closes"
    return f"{FLOW_ON_CASE} reproducing the trigger ({trigger or 'as documented in the source'}) and its actions"


def _webhook(trigger: str, target: str, tags_field: str, spam_status: str) -> str:
    callout = (f"send an Outbound Message{target} (or an HTTP Callout action), or publish a Platform Event for "
               "the subscriber")
    if trigger in MESSAGE_EVENTS:
        obj, condition, what = MESSAGE_EVENTS[trigger]
        return f"a record-triggered Flow on {obj} (after insert, {condition}: {what}) that can {callout}"
    if trigger in CASE_EVENTS:
        when = CASE_EVENTS[trigger].format(tags=tags_field, spam=spam_status)
        return f"{FLOW_ON_CASE} {when}, which can {callout}"
    if trigger == "TICKET_MERGED":
        return ("Change Data Capture on Case (a merge arrives as a delete of the merged Case), or an Apex trigger "
                f"after delete reading MasterRecordId, publishing a Platform Event{target}")
    if trigger.startswith("VOICE_CALL"):
        event = trigger.removeprefix("VOICE_CALL_")
        when = VOICE_EVENTS.get(event, f"for the {event.lower().replace('_', ' ') or 'call'} event")
        return (f"Service Cloud Voice: a record-triggered Flow on VoiceCall {when}, which can {callout}; without "
                "Voice, a Flow on Task where TaskSubtype = 'Call'")
    return f"{FLOW_ON_CASE} for the event '{trigger or 'unknown'}', which can {callout}"


def _rule(trigger: str, said: str, tags_field: str) -> str:
    parts = []
    if "assign" in said or "team" in said or "user" in said:
        parts.append("Case Assignment Rules (or Omni-Channel routing to the migrated queues) for the assignment")
    if "label" in said or "tag" in said:
        parts.append(f"{FLOW_ON_CASE.replace('after', 'before')} setting {tags_field} for the labels")
    if "repl" in said or "message" in said or "email" in said:
        parts.append("Case Auto-Response Rules (or a Flow's Send Email action) for the automatic reply")
    if "close" in said or "status" in said:
        parts.append(f"{FLOW_ON_CASE} updating Status for the status change")
    if parts:
        return "; ".join(parts)
    return ("rebuild each rule by its action: Case Assignment Rules (assignment), Auto-Response Rules (automatic "
            "replies), record-triggered Flows on Case (labels, status, fields), Escalation Rules and Entitlements "
            "(SLA), Business Hours; flowbots as Einstein Bots")
