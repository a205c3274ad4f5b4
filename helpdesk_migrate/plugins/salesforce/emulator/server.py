"""A Salesforce org on 127.0.0.1 that simple-salesforce talks to over real HTTP.

simple-salesforce hard-codes ``https://``; the client reaches this plain-HTTP server through a
scheme-rewriting adapter mounted only for loopback hosts (see ``client.py`` and the shared reference, §2).

Served (paths under ``/services/data/vNN.N/``): sObject CRUD, upsert by external id (201/200/300), query
and queryMore, describe (global and per object), ``composite/sobjects`` (Collections) and ``composite``,
Bulk API 2.0 ingest and query jobs with CSV results, ``limits`` and the ``Sforce-Limit-Info`` header,
Tooling query and CustomField create/read/update/delete, data-category groups, Knowledge publishing;
plus SOAP and OAuth2 logins and ``/services/oauth2/userinfo``.

The org validates as a real one (see emulator_org.py). Faults are switchable at runtime through the
``faults`` dict (``emulator.faults.update(lock_errors=3)``); state is inspectable with ``counts()``,
``dump()``, ``snapshot()`` and ``diff()``.

Run it standalone: ``python -m helpdesk_migrate.plugins.salesforce.emulator.server --port 8765 --seed 42``.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import random
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit
from xml.sax.saxutils import escape as xml_escape

from helpdesk_migrate.sdk import emulator as kit

from .blob import blob_insert_values, is_multipart
from .org import (
    Org,
    RecordErrors,
    SalesforceApiError,
    ValidationRule,
    diff_snapshots,
    normalize_id,
    not_found,
    now_iso,
)
from .profiles import parse_profile
from .seed import apply_behaviour, build_org
from .soql import columns as soql_columns
from .soql import execute as run_soql
from .soql import parse as parse_soql
from .tooling import (
    create_custom_field,
    delete_custom_field,
    describe_custom_field,
    update_custom_field,
)

# Salesforce's own switches beside the kit's fault vocabulary (helpdesk_migrate.sdk.emulator_faults), where
# e.g. server_error_next answers 503 unprocessed, lose_response_next applies a write and answers 500,
# expired_auth_next invalidates every session issued so far, and reset_mid_body_next / slow_body_next (with
# slow_ms) hit REST answers after the request was applied.
EXTRA_FAULTS = (
    "lock_errors",  # the next N record writes fail with UNABLE_TO_LOCK_ROW
    "lock_objects",  # restrict lock errors to these sObject names
    "daily_limit",  # overrides the org's DailyApiRequests maximum
    "bulk_job_fail",  # message: the next Bulk 2.0 ingest job ends Failed, nothing processed
    "bulk_unprocessed",  # the next Bulk 2.0 ingest job leaves its last N rows unprocessed (job Failed)
    "bulk_in_progress_polls",  # Bulk 2.0 jobs answer InProgress this many times before completing
)
API_VERSIONS = [f"{v}.0" for v in range(20, 67)]
QUERY_PAGE = 2000


class Response:
    def __init__(self, status: int, body: Any = None, *, content_type: str = "application/json;charset=UTF-8",
                 headers: Mapping[str, str] | None = None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = dict(headers or {})

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


def soql_object(org: Org, soql: str) -> str:
    return org.object(parse_soql(soql).object).name


def error_response(err: SalesforceApiError | RecordErrors) -> Response:
    if isinstance(err, RecordErrors):
        return Response(400, [e.rest() for e in err.errors])
    if err.status == 300:
        return Response(300, [f"/services/data/v62.0/sobjects/{rid}" for rid in err.message])
    return Response(err.status, [err.rest()])


def row_errors(err: Exception) -> list[dict[str, Any]]:
    if isinstance(err, RecordErrors):
        return [e.row() for e in err.errors]
    if isinstance(err, SalesforceApiError):
        if err.status == 300:
            return [{"statusCode": "DUPLICATE_EXTERNAL_ID", "message": "A user-specified external ID matches more "
                     "than one record during an upsert.", "fields": []}]
        return [err.row()]
    return [{"statusCode": "UNKNOWN_EXCEPTION", "message": str(err), "fields": []}]


def bulk_error(err: Exception) -> str:
    if isinstance(err, RecordErrors):
        return err.errors[0].bulk()
    if isinstance(err, SalesforceApiError):
        if err.status == 300:
            return "DUPLICATE_EXTERNAL_ID:A user-specified external ID matches more than one record during an upsert.:--"
        return err.bulk()
    return f"UNKNOWN_EXCEPTION:{err}:--"


@dataclass
class IngestJob:
    id: str
    operation: str
    object: str
    external_id: str | None
    delimiter: str
    line_ending: str
    created: str
    state: str = "Open"
    data: list[bytes] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    successes: list[tuple[str, bool, list[str]]] = field(default_factory=list)
    failures: list[tuple[str, str, list[str]]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    error_message: str | None = None
    polls_left: int = 0
    api_version: str = "62.0"
    created_by: str = ""

    def info(self) -> dict[str, Any]:
        out = {"id": self.id, "operation": self.operation, "object": self.object, "createdById": self.created_by,
               "createdDate": self.created, "systemModstamp": now_iso(), "state": self.state,
               "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(self.api_version),
               "jobType": "V2Ingest", "lineEnding": self.line_ending, "columnDelimiter": self.delimiter,
               "contentUrl": f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches",
               "retries": 0, "totalProcessingTime": 0, "apiActiveProcessingTime": 0, "apexProcessingTime": 0}
        if self.external_id:
            out["externalIdFieldName"] = self.external_id
        if self.state in ("JobComplete", "Failed", "Aborted"):
            out["numberRecordsProcessed"] = len(self.successes) + len(self.failures)
            out["numberRecordsFailed"] = len(self.failures)
        if self.error_message:
            out["errorMessage"] = self.error_message
        return out


DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}


class SalesforceEmulator:
    """One emulated org served over HTTP in a daemon thread (``RunningEmulator``)."""

    def __init__(self, *, seed: int = 42, size: int = 100, port: int = 0, host: str = "127.0.0.1",
                 rate_limit: int | None = None, faults: Mapping[str, Any] | None = None,
                 existing: Mapping[str, Sequence[Mapping[str, Any]]] | None = None, api_limit: int = 100_000,
                 permissions: Mapping[str, bool] | None = None, knowledge: bool = True, schema: str = "bare",
                 validation_rules: Sequence[ValidationRule] | None = None, api_version: str = "62.0",
                 profile: str = "default"):
        # Salesforce meters a daily request allowance, not a per-minute rate: ``rate_limit`` is accepted
        # for the shared emulator interface and ignored; ``api_limit`` (or the daily_limit fault) is the cap.
        del rate_limit
        perms = {"audit_fields": True, "inactive_owners": True, **(permissions or {})}
        self.seed, self.size, self.api_version = seed, size, api_version
        self.org: Org = build_org(seed=seed, size=size, existing=existing, api_limit=api_limit,
                                  audit_fields=perms["audit_fields"], inactive_owners=perms["inactive_owners"],
                                  knowledge=knowledge, validation_rules=validation_rules)
        self.profile = profile
        self.behaviour = parse_profile(profile)
        apply_behaviour(self.org, self.behaviour)
        if schema == "prepared":
            from .tooling import prepare_emulated_org

            prepare_emulated_org(self.org)
        self.faults = kit.Faults(faults, extra=EXTRA_FAULTS, seed=seed)
        self.log = kit.RequestLog()
        self.admin_id = self.org.current_user_id
        token = base64.urlsafe_b64encode(f"emulator-{seed}".encode()).decode().rstrip("=")
        self.session_id = f"{self.org.org_id[:15]}!{token}"
        self.sessions: dict[str, str] = {self.session_id: self.admin_id}
        self.credentials = {
            "username": self.org.records["User"][self.admin_id]["Username"],
            "password": f"emulator-password-{seed}", "security_token": f"TOKEN{seed}",
            "consumer_key": f"3MVG9emulator{seed}", "consumer_secret": f"emulator-secret-{seed}",
        }
        self.jobs: dict[str, IngestJob] = {}
        self.query_jobs: dict[str, dict[str, Any]] = {}
        self.cursors: dict[str, list[dict[str, Any]]] = {}
        self.request_log: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self.org.write_fault = self._write_fault
        # Serving from here on (start() is kept for callers): the handler only reads what is set above.
        self._server = kit.EmulatorServer(lambda request: _serve(self, request), host=host, port=port,
                                          name="salesforce-emulator")
        self._server.answering.append(lambda request, response: self.log.record(
            request.method, request.path, request.query, response.status, bytes_in=len(request.body)))
        self.host, self.port = self._server.host, self._server.port
        self.url = self._server.url

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> SalesforceEmulator:
        return self

    def stop(self) -> None:
        self._server.stop()

    def env(self) -> dict[str, str]:
        return {"SALESFORCE_INSTANCE_URL": self.url, "SALESFORCE_SESSION_ID": self.session_id,
                # A rehearsal org: let the plugin create the custom fields its schema plan needs.
                "SALESFORCE_CREATE_SCHEMA": "true"}

    def demo_env(self) -> dict[str, str]:
        """Settings that let the demo run through while still reporting its problems: the agent the demo
        leaves without a User hands its conversations to the org's admin, and the owners_matched check
        reports them as owned by the fallback owner."""
        return {"SALESFORCE_FALLBACK_OWNER_ID": self.admin_id}

    def seed_records(self, canonical: str) -> list[dict[str, Any]]:
        """A destination has no canonical workspace of its own: the Users it was provisioned with, as
        canonical agents, are what it can show."""
        if canonical != "agents":
            return []
        return [{"id": u["Id"], "email": u["Email"], "name": u.get("Name"), "is_active": bool(u.get("IsActive"))}
                for u in self.org.records["User"].values()]

    # -- inspection for tests -------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        return self.org.counts()

    def dump(self, obj: str | None = None) -> Any:
        with self.org.lock:
            if obj is not None:
                return [dict(r) for r in self.org.records[obj].values()]
            return {name: [dict(r) for r in recs.values()] for name, recs in self.org.records.items() if recs}

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        return self.org.snapshot()

    def diff(self, before: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
        return diff_snapshots(before, self.org.snapshot())

    @property
    def api_calls(self) -> int:
        return self.org.api_used

    def set_permission(self, permission: str, value: bool) -> None:
        """Grant or revoke a permission (e.g. PermissionsCreateAuditFields) on the admin's profile."""
        with self.org.lock:
            for ps in self.org.records["PermissionSet"].values():
                if ps.get("IsOwnedByProfile"):
                    ps[permission] = value

    def expire_sessions(self) -> None:
        with self._lock:
            self.sessions.clear()

    # -- faults ---------------------------------------------------------------------------------------

    def _write_fault(self, obj: str, op: str) -> SalesforceApiError | None:
        with self._lock:
            wanted = self.faults.get("lock_objects")
            if (not wanted or obj in wanted) and self.faults.take("lock_errors"):
                return SalesforceApiError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record "
                                          "or 1 records: (row locked by another transaction)")
        return None

    # -- request handling -------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Response:
        self.faults.wait_latency()
        if len(raw_path) > 16_384:
            return Response(414, [{"errorCode": "URI_TOO_LONG", "message": "The request URI exceeds 16,384 bytes"}])
        url = urlsplit(raw_path)
        path = url.path
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        host = headers.get("Host") or f"{self.host}:{self.port}"
        try:
            if path.startswith("/_emulator/"):
                return self._inspection(method, path, params, body)
            if re.match(r"^/services/Soap/u/[\d.]+", path) and method == "POST":
                return self._soap_login(body, host, path)
            if path.rstrip("/") == "/services/oauth2/token" and method == "POST":
                return self._token_login(headers, body, host)
            if path.rstrip("/") == "/services/oauth2/userinfo":
                user = self._authenticate(headers)
                if not self.behaviour.userinfo:
                    # A token without the openid/id scope (profile no-userinfo): refused as Salesforce does.
                    return Response(403, {"error": "insufficient_scope",
                                          "error_description": "The access token does not have the openid scope"})
                return self._userinfo(user, host)
            m = re.match(r"^/id/(00D\w+)/(\w{15,18})/?$", path)
            if m:  # the identity URL of the token response
                user = self._authenticate(headers)
                if normalize_id(m.group(2)) != user or m.group(1) != self.org.org_id:
                    return Response(403, {"error": "insufficient_scope", "error_description": "Bad_Id"})
                return self._identity(user, host)
            if path.rstrip("/") == "/services/data":
                return Response(200, [{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v}
                                      for v in API_VERSIONS])
            m = re.match(r"^/services/data/v(\d+\.\d+)(?:/(.*))?$", path)
            if not m or m.group(1) not in API_VERSIONS:
                raise not_found()
            version, rest = m.group(1), (m.group(2) or "").strip("/")
            user = self._authenticate(headers)
            self._meter()
            if self.faults.due("server_error", method, path):
                status = self.faults.server_error_status(503)
                return Response(status, [{"message": "Server temporarily unavailable", "errorCode":
                                          "SERVER_UNAVAILABLE" if status == 503 else "UNKNOWN_EXCEPTION"}])
            with self.org.lock:
                self.org.current_user_id = user
            response = self._route(method, version, rest, params, headers, body)
            if method != "GET" and self.faults.due("lose_response", method, path):
                # The write happened, the answer is lost: what a dropped connection looks like to a client.
                return Response(500, [{"message": "An unexpected error occurred. Please include this ErrorId if "
                                       "you contact support: 1234-5678 (-1)", "errorCode": "UNKNOWN_EXCEPTION"}])
            return response
        except (SalesforceApiError, RecordErrors) as err:
            return error_response(err)
        except json.JSONDecodeError as err:
            return Response(400, [{"message": f"Unexpected character: {err.msg} at [line:{err.lineno}, column:"
                                   f"{err.colno}]", "errorCode": "JSON_PARSER_ERROR"}])

    def limit_header(self) -> str:
        limit = self.faults.get("daily_limit") or self.org.api_limit
        return f"api-usage={self.org.api_used}/{limit}"

    def _authenticate(self, headers: Mapping[str, str]) -> str:
        if self.faults.due("expired_auth"):
            self.expire_sessions()
        auth = headers.get("Authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else headers.get("X-SFDC-Session", "")
        with self._lock:
            user = self.sessions.get(token)
        if user is None:
            raise SalesforceApiError("INVALID_SESSION_ID", "Session expired or invalid", status=401)
        return user

    def _meter(self) -> None:
        with self._lock:
            limit = self.faults.get("daily_limit") or self.org.api_limit
            if self.org.api_used >= limit:
                raise SalesforceApiError("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", status=403)
            self.org.api_used += 1

    # -- logins ---------------------------------------------------------------------------------------

    def _new_session(self, user: str) -> str:
        token = f"{self.org.org_id[:15]}!{base64.urlsafe_b64encode(self.org.ids.next('0Bs').encode()).decode()}"
        with self._lock:
            self.sessions[token] = user
        return token

    def _soap_login(self, body: bytes, host: str, path: str) -> Response:
        text = body.decode("utf-8", "replace")
        user_m = re.search(r"<(?:\w+:)?username>(.*?)</(?:\w+:)?username>", text, re.S)
        pass_m = re.search(r"<(?:\w+:)?password>(.*?)</(?:\w+:)?password>", text, re.S)
        from html import unescape

        username = unescape(user_m.group(1)) if user_m else ""
        password = unescape(pass_m.group(1)) if pass_m else ""
        c = self.credentials
        if username != c["username"] or password not in (c["password"] + c["security_token"], c["password"]):
            fault = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.'
                     'org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>'
                     '<faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, password, '
                     'security token; or user locked out.</faultstring><detail><sf:LoginFault><sf:exceptionCode>'
                     'INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>Invalid username, password, security '
                     'token; or user locked out.</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>'
                     '</soapenv:Body></soapenv:Envelope>')
            return Response(500, fault, content_type="text/xml;charset=UTF-8")
        session = self._new_session(self.admin_id)
        version = path.rstrip("/").rsplit("/", 1)[-1]
        user = self.org.records["User"][self.admin_id]
        org_name = next(iter(self.org.records["Organization"].values()), {}).get("Name") or ""
        # userInfo as the partner WSDL's LoginResult has it (jsforce reads organizationId from it). The URLs use
        # the scheme this server speaks (plain http): a client that follows serverUrl must reach it.
        info = {"organizationId": self.org.org_id, "organizationName": org_name,
                "profileId": user.get("ProfileId") or "", "sessionSecondsValid": "7200",
                "userEmail": user.get("Email") or "", "userFullName": user.get("Name") or "", "userId": self.admin_id,
                "userLanguage": user.get("LanguageLocaleKey") or "en_US",
                "userLocale": user.get("LocaleSidKey") or "en_US", "userName": user.get("Username") or "",
                "userTimeZone": user.get("TimeZoneSidKey") or "GMT", "userType": "Standard"}
        user_info = "".join(f"<{k}>{xml_escape(str(v))}</{k}>" for k, v in info.items())
        xml = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/'
               'soap/envelope/" xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>'
               f'<metadataServerUrl>http://{host}/services/Soap/m/{version}/{self.org.org_id}</metadataServerUrl>'
               '<passwordExpired>false</passwordExpired><sandbox>false</sandbox>'
               f'<serverUrl>http://{host}/services/Soap/u/{version}/{self.org.org_id}</serverUrl>'
               f'<sessionId>{xml_escape(session)}</sessionId><userId>{self.admin_id}</userId>'
               f'<userInfo>{user_info}</userInfo>'
               '</result></loginResponse></soapenv:Body></soapenv:Envelope>')
        return Response(200, xml, content_type="text/xml;charset=UTF-8")

    def _token_login(self, headers: Mapping[str, str], body: bytes, host: str) -> Response:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        c = self.credentials
        grant = form.get("grant_type")
        ok = False
        if grant == "client_credentials":
            auth = headers.get("Authorization") or ""
            if auth.startswith("Basic "):
                key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            else:
                key, secret = form.get("client_id", ""), form.get("client_secret", "")
            ok = key == c["consumer_key"] and secret == c["consumer_secret"]
        elif grant == "password":
            ok = (form.get("client_id") == c["consumer_key"] and form.get("client_secret") == c["consumer_secret"]
                  and form.get("username") == c["username"]
                  and form.get("password") in (c["password"], c["password"] + c["security_token"]))
        if not ok:
            return Response(400, {"error": "invalid_client" if grant == "client_credentials" else "invalid_grant",
                                  "error_description": "authentication failure"})
        session = self._new_session(self.admin_id)
        return Response(200, {"access_token": session, "instance_url": f"https://{host}",
                              "id": f"https://{host}/id/{self.org.org_id}/{self.admin_id}", "token_type": "Bearer",
                              "issued_at": str(int(time.time() * 1000)), "signature": "emulated"})

    def _identity(self, user: str, host: str) -> Response:
        rec = self.org.records["User"][user]
        return Response(200, {"id": f"https://{host}/id/{self.org.org_id}/{user}", "user_id": user,
                              "organization_id": self.org.org_id, "username": rec.get("Username"),
                              "email": rec.get("Email"), "display_name": rec.get("Name"),
                              "active": rec.get("IsActive")})

    def _userinfo(self, user: str, host: str) -> Response:
        rec = self.org.records["User"][user]
        return Response(200, {"sub": f"https://{host}/id/{self.org.org_id}/{user}", "user_id": user,
                              "organization_id": self.org.org_id, "preferred_username": rec.get("Username"),
                              "email": rec.get("Email"), "name": rec.get("Name"), "active": rec.get("IsActive")})

    # -- inspection endpoints -------------------------------------------------------------------------

    def _inspection(self, method: str, path: str, params: Mapping[str, str], body: bytes) -> Response:
        if path == "/_emulator/counts":
            return Response(200, {"counts": self.counts(), "api_used": self.org.api_used})
        if path == "/_emulator/dump":
            return Response(200, self.dump(params.get("object")))
        raise not_found()

    # -- REST routing ---------------------------------------------------------------------------------

    def _route(self, method: str, version: str, rest: str, params: Mapping[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        # '+' in a path segment is read as a space: simple-salesforce's get_by_custom_id encodes with
        # quote_plus, while format_external_id (quote, safe='') sends a literal '+' as %2B.
        seg = [unquote_plus(s) for s in rest.split("/")] if rest else []
        org = self.org
        if not seg:
            return Response(200, {k: f"/services/data/v{version}/{k}" for k in
                                  ("sobjects", "query", "queryAll", "limits", "composite", "tooling", "jobs")})
        head = seg[0]
        if head == "limits":
            limit = self.faults.get("daily_limit") or org.api_limit
            return Response(200, {
                "DailyApiRequests": {"Max": limit, "Remaining": max(limit - org.api_used, 0)},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - len(self.query_jobs)},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000 - len(self.jobs)},
                "DataStorageMB": {"Max": 1024, "Remaining": 1024 - sum(org.counts().values()) // 500},
                "FileStorageMB": {"Max": 2048, "Remaining": 2048 - sum(len(b) for b in org.blobs.values()) // 2**20},
            }, headers={"Sforce-Limit-Info": self.limit_header()})
        if head == "sobjects" and len(seg) == 2 and method == "POST" and is_multipart(headers):
            obj = org.object(seg[1])  # a blob insert: JSON fields + the file (emulator_blob.py)
            rid = org.insert(obj.name, blob_insert_values(obj, headers, body))
            return Response(201, {"id": rid, "success": True, "errors": []},
                            headers={"Location": f"/services/data/v{version}/sobjects/{obj.name}/{rid}"})
        if head == "sobjects":
            return self._sobjects(method, version, seg[1:], params, body)
        if head == "chatter" and seg[1:] == ["users", "me"] and method == "GET":
            user = org.records["User"][org.current_user_id]
            return Response(200, {"id": user["Id"], "name": user.get("Name"), "username": user.get("Username"),
                                  "email": user.get("Email"), "type": "User", "isActive": user.get("IsActive")})
        if head in ("query", "queryAll"):
            return self._query(version, seg[1:], params, headers, tooling=False)
        if head == "composite":
            if len(seg) >= 2 and seg[1] == "sobjects":
                return self._collections(method, version, seg[2:], params, body)
            if len(seg) == 1 and method == "POST":
                return self._composite(version, json.loads(body or b"{}"))
            raise not_found()
        if head == "jobs" and len(seg) >= 2:
            if seg[1] == "ingest":
                return self._ingest(method, version, seg[2:], body, headers)
            if seg[1] == "query":
                return self._bulk_query(method, version, seg[2:], params, body)
        if head == "tooling":
            return self._tooling(method, version, seg[1:], params, headers, body)
        if head == "support" and seg[1:2] == ["dataCategoryGroups"]:
            if not org.knowledge_enabled:
                raise SalesforceApiError("FUNCTIONALITY_NOT_ENABLED", "Knowledge is not enabled in this org")
            return Response(200, {"categoryGroups": [
                {**g, "topCategories": g["topCategories"] if params.get("topCategoriesOnly") == "false" else
                 [{**c, "childCategories": []} for c in g["topCategories"]]} for g in org.data_category_groups]})
        if head == "knowledgeManagement" and seg[1:3] == ["articleVersions", "masterVersions"] and len(seg) == 4:
            if method != "PATCH":
                raise SalesforceApiError("METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed", status=405)
            payload = json.loads(body or b"{}")
            org.publish_article(seg[3], str(payload.get("publishStatus", "")))
            return Response(204)
        raise not_found()

    def _sobjects(self, method: str, version: str, seg: list[str], params: Mapping[str, str], body: bytes) -> Response:
        org = self.org
        if not seg:
            return Response(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
                {"name": o.name, "label": o.label, "keyPrefix": o.prefix, "custom": o.custom,
                 "createable": o.createable, "updateable": o.updateable, "deletable": o.deletable,
                 "queryable": True, "layoutable": not o.setup,
                 "urls": {"sobject": f"/services/data/v{version}/sobjects/{o.name}",
                          "describe": f"/services/data/v{version}/sobjects/{o.name}/describe"}}
                for o in org.objects.values() if not o.tooling and org.visible_object(o.name)]})
        obj = org.object(seg[0])
        if len(seg) == 1:
            if method == "GET":
                return Response(200, {"objectDescribe": self._describe(obj, version, short=True), "recentItems": []})
            if method == "POST":
                rid = org.insert(obj.name, json.loads(body or b"{}"))
                return Response(201, {"id": rid, "success": True, "errors": []},
                                headers={"Location": f"/services/data/v{version}/sobjects/{obj.name}/{rid}"})
            raise SalesforceApiError("METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed", status=405)
        if len(seg) == 2 and seg[1] == "describe":
            return Response(200, self._describe(obj, version))
        if len(seg) == 2:
            rid = seg[1]
            if method == "GET":
                rec = org.get(obj.name, rid) if normalize_id(rid) else None
                if rec is None:
                    raise not_found()
                return Response(200, self._render(obj.name, rec, version, params.get("fields")))
            if method == "PATCH":
                org.update(obj.name, rid, json.loads(body or b"{}"))
                return Response(204)
            if method == "DELETE":
                org.delete(obj.name, rid)
                return Response(204)
            if method == "POST" and rid == "":
                raise not_found()
        if len(seg) == 3:
            first, second = seg[1], seg[2]
            f = obj.field(second)
            if normalize_id(first) and f is not None and f.type == "base64" and method == "GET":
                rec = org.get(obj.name, first)
                return Response(200, org.blobs.get(rec["Id"], b""), content_type="application/octetstream")
            ext = obj.field(first)
            if ext is None or not ext.visible:
                raise SalesforceApiError("NOT_FOUND", f"Provided external ID field does not exist or is not "
                                         f"accessible: {first}", status=404)
            if method == "GET":
                ids = org.lookup(obj.name, ext.name, second)
                if not ids:
                    raise not_found()
                if len(ids) > 1:
                    raise SalesforceApiError("MULTIPLE_CHOICES", sorted(ids), status=300)
                return Response(200, self._render(obj.name, org.records[obj.name][next(iter(ids))], version))
            if method == "PATCH":
                rid, created = org.upsert(obj.name, ext.name, second, json.loads(body or b"{}"))
                return Response(201 if created else 200, {"id": rid, "success": True, "errors": [],
                                                          "created": created})
            if method == "DELETE":
                ids = org.lookup(obj.name, ext.name, second)
                if len(ids) != 1:
                    raise not_found() if not ids else SalesforceApiError("MULTIPLE_CHOICES", sorted(ids), status=300)
                org.delete(obj.name, next(iter(ids)))
                return Response(204)
        raise not_found()

    def _describe(self, obj: Any, version: str, short: bool = False) -> dict[str, Any]:
        org = self.org
        with org.lock:
            out = {"name": obj.name, "label": obj.label, "labelPlural": obj.label + "s", "keyPrefix": obj.prefix,
                   "custom": obj.custom, "createable": obj.createable, "updateable": obj.updateable,
                   "deletable": obj.deletable, "queryable": True, "searchable": not obj.setup,
                   "urls": {"sobject": f"/services/data/v{version}/sobjects/{obj.name}",
                            "describe": f"/services/data/v{version}/sobjects/{obj.name}/describe"}}
            if short:
                return out
            out["fields"] = [f.describe(org, obj) for f in obj.fields.values() if f.visible]
            out["recordTypeInfos"] = [
                {"name": r["Name"], "developerName": r["DeveloperName"], "recordTypeId": r["Id"],
                 "active": r.get("IsActive", True), "available": True, "defaultRecordTypeMapping": False,
                 "master": False}
                for r in org.records["RecordType"].values() if r.get("SobjectType") == obj.name]
            out["childRelationships"] = []
            return out

    def _render(self, obj: str, rec: Mapping[str, Any], version: str, fields: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/"
                                              f"{rec['Id']}"}}
        definition = self.org.objects[obj]
        wanted = [f.strip() for f in fields.split(",")] if fields else None
        for f in definition.fields.values():
            if not f.visible or (wanted and f.name not in wanted):
                continue
            value = rec.get(f.name)
            out[f.name] = None if isinstance(value, bytes) else value
        return out

    # -- query --------------------------------------------------------------------------------------

    def _query(self, version: str, seg: list[str], params: Mapping[str, str], headers: Mapping[str, str], *,
               tooling: bool) -> Response:
        base = f"/services/data/v{version}/{'tooling/' if tooling else ''}query/"
        if seg:  # queryMore: a locator and the offset of the next page
            locator = seg[0]
            key, _, offset = locator.rpartition("-")
            rows = self.cursors.get(key)
            if rows is None or not offset.isdigit():
                raise SalesforceApiError("INVALID_QUERY_LOCATOR", "invalid query locator")
            return self._page(rows, int(offset), key, base, headers)
        soql = params.get("q")
        if not soql:
            raise SalesforceApiError("MALFORMED_QUERY", "A query string has to be specified")
        records, total = run_soql(self.org, soql, tooling=tooling, api_version=version)
        if not records and total and "count(" in soql.replace(" ", "").lower():
            return Response(200, {"totalSize": total, "done": True, "records": []},
                            headers={"Sforce-Limit-Info": self.limit_header()})
        key = self.org.ids.next("01g")[:15]
        self.cursors[key] = records
        return self._page(records, 0, key, base, headers)

    def _page(self, rows: list[dict[str, Any]], offset: int, key: str, base: str,
              headers: Mapping[str, str]) -> Response:
        size = QUERY_PAGE
        m = re.search(r"batchSize=(\d+)", headers.get("Sforce-Query-Options") or "")
        if m:
            size = min(max(int(m.group(1)), 200), QUERY_PAGE)
        page = rows[offset: offset + size]
        done = offset + size >= len(rows)
        out: dict[str, Any] = {"totalSize": len(rows), "done": done, "records": page}
        if done:
            self.cursors.pop(key, None)
        else:
            out["nextRecordsUrl"] = f"{base}{key}-{offset + size}"
        return Response(200, out, headers={"Sforce-Limit-Info": self.limit_header()})

    # -- sObject Collections and composite ----------------------------------------------------------

    def _collections(self, method: str, version: str, seg: list[str], params: Mapping[str, str],
                     body: bytes) -> Response:
        org = self.org
        if method == "DELETE":
            ids = [i for i in (params.get("ids") or "").split(",") if i]
            if len(ids) > 200:
                raise SalesforceApiError("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 "
                                         "records into this call")
            all_or_none = (params.get("allOrNone") or "false").lower() == "true"
            return Response(200, self._apply_all(ids, all_or_none, lambda rid: (org.delete(None, rid), rid)[1]))
        if method == "GET" and len(seg) == 1:
            obj = org.object(seg[0])
            ids = [i for i in (params.get("ids") or "").split(",") if i]
            fields = params.get("fields")
            return Response(200, [self._render(obj.name, org.records[obj.name][normalize_id(i)], version, fields)
                                  if normalize_id(i) in org.records[obj.name] else None for i in ids])
        payload = json.loads(body or b"{}")
        if method == "POST" and len(seg) == 1 and isinstance(payload, dict) and "ids" in payload:
            # Retrieve by POST (resources_composite_sobjects_collections_retrieve): for id lists too long for a URL.
            obj = org.object(seg[0])
            fields = ",".join(payload.get("fields") or [])
            return Response(200, [self._render(obj.name, org.records[obj.name][normalize_id(i)], version, fields)
                                  if normalize_id(i) in org.records[obj.name] else None for i in payload["ids"]])
        records = payload.get("records")
        if not isinstance(records, list):
            raise SalesforceApiError("JSON_PARSER_ERROR", "records: expected a list of sObjects")
        if len(records) > 200:
            raise SalesforceApiError("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records "
                                     "into this call")
        all_or_none = bool(payload.get("allOrNone"))
        types = []
        for rec in records:
            t = (rec.get("attributes") or {}).get("type") if isinstance(rec, dict) else None
            if not t:
                raise SalesforceApiError("INVALID_TYPE", "Must send a concrete entity type.")
            types.append(org.object(t).name)
        setup = {t for t in types if org.objects[t].setup}
        if setup and len(set(types)) > 1:
            raise SalesforceApiError("MIXED_DML_OPERATION", "DML operation on setup object is not permitted after "
                                     f"you have updated a non-setup object (or vice versa): {', '.join(sorted(setup))}")
        if len(set(types)) > 10:
            raise SalesforceApiError("INVALID_BATCH_REQUEST", "too many sObject types in one request (max 10)")
        if method == "POST" and not seg:
            def create(rec: dict[str, Any]) -> str:
                if rec.get(_id_key(rec)):
                    raise SalesforceApiError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
                return org.insert(rec["attributes"]["type"], rec)
            return Response(200, self._apply_all(records, all_or_none, create))
        if method == "PATCH" and not seg:
            def update(rec: dict[str, Any]) -> str:
                key = _id_key(rec)  # field names are case-insensitive: jsforce sends "id"
                if not rec.get(key):
                    raise SalesforceApiError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
                rid = rec.pop(key)
                org.update(rec["attributes"]["type"], rid, rec)
                return normalize_id(rid) or rid
            return Response(200, self._apply_all(records, all_or_none, update))
        if method == "PATCH" and len(seg) == 2:
            obj, ext = org.object(seg[0]), seg[1]
            ext_field = obj.field(ext)
            if ext_field is None:
                raise SalesforceApiError("INVALID_FIELD", f"No such column '{ext}' on sobject of type {obj.name}")
            seen: dict[str, int] = {}
            for rec in records:
                key = str(rec.get(ext_field.name) or "").lower()
                seen[key] = seen.get(key, 0) + 1

            def upsert(rec: dict[str, Any]) -> tuple[str, bool]:
                value = rec.get(ext_field.name)
                if value in (None, ""):
                    raise SalesforceApiError("MISSING_ARGUMENT", f"{ext_field.name} not specified", [ext_field.name])
                if seen[str(value).lower()] > 1:
                    raise SalesforceApiError("DUPLICATE_VALUE", f"Duplicate external id specified: {value}",
                                             [ext_field.name])
                return org.upsert(obj.name, ext_field.name, value, rec, body_may_hold_key=True)
            return Response(200, self._apply_all(records, all_or_none, upsert))
        raise SalesforceApiError("METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed", status=405)

    def _apply_all(self, items: list[Any], all_or_none: bool, op: Any) -> list[dict[str, Any]]:
        org = self.org
        results: list[dict[str, Any]] = []
        with org.lock:
            if all_or_none:
                org.begin()
            failed = False
            for item in items:
                try:
                    out = op(item)
                    rid, created = out if isinstance(out, tuple) else (out, None)
                    res: dict[str, Any] = {"id": rid, "success": True, "errors": []}
                    if created is not None:
                        res["created"] = created
                    results.append(res)
                except (SalesforceApiError, RecordErrors) as err:
                    failed = True
                    res = {"success": False, "errors": row_errors(err)}
                    if isinstance(item, str):
                        res["id"] = item
                    results.append(res)
            if all_or_none and failed:
                org.rollback()
                rolled = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because "
                          "not all records were valid and the request was using AllOrNone header", "fields": []}
                results = [r if not r["success"] else {"success": False, "errors": [rolled]} for r in results]
            elif all_or_none:
                org.commit()
        return results

    def _composite(self, version: str, payload: Mapping[str, Any]) -> Response:
        subrequests = payload.get("compositeRequest") or []
        if len(subrequests) > 25:
            raise SalesforceApiError("INVALID_BATCH_REQUEST", "composite requests are limited to 25 subrequests")
        all_or_none = bool(payload.get("allOrNone"))
        refs: dict[str, Any] = {}
        out: list[dict[str, Any]] = []
        org = self.org
        with org.lock:
            if all_or_none:
                org.begin()
            halted = False
            for sub in subrequests:
                ref = sub.get("referenceId")
                if halted:
                    out.append({"body": [{"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled "
                                          "back since another operation in the same transaction failed."}],
                                "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref})
                    continue
                url = re.sub(r"@\{(\w+)\.(\w+)\}", lambda m: str((refs.get(m.group(1)) or {}).get(m.group(2), "")),
                             sub.get("url", ""))
                body = json.dumps(sub.get("body")).encode() if sub.get("body") is not None else b""
                body = re.sub(rb"@\{(\w+)\.(\w+)\}", lambda m: str((refs.get(m.group(1).decode()) or {}).get(
                    m.group(2).decode(), "")).encode(), body)
                parts = urlsplit(url)
                m = re.match(r"^/services/data/v(\d+\.\d+)/(.*)$", parts.path)
                try:
                    if not m:
                        raise not_found()
                    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                    resp = self._route(sub.get("method", "GET"), m.group(1), m.group(2).strip("/"), params, {}, body)
                except (SalesforceApiError, RecordErrors) as err:
                    resp = error_response(err)
                refs[ref] = resp.body if isinstance(resp.body, dict) else {}
                out.append({"body": resp.body, "httpHeaders": {k: v for k, v in resp.headers.items()
                                                               if k == "Location"},
                            "httpStatusCode": resp.status, "referenceId": ref})
                if resp.status >= 400 and all_or_none:
                    halted = True
            if all_or_none and halted:
                org.rollback()
                for item in out:
                    if item["httpStatusCode"] < 400:
                        item.update(httpStatusCode=400, httpHeaders={}, body=[{"errorCode": "PROCESSING_HALTED", "message": "The "
                                    "transaction was rolled back since another operation in the same transaction "
                                    "failed."}])
            elif all_or_none:
                org.commit()
        return Response(200, {"compositeResponse": out})

    # -- Bulk API 2.0 ingest ------------------------------------------------------------------------

    def _ingest(self, method: str, version: str, seg: list[str], body: bytes, headers: Mapping[str, str]) -> Response:
        if not seg:
            if method == "GET":
                return Response(200, {"done": True, "records": [j.info() for j in self.jobs.values()],
                                      "nextRecordsUrl": None})
            if method != "POST":
                raise SalesforceApiError("METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed", status=405)
            spec = json.loads(body or b"{}")
            op = spec.get("operation")
            if op not in ("insert", "upsert", "update", "delete", "hardDelete"):
                raise SalesforceApiError("INVALIDJOB", f"InvalidJob : Invalid operation: {op}")
            obj = self.org.object(spec.get("object") or "")
            if op == "upsert" and not spec.get("externalIdFieldName"):
                raise SalesforceApiError("INVALIDJOB", "InvalidJob : External ID was blank for upsert")
            if spec.get("contentType", "CSV") != "CSV":
                raise SalesforceApiError("INVALIDJOB", "InvalidJob : only CSV is supported")
            job = IngestJob(self.org.ids.next("750"), op, obj.name, spec.get("externalIdFieldName"),
                            spec.get("columnDelimiter") or "COMMA", spec.get("lineEnding") or "LF", now_iso(),
                            api_version=version, created_by=self.org.current_user_id)
            self.jobs[job.id] = job
            return Response(200, job.info())
        job = self.jobs.get(normalize_id(seg[0]) or seg[0])
        if job is None:
            raise not_found()
        if len(seg) == 1:
            if method == "GET":
                if job.state == "InProgress" and job.polls_left > 0:
                    job.polls_left -= 1
                    return Response(200, job.info())
                if job.state == "InProgress":
                    job.state = "Failed" if job.error_message else "JobComplete"
                return Response(200, job.info())
            if method == "PATCH":
                state = json.loads(body or b"{}").get("state")
                if state == "UploadComplete":
                    if job.state != "Open":
                        raise SalesforceApiError("INVALIDJOBSTATE", f"InvalidJobState : job is {job.state}")
                    job.state = "UploadComplete"
                    self._process(job)
                    return Response(200, {**job.info(), "state": "UploadComplete"})
                if state == "Aborted":
                    if job.state in ("JobComplete", "Failed", "Aborted"):
                        raise SalesforceApiError("INVALIDJOBSTATE", f"InvalidJobState : job is {job.state}")
                    job.state = "Aborted"
                    return Response(200, job.info())
                raise SalesforceApiError("INVALIDJOBSTATE", f"InvalidJobState : can't set state {state}")
            if method == "DELETE":
                if job.state not in ("JobComplete", "Failed", "Aborted", "UploadComplete"):
                    raise SalesforceApiError("INVALIDJOBSTATE", "InvalidJobState : job is still open")
                del self.jobs[job.id]
                return Response(204)
        if len(seg) == 2 and seg[1] == "batches" and method == "PUT":
            if job.state != "Open":
                raise SalesforceApiError("INVALIDJOBSTATE", f"InvalidJobState : job is {job.state}")
            if len(body) > 150 * 1024 * 1024:
                raise SalesforceApiError("CLIENTINPUTERROR", "ClientInputError : upload exceeds 150 MB")
            job.data.append(body)
            return Response(201)
        if len(seg) == 2 and method == "GET" and seg[1].lower() in ("successfulresults", "failedresults",
                                                                       "unprocessedrecords"):
            if seg[1].lower() != "unprocessedrecords" and job.state not in ("JobComplete", "Failed"):
                raise SalesforceApiError("INVALIDJOBSTATE", f"InvalidJobState : job is {job.state}")
            return Response(200, self._results_csv(job, seg[1].lower()), content_type="text/csv;charset=UTF-8")
        raise not_found()

    def _process(self, job: IngestJob) -> None:
        delim = DELIMITERS.get(job.delimiter, ",")
        text = b"".join(job.data).decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
        rows = list(reader)
        job.header = rows[0] if rows else []
        data = [r for r in rows[1:] if r]
        job.state = "InProgress"
        job.polls_left = int(self.faults.get("bulk_in_progress_polls") or 0)
        obj = self.org.objects[job.object]
        unknown = [h for h in job.header if obj.field(h) is None or not obj.field(h).visible]
        if unknown:
            job.error_message = f"InvalidBatch : Field name not found : {unknown[0]}"
            job.unprocessed = data
            return
        if job.operation in ("delete", "hardDelete") and [h.lower() for h in job.header] != ["id"]:
            job.error_message = "InvalidBatch : The 'delete/hardDelete' batch must contain only 'Id'"
            job.unprocessed = data
            return
        fail_message = self.faults.get("bulk_job_fail")
        if fail_message:
            self.faults.arm(bulk_job_fail=None)
            job.error_message = str(fail_message)
            job.unprocessed = data
            return
        cut = len(data)
        with self._lock:
            if self.faults.get("bulk_unprocessed"):
                cut = max(len(data) - int(self.faults.get("bulk_unprocessed")), 0)
                self.faults.arm(bulk_unprocessed=0)
        ext_counts: dict[str, int] = {}
        ext_index = next((i for i, h in enumerate(job.header) if job.external_id and h.lower() == job.external_id.lower()),
                         None)
        if ext_index is not None:
            for r in data:
                key = r[ext_index].lower() if ext_index < len(r) else ""
                ext_counts[key] = ext_counts.get(key, 0) + 1
        org = self.org
        for row in data[:cut]:
            values = dict(zip(job.header, row, strict=False))
            try:
                with org.lock:
                    if job.operation == "insert":
                        rid, created = org.insert(job.object, values, source="csv"), True
                    elif job.operation == "update":
                        rid = values.pop(next(h for h in job.header if h.lower() == "id"), "")
                        org.update(job.object, rid, values, source="csv")
                        rid, created = normalize_id(rid) or rid, False
                    elif job.operation == "upsert":
                        key = values.get(job.header[ext_index]) if ext_index is not None else None
                        if not key:
                            raise SalesforceApiError("MISSING_ARGUMENT", f"{job.external_id} not specified",
                                                     [job.external_id or ""])
                        if ext_counts.get(key.lower(), 0) > 1:
                            raise SalesforceApiError("DUPLICATE_VALUE", f"Duplicate external id specified: {key}",
                                                     [job.external_id or ""])
                        rid, created = org.upsert(job.object, job.external_id or "", key, values, source="csv",
                                                  body_may_hold_key=True)
                    else:
                        rid = row[0]
                        org.delete(job.object, rid)
                        rid, created = normalize_id(rid) or rid, False
                job.successes.append((rid, created, row))
            except (SalesforceApiError, RecordErrors) as err:
                # sf__Id is known for rows that named an existing record (update/delete), else empty.
                id_col = next((i for i, h in enumerate(job.header) if h.lower() == "id"), None)
                sf_id = row[id_col] if id_col is not None and id_col < len(row) else ""
                job.failures.append((sf_id, bulk_error(err), row))
        job.unprocessed = data[cut:]
        if job.unprocessed:
            job.error_message = ("ClientInputError : the job stopped before every row was processed; "
                                 f"{len(job.unprocessed)} row(s) are in unprocessedrecords")

    def _results_csv(self, job: IngestJob, kind: str) -> str:
        """A result file. Its rows come in no particular order ("The order of records in the response is not
        guaranteed", Bulk API 2.0 guide): shuffled, reproducibly per job, so a client must correlate rows by
        content, never by position."""
        if kind == "successfulresults":
            header = ["sf__Id", "sf__Created", *job.header]
            rows = [[rid, "true" if created else "false", *row] for rid, created, row in job.successes]
        elif kind == "failedresults":
            header = ["sf__Id", "sf__Error", *job.header]
            rows = [[rid, err, *row] for rid, err, row in job.failures]
        else:
            header, rows = job.header, [list(r) for r in job.unprocessed]
        random.Random(f"{job.id}/{kind}").shuffle(rows)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return buf.getvalue()

    # -- Bulk API 2.0 query -------------------------------------------------------------------------

    def _bulk_query(self, method: str, version: str, seg: list[str], params: Mapping[str, str],
                    body: bytes) -> Response:
        if not seg and method == "POST":
            spec = json.loads(body or b"{}")
            soql = spec.get("query") or ""
            records, _ = run_soql(self.org, soql, api_version=version)
            jid = self.org.ids.next("750")
            created = now_iso()
            # The job information Salesforce documents for a query job (create_job_query / get_job_query).
            self.query_jobs[jid] = {
                "id": jid, "operation": spec.get("operation", "query"), "object": soql_object(self.org, soql),
                "createdById": self.org.current_user_id, "createdDate": created, "systemModstamp": created,
                "state": "UploadComplete", "concurrencyMode": "Parallel", "contentType": "CSV",
                "apiVersion": float(version), "lineEnding": spec.get("lineEnding") or "LF",
                "columnDelimiter": spec.get("columnDelimiter") or "COMMA",
                "records": records, "columns": soql_columns(self.org, soql)}
            return Response(200, _public_query_job(self.query_jobs[jid]))
        job = self.query_jobs.get(normalize_id(seg[0]) or seg[0]) if seg else None
        if job is None:
            raise not_found()
        if len(seg) == 1:
            if method == "DELETE":  # a job still running must be aborted first (delete_job_query)
                if job["state"] not in ("JobComplete", "Failed", "Aborted"):
                    raise SalesforceApiError("INVALIDJOBSTATE", f"InvalidJobState : job is {job['state']}")
                del self.query_jobs[job["id"]]
                return Response(204)
            if method == "PATCH":
                if (json.loads(body or b"{}")).get("state") != "Aborted" or job["state"] != "UploadComplete":
                    raise SalesforceApiError("INVALIDJOBSTATE", f"InvalidJobState : job is {job['state']}")
                job["state"] = "Aborted"
                return Response(200, _public_query_job(job))
            if job["state"] == "UploadComplete":
                job["state"] = "JobComplete"
            return Response(200, {**_public_query_job(job), "jobType": "V2Query",
                                  "numberRecordsProcessed": len(job["records"]), "retries": 0,
                                  "totalProcessingTime": 0})
        if len(seg) == 2 and seg[1] == "results":
            if job["state"] != "JobComplete":
                raise SalesforceApiError("INVALIDJOBSTATE", f"InvalidJobState : job is {job['state']}")
            start = int(params.get("locator") or 0)
            size = int(params.get("maxRecords") or 50000)
            page = job["records"][start: start + size]
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(job["columns"])  # relationship fields as dotted columns, e.g. Account.Name
            for r in page:
                writer.writerow(["" if v is None else v for v in (_csv_cell(r, c) for c in job["columns"])])
            nxt = start + size
            return Response(200, buf.getvalue(), content_type="text/csv;charset=UTF-8", headers={
                "Sforce-Locator": str(nxt) if nxt < len(job["records"]) else "null",
                "Sforce-NumberOfRecords": str(len(page))})
        raise not_found()

    # -- Tooling ------------------------------------------------------------------------------------

    def _tooling(self, method: str, version: str, seg: list[str], params: Mapping[str, str],
                 headers: Mapping[str, str], body: bytes) -> Response:
        org = self.org
        if seg and seg[0] == "query":
            return self._query(version, seg[1:], params, headers, tooling=True)
        if len(seg) >= 2 and seg[0] == "sobjects":
            obj = org.object(seg[1], tooling=True)
            if obj.name != "CustomField":
                if len(seg) == 3 and method == "GET":
                    return Response(200, self._render(obj.name, org.get(obj.name, seg[2]), version))
                raise SalesforceApiError("METHOD_NOT_ALLOWED", f"{obj.name} is read-only in this emulator", status=405)
            if len(seg) == 2 and method == "POST":
                payload = json.loads(body or b"{}")
                fid = create_custom_field(org, payload.get("FullName", ""), payload.get("Metadata") or {})
                return Response(201, {"id": fid, "success": True, "errors": [], "warnings": [], "infos": []})
            if len(seg) == 3:
                if method == "GET":
                    return Response(200, describe_custom_field(org, seg[2], version))
                if method == "PATCH":
                    update_custom_field(org, seg[2], (json.loads(body or b"{}")).get("Metadata") or {})
                    return Response(204)
                if method == "DELETE":
                    delete_custom_field(org, seg[2])
                    return Response(204)
        raise not_found()


def _serve(emulator: SalesforceEmulator, request: kit.Request) -> kit.Response:
    """One HTTP exchange: the org's answer, the REST faults that happen on the wire, the limit header."""
    control = kit.control_response(request, emulator.faults, emulator.log)
    if control is not None:
        return control
    resp = emulator.handle(request.method, request.target, request.headers, request.body)
    payload = resp.payload()
    rest = request.path.startswith("/services/data")
    if rest and emulator.faults.due("slow_body", request.method, request.path):
        time.sleep(emulator.faults.slow_seconds())
    # fault: Content-Length promises the whole body; half of it goes out, then a reset
    cut = len(payload) // 2 if rest and payload and emulator.faults.due("reset_mid_body", request.method,
                                                                         request.path) else None
    headers: dict[str, str] = {}
    if payload or resp.status not in (204,):
        headers["Content-Type"] = resp.content_type
    headers["Content-Length"] = str(len(payload))
    if rest:
        headers["Sforce-Limit-Info"] = emulator.limit_header()
    headers.update({k: v for k, v in resp.headers.items() if k != "Sforce-Limit-Info"})
    if cut is None:
        emulator.request_log.append((request.method, request.path, resp.status))
    return kit.Response(resp.status, headers, payload, cut_after=cut)


def _id_key(record: Mapping[str, Any]) -> str:
    return next((k for k in record if k.lower() == "id"), "Id")


def _public_query_job(job: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k not in ("records", "columns")}


def _csv_cell(record: Mapping[str, Any], column: str) -> Any:
    """A query record's value for a Bulk 2.0 CSV column; ``Account.Name`` reads the nested parent."""
    head, _, rest = column.partition(".")
    value = record.get(head)
    if rest:
        return value.get(rest) if isinstance(value, Mapping) else None
    return value


def start_emulator(**kwargs: Any) -> SalesforceEmulator:
    return SalesforceEmulator(**kwargs).start()


def main(argv: Sequence[str] | None = None) -> int:
    kit.stop_on_sigterm()  # first: a terminate() may come as soon as the environment is printed
    parser = argparse.ArgumentParser(prog="python -m helpdesk_migrate.plugins.salesforce.emulator.server",
                                     description="Serve an emulated Salesforce org until stopped.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--api-limit", type=int, default=100_000, help="daily API request limit")
    parser.add_argument("--schema", choices=("bare", "prepared"), default="bare",
                        help="prepared: the migration's custom fields already exist")
    parser.add_argument("--no-audit-fields", action="store_true", help="without 'Set Audit Fields' permission")
    parser.add_argument("--no-knowledge", action="store_true", help="an org without Salesforce Knowledge")
    parser.add_argument("--profile", default="default", help="comma-separated emulator profiles "
                        "(see emulator_profiles.py)")
    args = parser.parse_args(argv)
    emu = SalesforceEmulator(seed=args.seed, size=args.size, port=args.port, host=args.host, api_limit=args.api_limit,
                             schema=args.schema, knowledge=not args.no_knowledge,
                             permissions={"audit_fields": not args.no_audit_fields}, profile=args.profile)
    for key, value in emu.env().items():
        print(f"{key}={value}")
    print(f"# Salesforce emulator on {emu.url} (seed {args.seed}, size {args.size}); Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
