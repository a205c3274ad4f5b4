"""The destination connection the engine drives: load, count, rollback, checks and pre-flight."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError

from helpdesk_migrate.sdk import CheckFinding, LoadOutcome, Preflight

from .advice import assess, recommend
from .base import Services, fail
from .client import ApiBudgetExhausted, ApiLimitReached, SalesforceUnavailable, connect, error_message
from .fieldmap import describe_fields
from .load_cases import load_conversations
from .load_files import load_attachments
from .load_messages import load_messages
from .load_misc import load_articles, load_channels, load_custom_fields, load_tags
from .load_people import load_agents, load_contacts, load_teams
from .preflight import build_preflight
from .readback import fetch
from .settings import SalesforceConfig
from .soql import like_prefix

log = logging.getLogger("helpdesk_migrate.salesforce")
Loader = Callable[[Services, Sequence[dict[str, Any]], Any, dict[str, LoadOutcome]], None]
LOADERS: dict[str, Loader] = {
    "agents": load_agents, "teams": load_teams, "channels": load_channels, "tags": load_tags,
    "custom_fields": load_custom_fields, "contacts": load_contacts, "conversations": load_conversations,
    "messages": load_messages, "attachments": load_attachments, "articles": load_articles,
}
GONE = {"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID"}


class SalesforceConnection:
    def __init__(self, cfg: SalesforceConfig, *, session: requests.Session | None = None):
        self.cfg = cfg
        self.client = connect(cfg, session=session)
        self.svc = Services(self.client, cfg)

    # -- load -------------------------------------------------------------------------------------------

    def load(self, canonical: str, records: list[dict[str, Any]], *, context: Any) -> list[LoadOutcome]:
        ids = [str(r["id"]) for r in records]
        loader = LOADERS.get(canonical)
        if loader is None:
            return [LoadOutcome(sid, "skipped", reason=f"{canonical} are not loaded into Salesforce", rule="no-target")
                    for sid in ids]
        book: dict[str, LoadOutcome] = {}
        stop: tuple[str, str, str] | None = None
        try:
            loader(self.svc, records, context, book)
        except ApiBudgetExhausted as exc:
            stop = ("API_BUDGET", str(exc), "")
        except ApiLimitReached as exc:
            stop = ("REQUEST_LIMIT_EXCEEDED", str(exc), "")
        except SalesforceUnavailable as exc:
            stop = ("UNAVAILABLE", str(exc), "")
        except SalesforceError as exc:
            stop = ("SALESFORCE_ERROR", f"Salesforce refused a request of the {canonical} load: {error_message(exc)}",
                    "read Salesforce's message; fix the org or the configuration, then re-run")
        if stop is None and self.svc.writer.stopped:
            stop = (self.svc.writer.stopped_code or "STOPPED", self.svc.writer.stopped, "")
        if stop is not None:
            log.warning("salesforce %s load stopped: %s", canonical, stop[1])
        out = []
        for sid in ids:
            outcome = book.get(sid)
            if outcome is None:
                code, why, fix = stop or ("NO_OUTCOME", "the loader produced no outcome", "")
                outcome = fail(sid, code, f"not loaded: {why}", fix or None)
            noted = self.svc.state.changes.pop((canonical, sid), [])
            if outcome.action not in ("failed", "skipped"):
                outcome.changes = [*outcome.changes, *noted]
            out.append(outcome)
        self.svc.state.loaded.add(canonical)
        return out

    # -- count ------------------------------------------------------------------------------------------

    def count(self, canonical: str) -> int | None:
        c, cfg = self.client, self.cfg
        idf = cfg.id_field

        def has(obj: str) -> bool:
            return c.has_object(obj) and idf in c.fields(obj)

        def n(soql: str) -> int:
            return c.count(soql)

        if canonical == "teams":
            return n(f"SELECT COUNT() FROM Group WHERE Type = 'Queue' AND DeveloperName LIKE "
                     f"{like_prefix(cfg.field_prefix + '_')}")
        if canonical == "contacts":
            return n(f"SELECT COUNT() FROM Contact WHERE {idf} != null") if has("Contact") else 0
        if canonical == "conversations":
            return n(f"SELECT COUNT() FROM Case WHERE {idf} != null") if has("Case") else 0
        if canonical == "messages":
            total = n(f"SELECT COUNT() FROM EmailMessage WHERE {idf} != null") if has("EmailMessage") else 0
            if has("Task"):
                total += n(f"SELECT COUNT() FROM Task WHERE {idf} != null AND (NOT {idf} LIKE "
                           f"{like_prefix('contact-note-')})")
            if has("Case"):  # comment parts count one each
                total += n(f"SELECT COUNT() FROM CaseComment WHERE Parent.{idf} != null")
            return total
        if canonical == "attachments":
            return n(f"SELECT COUNT() FROM ContentVersion WHERE {idf} != null AND (NOT {idf} LIKE "
                     f"{like_prefix('message-body-')})") if has("ContentVersion") else 0
        if canonical == "articles":
            obj = cfg.knowledge_object
            return n(f"SELECT COUNT() FROM {obj} WHERE {idf} != null") if has(obj) else 0
        return None

    # -- rollback ---------------------------------------------------------------------------------------

    def rollback(self, canonical: str, entries: Sequence[dict[str, Any]], *, context: Any) -> list[str]:
        """Delete what was created (and the extra records created with it), restore before-images of
        updated records, never touch linked ones. Returns the source ids fully undone."""
        svc = self.svc
        needs: dict[str, list[tuple[str, str]]] = {}  # source id -> [(object, id)] to delete
        restores: list[tuple[str, str, str, dict[str, Any]]] = []
        for e in entries:
            sid, action = str(e["source_id"]), e.get("action")
            extras = [tuple(x) for x in e.get("extra_ids") or []]
            main = (e.get("destination_object") or "", e.get("destination_id") or "")
            if action == "linked" and not e.get("before_image") and not extras:
                continue
            todo = list(extras)
            if action in ("created", "unchanged") and main[1]:
                todo.append(main)
            elif action in ("updated", "linked") and e.get("before_image") and main[1] and "." not in main[0] \
                    and main[0] not in ("CustomField",):
                restores.append((sid, main[0], main[1], dict(e["before_image"])))
            needs[sid] = todo
        failed: set[str] = set()
        # Restore before-images.
        by_obj: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for sid, obj, rid, image in restores:
            values = {k: v for k, v in image.items() if not k.startswith("_")}
            if values:
                by_obj.setdefault(obj, []).append((sid, {"Id": rid, **values}))
        for obj, items in by_obj.items():
            for sid, res in svc.writer.update(obj, items).items():
                if not res.ok:
                    log.warning("rollback: could not restore %s %s: %s", obj, sid, res.reason)
                    failed.add(sid)
        # Picklist values and custom fields are schema, undone through the Tooling API.
        picklists: dict[str, list[tuple[str, str]]] = {}
        records: dict[str, list[str]] = {}
        for sid, todo in needs.items():
            for obj, rid in todo:
                if "." in obj:
                    picklists.setdefault(obj, []).append((sid, rid))
                elif obj == "CustomField":
                    try:
                        if rid.startswith("00N"):
                            self.client.tooling(f"sobjects/CustomField/{rid}", "DELETE", idempotent=False)
                    except SalesforceError as exc:
                        if "NOT_FOUND" not in error_message(exc):
                            log.warning("rollback: custom field %s not deleted: %s", rid, error_message(exc))
                            failed.add(sid)
                else:
                    records.setdefault(obj, []).append(rid)
        for full, pairs in picklists.items():
            obj, name = full.split(".", 1)
            try:
                svc.schema.remove_values(obj, name, [v for _, v in pairs])
            except SalesforceError as exc:
                log.warning("rollback: values of %s not removed: %s", full, error_message(exc))
                failed.update(s for s, _ in pairs)
        gone = self._delete(records)
        for sid, todo in needs.items():
            if any("." not in obj and obj != "CustomField" and rid not in gone for obj, rid in todo):
                failed.add(sid)
        return [str(e["source_id"]) for e in entries if str(e["source_id"]) in needs and str(e["source_id"])
                not in failed]

    def _delete(self, records: dict[str, list[str]]) -> set[str]:
        """Delete by object (children before parents); returns the ids that no longer exist."""
        svc, c = self.svc, self.client
        gone: set[str] = set()
        versions = records.pop("ContentVersion", [])
        if versions:  # a file is deleted through its ContentDocument
            docs = svc.by_ids("ContentVersion", versions, ["ContentDocumentId"])
            gone.update(v for v in versions if v not in docs)
            doc_of = {v: r["ContentDocumentId"] for v, r in docs.items()}
            deleted = self._delete({"ContentDocument": sorted(set(doc_of.values()))})
            gone.update(v for v, d in doc_of.items() if d in deleted)
        kav = self.cfg.knowledge_object
        if records.get(kav):
            for rid, rec in svc.by_ids(kav, records[kav], ["PublishStatus"]).items():
                if rec.get("PublishStatus") == "Online":
                    try:
                        c.restful(f"knowledgeManagement/articleVersions/masterVersions/{rid}", "PATCH",
                                  json={"publishStatus": "Archived"}, idempotent=False)
                    except SalesforceError as exc:
                        log.warning("rollback: article %s not archived: %s", rid, error_message(exc))
        if records.get("EmailMessage") and "ActivityId" in c.fields("EmailMessage"):
            # Enhanced Email's Task of each email goes first (recorded with the email's outcome, and looked up
            # here for emails recorded before the Tasks were).
            activity = [r.get("ActivityId") for r in svc.by_ids("EmailMessage", records["EmailMessage"],
                                                                 ["ActivityId"]).values()]
            records["Task"] = list(dict.fromkeys([*records.get("Task", []), *(a for a in activity if a)]))
        order = ["ContentDocumentLink", "Knowledge__DataCategorySelection", "CaseComment", "Task", "EmailMessage",
                 "GroupMember", "QueueSobject", kav, "ContentDocument", "Case", "Contact", "Group"]
        for obj in sorted(records, key=lambda o: order.index(o) if o in order else len(order)):
            ids = records[obj]
            for rid, res in svc.writer.delete(ids, obj).items():
                if res.ok or res.code in GONE:
                    gone.add(rid)
                else:
                    log.warning("rollback: %s %s not deleted: %s", obj, rid, res.reason)
        return gone

    # -- checks -----------------------------------------------------------------------------------------

    def evaluate_check(self, name: str, canonical: str, *, context: Any) -> CheckFinding:
        if name == "field_map":
            return _field_map(self, context, canonical)
        check = CHECKS.get(name)
        if check is None:
            return CheckFinding(False, f"unknown check {name!r}", "WARN")
        return check(self, context)

    def preflight(self, *, context: Any) -> Preflight | None:
        return build_preflight(self.svc, context)

    # -- optional methods the engine's lifecycle uses ------------------------------------------------------

    def describe_fields(self, canonical: str) -> list[dict[str, Any]] | None:
        """Contact/Case fields a person can choose a source for in the field map (see fieldmap.py)."""
        return describe_fields(self.client, self.cfg, canonical)

    def assess(self, scope: dict[str, Any]) -> list[dict[str, Any]]:
        """The Salesforce features the discovered scope needs, and whether this org has them."""
        return assess(self.svc, scope)

    def fetch(self, canonical: str, destination_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Cases and thread records read back for the sample spot-check, with ``_canonical`` values."""
        return fetch(self.svc, canonical, destination_ids)

    def recommend(self, workflow: dict[str, Any]) -> str:
        """The Salesforce equivalent of a source automation, for the inventory."""
        return recommend(workflow, tags_field=self.cfg.field("Tags"),
                         spam_status=self.cfg.status_map.get("spam", "Closed"))

    def close(self) -> None:
        self.client.session.close()


