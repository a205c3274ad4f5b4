"""Attachments -> ContentVersion (FirstPublishLocationId: the EmailMessage or the Case): JSON (base64) uploads
within SALESFORCE_MAX_FILE_BYTES, a multipart upload per larger file up to 2 GB (blob_upload.py); plus the file
helpers the message loader uses for inline images and full bodies."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from helpdesk_migrate.sdk import LoadOutcome

from .base import Services, duplicate_of, fail, from_write, lookup_many, ok, previous_ids, skip
from .blob_upload import MULTIPART_MAX_BYTES, upload_version
from .schema import plan_fields


def file_specs(svc: Services) -> list[Any]:
    return [s for s in plan_fields(svc.cfg, knowledge=False) if s.object == "ContentVersion"]


def is_external_image(att: dict[str, Any]) -> bool:
    """An image an email shows from another site (a tracking pixel, a newsletter's logo): the source lists it
    with its URL as an inline attachment but deliberately never downloads it, since fetching it would tell
    the sender the mail was read. There is no file to upload, and none ever will be."""
    url = str(att.get("url") or "")
    return bool(att.get("inline")) and not att.get("local_path") and urlsplit(url).scheme.lower() in ("http", "https")


def external_image_outcome(att: dict[str, Any]) -> LoadOutcome:
    sid = str(att["id"])
    host = urlsplit(str(att.get("url"))).hostname or "another site"
    return skip(sid, f"attachment {sid} is an image its email shows from {host} (such as a tracking pixel): the "
                "source lists it but on purpose never downloads it, since fetching it would tell the sender the "
                "mail was read; there is no file to upload, and the email keeps the image's address",
                rule="external-image")


OUTSIDE_FILES_DIR = "points outside the migration's files directory"


def inside_files_dir(svc: Services, context: Any, local: str) -> Path | None:
    """The file ``local`` names (relative to the files directory, or absolute), once resolved (``..``, links);
    None when that leaves the files directory."""
    root = Path(svc.files_dir(context)).resolve()
    path = (root / local).resolve()  # an absolute local_path replaces root in the join
    return path if path.is_relative_to(root) else None


def file_path(svc: Services, context: Any, att: dict[str, Any]) -> Path | str:
    """The attachment's file on disk, or why it can't be uploaded at all."""
    local = att.get("local_path")
    if not local:
        return (f"attachment {att.get('id')} ({att.get('file_name')}) was not downloaded at extraction (no "
                "local_path)")
    path = inside_files_dir(svc, context, local)
    if path is None:
        # Defence in depth: a buggy or hostile source plugin must not make the migration upload any file it likes.
        return (f"attachment {att.get('id')}: its local_path {str(local)[:200]!r} {OUTSIDE_FILES_DIR}; it is not "
                "read or uploaded")
    if not path.is_file():
        return f"attachment {att.get('id')}: file {local} is missing from the migration's files directory"
    size = path.stat().st_size
    if size == 0:
        return (f"attachment {att.get('id')} ({att.get('file_name')}) is empty (0 bytes) in the source: Salesforce "
                "refuses a file without content")
    if size > MULTIPART_MAX_BYTES:
        return (f"attachment {att.get('id')} ({att.get('file_name')}) is {size / 2**30:.2f} GB, over the 2 GB "
                "Salesforce takes for one file (multipart upload limit)")
    return path


def read_file(svc: Services, context: Any, att: dict[str, Any]) -> bytes | str:
    """The attachment's bytes for a JSON upload, or why they can't be sent that way."""
    path = file_path(svc, context, att)
    if isinstance(path, str):
        return path
    size = path.stat().st_size
    if size > svc.cfg.max_file_bytes:
        return (f"attachment {att.get('id')} ({att.get('file_name')}) is {size / 2**20:.1f} MB, over the "
                f"{svc.cfg.max_file_bytes / 2**20:.1f} MB REST upload limit (SALESFORCE_MAX_FILE_BYTES)")
    return path.read_bytes()


def version_values(svc: Services, key: str, name: str, data: bytes, parent: str, ref: str | None) -> dict[str, Any]:
    name = (name or "file").strip() or "file"
    title = name.rsplit(".", 1)[0] if "." in name else name
    values: dict[str, Any] = {svc.id_field: key, "Title": title[:255] or name[:255], "PathOnClient": name[:500],
                              "VersionData": base64.b64encode(data).decode(), "FirstPublishLocationId": parent}
    if ref:
        values[svc.cfg.field("Source_Ref")] = ref[:255]
    return values


def document_ids(svc: Services, version_ids: Sequence[str]) -> dict[str, str]:
    rows = svc.by_ids("ContentVersion", list(version_ids), ["ContentDocumentId"])
    return {vid: r.get("ContentDocumentId") for vid, r in rows.items() if r.get("ContentDocumentId")}


def link_documents(svc: Services, links: Sequence[tuple[str, str, str]]) -> dict[str, str]:
    """ContentDocumentLinks (key, version id, entity id) -> {key: link id}; existing links are reused."""
    docs = document_ids(svc, [v for _, v, _ in links])
    wanted = [(key, docs[v], entity) for key, v, entity in links if v in docs]
    if not wanted:
        return {}
    present: dict[tuple[str, str], str] = {}
    for row in svc.client.query_in("SELECT Id, ContentDocumentId, LinkedEntityId FROM ContentDocumentLink WHERE "
                                   "ContentDocumentId IN {values}", sorted({d for _, d, _ in wanted})):
        present[(row["ContentDocumentId"], row["LinkedEntityId"])] = row["Id"]
    out: dict[str, str] = {}
    new = []
    for key, doc, entity in wanted:
        if (doc, entity) in present:
            out[key] = present[(doc, entity)]
        else:
            new.append((key, {"ContentDocumentId": doc, "LinkedEntityId": entity, "ShareType": "V",
                              "Visibility": "AllUsers"}))
    for key, res in svc.writer.insert("ContentDocumentLink", new, match_on="LinkedEntityId").items():
        if res.ok and res.id:
            out[key] = res.id
    return out


def parent_key(att: dict[str, Any]) -> str | None:
    """The record an attachment without a parent in Salesforce follows (collateral): its conversation (a
    message always loads when its conversation did), else its message."""
    if att.get("conversation_id"):
        return f"conversations/{att['conversation_id']}"
    return f"messages/{att['message_id']}" if att.get("message_id") else None


def load_attachments(svc: Services, records: Sequence[dict[str, Any]], context: Any,
                     book: dict[str, LoadOutcome]) -> None:
    svc.schema.ensure(file_specs(svc), what="attachments")
    sids = [str(r["id"]) for r in records]
    known = previous_ids(context, "attachments", sids, "ContentVersion")
    for sid, vid in known.items():
        book[sid] = ok(sid, "unchanged", "ContentVersion", vid)
    todo = [r for r in records if str(r["id"]) not in known]
    found = svc.existing("ContentVersion", [str(r["id"]) for r in todo])
    messages = lookup_many(context, "messages", [r.get("message_id") for r in todo])
    cases = lookup_many(context, "conversations", [r.get("conversation_id") for r in todo])
    items: list[tuple[str, dict[str, Any]]] = []
    large: list[tuple[str, dict[str, Any], Path]] = []
    for att in todo:
        sid = str(att["id"])
        if is_external_image(att):
            book[sid] = external_image_outcome(att)
            continue
        if sid in found:
            book[sid] = ok(sid, "unchanged", "ContentVersion", found[sid]["Id"],
                           reason="already uploaded (e.g. as an inline image of its email)")
            continue
        message_target = messages.get(str(att.get("message_id") or ""))
        parent = message_target if message_target and message_target.startswith("02s") else \
            cases.get(str(att.get("conversation_id") or ""))
        if not parent:
            book[sid] = fail(sid, "parent-missing", f"attachment {sid}: neither its email nor its conversation is in "
                             "Salesforce", "load (or fix) the message and conversation first, then re-run",
                             obj="ContentVersion")
            book[sid].caused_by = parent_key(att)
            continue
        path = file_path(svc, context, att)
        if isinstance(path, str):
            rule = "file-too-large" if "upload limit" in path else "file-empty" if "empty (0 bytes)" in path \
                else "file-outside-files-dir" if OUTSIDE_FILES_DIR in path else "file-missing"
            fixes = {"file-too-large": "upload it by hand in parts, or share it from a file store and link it",
                     "file-empty": "ask the sender for the file again, or accept the message without it",
                     "file-outside-files-dir": "re-extract the attachment with a source plugin that keeps its files "
                                               "inside the files directory, or attach the file by hand",
                     "file-missing": "attach the file by hand in Salesforce, or re-extract it"}
            book[sid] = fail(sid, rule, path, fixes[rule], obj="ContentVersion")
            continue
        ref = att.get("content_id") or att.get("url")
        name = att.get("file_name") or sid
        if path.stat().st_size > svc.cfg.max_file_bytes:
            # Over the JSON limit: its own multipart request, the file streamed from disk.
            large.append((sid, version_values(svc, sid, name, b"", parent, ref), path))
            continue
        items.append((sid, version_values(svc, sid, name, path.read_bytes(), parent, ref)))
    for sid, values, path in large:
        res = upload_version(svc, sid, values, path)
        dup = duplicate_of(res, svc.id_field)
        book[sid] = ok(sid, "created", "ContentVersion", res.id) if res.ok else \
            ok(sid, "unchanged", "ContentVersion", dup) if dup else \
            from_write(sid, res, "ContentVersion", f"attachment {sid} (multipart upload)")
    for sid, res in svc.insert_once("ContentVersion", items).items():
        book[sid] = ok(sid, "created" if res.created else "unchanged", "ContentVersion", res.id) if res.ok else \
            from_write(sid, res, "ContentVersion", f"attachment {sid}")
