"""Conversations -> Cases.

With the 'Set Audit Fields upon Record Creation' permission (describe shows CreatedDate createable),
Cases are inserted with their original CreatedDate and ClosedDate; such inserts cannot be upserts, so a
re-run finds them by external id first and only updates what may change. Without it, Cases are upserted
by external id and the original times live in the <prefix>_Created_At__c / _Closed_At__c fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from helpdesk_migrate.sdk import Change, ConfigurationError, LoadOutcome

from .base import Services, fail, from_write, lookup_many, ok, previous_ids
from .fieldmap import FieldPlan, place_values
from .mapping import carry_email, sf_dt
from .originals import ORIGINAL_VALUES, Originals
from .schema import plan_fields, tag_field_spec
from .soql import quote
from .tags import tag_values

INSERT_ONLY = ("CreatedDate", "ClosedDate", "CreatedById")
CLOSED = ("closed", "spam")
SUPPLIED_LENGTH = 80  # Case.SuppliedEmail and SuppliedName
PERSON_KEYS = ("email", "name", "first_name", "last_name")


def record_type_ids(svc: Services) -> dict[str, str]:
    """SALESFORCE_RECORD_TYPES (channel type -> DeveloperName or id) resolved to record type ids."""
    wanted = svc.cfg.record_types
    if not wanted:
        return {}
    cache = getattr(svc, "_record_types", None)
    if cache is None:
        rows = svc.client.query_all(f"SELECT Id, DeveloperName, IsActive FROM RecordType WHERE SobjectType = "
                                    f"{quote('Case')}")
        known = {r["DeveloperName"]: r["Id"] for r in rows if r.get("IsActive", True)}
        known.update({r["Id"]: r["Id"] for r in rows if r.get("IsActive", True)})
        cache = {}
        for channel, name in wanted.items():
            rid = known.get(name) or known.get(name[:15])
            if rid is None:
                raise ConfigurationError(f"SALESFORCE_RECORD_TYPES maps '{channel}' to '{name}', which is no active "
                                         "Case record type in this org")
            cache[channel.lower()] = rid
        svc._record_types = cache  # type: ignore[attr-defined]
    return cache


def case_values(svc: Services, rec: dict[str, Any], *, owner: str | None, contact: str | None, audit: bool,
                closed_ok: bool, fields: dict[str, Any], record_types: dict[str, str],
                plan: FieldPlan | None = None, originals: Originals | None = None) -> dict[str, Any] | str:
    """The Case for one conversation, or a string saying why it can't be mapped. Custom values that can't go
    as they are degrade into ``originals`` (see originals.py) instead of costing the Case."""
    cfg = svc.cfg
    kept = originals if originals is not None else Originals("Case", cfg.field(ORIGINAL_VALUES))
    plan = plan or FieldPlan("Case", False)
    status = cfg.status_map.get((rec.get("status") or "").lower())
    if not status:
        return f"status '{rec.get('status')}' has no Case Status in SALESFORCE_STATUS_MAP"
    raw_priority = str(rec.get("priority") or "").strip().lower()
    priority = cfg.priority_map.get(raw_priority) if raw_priority else None
    if raw_priority and priority is None and "Priority" not in plan.suppressed:
        kept.keep("value-not-carried", "priority", rec.get("priority"), f"priority {rec.get('priority')!r} has no "
                  "Case Priority in SALESFORCE_PRIORITY_MAP; the org's default priority applies")
    channel = (rec.get("channel_type") or "").lower()
    values: dict[str, Any] = {
        cfg.id_field: str(rec["id"]), "Subject": ((rec.get("subject") or "").strip()[:255]) or None,
        "Status": status, "Origin": cfg.origin_map.get(channel) if channel else None,
        "ContactId": contact, cfg.field("Channel"): channel[:80] or None,
        cfg.field("Created_At"): sf_dt(rec.get("created_at")), cfg.field("Last_Activity_At"): sf_dt(rec.get("last_activity_at")),
        cfg.field("Closed_At"): sf_dt(rec.get("closed_at")), cfg.field("Message_Count"): rec.get("message_count"),
        cfg.field("First_Response_Seconds"): rec.get("first_response_seconds"),
    }
    if priority:  # otherwise the org's default priority stands, and a re-run leaves it alone
        values["Priority"] = priority
    if owner:
        values["OwnerId"] = owner
    if channel in record_types:
        values["RecordTypeId"] = record_types[channel]
    tags_field = tag_field_spec("conversation", cfg.field_prefix).name
    tags = tag_values(svc, "Case", tags_field, rec.get("tags") or [])
    if isinstance(tags, str):
        values[tags_field] = None
        kept.keep("value-not-carried", "tags", rec.get("tags"), f"tags: {tags}; left empty")
    else:
        values[tags_field] = ";".join(tags) or None
    placed = place_values(plan, cfg, rec, values, fields, kept)
    why = svc.picklist_problem("Case", "Status", values.get("Status"), values)
    if why:
        return why  # required: a Case can't exist without one (the pre-flight lists unmapped statuses)
    for name, extend in [("Priority", True), ("Origin", True), *placed]:
        why = svc.picklist_problem("Case", name, values.get(name), values, extend=extend)
        if why:
            kept.keep("value-not-carried", f"Case.{name}", values[name], f"{name}: {why}; left empty")
            values[name] = None
            if name == "Priority":
                del values[name]  # the org's default priority applies, and a re-run leaves it alone
    values[kept.field_name] = kept.text()
    if audit and rec.get("created_at"):
        values["CreatedDate"] = sf_dt(rec["created_at"])
    if rec.get("closed_at") and (rec.get("status") or "").lower() in CLOSED:
        if audit and closed_ok:
            values["ClosedDate"] = sf_dt(rec["closed_at"])
        else:
            _note_closed_date_kept(svc, rec, audit=audit)
    return values


def _note_closed_date_kept(svc: Services, rec: dict[str, Any], *, audit: bool) -> None:
    """Salesforce stamps ClosedDate itself when the Case is saved closed (a real org's describe says not
    createable, audit permission or not): the original close time lives in <prefix>_Closed_At__c."""
    kept = svc.cfg.field("Closed_At")
    why = "the migration user lacks 'Set Audit Fields upon Record Creation'" if not audit else \
        "Case.ClosedDate is not createable in this org (Salesforce sets it when the Case is saved closed)"
    svc.state.note_change("conversations", str(rec["id"]), "closed-date-not-settable",
                          f"{why}: ClosedDate shows the load time; the original close time is kept in {kept}",
                          field="ClosedDate", original=str(rec["closed_at"]), kept_in=f"Case.{kept}")


def load_conversations(svc: Services, records: Sequence[dict[str, Any]], context: Any,
                       book: dict[str, LoadOutcome]) -> None:
    cfg = svc.cfg
    svc.schema.ensure([s for s in plan_fields(cfg, knowledge=False) if s.object == "Case"], what="conversations")
    fields = svc.client.fields("Case")
    audit = svc.audit_allowed("Case")
    closed_ok = svc.createable("Case", "ClosedDate")
    record_types = record_type_ids(svc)
    plan = svc.field_plan("conversations", context)
    contacts = lookup_many(context, "contacts", [r.get("contact_id") for r in records])
    agents = lookup_many(context, "agents", [r.get("assignee_id") for r in records])
    teams = lookup_many(context, "teams", [r.get("team_id") for r in records])
    fallback = svc.fallback_owner()
    owners: dict[str, str | None] = {}
    for rec in records:
        sid = str(rec["id"])
        assignee, team = rec.get("assignee_id"), rec.get("team_id")
        if assignee:
            user = agents.get(str(assignee))
            if user is None and fallback is None:
                book[sid] = fail(sid, "owner-unmatched", f"conversation {sid} is assigned to agent {assignee}, who has "
                                 "no Salesforce User (see the agents reconciliation queue)",
                                 "provision the User and re-run the agents load, or set SALESFORCE_FALLBACK_OWNER_ID",
                                 obj="Case")
                continue
            if user is None:
                svc.state.fallback_owned.append(sid)
                svc.state.note_change("conversations", sid, "owner-fallback", f"agent {assignee} has no Salesforce "
                                      "User: owned by the fallback owner (SALESFORCE_FALLBACK_OWNER_ID)")
            owners[sid] = user or fallback
        else:
            owners[sid] = teams.get(str(team)) if team else None
            owners[sid] = owners[sid] or fallback
    user_owners = [o for o in owners.values() if o and o.startswith("005")]
    if user_owners and not svc.inactive_owner_allowed():
        active = svc.users_active(user_owners)
        for sid, owner in list(owners.items()):
            if owner and not active.get(owner, True):
                if fallback:
                    owners[sid] = fallback
                    svc.state.fallback_owned.append(sid)
                    svc.state.note_change("conversations", sid, "owner-fallback", f"its agent's User {owner} is "
                                          "inactive: owned by the fallback owner (SALESFORCE_FALLBACK_OWNER_ID)")
                else:
                    del owners[sid]
                    book[sid] = fail(sid, "INACTIVE_OWNER_OR_USER", f"conversation {sid}'s agent maps to inactive User "
                                     f"{owner}, and the migration user may not assign records to inactive owners",
                                     obj="Case")
    mapped: dict[str, dict[str, Any]] = {}
    for rec in records:
        sid = str(rec["id"])
        if sid in book:
            continue
        contact = contacts.get(str(rec["contact_id"])) if rec.get("contact_id") else None
        kept = Originals("Case", cfg.field(ORIGINAL_VALUES))
        supplied: dict[str, Any] = {}
        if rec.get("contact_id") and contact is None:
            supplied = unlinked_contact(svc, context, str(rec["contact_id"]), kept)
        values = case_values(svc, rec, owner=owners.get(sid), contact=contact, audit=audit, closed_ok=closed_ok,
                             fields=fields, record_types=record_types, plan=plan, originals=kept)
        if isinstance(values, str):
            book[sid] = fail(sid, "field-mapping", f"conversation {sid}: {values}",
                             "correct the value in the source, or map it (SALESFORCE_STATUS_MAP / _PRIORITY_MAP, the "
                             "field map, or the picklist in Setup), then re-run", obj="Case")
            continue
        values.update(supplied)
        if kept.changes:
            svc.state.changes.setdefault(("conversations", sid), []).extend(kept.changes)
        mapped[sid] = values
    if not mapped:
        return
    known = previous_ids(context, "conversations", list(mapped), "Case")
    if audit:
        found = svc.existing("Case", [s for s in mapped if s not in known])
        known.update({k: r["Id"] for k, r in found.items()})
    compare_fields = sorted({k for v in mapped.values() for k in v} - set(INSERT_ONLY))
    current = svc.by_ids("Case", list(known.values()), compare_fields) if known else {}
    updates: list[tuple[str, dict[str, Any]]] = []
    before: dict[str, dict[str, Any]] = {}
    fresh: list[tuple[str, dict[str, Any]]] = []
    for sid, values in mapped.items():
        existing_id = known.get(sid)
        if existing_id and existing_id in current:
            changes, old = svc.diff("Case", current[existing_id], values, skip=[*INSERT_ONLY, cfg.id_field])
            if changes:
                updates.append((sid, {"Id": existing_id, **changes}))
                before[sid] = old
            else:
                book[sid] = ok(sid, "unchanged", "Case", existing_id)
        else:
            fresh.append((sid, values))
    if audit:
        results = svc.insert_once("Case", fresh)
        for sid, res in results.items():
            if res.ok:
                book[sid] = ok(sid, "created" if res.created else "unchanged", "Case", res.id)
            else:
                book[sid] = from_write(sid, res, "Case", f"conversation {sid}")
    else:
        results = svc.writer.upsert("Case", cfg.id_field, [(s, {k: v for k, v in v_.items() if k not in INSERT_ONLY})
                                                            for s, v_ in fresh])
        for sid, res in results.items():
            # created False without an id-map row: ours, left by an interrupted run.
            book[sid] = ok(sid, "created" if res.created else "unchanged", "Case", res.id) if res.ok else \
                from_write(sid, res, "Case", f"conversation {sid}")
    for sid, res in svc.writer.update("Case", updates).items():
        book[sid] = ok(sid, "updated", "Case", res.id or known[sid], before=before[sid]) if res.ok else \
            from_write(sid, res, "Case", f"update of conversation {sid}")


def staged_people(svc: Services, context: Any) -> dict[str, dict[str, Any]]:
    """The source's contacts (id -> the staged record), read once per run: a Case whose contact is not in
    Salesforce still says who wrote in."""
    run = getattr(context, "run_id", None)
    cached = getattr(svc, "_staged_people", None)
    if cached is None or cached[0] != run:
        reader = getattr(context, "staged", None)
        # Only what a Case can carry of them (a workspace may stage hundreds of thousands of contacts).
        people = {str(c["id"]): {k: c.get(k) for k in PERSON_KEYS} for c in reader("contacts")} \
            if callable(reader) else {}
        cached = (run, people)
        svc._staged_people = cached  # type: ignore[attr-defined]
    return cached[1]


def unlinked_contact(svc: Services, context: Any, contact_id: str, kept: Originals) -> dict[str, Any]:
    """A conversation whose contact is not in Salesforce loads anyway: without ContactId, with who wrote in as
    the Case's SuppliedEmail/SuppliedName (from the staged contact), and a pending change, so the next run
    links it once the contact is there. Returns the Supplied* values."""
    person = staged_people(svc, context).get(contact_id)
    source = str(getattr(context, "source", "") or "the source")
    if person is None:
        # Nothing to supply: the source never delivered the contact. The id stays on the Case, for a person to
        # re-link the conversation in the source; that changes the conversation, so the next run re-sends it
        # anyway. Not pending: re-sending it on every run could never complete the link.
        kept.keep("contact-unlinked", "ContactId", contact_id, f"contact {contact_id} is not in the {source} extract "
                  "(deleted or merged in the source, or hidden from its API token): loaded without a contact",
                  label="contact (not in the source)")
        return {}
    name = " ".join(p for p in ((person.get("first_name") or "").strip(), (person.get("last_name") or "").strip())
                    if p) or (person.get("name") or "").strip()
    email = carry_email(person.get("email")).value
    supplied = {"SuppliedEmail": email if email and len(email) <= SUPPLIED_LENGTH else None,
                "SuppliedName": name[:SUPPLIED_LENGTH] or None}
    kept.note(Change("contact-unlinked", f"contact {contact_id} is not in Salesforce (see its own entry): loaded "
                     "without ContactId, its email and name in SuppliedEmail/SuppliedName; the next run links it",
                     field="ContactId", original=contact_id, kept_in="Case.SuppliedEmail/SuppliedName", pending=True,
                     waits_for=f"contacts/{contact_id}"))
    return supplied