# -- checks -------------------------------------------------------------------------------------------------


def _owners_matched(conn: SalesforceConnection, context: Any) -> CheckFinding:
    state = conn.svc.state
    staged = getattr(context, "staged", None)
    owned: Counter[str] = Counter()
    agents: dict[str, dict[str, Any]] = {}
    if callable(staged):
        agents = {str(a["id"]): a for a in staged("agents")}
        matched = context.lookup("agents", list(agents)) if agents else {}
        unmatched = {sid: {"email": a.get("email"), "name": a.get("name"), "is_active": a.get("is_active")}
                     for sid, a in agents.items() if sid not in matched}
        owned.update(str(c["assignee_id"]) for c in staged("conversations")
                     if c.get("assignee_id") and str(c["assignee_id"]) in unmatched)
    else:
        unmatched = {sid: dict(v) for sid, v in state.unmatched_agents.items()}
    queue = [{"agent_id": sid, **info, "conversations_owned": owned.get(sid, 0),
              "action": f"provision {'an inactive' if not info.get('is_active', True) else 'a'} User with this email"}
             for sid, info in sorted(unmatched.items())]
    meta = {"reconciliation_queue": queue, "unmatched": len(queue), "matched": len(agents) - len(queue)
            if agents else len(state.matched_agents)}
    if not queue:
        return CheckFinding(True, "every agent matched a Salesforce User by email", "ERROR", meta)
    owning = [q for q in queue if q["conversations_owned"]]
    fallback = conn.cfg.fallback_owner
    if owning and not fallback:
        return CheckFinding(False, f"{len(owning)} agent(s) without a Salesforce User own "
                            f"{sum(q['conversations_owned'] for q in owning)} conversation(s): provision them (the "
                            "reconciliation queue lists them) or set SALESFORCE_FALLBACK_OWNER_ID", "ERROR", meta)
    if owning:
        return CheckFinding(False, f"{len(owning)} agent(s) without a Salesforce User: their conversations go to the "
                            "fallback owner; provision them to keep ownership history", "WARN", meta)
    return CheckFinding(True, f"{len(queue)} agent(s) have no Salesforce User but own no conversations (reconciliation "
                        "queue in the metadata)", "WARN", meta)


