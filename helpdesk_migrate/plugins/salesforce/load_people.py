"""Agents -> existing Users (matched by email), teams -> Queues, contacts -> Contacts (+ their notes)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Any

from helpdesk_migrate.sdk import Change, LoadOutcome

from .base import Services, fail, from_write, lookup_many, ok, previous_ids
from .fieldmap import place_values
from .mapping import carry_email, clock, name_cuts, phone, sf_dt, split_name, valid_email
from .originals import ORIGINAL_VALUES, Originals, linked_changes
from .schema import FieldSpec, plan_fields, tag_field_spec
from .soql import like_prefix, quote
from .tags import tag_values

# Refusals a later run can get past (the write was not applied; the same content may go through then).
TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "BULK_NO_RESULT", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"})


# -- agents -----------------------------------------------------------------------------------------------


def load_agents(svc: Services, records: Sequence[dict[str, Any]], context: Any, book: dict[str, LoadOutcome]) -> None:
    """Match each agent to an existing User by email. Users are never created: an unmatched agent goes to
    the reconciliation queue (quarantined with the fix) for the admin to provision."""
    emails = {r["id"]: (valid_email(r.get("email")) or "").lower() for r in records}
    users: dict[str, list[dict[str, Any]]] = {}
    for u in svc.client.query_in("SELECT Id, Email, Username, IsActive, Name FROM User WHERE Email IN {values}",
                                 [e for e in emails.values() if e]):
        users.setdefault((u.get("Email") or "").lower(), []).append(u)
    for agent in records:
        sid = str(agent["id"])
        email = emails[sid]
        if not email:
            book[sid] = fail(sid, "invalid-email", f"agent {agent.get('name') or sid} has no valid email "
                             f"({agent.get('email')!r}), so no User can be matched",
                             "correct the agent's email in the source, or provision the User and map it by hand")
            svc.state.unmatched_agents[sid] = {"email": agent.get("email"), "name": agent.get("name"),
                                               "is_active": agent.get("is_active"), "reason": "invalid email"}
            continue
        candidates = users.get(email, [])
        if not candidates:
            state = "an inactive" if not agent.get("is_active") else "a"
            book[sid] = fail(sid, "user-not-provisioned", f"no Salesforce User has the email {email} "
                             f"(agent {agent.get('name') or sid}); added to the reconciliation queue",
                             f"provision {state} User with this email (IsActive = "
                             f"{'false' if not agent.get('is_active') else 'true'} keeps ownership history), then "
                             "re-run; or set SALESFORCE_FALLBACK_OWNER_ID for the records this agent owns")
            svc.state.unmatched_agents[sid] = {"email": email, "name": agent.get("name"),
                                               "is_active": agent.get("is_active"), "reason": "no User"}
            continue
        wanted_active = bool(agent.get("is_active", True))
        candidates.sort(key=lambda u: (bool(u.get("IsActive")) != wanted_active,
                                       (u.get("Username") or "").lower() != email, u["Id"]))
        user = candidates[0]
        note = None
        if bool(user.get("IsActive")) != wanted_active:
            note = (f"matched User {user['Id']} is {'active' if user.get('IsActive') else 'inactive'} while the agent "
                    f"is {'active' if wanted_active else 'inactive'}")
        svc.state.matched_agents[sid] = user["Id"]
        svc.state.unmatched_agents.pop(sid, None)
        book[sid] = ok(sid, "linked", "User", user["Id"], reason=note)


# -- teams --------------------------------------------------------------------------------------------------


def queue_name(svc: Services, team: dict[str, Any]) -> str:
    stem = re.sub(r"[^A-Za-z0-9]+", "_", team.get("name") or "").strip("_") or "Team"
    stem = re.sub(r"_+", "_", stem)
    return f"{svc.cfg.field_prefix}_{stem}"[:70].rstrip("_") + f"_{re.sub(r'[^A-Za-z0-9]', '', str(team['id']))[:9]}"


def load_teams(svc: Services, records: Sequence[dict[str, Any]], context: Any, book: dict[str, LoadOutcome]) -> None:
    """Teams become Queues for Cases: a Group (Type = 'Queue'), its QueueSobject for Case and a GroupMember
    per matched team member. A queue that already exists under the team's name is linked, not duplicated."""
    c = svc.client
    queues = c.query_all(f"SELECT Id, Name, DeveloperName FROM Group WHERE Type = 'Queue' AND "
                         f"(DeveloperName LIKE {like_prefix(svc.cfg.field_prefix + '_')} OR Name IN "
                         f"({', '.join(quote((t.get('name') or '')[:40]) for t in records)}))") if records else []
    by_dev = {q["DeveloperName"].lower(): q for q in queues}
    by_name = {}
    for q in queues:
        by_name.setdefault((q.get("Name") or "").lower(), q)
    member_ids = lookup_many(context, "agents", [m for t in records for m in t.get("member_ids") or []])
    plan: list[tuple[dict[str, Any], dict[str, Any] | None, str]] = []  # team, existing queue, how
    for team in records:
        dev = queue_name(svc, team)
        mine = by_dev.get(dev.lower())
        other = by_name.get((team.get("name") or "")[:40].lower())
        if mine is not None:
            plan.append((team, mine, "ours"))
        elif other is not None and not other["DeveloperName"].startswith(svc.cfg.field_prefix + "_"):
            plan.append((team, other, "theirs"))
        else:
            plan.append((team, None, "new"))
    new = [(str(t["id"]), {"Name": (t.get("name") or "Team")[:40], "DeveloperName": queue_name(svc, t),
                           "Type": "Queue", "DoesSendEmailToMembers": False}) for t, q, how in plan if how == "new"]
    created = svc.writer.insert("Group", new, match_on="DeveloperName") if new else {}
    queue_ids = {str(t["id"]): (q["Id"] if q else None) for t, q, _ in plan}
    for sid, res in created.items():
        if res.ok:
            queue_ids[sid] = res.id
        else:
            book[sid] = from_write(sid, res, "Group", "queue")
    ids = [qid for qid in queue_ids.values() if qid]
    supports = {r["QueueId"] for r in c.query_in("SELECT QueueId FROM QueueSobject WHERE SobjectType = 'Case' AND "
                                                 "QueueId IN {values}", ids)} if ids else set()
    members: dict[str, set[str]] = {}
    for r in (c.query_in("SELECT GroupId, UserOrGroupId FROM GroupMember WHERE GroupId IN {values}", ids) if ids else []):
        members.setdefault(r["GroupId"], set()).add(r["UserOrGroupId"])
    sobject_rows, member_rows = [], []
    for team, _, _ in plan:
        sid = str(team["id"])
        qid = queue_ids.get(sid)
        if not qid:
            continue
        if qid not in supports:
            sobject_rows.append((sid, {"QueueId": qid, "SobjectType": "Case"}))
        for m in team.get("member_ids") or []:
            user = member_ids.get(str(m))
            if user and user not in members.get(qid, set()):
                member_rows.append((f"{sid}|{user}", {"GroupId": qid, "UserOrGroupId": user}))
    # Setup objects: each type in its own request (no mixed DML).
    sobjects = svc.writer.insert("QueueSobject", sobject_rows, match_on="QueueId") if sobject_rows else {}
    added = svc.writer.insert("GroupMember", member_rows, match_on="UserOrGroupId") if member_rows else {}
    for team, existing, how in plan:
        sid = str(team["id"])
        if sid in book:
            continue
        qid = queue_ids[sid]
        extra = []
        problems = []
        res = sobjects.get(sid)
        if res is not None:
            if res.ok:
                extra.append(("QueueSobject", res.id))
            else:
                problems.append(f"Case support: {res.reason}")
        for key, mres in added.items():
            if key.startswith(sid + "|"):
                if mres.ok:
                    extra.append(("GroupMember", mres.id))
                else:
                    problems.append(f"member {key.split('|')[1]}: {mres.reason}")
        if res is not None and not res.ok:
            book[sid] = fail(sid, res.code or "QUEUE_SETUP", f"queue {qid} can't take Cases: {res.reason}",
                             obj="Group")
            continue
        unmatched = [m for m in team.get("member_ids") or [] if str(m) not in member_ids]
        note = "; ".join(problems + ([f"{len(unmatched)} member(s) have no Salesforce User"] if unmatched else [])) or None
        if how == "new":
            book[sid] = ok(sid, "created", "Group", qid, extra=extra, reason=note)
        elif how == "ours":
            changes = {}
            if existing and existing.get("Name") != (team.get("name") or "Team")[:40]:
                changes = {"Name": (team.get("name") or "Team")[:40]}
                res_u = svc.writer.update("Group", [(sid, {"Id": qid, **changes})]).get(sid)
                if res_u is not None and not res_u.ok:
                    book[sid] = from_write(sid, res_u, "Group", "queue rename")
                    continue
            action = "updated" if changes or extra else "unchanged"
            book[sid] = ok(sid, action, "Group", qid, extra=extra, reason=note,
                           before={"Name": existing.get("Name")} if changes and existing else None)
        elif extra:
            # An existing queue we had to give Case support or members: rollback removes only those.
            book[sid] = ok(sid, "updated", "Group", qid, extra=extra, before={}, reason=note)
        else:
            book[sid] = ok(sid, "linked", "Group", qid, reason=note)


