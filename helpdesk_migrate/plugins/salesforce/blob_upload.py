"""Files over the REST JSON limit, uploaded as Salesforce documents it: one ContentVersion insert per file as a
multipart/form-data request, a JSON ``entity_content`` part with the fields and a binary ``VersionData`` part
with the file (sObject Basic Information resource, up to 2 GB per ContentVersion; "Insert or Update Blob Data",
REST API Developer Guide). A JSON body holds at most 37.5 MB of base64, so a file over
SALESFORCE_MAX_FILE_BYTES goes this way instead of to the quarantine.

The file is streamed from disk (requests-toolbelt's MultipartEncoder reads it in chunks while sending), so a
2 GB attachment never sits in memory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from requests_toolbelt import MultipartEncoder
from simple_salesforce.exceptions import SalesforceError

from .base import Services
from .writer import WriteResult

MULTIPART_MAX_BYTES = 2 * 1024 ** 3  # per ContentVersion, through sObject Basic Information


def upload_version(svc: Services, key: str, values: dict[str, Any], path: Path) -> WriteResult:
    """Insert one ContentVersion (``values`` without VersionData) with the file at ``path`` as its content."""
    fields = {k: v for k, v in values.items() if k != "VersionData"}

    def send() -> Any:
        # A fresh stream per attempt: a retried request must send the whole file again.
        with path.open("rb") as stream:
            body = MultipartEncoder(fields=[
                ("entity_content", (None, json.dumps(fields), "application/json")),
                ("VersionData", (fields.get("PathOnClient") or path.name, stream, "application/octet-stream")),
            ])
            return svc.client.sf.restful("sobjects/ContentVersion", method="POST", data=body,
                                         headers={"Content-Type": body.content_type})

    try:
        # Not idempotent: a lost answer may hide a created file; the next run finds it by its external id.
        result = svc.client.call(send, idempotent=False) or {}
    except SalesforceError as exc:
        content = exc.content[0] if isinstance(exc.content, list) and exc.content else {}
        content = content if isinstance(content, dict) else {}
        return WriteResult(key, False, code=str(content.get("errorCode") or f"HTTP_{exc.status}"),
                           message=str(content.get("message") or "")[:500], fields=list(content.get("fields") or []))
    if not result.get("id"):
        return WriteResult(key, False, code="WRITE_FAILED", message=f"no id in Salesforce's answer: {result}"[:500])
    svc.remember("ContentVersion", key, result["id"])
    return WriteResult(key, True, id=result["id"], created=True)
