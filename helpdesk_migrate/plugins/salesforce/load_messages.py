"""Messages -> EmailMessage (email channel), CaseComment (internal notes, and by default other channels'
messages) or a completed Task (call logs, subtype Call; optionally other channels' messages).

EmailMessage is read-only once sent and CaseComment has no custom fields, so both are insert-only: a
re-run finds EmailMessages by external id and CaseComments by the reference in their attribution header
(``[Internal note by Jane · 2024-01-02 10:24 UTC · acme message 123 · part 1/2]``), and creates only
what is missing. Comment bodies are split at 4,000 bytes. Email bodies over the limit are cut, flagged in
<prefix>_Body_Truncated__c, and attached in full as a file. Inline images are uploaded as files before the
email is written, and its HTML points at them, so no image points back at the source.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from helpdesk_migrate.sdk import LoadOutcome

from .base import Services, fail, from_write, lookup_many, ok, previous_ids, skip
from .load_files import is_external_image, link_documents, read_file, version_values
from .mapping import (
    address,
    address_list,
    clock,
    duration,
    image_sources,
    message_text,
    rewrite_images,
    sf_dt,
    split_bytes,
    truncate,
)
from .schema import plan_fields

HEADER_RE = re.compile(r"^\[(?P<label>.*) · (?P<source>[\w.-]+) message (?P<id>[^\s\]·]+)"
                       r"(?: · part (?P<i>\d+)/(?P<n>\d+))?\]")
COMMENT_LIMIT = 4000
FILE_URL = "/sfc/servlet.shepherd/version/download/{}"


def category(msg: dict[str, Any], channel_type: str | None = None) -> str:
    """note, call, email or other. ``channel_type`` is the conversation's: a helpdesk may label the messages
    of an email thread body_type 'text' (plain-text mails), and they are still emails."""
    if msg.get("kind") == "note":
        return "note"
    body_type = (msg.get("body_type") or "").lower()
    if body_type in ("call_log", "call") or msg.get("call_duration_seconds") is not None:
        return "call"
    if body_type == "email" or (channel_type or "").lower() == "email":
        return "email"
    return "other"


def conversation_channels(svc: Services, context: Any, conversation_ids: Sequence[Any]) -> dict[str, str]:
    """channel_type of each conversation, from the staged conversations: read once per run (a pre-flight may
    look before this run's conversations are staged), and again within the run when a conversation asked for
    is neither known nor already known to be missing (one re-read for a conversation never staged, not one
    per chunk)."""
    wanted = {str(c) for c in conversation_ids if c is not None}
    run = getattr(context, "run_id", None)
    held = getattr(svc, "_conversation_channels", None)
    cached, missing = (held[1], held[2]) if held is not None and held[0] == run else (None, set())
    if cached is None or wanted - cached.keys() - missing:
        cached = {}
        staged = getattr(context, "staged", None)
        if callable(staged):
            for conv in staged("conversations"):
                cached[str(conv["id"])] = str(conv.get("channel_type") or "")
        missing = (missing | wanted) - cached.keys()
        svc._conversation_channels = (run, cached, missing)  # type: ignore[attr-defined]
    return {c: cached[c] for c in wanted if cached.get(c)}


def enhanced_email(svc: Services) -> bool:
    """Is Enhanced Email on? EmailMessage.RelatedToId comes with it (object reference); without it the org
    creates no Task per email. Unsure either way, the answer errs towards 'Tasks will be created'."""
    return not svc.client.has_object("EmailMessage") or "RelatedToId" in svc.client.fields("EmailMessage")


def author(msg: dict[str, Any]) -> str:
    name = msg.get("author_name") or msg.get("author_email")
    if name:
        return str(name)
    return {"contact": "the customer", "system": "the system"}.get(msg.get("author_type") or "", "an agent")


def label(msg: dict[str, Any]) -> str:
    kind = msg.get("kind")
    channel = f" ({msg['body_type']})" if msg.get("body_type") and msg["body_type"] not in ("text", "email") else ""
    if kind == "note":
        return f"Internal note by {author(msg)}"
    if kind == "inbound":
        return f"Message from {author(msg)}{channel}"
    return f"Reply by {author(msg)}{channel}"


def comment_parts(msg: dict[str, Any], source: str) -> list[str]:
    text = message_text(msg) or "(empty message)"
    head = label(msg).replace("[", "(").replace("]", ")")
    when = clock(msg.get("created_at"))

    def header(i: int, n: int) -> str:
        part = f" · part {i}/{n}" if n > 1 else ""
        return f"[{head} · {when} · {source} message {msg['id']}{part}]\n"

    return split_bytes(text, header, COMMENT_LIMIT)


def parse_header(body: str | None) -> tuple[str, str, int] | None:
    m = HEADER_RE.match(body or "")
    if not m:
        return None
    return m.group("source"), m.group("id"), int(m.group("i") or 1)


def load_messages(svc: Services, records: Sequence[dict[str, Any]], context: Any, book: dict[str, LoadOutcome]) -> None:
    cfg = svc.cfg
    groups: dict[str, list[dict[str, Any]]] = {"email": [], "comment": [], "task": []}
    channels = conversation_channels(svc, context, [m.get("conversation_id") for m in records])
    for msg in records:
        kind = category(msg, channels.get(str(msg.get("conversation_id"))))
        if kind == "other":
            if cfg.non_email_messages == "skip":
                sid = str(msg["id"])
                book[sid] = skip(sid, "a non-email channel message; SALESFORCE_NON_EMAIL_MESSAGES=skip leaves these "
                                 "out", rule="non-email-message", fix="set SALESFORCE_NON_EMAIL_MESSAGES=comment or "
                                 "task and re-run to load them")
                continue
            kind = cfg.non_email_messages
        groups[{"note": "comment", "call": "task"}.get(kind, kind)].append(msg)
    needed = {"email": "EmailMessage", "task": "Task"}
    objects = {needed[g] for g, msgs in groups.items() if msgs and g in needed}
    if groups["email"]:
        objects.add("ContentVersion")
    specs = [s for s in plan_fields(cfg, knowledge=False) if s.object in objects]
    svc.schema.ensure(specs, what="messages")
    cases = lookup_many(context, "conversations", [m.get("conversation_id") for m in records])
    agents = lookup_many(context, "agents", [m.get("author_id") for m in records if m.get("author_type") == "agent"])
    for group, msgs in groups.items():
        ready = []
        for msg in msgs:
            sid = str(msg["id"])
            if str(msg.get("conversation_id")) not in cases:
                book[sid] = fail(sid, "parent-missing", f"message {sid}: its conversation {msg.get('conversation_id')} "
                                 "is not in Salesforce (quarantined or not loaded yet)",
                                 "fix and load the conversation, then re-run")
                book[sid].caused_by = f"conversations/{msg.get('conversation_id')}"  # collateral of its parent
            else:
                ready.append(msg)
        if not ready:
            continue
        if group == "email":
            _emails(svc, ready, context, cases, agents, book)
        elif group == "comment":
            _comments(svc, ready, context, cases, agents, book)
        else:
            _tasks(svc, ready, context, cases, agents, book)


# -- EmailMessage ----------------------------------------------------------------------------------------


def _emails(svc: Services, msgs: list[dict[str, Any]], context: Any, cases: dict[str, str], agents: dict[str, str],
            book: dict[str, LoadOutcome]) -> None:
    sids = [str(m["id"]) for m in msgs]
    known = previous_ids(context, "messages", sids, "EmailMessage")
    for sid, eid in known.items():
        book[sid] = ok(sid, "unchanged", "EmailMessage", eid)
    todo = [m for m in msgs if str(m["id"]) not in known]
    if not todo:
        return
    # An email already in the org but not in the id map was written by a run that died before finishing it:
    # it is not sent again, but its follow-up work (image links, full body) still runs, and only does what
    # is missing.
    found = {k: r["Id"] for k, r in svc.existing("EmailMessage", [str(m["id"]) for m in todo]).items()}
    for sid, eid in found.items():
        book[sid] = ok(sid, "unchanged", "EmailMessage", eid)
    images = _inline_images(svc, todo, context, cases)
    items = [(str(m["id"]), _email_values(svc, m, images, cases, agents)) for m in todo]
    full_bodies = {sid: _full_body(svc, m) for m, (sid, values) in zip(todo, items, strict=True)
                   if values[svc.cfg.field("Body_Truncated")]}
    written = dict(found)
    for sid, res in svc.insert_once("EmailMessage", [it for it in items if it[0] not in found]).items():
        if not res.ok:
            book[sid] = from_write(sid, res, "EmailMessage", f"email {sid}")
            continue
        book[sid] = ok(sid, "created" if res.created else "unchanged", "EmailMessage", res.id)
        written[sid] = res.id
    _note_activity_tasks(svc, {sid: eid for sid, eid in written.items() if book[sid].action == "created"}, book)
    _link_inline_images(svc, written, images, book)
    _attach_full_bodies(svc, {sid: full_bodies[sid] for sid in written if sid in full_bodies}, written, book)


def _note_activity_tasks(svc: Services, created: dict[str, str], book: dict[str, LoadOutcome]) -> None:
    """With Enhanced Email, Salesforce created a Task (dated today, 'Email: <subject>') for each email: count
    them, and keep each with its email's outcome so a rollback removes it too."""
    if not created or "ActivityId" not in svc.client.fields("EmailMessage"):
        return
    source_of = {eid: sid for sid, eid in created.items()}
    for eid, rec in svc.by_ids("EmailMessage", list(created.values()), ["ActivityId"]).items():
        task = rec.get("ActivityId")
        sid = source_of.get(eid)
        if task and sid is not None:
            book[sid].extra_ids.append(("Task", task))
            svc.state.email_tasks += 1


def _email_values(svc: Services, msg: dict[str, Any], images: dict[str, tuple[str | None, list[str]]],
                  cases: dict[str, str], agents: dict[str, str]) -> dict[str, Any]:
    cfg = svc.cfg
    sid = str(msg["id"])
    limit = cfg.email_body_limit
    html, _ = images.get(sid, (msg.get("body_html"), []))
    marker = f"\n[truncated at {limit} characters: the full body is attached as message-{sid}.html]"
    html_cut, html_trunc = truncate(html, limit, marker)
    text_cut, text_trunc = truncate(message_text(msg), limit, marker)
    name, from_addr = address(msg.get("from_address") or msg.get("author_email"))
    values: dict[str, Any] = {
        cfg.id_field: sid, "ParentId": cases[str(msg["conversation_id"])],
        "Subject": (msg.get("subject") or "")[:3000] or None, "HtmlBody": html_cut or None,
        "TextBody": text_cut or None, "MessageDate": sf_dt(msg.get("created_at")),
        "Incoming": msg.get("kind") == "inbound", "Status": "1" if msg.get("kind") == "inbound" else "3",
        "FromAddress": from_addr, "FromName": (msg.get("author_name") or name or "")[:1000] or None,
        "ToAddress": (address_list(msg.get("to_addresses")) or "")[:4000] or None,
        cfg.field("Body_Truncated"): html_trunc or text_trunc,
    }
    if svc.audit_allowed("EmailMessage") and msg.get("created_at"):
        values["CreatedDate"] = sf_dt(msg["created_at"])
        user = agents.get(str(msg.get("author_id"))) if msg.get("author_type") == "agent" else None
        if user:
            values["CreatedById"] = user
    return values


def _full_body(svc: Services, msg: dict[str, Any]) -> tuple[str, str]:
    """(body, file extension) of an email cut at the limit: attached in full as a file."""
    full = msg.get("body_html") or message_text(msg)
    svc.state.truncated.append({"message": str(msg["id"]), "characters": len(full),
                                "limit": svc.cfg.email_body_limit})
    svc.state.note_change("messages", str(msg["id"]), "text-truncated",
                          f"body of {len(full):,} characters cut to the EmailMessage's {svc.cfg.email_body_limit:,}; "
                          f"the full body is attached to the email as a file")
    return full, "html" if msg.get("body_html") else "txt"


def _link_inline_images(svc: Services, emails: dict[str, str], images: dict[str, tuple[str | None, list[str]]],
                        book: dict[str, LoadOutcome]) -> None:
    """Link each email to the files of its inline images (links already there are reused)."""
    links = []
    for sid, eid in emails.items():
        for vid in images.get(sid, (None, []))[1]:
            book[sid].extra_ids.append(("ContentVersion", vid))
            links.append((f"{sid}|{vid}", vid, eid))
    for key, link_id in link_documents(svc, links).items():
        book[key.split("|")[0]].extra_ids.append(("ContentDocumentLink", link_id))


def _attach_full_bodies(svc: Services, bodies: dict[str, tuple[str, str]], emails: dict[str, str],
                        book: dict[str, LoadOutcome]) -> None:
    """The full body of each truncated email as a file on it, unless an earlier run attached it already."""
    keys = {f"message-body-{sid}": sid for sid in bodies}
    present = {k: r["Id"] for k, r in svc.existing("ContentVersion", list(keys)).items()}
    uploads = []
    for key, sid in keys.items():
        if key in present:
            book[sid].extra_ids.append(("ContentVersion", present[key]))
            continue
        body, ext = bodies[sid]
        uploads.append((key, version_values(svc, key, f"message-{sid}.{ext}", body.encode("utf-8"), emails[sid],
                                            f"full body of message {sid}")))
    limit = svc.cfg.email_body_limit
    for key, res in svc.insert_once("ContentVersion", uploads).items():
        sid = keys[key]
        if res.ok:
            book[sid].extra_ids.append(("ContentVersion", res.id))
        else:
            book[sid] = fail(sid, res.code or "FILE_FAILED", f"email {sid} was loaded as {book[sid].destination_id} "
                             f"and cut at {limit} characters, but its full body could not be attached: {res.reason}",
                             obj="ContentVersion")


def _is_source_ref(src: str, source: str) -> bool:
    if src.lower().startswith("cid:"):
        return True
    host = (urlsplit(src).hostname or "").lower()
    return bool(source) and source.lower() in host


def _inline_images(svc: Services, msgs: list[dict[str, Any]], context: Any,
                   cases: dict[str, str]) -> dict[str, tuple[str | None, list[str]]]:
    """Upload the inline images of these emails and rewrite their HTML: {message: (html, version ids)}."""
    source = str(getattr(context, "source", "") or "")
    index = _inline_index(svc, context)
    wanted: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for msg in msgs:
        srcs = image_sources(msg.get("body_html"))
        if not srcs:
            continue
        atts = index.get(str(msg["id"]), [])
        for src in srcs:
            att = next((a for a in atts if _matches(src, a)), None)
            if att is not None and not is_external_image(att):  # never downloaded: the body keeps its address
                wanted.setdefault(str(msg["id"]), []).append((src, att))
    att_ids = sorted({str(a["id"]) for pairs in wanted.values() for _, a in pairs})
    versions = {k: r["Id"] for k, r in svc.existing("ContentVersion", att_ids).items()}
    uploads: list[tuple[str, dict[str, Any]]] = []
    problems: dict[str, str] = {}
    for sid, pairs in wanted.items():
        for src, att in pairs:
            aid = str(att["id"])
            if aid in versions or any(k == aid for k, _ in uploads) or aid in problems:
                continue
            data = read_file(svc, context, att)
            if isinstance(data, str):
                problems[aid] = data
                continue
            msg_case = cases[str(next(m for m in msgs if str(m["id"]) == sid)["conversation_id"])]
            uploads.append((aid, version_values(svc, aid, att.get("file_name") or aid, data, msg_case, src)))
    for aid, res in svc.insert_once("ContentVersion", uploads).items():
        if res.ok:
            versions[aid] = res.id
        else:
            problems[aid] = res.reason
    out: dict[str, tuple[str | None, list[str]]] = {}
    for msg in msgs:
        sid = str(msg["id"])
        html = msg.get("body_html")
        if not html or not image_sources(html):
            continue
        used: list[str] = []
        pairs = dict(wanted.get(sid, []))

        def replace(src: str, sid: str = sid, pairs: dict[str, Any] = pairs, used: list[str] = used) -> str | None:
            att = pairs.get(src)
            if att is not None and str(att["id"]) in versions:
                vid = versions[str(att["id"])]
                used.append(vid)
                svc.state.inline_images.append({"message": sid, "attachment": str(att["id"]), "reference": src,
                                                "content_version": vid})
                return FILE_URL.format(vid)
            if _is_source_ref(src, source):
                why = problems.get(str(att["id"])) if att is not None else "no inline attachment matches it"
                svc.state.unresolved_images.append({"message": sid, "reference": src[:300], "reason": why})
                return ""
            return None

        out[sid] = (rewrite_images(html, replace), list(dict.fromkeys(used)))
    return out


def _matches(src: str, att: dict[str, Any]) -> bool:
    cid = (att.get("content_id") or "").strip("<>")
    url = att.get("url") or ""
    s = src.strip()
    return bool((cid and (s == cid or s.lower() == f"cid:{cid}".lower() or (len(cid) > 8 and cid in s)))
                or (url and s == url))


def _inline_index(svc: Services, context: Any) -> dict[str, list[dict[str, Any]]]:
    """Inline attachments by message id, from the staged attachments (read once per connection)."""
    cached = getattr(svc, "_inline_index", None)
    if cached is None:
        cached = {}
        staged = getattr(context, "staged", None)
        if callable(staged):
            for att in staged("attachments"):
                if att.get("inline") and att.get("message_id"):
                    cached.setdefault(str(att["message_id"]), []).append(att)
        svc._inline_index = cached  # type: ignore[attr-defined]
    return cached


# -- CaseComment -------------------------------------------------------------------------------------------


def _comments(svc: Services, msgs: list[dict[str, Any]], context: Any, cases: dict[str, str],
              agents: dict[str, str], book: dict[str, LoadOutcome]) -> None:
    cfg = svc.cfg
    source = str(getattr(context, "source", "") or "source")
    sids = [str(m["id"]) for m in msgs]
    known = previous_ids(context, "messages", sids, "CaseComment")
    for sid, cid in known.items():
        book[sid] = ok(sid, "unchanged", "CaseComment", cid)
    todo = [m for m in msgs if str(m["id"]) not in known]
    if not todo:
        return
    audit = svc.audit_allowed("CaseComment")
    parts: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for msg in todo:
        sid = str(msg["id"])
        texts = comment_parts(msg, source)
        base: dict[str, Any] = {"ParentId": cases[str(msg["conversation_id"])],
                                "IsPublished": cfg.comments_published and msg.get("kind") != "note"}
        if audit and msg.get("created_at"):
            base["CreatedDate"] = sf_dt(msg["created_at"])
            user = agents.get(str(msg.get("author_id"))) if msg.get("author_type") == "agent" else None
            if user:
                base["CreatedById"] = user
        parts[sid] = [(f"{sid}#{i + 1}", {**base, "CommentBody": body}) for i, body in enumerate(texts)]
    existing = _existing_comments(svc, source, [p for ps in parts.values() for p in ps])
    new = [p for ps in parts.values() for p in ps if p[0] not in existing]

    def recheck(keys: list[str]) -> dict[str, str]:
        return _existing_comments(svc, source, [p for p in new if p[0] in set(keys)], force=True)

    results = svc.writer.insert("CaseComment", new, match_on="CommentBody", recheck=recheck)
    for key, res in results.items():
        if res.ok and res.id:
            svc.remember("CaseComment", key, res.id)
    for sid, ps in parts.items():
        ids, errors, created = [], [], False
        for key, _ in ps:
            if key in existing:
                ids.append(existing[key])
            elif key in results and results[key].ok:
                ids.append(results[key].id)
                created = True
            else:
                errors.append(results[key].reason if key in results else "no result")
        if errors:
            book[sid] = fail(sid, (results.get(ps[0][0]).code if results.get(ps[0][0]) else None) or "COMMENT_FAILED",
                             f"comment of message {sid}: {'; '.join(errors)}", obj="CaseComment")
            continue
        book[sid] = ok(sid, "created" if created else "unchanged", "CaseComment", ids[0],
                       extra=[("CaseComment", i) for i in ids[1:]] if created else ())


def _existing_comments(svc: Services, source: str, parts: Sequence[tuple[str, dict[str, Any]]], *,
                       force: bool = False) -> dict[str, str]:
    """CaseComments already written for these parts, found through the reference in their header."""
    if not parts:
        return {}
    count = f"SELECT COUNT() FROM CaseComment WHERE Parent.{svc.id_field} != null"
    if not force and svc.is_clean("CaseComment", count):
        return {}
    wanted = {key for key, _ in parts}
    out: dict[str, str] = {}
    parents = sorted({values["ParentId"] for _, values in parts})
    for row in svc.client.query_in("SELECT Id, ParentId, CommentBody FROM CaseComment WHERE ParentId IN {values}",
                                   parents):
        ref = parse_header(row.get("CommentBody"))
        if ref and ref[0] == source and f"{ref[1]}#{ref[2]}" in wanted:
            out[f"{ref[1]}#{ref[2]}"] = row["Id"]
    return out


# -- Task ----------------------------------------------------------------------------------------------


def _tasks(svc: Services, msgs: list[dict[str, Any]], context: Any, cases: dict[str, str], agents: dict[str, str],
           book: dict[str, LoadOutcome]) -> None:
    cfg = svc.cfg
    sids = [str(m["id"]) for m in msgs]
    known = previous_ids(context, "messages", sids, "Task")
    found = {k: r["Id"] for k, r in svc.existing("Task", [s for s in sids if s not in known]).items()}
    for sid, tid in {**known, **found}.items():
        book[sid] = ok(sid, "unchanged", "Task", tid)
    todo = [m for m in msgs if str(m["id"]) not in book]
    if not todo:
        return
    audit = svc.audit_allowed("Task")
    contacts = {cid: r.get("ContactId") for cid, r in svc.by_ids("Case", [cases[str(m["conversation_id"])]
                                                                         for m in todo], ["ContactId"]).items()}
    owners = [agents.get(str(m.get("author_id"))) for m in todo if m.get("author_type") == "agent"]
    active = svc.users_active([o for o in owners if o]) if owners and not svc.inactive_owner_allowed() else {}
    items: list[tuple[str, dict[str, Any]]] = []
    for msg in todo:
        sid = str(msg["id"])
        case = cases[str(msg["conversation_id"])]
        text = message_text(msg)
        description, cut = truncate(text, 32000, "\n[truncated at 32000 characters]")
        if cut:
            svc.state.truncated.append({"message": sid, "characters": len(text), "limit": 32000})
            svc.state.note_change("messages", sid, "text-truncated", f"text of {len(text):,} characters cut to the "
                                  "Task Description's 32,000 (no file keeps the rest of a chat or call entry)")
        call = category(msg) == "call"
        values: dict[str, Any] = {cfg.id_field: sid, "WhatId": case, "WhoId": contacts.get(case),
                                  "Status": "Completed", "Description": description or None,
                                  "ActivityDate": (msg.get("created_at") or "")[:10] or None,
                                  cfg.field("Created_At"): sf_dt(msg.get("created_at"))}
        if call:
            direction = (msg.get("call_direction") or ("inbound" if msg.get("kind") == "inbound" else "outbound"))
            direction = "Inbound" if str(direction).lower().startswith("in") else "Outbound"
            seconds = msg.get("call_duration_seconds")
            values.update({"TaskSubtype": "Call", "CallType": direction, "CallDurationInSeconds": seconds,
                           "Subject": f"{direction} call · {duration(seconds)} · {clock(msg.get('created_at'))}"})
        else:
            values.update({"TaskSubtype": "Task", "Subject": f"{label(msg)} · {clock(msg.get('created_at'))}"[:255]})
        user = agents.get(str(msg.get("author_id"))) if msg.get("author_type") == "agent" else None
        if user and active.get(user, True):
            values["OwnerId"] = user
        if audit and msg.get("created_at"):
            values["CreatedDate"] = sf_dt(msg["created_at"])
        items.append((sid, values))
    for sid, res in svc.insert_once("Task", items).items():
        book[sid] = ok(sid, "created" if res.created else "unchanged", "Task", res.id) if res.ok else \
            from_write(sid, res, "Task", f"message {sid}")