# -- contacts -----------------------------------------------------------------------------------------------


def contact_specs(svc: Services, records: Sequence[dict[str, Any]]) -> list[FieldSpec]:
    specs = [s for s in plan_fields(svc.cfg, knowledge=False) if "contacts" in s.canonical]
    if not any(r.get("notes") for r in records):
        specs = [s for s in specs if s.object == "Contact"]
    return specs


def load_contacts(svc: Services, records: Sequence[dict[str, Any]], context: Any, book: dict[str, LoadOutcome]) -> None:
    cfg = svc.cfg
    svc.schema.ensure(contact_specs(svc, records), what="contacts")
    id_field = cfg.id_field
    fields = svc.client.fields("Contact")
    tags_field = tag_field_spec("contact", cfg.field_prefix).name
    plan = svc.field_plan("contacts", context)
    mapped: dict[str, dict[str, Any]] = {}
    emails: dict[str, str] = {}
    for rec in records:
        sid = str(rec["id"])
        kept = Originals("Contact", cfg.field(ORIGINAL_VALUES))
        carried = carry_email(rec.get("email"))
        if carried.rule:
            kept.keep(carried.rule, "email", rec.get("email"), carried.detail)
        email = carried.value
        first, last, placeholder = split_name(rec, cfg.placeholder_last_name)
        values: dict[str, Any] = {id_field: sid, "FirstName": first, "LastName": last, "Email": email,
                                  "Phone": phone(rec.get("phone")),
                                  cfg.field("Company"): (rec.get("company") or None) and rec["company"][:255]}
        tags = tag_values(svc, "Contact", tags_field, rec.get("tags") or [])
        if isinstance(tags, str):
            values[tags_field] = None
            kept.keep("value-not-carried", "tags", rec.get("tags"), f"tags: {tags}; left empty")
        else:
            values[tags_field] = ";".join(tags) or None
        for name, extend in place_values(plan, cfg, rec, values, fields, kept):
            problem = svc.picklist_problem("Contact", name, values[name], values, extend=extend)
            if problem:
                kept.keep("value-not-carried", f"Contact.{name}", values[name], f"{name}: {problem}; left empty")
                values[name] = None
        values[kept.field_name] = kept.text()
        if kept.changes:
            svc.state.changes.setdefault(("contacts", sid), []).extend(kept.changes)
        if placeholder:
            note = f"Last name unknown in the source; '{last}' is a placeholder."
            values["Description"] = f"{note}\n{values['Description']}" if values.get("Description") else note
            svc.state.note_change("contacts", sid, "name-placeholder", f"no name in the source: LastName is the "
                                  f"placeholder {last!r} (noted in the Description)")
        for cut in name_cuts(rec, cfg.placeholder_last_name):
            svc.state.note_change("contacts", sid, "text-truncated", cut)
        mapped[sid] = values
        if email:
            emails[sid] = email.lower()
    if not mapped:
        return
    # Contacts already in Salesforce: ours by external id, or someone else's with the same email.
    cols = ["Id", "Email", id_field, *sorted({k for v in mapped.values() for k in v} - {"Id"})]
    found_by_email: dict[str, list[dict[str, Any]]] = {}
    mine: dict[str, dict[str, Any]] = {}
    index = contact_index(svc) if len(records) >= INDEX_FROM else None
    if index is not None:
        for email in set(emails.values()):
            found_by_email[email] = list(index.get(email, []))
        ids = [r["Id"] for rows in found_by_email.values() for r in rows if r.get(id_field) in mapped]
        rows_by_id = svc.by_ids("Contact", ids, cols[1:]) if ids else {}
        for email, rows in found_by_email.items():
            found_by_email[email] = [rows_by_id.get(r["Id"], r) for r in rows]
    else:
        for r in svc.client.query_in(f"SELECT {', '.join(dict.fromkeys(cols))} FROM Contact WHERE Email IN "
                                     "{values}", sorted(set(emails.values()))):
            found_by_email.setdefault((r.get("Email") or "").lower(), []).append(r)
    for rows in found_by_email.values():
        for r in rows:
            if r.get(id_field) in mapped:
                mine[r[id_field]] = r
    known = previous_ids(context, "contacts", list(mapped), "Contact")
    missing_known = [k for k in mapped if k in known and k not in mine]
    for r in svc.by_ids("Contact", [known[k] for k in missing_known], [c for c in cols if c != "Id"]).values():
        if r.get(id_field) in mapped:
            mine[r[id_field]] = r
    to_write: list[tuple[str, dict[str, Any]]] = []
    before: dict[str, dict[str, Any]] = {}
    later_links: dict[str, str] = {}  # sid -> sid of the same-email contact created in this chunk
    first_with_email: dict[str, str] = {}
    for sid, values in mapped.items():
        if sid in mine:
            changes, old = svc.diff("Contact", mine[sid], values, skip=[id_field])
            if changes:
                to_write.append((sid, values))
                before[sid] = old
            else:
                book[sid] = ok(sid, "unchanged", "Contact", mine[sid]["Id"])
            continue
        email = emails.get(sid)
        others = [r for r in found_by_email.get(email or "", []) if r.get(id_field) != sid] if email else []
        if others:
            others.sort(key=lambda r: (bool(r.get(id_field)), r["Id"]))
            target = others[0]
            note = None
            if len(others) > 1:
                note = f"{len(others)} Contacts share {email}; linked to the oldest, {target['Id']}"
                svc.state.ambiguous_links.append({"contact": sid, "email": email, "linked": target["Id"],
                                                  "candidates": [o["Id"] for o in others]})
            svc.state.linked_contacts += 1
            book[sid] = ok(sid, "linked", "Contact", target["Id"], reason=note)
            continue
        if email and email in first_with_email:
            later_links[sid] = first_with_email[email]
            continue
        if email:
            first_with_email[email] = sid
        to_write.append((sid, values))
    results = svc.writer.upsert("Contact", id_field, to_write)
    for sid, res in results.items():
        if res.ok:
            # Not created and not known: ours from an interrupted run (only we write the external id).
            action = "created" if res.created else ("updated" if sid in before else "unchanged")
            book[sid] = ok(sid, action, "Contact", res.id, before=before.get(sid))
            if index is not None and res.created and emails.get(sid):
                index.setdefault(emails[sid], []).append({"Id": res.id, "Email": emails[sid], id_field: sid})
        elif res.code == "DUPLICATES_DETECTED" and res.duplicates:
            book[sid] = ok(sid, "linked", "Contact", res.duplicates[0],
                           reason=f"a duplicate rule matched {res.duplicates[0]}; linked to it")
        else:
            book[sid] = from_write(sid, res, "Contact", f"contact {sid}")
    for sid, first in later_links.items():
        target = book.get(first)
        if target is not None and target.destination_id and target.action != "failed":
            book[sid] = ok(sid, "linked", "Contact", target.destination_id,
                           reason=f"same email as contact {first}, loaded as one Salesforce Contact")
        else:
            book[sid] = fail(sid, "same-email", f"contact {sid} shares its email with contact {first}, which failed",
                             "fix the other contact, then re-run", obj="Contact")
            book[sid].caused_by = f"contacts/{first}"  # collateral of its twin
    for sid in mapped:
        outcome, key = book.get(sid), ("contacts", sid)
        if outcome is not None and outcome.action == "linked" and key in svc.state.changes:
            svc.state.changes[key] = linked_changes(svc.state.changes[key], cfg.field(ORIGINAL_VALUES))
    load_contact_notes(svc, records, context, book)