def _audit_fields(conn: SalesforceConnection, context: Any) -> CheckFinding:
    if conn.svc.audit_allowed("Case"):
        if conn.svc.createable("Case", "ClosedDate"):
            return CheckFinding(True, "original CreatedDate/ClosedDate were written through audit fields", "WARN")
        return CheckFinding(True, "original CreatedDate was written through audit fields; ClosedDate is not "
                            "createable in Salesforce, so closed Cases show the load time there and the original "
                            f"close time is in {conn.cfg.field('Closed_At')} (change closed-date-not-settable)",
                            "WARN")
    return CheckFinding(False, "the migration user lacks 'Set Audit Fields upon Record Creation': Cases carry the "
                        f"load time as CreatedDate; the original times are in {conn.cfg.field('Created_At')} and "
                        f"{conn.cfg.field('Closed_At')}", "WARN")


def _bodies_and_images(conn: SalesforceConnection, context: Any) -> CheckFinding:
    s = conn.svc.state
    meta = {"truncated": s.truncated[:200], "unresolved_images": s.unresolved_images[:200],
            "inline_images_moved": len(s.inline_images), "email_activity_tasks": s.email_tasks}
    # Enhanced Email's side effect, said in every outcome: the Tasks are real records on the Cases' timelines.
    tasks = (f"; Enhanced Email created {s.email_tasks} activity Task(s) ('Email: <subject>', dated at load time) "
             "for the emails loaded" if s.email_tasks else "")
    if s.unresolved_images:
        return CheckFinding(False, f"{len(s.unresolved_images)} inline image reference(s) could not be moved and were "
                            f"removed from the email HTML (listed){tasks}", "WARN", meta)
    if s.truncated:
        return CheckFinding(True, f"{len(s.truncated)} body/bodies exceeded the limit: cut, flagged and attached in "
                            f"full{tasks}", "WARN", meta)
    return CheckFinding(True, f"no body truncated; {len(s.inline_images)} inline image(s) moved to files{tasks}", "WARN",
                        meta)


