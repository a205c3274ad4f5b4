"""Articles -> Knowledge (or a report when Knowledge is off), tags -> picklist values, channels -> an
inventory (Origin values), custom field definitions -> custom fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simple_salesforce.exceptions import SalesforceError

from helpdesk_migrate.sdk import ConfigurationError, LoadOutcome

from .base import Services, fail, fix_for, from_write, ok, previous_ids, skip
from .client import SalesforceUnavailable, error_message
from .mapping import html_to_text, slugify
from .schema import custom_property_spec, plan_fields, tag_field_spec
from .tags import tag_value_for

# -- articles ---------------------------------------------------------------------------------------------


def language_for(locale: str | None, values: Sequence[str]) -> str | None:
    loc = (locale or "en").replace("-", "_")
    for v in values:
        if v.lower() == loc.lower():
            return v
    lang = loc.split("_")[0].lower()
    for v in values:
        if v.lower() == lang or v.lower().startswith(lang + "_"):
            return v
    return None


def category_names(svc: Services) -> tuple[str | None, dict[str, str]]:
    """(group, {lower-case name or label: category name}) for the configured data category group."""
    cached = getattr(svc, "_categories", None)
    if cached is None:
        try:
            data = svc.client.restful("support/dataCategoryGroups", params={
                "sObjectName": "KnowledgeArticleVersion", "topCategoriesOnly": "false"}) or {}
        except SalesforceError:
            data = {}
        groups = [g for g in data.get("categoryGroups", []) if g.get("active", True)]
        wanted = svc.cfg.knowledge_category_group
        group = next((g for g in groups if g["name"] == wanted), None) if wanted else (groups[0] if groups else None)
        if wanted and group is None:
            raise ConfigurationError(f"SALESFORCE_KNOWLEDGE_CATEGORY_GROUP '{wanted}' is not an active data category "
                                     "group for Knowledge")
        names: dict[str, str] = {}

        def walk(nodes: Sequence[dict[str, Any]]) -> None:
            for n in nodes:
                names.setdefault(n["name"].lower(), n["name"])
                names.setdefault((n.get("label") or "").lower(), n["name"])
                walk(n.get("childCategories") or [])

        walk(group.get("topCategories", []) if group else [])
        cached = (group["name"] if group else None, names)
        svc._categories = cached  # type: ignore[attr-defined]
    return cached


def load_articles(svc: Services, records: Sequence[dict[str, Any]], context: Any, book: dict[str, LoadOutcome]) -> None:
    cfg = svc.cfg
    if not svc.schema.knowledge_enabled():
        for rec in records:
            sid = str(rec["id"])
            svc.state.knowledge_inventory.append({"id": sid, "title": rec.get("title"), "locale": rec.get("locale"),
                                                  "status": rec.get("status"),
                                                  "category": " / ".join(rec.get("category_path") or [])})
            book[sid] = skip(sid, "Salesforce Knowledge is not enabled in this org: the article is listed in the "
                             "knowledge report (check knowledge_enabled)", rule="knowledge-disabled",
                             fix="enable Lightning Knowledge (a Knowledge licence) and re-run the articles load")
        return
    obj = cfg.knowledge_object
    svc.schema.ensure([s for s in plan_fields(cfg) if s.object == obj], what="articles")
    languages = svc.schema.picklist_values(obj, "Language")
    category_names(svc)  # an unknown SALESFORCE_KNOWLEDGE_CATEGORY_GROUP stops the load before any write
    body_field = cfg.body_field
    sids = [str(r["id"]) for r in records]
    known = previous_ids(context, "articles", sids, obj)
    found = {k: r["Id"] for k, r in svc.existing(obj, [s for s in sids if s not in known]).items()}
    known.update(found)
    compare = ["Title", "UrlName", "Summary", body_field, "Language", "IsVisibleInPkb", "PublishStatus"]
    current = svc.by_ids(obj, list(known.values()), compare) if known else {}
    fresh, updates, before = [], [], {}
    for rec in records:
        sid = str(rec["id"])
        language = language_for(rec.get("locale"), languages)
        if language is None:
            book[sid] = fail(sid, "language-inactive", f"article {sid}: language '{rec.get('locale')}' is not active "
                             "in Knowledge", "add the language in Knowledge Settings, then re-run", obj=obj)
            continue
        url = f"{slugify(rec.get('slug') or rec.get('title') or sid, 180)}-{slugify(str(rec.get('article_id')), 30)}-" \
              f"{slugify(language, 10)}"
        summary = html_to_text(rec.get("body_html"))[:1000] or None
        values = {cfg.id_field: sid, "Title": (rec.get("title") or sid)[:255], "UrlName": url[:255],
                  "Summary": summary, body_field: rec.get("body_html"), "Language": language,
                  "IsVisibleInPkb": rec.get("status") == "published"}
        existing_id = known.get(sid)
        if existing_id and existing_id in current:
            now = current[existing_id]
            changes, old = svc.diff(obj, now, values, skip=[cfg.id_field, "Language"])
            if not changes:
                book[sid] = ok(sid, "unchanged", obj, existing_id)
            elif now.get("PublishStatus") != "Draft":
                book[sid] = ok(sid, "unchanged", obj, existing_id, reason="the source changed but the Salesforce "
                               "version is published: edit a new draft in Salesforce to carry the change")
            else:
                updates.append((sid, {"Id": existing_id, **changes}))
                before[sid] = old
            continue
        fresh.append((sid, values))
    for sid, res in svc.writer.update(obj, updates).items():
        book[sid] = ok(sid, "updated", obj, res.id, before=before[sid]) if res.ok else \
            from_write(sid, res, obj, f"article {sid}")
    # Found in the org but not in the id map: a run died after writing the article, maybe before its category
    # and publishing. Those follow-up steps run for them too, and only do what is missing.
    unfinished = {sid: vid for sid, vid in found.items() if sid in book and book[sid].action != "failed"}
    statuses = {vid: rec.get("PublishStatus") for vid, rec in current.items()}
    created: set[str] = set()
    for sid, res in svc.insert_once(obj, fresh).items():
        if not res.ok:
            book[sid] = from_write(sid, res, obj, f"article {sid}")
            continue
        book[sid] = ok(sid, "created" if res.created else "unchanged", obj, res.id)
        unfinished[sid] = res.id
        if res.created:
            created.add(sid)
            statuses[res.id] = "Draft"
    _finish_articles(svc, unfinished, statuses, {str(r["id"]): r for r in records}, created, book)


def _finish_articles(svc: Services, articles: dict[str, str], statuses: dict[str, Any],
                     records: dict[str, dict[str, Any]], created: set[str], book: dict[str, LoadOutcome]) -> None:
    """Data category and publishing of the drafts this run wrote or found unfinished ({source id: version id}).
    Only drafts can be changed; an article whose category could not be set is quarantined and stays a draft,
    so the next run sets the category before publishing it."""
    obj = svc.cfg.knowledge_object
    unknown = [vid for vid in articles.values() if vid not in statuses]
    statuses.update({vid: r.get("PublishStatus") for vid, r in svc.by_ids(obj, unknown, ["PublishStatus"]).items()})
    drafts = {sid: vid for sid, vid in articles.items() if statuses.get(vid) == "Draft"}
    _categorize(svc, drafts, records, created, book)
    if svc.cfg.knowledge_publish == "source":
        for sid, vid in drafts.items():
            if book[sid].action != "failed" and records[sid].get("status") == "published":
                _publish(svc, sid, vid, book)


def _categorize(svc: Services, drafts: dict[str, str], records: dict[str, dict[str, Any]], created: set[str],
                book: dict[str, LoadOutcome]) -> None:
    """Write each draft's Knowledge__DataCategorySelection unless it is there already."""
    group, categories = category_names(svc)
    wanted: dict[str, dict[str, Any]] = {}
    for sid, vid in drafts.items():
        path = records[sid].get("category_path") or []
        match = next((categories[p.lower()] for p in reversed(path) if p.lower() in categories), None)
        if path and (group is None or match is None):
            svc.state.uncategorized_articles.append({"id": sid, "category": " / ".join(path), "group": group})
        elif match:
            wanted[sid] = {"ParentId": vid, "DataCategoryGroupName": group, "DataCategoryName": match}

    def present(keys: list[str]) -> dict[str, str]:
        parents = {wanted[k]["ParentId"]: k for k in keys}
        rows = svc.client.query_in("SELECT Id, ParentId, DataCategoryGroupName, DataCategoryName FROM "
                                   "Knowledge__DataCategorySelection WHERE ParentId IN {values}", sorted(parents))
        out = {}
        for row in rows:
            sid = parents.get(row.get("ParentId"))
            if sid is not None and (row.get("DataCategoryGroupName"), row.get("DataCategoryName")) == \
                    (wanted[sid]["DataCategoryGroupName"], wanted[sid]["DataCategoryName"]):
                out[sid] = row["Id"]
        return out

    # A draft created by this run has no category yet; only the others are looked up.
    there = present([sid for sid in wanted if sid not in created]) if set(wanted) - created else {}
    for sid, sel in there.items():
        book[sid].extra_ids.append(("Knowledge__DataCategorySelection", sel))
    new = [(sid, values) for sid, values in wanted.items() if sid not in there]
    for sid, res in svc.writer.insert("Knowledge__DataCategorySelection", new, match_on="ParentId",
                                      recheck=present).items():
        if res.ok:
            book[sid].extra_ids.append(("Knowledge__DataCategorySelection", res.id))
            continue
        category = f"{wanted[sid]['DataCategoryGroupName']}/{wanted[sid]['DataCategoryName']}"
        book[sid] = fail(sid, "category-failed", f"article {sid} was written as draft {drafts[sid]} but its data "
                         f"category {category} could not be set: {res.reason}",
                         f"{fix_for(res.code)}; the article stays a draft until the re-run sets its category",
                         obj=svc.cfg.knowledge_object)