INDEX_FROM = 1000  # records in one load from which emails are matched against an index of the org's Contacts
INDEX_MAX = 2_000_000  # beyond this many Contacts the index would cost too much memory: look emails up instead


def contact_index(svc: Services) -> dict[str, list[dict[str, Any]]] | None:
    """Every Contact with an email, read once per connection with one Bulk API 2.0 query (a handful of
    requests however many there are), for loads too big to look emails up slice by slice."""
    cached = getattr(svc, "_contact_index", None)
    if cached is None:
        if svc.client.count("SELECT COUNT() FROM Contact WHERE Email != null") > INDEX_MAX:
            return None
        cached = {}
        idf = svc.id_field
        soql = f"SELECT Id, Email, {idf} FROM Contact WHERE Email != null"
        bulk = svc.client.bulk2_type("Contact")
        pages = svc.client.call(lambda: list(bulk.query(soql, wait=svc.cfg.bulk_poll_seconds)))
        for page in pages:
            for row in csv.DictReader(io.StringIO(page)):
                email = (row.get("Email") or "").lower()
                if email:
                    cached.setdefault(email, []).append({"Id": row["Id"], "Email": row["Email"],
                                                         idf: row.get(idf) or None})
        svc._contact_index = cached  # type: ignore[attr-defined]
    return cached


