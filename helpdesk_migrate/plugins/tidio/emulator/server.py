"""A local Tidio OpenAPI emulator: a real HTTP server on 127.0.0.1 (uvicorn, through helpdesk_migrate.sdk.emulator).

What it enforces (shared/reference/tidio-api.md, section 7):

- Auth: both ``X-Tidio-Openapi-Client-*`` headers, else 401 ``unauthorized``; ``Accept`` with
  ``version=1``, else 406 ``missing_api_version``. Errors are always ``{"errors": [{code, message}]}``.
- Rate limit: a per-project token bucket (plan: starter 10, plus 60, premium 120 a minute, or any
  ``rate_limit``), ``x-ratelimit-limit``/``-remaining`` headers, 429 with Tidio's body and no Retry-After.
- Pagination: opaque base64 keyset cursors, ``meta: {cursor|null, limit}``, 400 on a bad cursor.
- Contacts: create always inserts; batch create/update of 1-100, all or nothing; property types enforced.
- Tickets: POST /tickets/as-contact, PATCH, DELETE, reply; every public operator reply is logged as
  "emailed"; operators, departments, tags and property definitions are read-only fixtures.
- Faults: the kit's vocabulary (``helpdesk_migrate.sdk.emulator_faults``), armed at start (``faults=``), from
  tests (``set_faults``) or over HTTP (``POST /_emulator/faults``): e.g. ``server_error_next`` (N requests answered
  503 unprocessed), ``server_error_every``, ``rate_limit_next`` (extra 429s), ``lose_response_next`` (N writes
  processed but answered 502, as if the connection died after Tidio saved them), ``reset_mid_body_next``,
  ``slow_body_next`` with ``slow_ms``, ``expired_auth_next``, ``latency_ms``, ``fault_path``; plus Tidio's own
  ``refuse_contacts_matching`` (a project-side rule the client cannot know: contacts whose email or name
  contains the text are refused with 422, which makes a whole batch fail).

Run it alone: ``python -m helpdesk_migrate.plugins.tidio.emulator.server --port 8766 --seed 42``; it prints the environment that
points the product at it. Inspection (no auth): GET /_emulator/counts, /_emulator/state, /_emulator/emailed,
/_emulator/requests (the kit's request log), /_emulator/faults.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlparse

from helpdesk_migrate.sdk import emulator as kit

from .state import ApiError, TidioState, diff, parse_profiles
from .workspace import build_workspace, seed_view

PLAN_LIMITS = {"starter": 10, "plus": 60, "premium": 120}
# Tidio's own switch beside the kit's fault vocabulary: a project rule the client cannot foresee.
EXTRA_FAULTS = ("refuse_contacts_matching",)
ID_IN_PATH = re.compile(r"/[0-9a-f-]{8,}|/\d+")
RATE_LIMIT_BODY = {"errors": [{"code": "too_many_requests", "message": "You have reached the limit of allowed attempts"}]}


class TidioFaults(kit.Faults):
    """The kit's fault vocabulary plus Tidio's ``refuse_contacts_matching``, which the state applies."""

    def __init__(self, switches: Mapping[str, Any] | None, state: TidioState):
        self.state = state
        super().__init__(switches, extra=EXTRA_FAULTS)

    def arm(self, **switches: Any) -> None:
        super().arm(**switches)
        self.state.refuse_matching = self.get("refuse_contacts_matching")


class _Handler(kit.RequestHandler):
    """One request, handled: the answer is left in ``response`` for the serving layer (the SDK emulator kit)."""

    emulator: TidioEmulator

    def _send(self, status: int, body: Any = None, headers: Mapping[str, str] | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        out = {}
        ctype = "application/json" if status >= 400 or status == 429 else "application/json; version=1"
        if payload:
            out["Content-Type"] = ctype
        out["Content-Length"] = str(len(payload))
        self.response = kit.Response(status, {**out, **(headers or {})}, payload)

    def _body(self) -> Any:
        raw = self.request.body
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "bad_request", "The request body is not valid JSON") from None

    def _handle(self, method: str) -> None:
        emu = self.emulator
        url = urlparse(self.path)
        path = url.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            body = self._body()
        except ApiError as exc:
            self._send(exc.status, exc.body())
            return
        control = kit.control_response(self.request, emu.faults, emu.log)
        if control is not None:
            self.response = control
            return
        if path.startswith("/_emulator/"):
            self._control(method, path, body)
            return
        if (self.headers.get("X-Tidio-Openapi-Client-Id") != emu.client_id
                or self.headers.get("X-Tidio-Openapi-Client-Secret") != emu.client_secret):
            self._send(401, {"errors": [{"code": "unauthorized", "message": "Invalid or missing OpenAPI client "
                                                                            "credentials"}]})
            return
        if not re.search(r"version\s*=\s*1\b", self.headers.get("Accept") or ""):
            self._send(406, {"errors": [{"code": "missing_api_version", "message": "Accept: application/json; "
                                                                                    "version=1 is required"}]})
            return
        allowed, remaining = emu.bucket.take()
        rl_headers = {"x-ratelimit-limit": str(emu.bucket.limit), "x-ratelimit-remaining": str(remaining)}
        if not allowed:
            emu.count_request("429")
            self._send(429, RATE_LIMIT_BODY, rl_headers)  # no Retry-After, as documented
            return
        emu.faults.wait_latency()
        if emu.faults.due("reset", method, path):
            self.response = kit.Response.connection_reset()
            return
        if emu.faults.due("rate_limit", method, path):
            emu.count_request("429")
            self._send(429, RATE_LIMIT_BODY, rl_headers)
            return
        if emu.faults.due("expired_auth", method, path):
            emu.count_request("401")
            self._send(401, {"errors": [{"code": "unauthorized", "message": "Invalid or missing OpenAPI client "
                                                                            "credentials"}]})
            return
        if emu.faults.due("server_error", method, path):
            status = emu.faults.server_error_status(503)
            emu.count_request(str(status))
            self._send(status, {"errors": [{"code": "service_unavailable", "message": "Injected fault: try again"}]},
                       rl_headers)
            return
        try:
            with emu.state.lock:
                status, result = emu.route(method, path, query, body)
        except ApiError as exc:
            emu.count_request(str(exc.status))
            self._send(exc.status, exc.body(), rl_headers)
            return
        except Exception as exc:  # an emulator bug must answer, not hang the client
            self._send(500, {"errors": [{"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}]})
            return
        emu.count_request(f"{method} {ID_IN_PATH.sub('/{id}', path)}")
        if method != "GET" and emu.faults.due("lose_response", method, path):
            self._send(502, {"errors": [{"code": "bad_gateway", "message": "Injected fault: the response was lost"}]})
            return
        if emu.faults.due("reset_mid_body", method, path):
            self._send_cut(status, result, rl_headers)
            return
        if emu.faults.due("slow_body", method, path):
            time.sleep(emu.faults.slow_seconds())
        self._send(status, result, rl_headers)

    def _send_cut(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        """The headers and half the body, then a TCP reset: what a dropped connection looks like mid-answer
        (an empty answer is cut before its status line)."""
        payload = b"" if body is None else json.dumps(body).encode()
        if not payload:
            self.response = kit.Response.connection_reset()
            return
        self.response = kit.Response(status, {"Content-Type": "application/json; version=1",
                                               "Content-Length": str(len(payload)), **headers}, payload,
                                     cut_after=len(payload) // 2)

    def _control(self, method: str, path: str, body: Any) -> None:
        emu = self.emulator
        with emu.state.lock:
            if method == "GET" and path == "/_emulator/counts":
                self._send(200, emu.state.counts())
            elif method == "GET" and path == "/_emulator/state":
                self._send(200, emu.state.dump())
            elif method == "GET" and path == "/_emulator/emailed":
                self._send(200, {"emailed": list(emu.state.emailed)})
            else:
                self._send(404, {"errors": [{"code": "not_found", "message": "unknown emulator control route"}]})


class TidioEmulator:
    """The running emulator (the engine's ``RunningEmulator``) plus inspection helpers for tests."""

    def __init__(self, *, seed: int = 42, size: int = 100, port: int = 0, rate_limit: int | None = None,
                 plan: str = "plus", faults: Mapping[str, Any] | None = None,
                 existing: Mapping[str, Sequence[Mapping[str, Any]]] | None = None, page_size: int = 100,
                 properties: Sequence[Mapping[str, str]] = (), tags: Sequence[str] = (),
                 operators: Sequence[Mapping[str, Any]] = (), departments: Sequence[str] = (),
                 host: str = "127.0.0.1", profile: str = "default"):
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the emulator serves plain http and binds only to 127.0.0.1 or localhost")
        if plan not in PLAN_LIMITS:
            raise ValueError(f"plan must be one of {sorted(PLAN_LIMITS)}")
        self.seed = seed
        self.plan = plan
        self.rate_limit = int(rate_limit or PLAN_LIMITS[plan])
        self.profile = profile
        self.state = TidioState(seed=seed, page_size=page_size, profiles=parse_profiles(profile))
        build_workspace(self.state, seed=seed, size=size, existing=existing, properties=properties, tags=tags,
                        operators=operators, departments=departments)
        self.state.requests.clear()
        self.bucket = kit.TokenBucket(self.rate_limit)
        self.faults = TidioFaults(faults, self.state)
        self.log = kit.RequestLog()
        # Fake credentials with the documented prefixes; fresh per emulator so nothing real can match.
        self.client_id = f"ci_emulator{seed}_{secrets.token_hex(6)}"
        self.client_secret = f"cs_emulator{seed}_{secrets.token_hex(12)}"
        self._server = kit.EmulatorServer(lambda request: _Handler.serve(self, request), host=host, port=port,
                                          name="tidio-emulator")
        self._server.answering.append(lambda request, response: self.log.record(
            request.method, request.path, request.query, response.status, bytes_in=len(request.body)))
        self.port = self._server.port
        self.url = f"http://{host}:{self.port}"

    # -- RunningEmulator --------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return {"TIDIO_BASE_URL": self.url, "TIDIO_CLIENT_ID": self.client_id,
                "TIDIO_CLIENT_SECRET": self.client_secret, "TIDIO_RATE_LIMIT_PER_MINUTE": str(self.rate_limit)}

    def seed_records(self, canonical: str) -> list[dict[str, Any]]:
        with self.state.lock:
            return seed_view(self.state, canonical)

    def demo_env(self) -> dict[str, str]:
        """Settings that let the demo run through while still showing the reconciliation queue: tickets of
        agents with no operator go to the first active operator (reported as a fallback, not hidden)."""
        with self.state.lock:
            active = sorted(o["email"] for o in self.state.operators.values() if o.get("active"))
        return {"TIDIO_FALLBACK_OPERATOR_ID": active[0]} if active else {}

    def stop(self) -> None:
        self._server.stop()

    # -- inspection -------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with self.state.lock:
            return self.state.counts()

    def dump(self) -> dict[str, Any]:
        with self.state.lock:
            return self.state.dump()

    snapshot = dump

    @staticmethod
    def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
        return diff(before, after)

    def emailed(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.emailed)

    def set_faults(self, **faults: Any) -> None:
        self.faults.update(faults)

    def request_log(self) -> list[dict[str, Any]]:
        return self.log.all()

    def set_rate_limit(self, per_minute: int) -> None:
        self.rate_limit = per_minute
        self.bucket = kit.TokenBucket(per_minute)

    def count_request(self, key: str) -> None:
        with self.state.lock:
            self.state.requests[key] = self.state.requests.get(key, 0) + 1

    # -- routing ----------------------------------------------------------------------------------

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        s = self.state
        parts = [p for p in path.split("/") if p]
        cursor = query.get("cursor")
        match (method, parts):
            case ("GET", ["project"]):
                return 200, {"project_id": s.project_id, "status": "active"}
            case ("GET", ["operators"]):
                return 200, s.list_operators(cursor)
            case ("GET", ["departments"]):
                return 200, {"departments": [dict(d) for d in s.departments.values()]}
            case ("GET", ["contact-properties"]):
                return 200, s.list_properties(cursor)
            case ("GET", ["contacts"]):
                return 200, s.list_contacts(cursor, query.get("email"))
            case ("POST", ["contacts"]):
                return 201, s.create_contact(body)
            case ("POST", ["contacts", "batch"]):
                return s.batch_create_status, s.create_contacts_batch(body)
            case ("PATCH", ["contacts", "batch"]):
                s.patch_contacts_batch(body)
                return 204, None
            case ("GET", ["contacts", contact_id]):
                return 200, s.get_contact(contact_id)
            case ("PATCH", ["contacts", contact_id]):
                s.patch_contact(contact_id, body)
                return 204, None
            case ("DELETE", ["contacts", contact_id]):
                s.delete_contact(contact_id)
                return 204, None
            case ("GET", ["contacts", contact_id, "messages"]):
                return 200, s.contact_messages(contact_id, cursor)
            case ("POST", ["contacts", contact_id, "messages"]):
                s.message_as_contact(contact_id, body)
                return 202, None
            case ("GET", ["tickets"]):
                return 200, s.list_tickets(cursor)
            case ("GET", ["tickets", "tags"]):
                return 200, sorted((dict(t) for t in s.tags.values()), key=lambda t: t["name"].lower())
            case ("GET", ["tickets", "custom-fields"]):
                return 200, [dict(f) for f in s.ticket_fields.values()]
            case ("POST", ["tickets", "as-contact"]):
                return 201, s.create_ticket(body)
            case ("GET", ["tickets", ticket_id]):
                return 200, s.get_ticket(ticket_id)
            case ("PATCH", ["tickets", ticket_id]):
                s.patch_ticket(ticket_id, body)
                return 204, None
            case ("DELETE", ["tickets", ticket_id]):
                s.delete_ticket(ticket_id)
                return 204, None
            case ("POST", ["tickets", ticket_id, "reply"]):
                return 201, s.reply(ticket_id, body)
        raise ApiError(404, "not_found", f"No route for {method} {path}")