def _publish(svc: Services, sid: str, vid: str, book: dict[str, LoadOutcome]) -> None:
    obj = svc.cfg.knowledge_object
    try:
        svc.client.restful(f"knowledgeManagement/articleVersions/masterVersions/{vid}", "PATCH",
                           json={"publishStatus": "Online"}, idempotent=False)
        return
    except SalesforceUnavailable as exc:
        # The answer was lost: the article may be online now. Look instead of publishing twice.
        status = (svc.by_ids(obj, [vid], ["PublishStatus"]).get(vid) or {}).get("PublishStatus")
        if status == "Online":
            return
        why = str(exc)
    except SalesforceError as exc:
        why = error_message(exc)
    book[sid] = fail(sid, "publish-failed", f"article {sid} was created as draft {vid} but could not be published: "
                     f"{why}", "publish it in Salesforce, or re-run", obj=obj)


# -- tags -------------------------------------------------------------------------------------------------


def load_tags(svc: Services, records: Sequence[dict[str, Any]], context: Any, book: dict[str, LoadOutcome]) -> None:
    cfg = svc.cfg
    targets: dict[str, list[tuple[str, str]]] = {}
    for rec in records:
        applies = rec.get("applies_to")
        kinds = [applies] if applies in ("conversation", "contact") else ["conversation", "contact"]
        targets[str(rec["id"])] = [(s.object, s.name) for s in (tag_field_spec(k, cfg.field_prefix) for k in kinds)]
    specs = {(s.object, s.name): s for s in (tag_field_spec(k, cfg.field_prefix) for k in ("conversation", "contact"))
             if any((s.object, s.name) in t for t in targets.values())}
    svc.schema.ensure(list(specs.values()), what="tags")
    current = {key: svc.schema.picklist_values(*key) for key in specs}
    chosen: dict[tuple[str, str, str], str] = {}
    adding: dict[tuple[str, str], list[str]] = {key: [] for key in specs}
    for rec in records:
        sid = str(rec["id"])
        for key in targets[sid]:
            value = tag_value_for(rec.get("name") or sid, current[key] + adding[key], cfg.tag_prefix)
            chosen[(sid, *key)] = value
            if value not in current[key] and value not in adding[key]:
                adding[key].append(value)
    refused = {key: set(svc.schema.add_values(*key, values)) for key, values in adding.items() if values}
    for rec in records:
        sid = str(rec["id"])
        placed = []
        problem = None
        for key in targets[sid]:
            value = chosen[(sid, *key)]
            if value in refused.get(key, set()):
                problem = (f"tag '{rec.get('name')}' is not a value of {key[0]}.{key[1]} and can't be added "
                           f"({'SALESFORCE_CREATE_SCHEMA is off' if not cfg.create_schema else 'the picklist is full'})")
                break
            placed.append((f"{key[0]}.{key[1]}", value, value in adding.get(key, [])))
        if problem:
            book[sid] = fail(sid, "picklist-value", problem, "add the value in Setup or set SALESFORCE_CREATE_SCHEMA="
                             "true, then re-run")
            continue
        new = any(created for _, _, created in placed)
        first = placed[0]
        note = f"stored as '{first[1]}' (prefixed: another value differs only by case)" \
            if first[1] != (rec.get("name") or "").strip() else None
        book[sid] = ok(sid, "created" if new else "linked", first[0], first[1], reason=note,
                       extra=[(f, v) for f, v, _ in placed[1:]])


