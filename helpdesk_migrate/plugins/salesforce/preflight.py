"""Pre-flight: what would fire or refuse during the load, read through the Tooling and describe APIs
before anything moves, each with the recommended bypass.

Listed: active validation rules, workflow rules, record-triggered flows and Apex triggers on the target
objects; active duplicate rules; dependent picklists; missing permissions (audit fields, inactive owners);
the schema plan; status/priority values the org lacks; record types and the fallback owner as configured;
Knowledge availability; the API allowance. Problems that acknowledgement can't fix (a missing field with
schema creation off, a mapped Status value the org lacks) are ``blocking_problems``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from simple_salesforce.exceptions import SalesforceError

from helpdesk_migrate.sdk import ConfigurationError, Preflight

from .base import Services
from .client import error_message
from .schema import plan_fields, plan_markdown
from .soql import in_list

TARGETS = ("Case", "Contact", "EmailMessage", "CaseComment", "Task", "ContentVersion")
LABELS = {"Case": "Case", "Contact": "Contact", "EmailMessage": "Email Message", "CaseComment": "Case Comment",
          "Task": "Task", "ContentVersion": "Content Version"}
BYPASS = {
    "validation_rule": "Deactivate it for the load, or add a bypass to its formula, e.g. "
                       "`&& NOT($Permission.Bypass_Migration)`, and give the migration user that custom permission.",
    "workflow_rule": "Deactivate it for the load (it would send emails and update fields on historic records).",
    "flow": "Deactivate it for the load, or add an entry condition that skips the migration user "
            "(`$User.Username != 'migration user'`).",
    "apex_trigger": "Use the trigger framework's bypass (custom setting/metadata) for the migration user, or "
                    "deactivate it in a sandbox-deployed change.",
    "duplicate_rule": "Set the rule's action on create to Allow (with report) for the migration, or deactivate it: "
                      "the loader already links Contacts by email, so remaining matches would be blocked.",
    "dependent_picklist": "The loader checks validFor before sending; map values so each is valid for its "
                          "controlling value, or leave the field unmapped.",
    "permission": "Enable it in Setup > User Interface and grant it through a permission set to the migration user.",
    "schema": "Set SALESFORCE_CREATE_SCHEMA=true to create them through the Tooling API, or create them by hand as "
              "listed.",
    "picklist": "Add the value in Setup, or change the mapping (SALESFORCE_STATUS_MAP / SALESFORCE_PRIORITY_MAP / "
                "SALESFORCE_ORIGIN_MAP).",
}


def _safe(fn: Any, default: Any, problems: list[dict[str, Any]], what: str) -> Any:
    try:
        return fn()
    except SalesforceError as exc:
        problems.append({"kind": "unreadable", "object": "-", "name": what, "severity": "warn",
                         "detail": f"could not read {what}: {error_message(exc)}",
                         "bypass": "check the migration user's 'View Setup and Configuration' permission"})
        return default


def build_preflight(svc: Services, context: Any = None) -> Preflight:
    c, cfg = svc.client, svc.cfg
    items: list[dict[str, Any]] = []
    blocking: list[str] = []
    targets = [t for t in TARGETS if c.has_object(t)]
    knowledge = svc.schema.knowledge_enabled()
    if knowledge:
        targets.append(cfg.knowledge_object)
    tlist = in_list(targets)

    def item(kind: str, obj: str, name: str, detail: str, severity: str = "warn", bypass: str | None = None) -> None:
        items.append({"kind": kind, "object": obj, "name": name, "severity": severity, "detail": detail,
                      "bypass": bypass or BYPASS.get(kind, "")})

    # Tooling names a custom object (Knowledge__kav) by its CustomObject Id, a standard one by its API name.
    tables = _safe(lambda: {svc.schema.table_id(t): t for t in targets}, {t: t for t in targets}, items,
                   "custom object ids")
    tooling_list = in_list(sorted(set(tables) | set(targets)))

    def named(table: str) -> str:
        return tables.get(table, table)

    for r in _safe(lambda: c.tooling_query("SELECT Id, ValidationName, EntityDefinitionId, ErrorMessage, Description "
                                           f"FROM ValidationRule WHERE Active = true AND EntityDefinitionId IN "
                                           f"{tooling_list}"), [], items, "validation rules"):
        item("validation_rule", named(r["EntityDefinitionId"]), r["ValidationName"],
             f"active; refuses records with: {r.get('ErrorMessage')}"
             + (f" (formula: {r['Description']})" if r.get("Description") else ""))
    for r in _safe(lambda: c.tooling_query(f"SELECT Id, Name, TableEnumOrId FROM WorkflowRule WHERE TableEnumOrId IN "
                                           f"{tooling_list}"), [], items, "workflow rules"):
        item("workflow_rule", named(r["TableEnumOrId"]), r["Name"], "workflow rule on a target object (the Tooling API does "
             "not say whether it is active: check it)")
    labels = {LABELS.get(t, t): t for t in targets}
    for r in _safe(lambda: c.query_all("SELECT ApiName, Label, ProcessType, TriggerType, TriggerObjectOrEventLabel FROM "
                                       "FlowDefinitionView WHERE IsActive = true"), [], items, "flows"):
        obj = labels.get(r.get("TriggerObjectOrEventLabel") or "")
        if obj and (r.get("TriggerType") or "").startswith("Record"):
            item("flow", obj, r["ApiName"], f"active record-triggered flow ({r.get('TriggerType')}): {r.get('Label')}")
    for r in _safe(lambda: c.tooling_query("SELECT Id, Name, TableEnumOrId, UsageBeforeInsert, UsageAfterInsert FROM "
                                           f"ApexTrigger WHERE Status = 'Active' AND TableEnumOrId IN {tooling_list}"),
                   [], items, "Apex triggers"):
        when = [w for w, on in (("before insert", r.get("UsageBeforeInsert")), ("after insert",
                                                                                  r.get("UsageAfterInsert"))) if on]
        item("apex_trigger", named(r["TableEnumOrId"]), r["Name"], f"active Apex trigger ({', '.join(when) or 'update'})")
    for r in _safe(lambda: c.query_all("SELECT DeveloperName, MasterLabel, SobjectType FROM DuplicateRule WHERE "
                                       f"IsActive = true AND SobjectType IN {tlist}"), [], items, "duplicate rules"):
        item("duplicate_rule", r["SobjectType"], r["DeveloperName"], f"active duplicate rule '{r.get('MasterLabel')}'")
    for obj in targets:
        for f in c.fields(obj).values():
            if f.get("dependentPicklist") and f.get("controllerName"):
                item("dependent_picklist", obj, f["name"], f"depends on {f['controllerName']}", severity="info")
    # Permissions.
    if not svc.audit_allowed("Case"):
        item("permission", "Case", "Set Audit Fields upon Record Creation", "missing: original CreatedDate/ClosedDate "
             f"can't be written; they are kept in {cfg.field('Created_At')} / {cfg.field('Closed_At')} instead, and "
             "Cases are upserted", severity="warn")
    elif not svc.createable("Case", "ClosedDate"):
        item("permission", "Case", "ClosedDate", "not createable (as documented: the audit permission unlocks only "
             "Created*/LastModified*): closed Cases get the load time as ClosedDate; the original close time is "
             f"kept in {cfg.field('Closed_At')}", severity="info",
             bypass="report on the closed-at field instead of ClosedDate for migrated Cases")
    if not svc.inactive_owner_allowed():
        item("permission", "Case", "Update Records with Inactive Owners", "missing: records of departed agents can't "
             "be owned by their (inactive) Users"
             + ("; they go to SALESFORCE_FALLBACK_OWNER_ID" if cfg.fallback_owner else " and will be refused"),
             severity="warn")
    # Side effects of the load itself.
    if "EmailMessage" in targets:
        from .load_messages import enhanced_email

        if enhanced_email(svc):
            emails = _staged_emails(svc, context)
            how_many = f"{emails:,} Task(s), one per email" if emails is not None else "one Task per email"
            item("side_effect", "EmailMessage", "Enhanced Email",
                 f"on: Salesforce creates {how_many} loaded ('Email: <subject>', WhatId the Case), dated at load "
                 "time, not at the email's date; they appear on the Cases' activity timelines and in Task reports "
                 "(rollback deletes them with their emails)", severity="warn",
                 bypass="nothing to switch off for a migration; filter Task reports on TaskSubtype = 'Email' and "
                        "CreatedDate of the load, or rely on EmailMessage.MessageDate")
    # Schema plan.
    plan = plan_fields(cfg, knowledge=knowledge)
    plan = [s for s in plan if c.has_object(s.object)]
    missing = svc.schema.missing(plan)
    for s in missing:
        item("schema", s.object, s.name, f"custom field to {'create' if cfg.create_schema else 'be created by the admin'}"
             f": {s.row()['type']} ({s.purpose})", severity="warn" if cfg.create_schema else "block")
    if missing and not cfg.create_schema:
        blocking.append(f"{len(missing)} custom field(s) are missing and SALESFORCE_CREATE_SCHEMA is off: "
                        + ", ".join(s.full_name for s in missing))
    # Mapped picklist values.
    statuses = set(svc.schema.picklist_values("Case", "Status"))
    for source, value in sorted(cfg.status_map.items()):
        if value not in statuses:
            item("picklist", "Case", "Status", f"'{source}' maps to '{value}', which is not a Case Status",
                 severity="block")
            blocking.append(f"Case Status has no value '{value}' (SALESFORCE_STATUS_MAP '{source}')")
    priorities = set(svc.schema.picklist_values("Case", "Priority"))
    for source, value in sorted(cfg.priority_map.items()):
        if value not in priorities:
            item("picklist", "Case", "Priority", f"'{source}' maps to '{value}', which is not a Case Priority",
                 severity="warn", bypass="records with that priority are stopped with this reason; " + BYPASS["picklist"])
    origin_meta = c.fields("Case").get("Origin") or {}
    origins = set(svc.schema.picklist_values("Case", "Origin"))
    for source, value in sorted(cfg.origin_map.items()):
        if value not in origins:
            restricted = origin_meta.get("restrictedPicklist")
            item("picklist", "Case", "Origin", f"channel '{source}' gives Origin '{value}', which the picklist lacks"
                 + ("" if restricted else " (unrestricted: stored, but shown as an inactive value)"),
                 severity="block" if restricted else "info")
            if restricted:
                blocking.append(f"Case Origin has no value '{value}' (channel '{source}')")
    # Configuration checks.
    try:
        from .load_cases import record_type_ids

        record_type_ids(svc)
        svc.fallback_owner()
    except ConfigurationError as exc:
        blocking.append(str(exc))
        item("configuration", "-", "settings", str(exc), severity="block")
    if not knowledge:
        item("knowledge", cfg.knowledge_object, "Knowledge", "Salesforce Knowledge is not enabled: articles are "
             "listed in a report instead of loaded", severity="info", bypass="enable Lightning Knowledge to load them")
    limits = _safe(c.limits, {}, items, "API limits")
    daily = limits.get("DailyApiRequests") or {}
    informational = {"api_remaining": daily.get("Remaining"), "api_max": daily.get("Max"),
                     "auth": cfg.auth_mode, "bulk_threshold": cfg.bulk_threshold}
    significant = [i for i in items if i["severity"] != "info"]
    fingerprint = _fingerprint(items, plan, cfg.create_schema)
    md = _markdown(svc, items, blocking, missing, informational)
    return Preflight(markdown=md, items=items, fingerprint=fingerprint,
                     requires_acknowledgement=bool(significant), blocking_problems=blocking)


def _staged_emails(svc: Services, context: Any) -> int | None:
    """How many staged messages the load writes as EmailMessages; None when nothing is staged yet."""
    from .load_messages import category, conversation_channels

    staged = getattr(context, "staged", None)
    if not callable(staged):
        return None
    # Two streamed passes: a large thread store is not held in memory.
    conversations = {m.get("conversation_id") for m in staged("messages")}
    if not conversations:
        return None
    channels = conversation_channels(svc, context, list(conversations))
    return sum(category(m, channels.get(str(m.get("conversation_id")))) == "email" for m in staged("messages"))


def _fingerprint(items: list[dict[str, Any]], plan: list[Any], create_schema: bool) -> str:
    """What a person acknowledges: the findings and the schema plan as a whole. Which planned fields are
    still missing is left out: the migration creates them as it goes (the sample run creates some), and the
    report a person approved must not turn stale because of that."""
    # A side effect's size (e.g. how many emails are staged) changes with every delta; its presence is the finding.
    findings = sorted(({**i, "detail": i["name"]} if i["kind"] == "side_effect" else i
                       for i in items if i["kind"] != "schema"),
                      key=lambda i: (i["kind"], i["object"], i["name"], i["detail"]))
    document = {"findings": findings, "schema_plan": sorted(s.full_name for s in plan), "create_schema": create_schema}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _markdown(svc: Services, items: list[dict[str, Any]], blocking: list[str], missing: list[Any],
              info: dict[str, Any]) -> str:
    cfg = svc.cfg
    titles = {"validation_rule": "Validation rules", "workflow_rule": "Workflow rules", "flow": "Flows",
              "apex_trigger": "Apex triggers", "duplicate_rule": "Duplicate rules",
              "dependent_picklist": "Dependent picklists", "permission": "Permissions", "schema": "Schema plan",
              "picklist": "Picklist values", "configuration": "Configuration", "knowledge": "Knowledge",
              "side_effect": "Side effects of the load",
              "unreadable": "Not readable"}
    out = ["# Pre-flight: Salesforce Service Cloud", "",
           f"Org API allowance: {info['api_remaining']} of {info['api_max']} requests left today. Login: "
           f"{info['auth']}. Bulk API 2.0 from {info['bulk_threshold']} records per load.", ""]
    if blocking:
        out += ["## Blocking: fix these before loading", ""] + [f"- {b}" for b in blocking] + [""]
    for kind, title in titles.items():
        rows = [i for i in items if i["kind"] == kind]
        if not rows:
            continue
        out += [f"## {title}", "", "| object | name | what happens | severity | recommended bypass |",
                "|---|---|---|---|---|"]
        out += [f"| {r['object']} | {r['name']} | {r['detail']} | {r['severity']} | {r['bypass']} |" for r in rows]
        out.append("")
    if missing:
        out += ["## Fields to create", "", "The plan " + ("the migration will run through the Tooling API (with "
                "field-level security through the Helpdesk_Migration permission set):" if cfg.create_schema else
                "for the admin (or set SALESFORCE_CREATE_SCHEMA=true):"), "", plan_markdown(missing)]
    if not items:
        out.append("Nothing on the target objects would fire or refuse during the load.")
    return "\n".join(out).rstrip() + "\n"
