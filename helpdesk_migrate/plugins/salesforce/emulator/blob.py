"""The emulator's multipart blob insert ("Insert or Update Blob Data", REST API Developer Guide): a
multipart/form-data POST to /sobjects/<Object>/ whose first part is the record's fields as JSON (named
``entity_<something>``, e.g. ``entity_content`` for ContentVersion) and whose second part is the file, named
after the object's blob field (``VersionData``). Salesforce takes up to 2 GB per ContentVersion this way,
where a JSON body holds 37.5 MB of base64 at most.

The body is parsed with the standard library's email parser (MIME multipart), not by hand.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from email import policy
from email.parser import BytesParser
from typing import Any

from .org import ObjectDef, SalesforceApiError


def is_multipart(headers: Mapping[str, str]) -> bool:
    return (headers.get("Content-Type") or "").lower().startswith("multipart/form-data")


def blob_insert_values(obj: ObjectDef, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The record values a multipart insert carries: the JSON part's fields, and the binary part's bytes (as
    base64, the way a JSON insert sends them) in the blob field it names."""
    content_type = headers.get("Content-Type") or ""
    message = BytesParser(policy=policy.HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") +
                                                        b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise SalesforceApiError("MALFORMED_REQUEST", "the multipart body could not be read (boundary missing?)")
    entity: dict[str, Any] | None = None
    blob: tuple[str, bytes] | None = None
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition") or "")
        data = part.get_payload(decode=True) or b""
        if name.startswith("entity_"):
            if part.get_content_type() != "application/json":
                raise SalesforceApiError("INVALID_CONTENT_TYPE", f"part {name} must be application/json")
            entity = json.loads(data or b"{}")
        else:
            blob = (name, data)
    if not isinstance(entity, dict):
        raise SalesforceApiError("MALFORMED_REQUEST", "the multipart body has no entity_ part with the record's "
                                 "fields as JSON")
    if blob is None:
        raise SalesforceApiError("MALFORMED_REQUEST", "the multipart body has no binary part")
    field = obj.field(blob[0])
    if field is None or field.type != "base64":
        raise SalesforceApiError("INVALID_FIELD", f"Binary field name {blob[0]!r} is not a blob field of {obj.name}",
                                 [blob[0]])
    return {**entity, field.name: base64.b64encode(blob[1]).decode()}