# -- channels ---------------------------------------------------------------------------------------------

SETUP_HINTS = {
    "email": "Email-to-Case: add a routing address for {address} and forward the mailbox to it",
    "chat": "Messaging for In-App and Web (Embedded Service deployment) on the website",
    "voice": "Service Cloud Voice (Amazon Connect or a partner telephony): a separate licence",
    "whatsapp": "Messaging (Digital Engagement) WhatsApp channel: a separate licence",
    "facebook": "Messaging (Digital Engagement) Facebook Messenger channel, or Social Customer Service",
    "instagram": "Social Customer Service / Messaging Instagram channel",
    "sms": "Messaging (Digital Engagement) SMS channel: a separate licence",
}


def load_channels(svc: Services, records: Sequence[dict[str, Any]], context: Any, book: dict[str, LoadOutcome]) -> None:
    cfg = svc.cfg
    for rec in records:
        sid = str(rec["id"])
        kind = (rec.get("type") or "other").lower()
        origin = cfg.origin_map.get(kind)
        hint = SETUP_HINTS.get(kind, "configure the channel by hand").format(address=rec.get("address") or "it")
        svc.state.channel_inventory.append({
            "id": sid, "name": rec.get("name"), "type": kind, "source_type": rec.get("source_type"),
            "address": rec.get("address"), "active": rec.get("is_active"), "case_origin": origin,
            "record_type": cfg.record_types.get(kind), "salesforce_setup": hint})
        book[sid] = skip(sid, f"channel '{rec.get('name')}' ({kind}) is configuration, not data, in Salesforce: it is "
                         f"in the channel inventory, and its conversations' Cases get Origin '{origin}'",
                         rule="channel-inventory", fix=hint)