def load_contact_notes(svc: Services, records: Sequence[dict[str, Any]], context: Any,
                       book: dict[str, LoadOutcome]) -> None:
    """A contact's internal notes become completed Tasks on the Contact, with author and original time."""
    cfg = svc.cfg
    items: list[tuple[str, dict[str, Any]]] = []
    owner_of: dict[str, str] = {}
    bodies: dict[str, str] = {}
    audit = None
    authors = lookup_many(context, "agents", [n.get("author_id") for r in records for n in r.get("notes") or []])
    for rec in records:
        sid = str(rec["id"])
        outcome = book.get(sid)
        if outcome is None or outcome.action == "failed" or not outcome.destination_id:
            continue
        for note in rec.get("notes") or []:
            if not isinstance(note, dict) or not (note.get("body") or "").strip():
                continue
            if audit is None:
                audit = svc.audit_allowed("Task")
            key = f"contact-note-{note.get('id') or sid}"
            by = note.get("author_name") or "an agent"
            values = {cfg.id_field: key, "WhoId": outcome.destination_id, "Subject": f"Note by {by}"[:255],
                      "Description": f"[Internal note by {by} · {clock(note.get('created_at'))}]\n"
                                     f"{note['body']}"[:32000],
                      "Status": "Completed", "TaskSubtype": "Task", cfg.field("Created_At"): sf_dt(note.get("created_at")),
                      "ActivityDate": (note.get("created_at") or "")[:10] or None}
            if audit and note.get("created_at"):
                values["CreatedDate"] = sf_dt(note["created_at"])
            author = authors.get(str(note.get("author_id") or ""))
            if author:
                values["OwnerId"] = author
            items.append((key, values))
            owner_of[key] = sid
            bodies[key] = note["body"]
    if not items:
        return
    existing = svc.existing("Task", [k for k, _ in items])
    new = [it for it in items if it[0] not in existing]
    results = svc.insert_once("Task", new) if new else {}
    for key, sid in owner_of.items():
        outcome = book[sid]
        res = results.get(key)
        if res is None or (res.ok and not res.created):
            continue
        if res.ok:
            outcome.extra_ids.append(("Task", res.id))
            if outcome.action in ("linked", "unchanged") and outcome.destination_object == "Contact":
                # A note added to a record that was already there: rollback deletes the note only.
                if outcome.action == "linked":
                    outcome.action = "updated"
                    outcome.before_image = {}
        else:
            # Degrade, don't discard: the contact is in Salesforce and stays loaded (its conversations link to
            # it); the note is what was lost. Pending only when the refusal is transient (rows locked through
            # every retry): the next run re-sends the contact, finds the notes already there by their key and tries
            # this one again. A refusal of the note's content would be refused on every run: a change to the
            # contact at the source re-sends it instead.
            transient = res.code in TRANSIENT_CODES
            svc.state.changes.setdefault(("contacts", sid), []).append(Change(
                "note-not-carried", f"note {key} was refused: {res.reason}; "
                + ("the next run tries it again" if transient else "tried again when the contact changes"),
                field="notes", original=bodies[key], kept_in="the source archive", pending=transient))