def start_emulator(*, seed: int = 42, size: int = 100, port: int = 0, **options: Any) -> TidioEmulator:
    return TidioEmulator(seed=seed, size=size, port=port, **options)


def main(argv: Sequence[str] | None = None) -> int:
    kit.stop_on_sigterm()  # first: a terminate() may come as soon as the environment is printed
    parser = argparse.ArgumentParser(prog="python -m helpdesk_migrate.plugins.tidio.emulator.server", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--size", type=int, default=100, help="pre-existing customer contacts in the project")
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per minute (default: the plan's)")
    parser.add_argument("--plan", choices=sorted(PLAN_LIMITS), default="plus")
    parser.add_argument("--profile", default="default", help="comma-separated emulator profiles (see "
                        "helpdesk_migrate/plugins/tidio/README.md): batch-ids-only, batch-201, subject-limit, ticket-without-tags")
    parser.add_argument("--existing", help="JSON file {agents, teams, tags, custom_fields, contacts} of canonical "
                                           "records to provision as operators, departments, tags, properties")
    args = parser.parse_args(argv)
    existing = None
    if args.existing:
        with open(args.existing) as fh:
            existing = json.load(fh)
    emu = TidioEmulator(seed=args.seed, size=args.size, port=args.port, rate_limit=args.rate_limit, plan=args.plan,
                        existing=existing, profile=args.profile)
    for key, value in emu.env().items():
        print(f"{key}={value}", flush=True)
    print(f"# Tidio emulator on {emu.url} (plan {args.plan}, {emu.rate_limit}/min); Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