# -- custom field definitions -----------------------------------------------------------------------------


def load_custom_fields(svc: Services, records: Sequence[dict[str, Any]], context: Any,
                       book: dict[str, LoadOutcome]) -> None:
    cfg = svc.cfg
    previous = previous_ids(context, "custom_fields", [str(r["id"]) for r in records])
    plans: dict[str, Any] = {}
    for rec in records:
        sid = str(rec["id"])
        entity = rec.get("entity")
        if entity not in ("contact", "conversation"):
            book[sid] = skip(sid, f"custom field '{rec.get('name')}' belongs to {entity} records, which this migration "
                             "does not load into Salesforce", rule="no-target", fix="create it by hand if needed")
            continue
        canonical = "contacts" if entity == "contact" else "conversations"
        if canonical not in plans:
            plans[canonical] = svc.field_plan(canonical, context)
        target = plans[canonical].custom_targets.get(rec["key"])
        if target:
            book[sid] = _mapped_custom_field(svc, rec, "Contact" if entity == "contact" else "Case", target)
            continue
        spec = custom_property_spec(cfg, entity, rec["key"], rec.get("data_type") or "text", rec.get("name") or "",
                                    rec.get("options") or [])
        if svc.schema.has_field(spec.object, spec.name):
            meta = svc.schema.field_meta(spec.object, spec.name) or {}
            missing = []
            if meta.get("type") in ("picklist", "multipicklist") and rec.get("options"):
                missing = svc.schema.add_values(spec.object, spec.name, [o for o in rec["options"] if o])
            note = f"options not in the picklist: {missing}" if missing else None
            if missing:
                book[sid] = fail(sid, "picklist-value", f"{spec.full_name} lacks options {missing[:5]}",
                                 "add them in Setup or set SALESFORCE_CREATE_SCHEMA=true, then re-run")
                continue
            action = "unchanged" if sid in previous else "linked"
            book[sid] = ok(sid, action, "CustomField", previous.get(sid) or svc.schema.custom_field_id(
                spec.object, spec.name) or spec.full_name, reason=note)
            continue
        if not cfg.create_schema:
            book[sid] = fail(sid, "schema-plan", f"{spec.full_name} ({spec.metadata['type']}) does not exist",
                             "create it as in the pre-flight schema plan, or set SALESFORCE_CREATE_SCHEMA=true")
            continue
        svc.schema.create([spec])
        book[sid] = ok(sid, "created", "CustomField", svc.schema.custom_field_id(spec.object, spec.name)
                       or spec.full_name)


def _mapped_custom_field(svc: Services, rec: dict[str, Any], obj: str, target: str) -> LoadOutcome:
    """A custom field the confirmed field map places in an existing field: nothing is created, and the
    admin's field (and its picklist) is left as it is; values it can't hold are refused record by record."""
    sid = str(rec["id"])
    meta = svc.schema.field_meta(obj, target) or {}
    note = f"the confirmed field map places '{rec['key']}' in the existing field {obj}.{target}"
    if meta.get("type") in ("picklist", "multipicklist") and rec.get("options"):
        present = set(svc.schema.picklist_values(obj, target))
        missing = [o for o in rec["options"] if o and o not in present]
        if missing:
            note += (f"; options not in its picklist: {missing[:10]} (records with these values are "
                     + ("refused: the picklist is restricted" if meta.get("restrictedPicklist") else
                        "stored as values that are not in the picklist") + ")")
    return ok(sid, "linked", "CustomField", f"{obj}.{target}", reason=note)