def _knowledge_enabled(conn: SalesforceConnection, context: Any) -> CheckFinding:
    s = conn.svc.state
    meta = {"articles_not_loaded": s.knowledge_inventory[:500], "uncategorized": s.uncategorized_articles[:500]}
    if not conn.svc.schema.knowledge_enabled():
        return CheckFinding(False, "Salesforce Knowledge is not enabled: articles are listed in this report instead",
                            "WARN", meta)
    if s.uncategorized_articles:
        return CheckFinding(True, f"{len(s.uncategorized_articles)} article(s) have a category with no matching data "
                            "category (listed)", "WARN", meta)
    return CheckFinding(True, "articles loaded into Knowledge", "WARN", meta)


def _channel_inventory(conn: SalesforceConnection, context: Any) -> CheckFinding:
    inventory = conn.svc.state.channel_inventory
    return CheckFinding(not inventory, f"{len(inventory)} channel(s) to set up in Salesforce (inventory in the "
                        "metadata)" if inventory else "no channels", "WARN", {"channels": inventory})


def _email_links(conn: SalesforceConnection, context: Any) -> CheckFinding:
    s = conn.svc.state
    meta = {"linked_to_existing": s.linked_contacts, "ambiguous": s.ambiguous_links[:500]}
    if s.ambiguous_links:
        return CheckFinding(False, f"{len(s.ambiguous_links)} contact(s) matched several Salesforce Contacts by email "
                            "and were linked to the oldest (listed)", "WARN", meta)
    return CheckFinding(True, f"{s.linked_contacts} contact(s) linked to existing Salesforce Contacts by email", "WARN",
                        meta)


def _field_map(conn: SalesforceConnection, context: Any, canonical: str) -> CheckFinding:
    summary = conn.svc.state.field_maps.get(canonical)
    if summary is None:
        return CheckFinding(True, f"no {canonical} were loaded by this connection", "WARN")
    if not summary["confirmed_map"]:
        return CheckFinding(True, "no confirmed field map was given: the plugin's default placement applies", "WARN",
                            summary)
    skipped = summary["not_applied"]
    if skipped:
        return CheckFinding(False, f"{len(skipped)} field-map entr{'y was' if len(skipped) == 1 else 'ies were'} not "
                            f"applied to {summary['object']} (each with the reason); {len(summary['applied'])} "
                            "changed the default placement", "WARN", summary)
    return CheckFinding(True, f"the confirmed field map applied to {summary['object']}: {len(summary['applied'])} "
                        "change(s) to the default placement", "WARN", summary)


CHECKS: dict[str, Callable[[SalesforceConnection, Any], CheckFinding]] = {

    "owners_matched": _owners_matched, "audit_fields": _audit_fields, "bodies_and_images": _bodies_and_images,
    "knowledge_enabled": _knowledge_enabled, "channel_inventory": _channel_inventory, "email_links": _email_links,
}
