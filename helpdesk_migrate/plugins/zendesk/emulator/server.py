"""A Zendesk Ticketing and Help Center API emulator: a real HTTP server (the SDK's kit) over a synthetic account
(``account.py``).

What it reproduces (sources in helpdesk_migrate/plugins/zendesk/README.md):

- Basic auth ``{email}/token:{api_token}`` or ``Authorization: Bearer {token}``; 401
  ``{"error": "Couldn't authenticate you"}``.
- The account's per-minute budget by plan (Team 200, Growth and Professional 400, Enterprise 700, Enterprise
  Plus and the High Volume add-on 2,500), counted in fixed minutes, with ``X-Rate-Limit``/``X-Rate-Limit-Remaining``
  and ``ratelimit-limit``/``ratelimit-remaining``/``ratelimit-reset`` on every API answer; the incremental exports'
  own budget (10 a minute, 30 with High Volume), spent as well as the account's; 429 with ``Retry-After``.
- The incremental exports (cursor-based tickets and users with side-loads, time-based organizations), cursor and
  offset pagination of lists, comments per ticket with their attachments, deleted tickets, Help Center per locale.
- Archived tickets (closed over 120 days ago) absent from GET /tickets.json, present in the export and readable
  by id; deleted tickets 404 by id, listed by /deleted_tickets.json, "deleted" in the export.
- An agent's writes (PUT and DELETE /tickets/{id}.json) so tests can change the account between runs; the
  migration makes none (``snapshot()``).
- The kit's fault switches and request log (``/_emulator/faults``, ``/_emulator/requests``).

Run it for a demo: ``python -m helpdesk_migrate.plugins.zendesk.emulator.server --port 8910 --size 200``.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import threading
import time
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from helpdesk_migrate.sdk import emulator as kit

from .account import Account
from .api import Api, NotFound
from .ids import LONG_THREAD
from .paging import BadRequest
from .profiles import PROFILES, Shaper

API = "/api/v2/"
INCREMENTAL = "/api/v2/incremental/"
# Requests a minute by plan (account-wide) and for the incremental exports (reference: README, "Rate limits").
PLANS = {"team": 200, "growth": 400, "professional": 400, "enterprise": 700, "enterprise_plus": 2500,
         "high_volume": 2500}
INCREMENTAL_LIMIT, INCREMENTAL_HIGH_VOLUME = 10, 30


class _Window:
    """A budget counted in fixed windows (Zendesk speaks of requests "in the current minute")."""

    def __init__(self, limit: int, seconds: float):
        self.limit, self.seconds = limit, seconds
        self._lock = threading.Lock()
        self._start, self._used = 0.0, 0
        self.refused = 0

    def take(self) -> tuple[bool, int, float]:
        """(allowed, remaining, seconds until the window resets)."""
        now = time.time()
        with self._lock:
            if now >= self._start + self.seconds:
                self._start, self._used = now - (now % self.seconds), 0
            reset = self._start + self.seconds - now
            if self._used >= self.limit:
                self.refused += 1
                return False, 0, reset
            self._used += 1
            return True, self.limit - self._used, reset


class ZendeskEmulator:
    """A ``RunningEmulator``: ``url``, ``env()``, ``seed_records()``, ``stop()``; plus ``request_log()``,
    ``snapshot()``, ``set_faults()`` and ``dirt_manifest()`` for tests."""

    def __init__(self, seed: int = 42, size: int = 100, *, port: int = 0, rate_limit: float | None = None,
                 incremental_rate_limit: float | None = None, plan: str = "enterprise", window_seconds: float = 60,
                 faults: dict[str, Any] | None = None, dirt: bool = True, huge_thread: int = LONG_THREAD,
                 email: str = "admin@acme.example", token: str | None = None, host: str = "127.0.0.1",
                 profile: str = "default", existing: Any = None):
        if plan not in PLANS:
            raise ValueError(f"unknown Zendesk plan {plan!r}; one of {', '.join(PLANS)}")
        self.variants = kit.parse_profiles(profile, PROFILES, platform="Zendesk")
        self.profile = profile
        self.account = Account(seed, size, dirt=dirt, huge_thread=huge_thread)
        self.seed, self.size, self.plan = seed, size, plan
        self.rate_limit = int(rate_limit or PLANS[plan])
        high_volume = plan in ("high_volume", "enterprise_plus")
        if incremental_rate_limit is None:  # a rehearsal budget scales the export's the way the plan's relate
            base = INCREMENTAL_HIGH_VOLUME if high_volume else INCREMENTAL_LIMIT
            incremental_rate_limit = base if rate_limit is None else max(base, rate_limit * base / PLANS[plan])
        self.incremental_rate_limit = int(incremental_rate_limit)
        self.window_seconds = window_seconds
        self.budget = _Window(self.rate_limit, window_seconds)
        self.incremental = _Window(self.incremental_rate_limit, window_seconds)
        self.email = email
        self.token = token or f"zendesk-emulator-{uuid.uuid4().hex}"  # fresh: no two emulators share a budget
        self.faults = kit.Faults(faults, seed=seed)
        self.log = kit.RequestLog()
        self.shape = Shaper(self.variants)
        self._server = kit.EmulatorServer(lambda request: _Handler.serve(self, request), host=host, port=port,
                                          name="zendesk-emulator")
        self.port = self._server.port
        self.url = f"http://{host}:{self.port}"

    # -- RunningEmulator ---------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {"ZENDESK_BASE_URL": self.url, "ZENDESK_EMAIL": self.email, "ZENDESK_API_TOKEN": self.token,
               "ZENDESK_RATE_LIMIT_PER_MINUTE": str(self.rate_limit),
               "ZENDESK_INCREMENTAL_RATE_LIMIT_PER_MINUTE": str(self.incremental_rate_limit)}
        if self.window_seconds != 60:
            env["ZENDESK_RATE_LIMIT_WINDOW_SECONDS"] = str(self.window_seconds)
        return env

    def seed_records(self, canonical: str) -> list[dict[str, Any]]:
        from .seeded import seed_records

        return seed_records(self.account, canonical, base=self.url, variants=self.variants)

    def seed_rejections(self, canonical: str) -> set[str]:
        return {str(r["id"]) for r in self.seed_records(canonical) if len(r) == 1}

    def dirt_manifest(self) -> list[dict[str, Any]]:
        return self.account.dirt_manifest()

    def stop(self) -> None:
        self._server.stop()

    # -- for tests ------------------------------------------------------------------------------------

    def request_log(self) -> list[dict[str, Any]]:
        return self.log.all()

    def clear_log(self) -> None:
        self.log.clear()

    def snapshot(self) -> dict[str, Any]:
        return self.account.snapshot()

    def set_faults(self, **faults: Any) -> None:
        self.faults.arm(**faults)

    def __enter__(self) -> ZendeskEmulator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class _Handler(kit.RequestHandler):
    emulator: ZendeskEmulator

    def _handle(self, method: str) -> None:
        em = self.emulator
        split = urlsplit(self.path)
        path, query = split.path, split.query
        control = kit.control_response(self.request, em.faults, em.log)
        if control is not None:
            self.response = control
            return
        em.faults.wait_latency()
        if em.faults.due("reset", method, path):
            em.log.record(method, path, query, 0)
            self.response = kit.Response.connection_reset()
            return
        self._cut = em.faults.due("reset_mid_body", method, path)
        if em.faults.due("slow_body", method, path):
            time.sleep(em.faults.slow_seconds())
        if path.startswith("/attachments/token/"):  # file storage: no API budget
            self._file(method, path, query)
            return
        if not path.startswith(API):
            self._send(404, {"error": "InvalidEndpoint", "description": "Not found"}, {}, method, path, query)
            return
        allowed, remaining, reset = em.budget.take()
        headers = {"X-Rate-Limit": str(em.rate_limit), "X-Rate-Limit-Remaining": str(remaining),
                   "ratelimit-limit": str(em.rate_limit), "ratelimit-remaining": str(remaining),
                   "ratelimit-reset": str(math.ceil(reset))}
        if allowed and path.startswith(INCREMENTAL):
            allowed, _, reset = em.incremental.take()
        if allowed and em.faults.due("rate_limit", method, path):
            allowed, reset = False, max(em.faults.storm_left(), 1.0)
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil(reset)))
            self._send(429, {"error": "TooManyRequests", "description": "Rate limit exceeded"}, headers, method,
                       path, query)
            return
        if not self._authenticated() or em.faults.due("expired_auth", method, path):
            self._send(401, {"error": "Couldn't authenticate you"}, headers, method, path, query)
            return
        if em.faults.due("server_error", method, path):
            self._send(em.faults.server_error_status(503), {"error": "ServiceUnavailable",
                                                            "description": "Server Error"}, headers, method, path, query)
            return
        params = dict(parse_qsl(query, keep_blank_values=True))
        parts = [unquote(p) for p in path[len(API):].split("/") if p]
        if parts:
            parts[-1] = parts[-1].removesuffix(".json")
        try:
            api = Api(em.account, em.url, em.shape)
            if method == "GET":
                status, payload = 200, api.get(parts, params)
            else:
                status, payload = api.write(method, parts, self._body())
        except NotFound as exc:
            status, payload = 404, {"error": "RecordNotFound", "description": str(exc) or "Not found"}
        except BadRequest as exc:
            status, payload = 400, {"error": "InvalidValue", "description": exc.description}
        self._send(status, payload, headers, method, path, query)

    def _authenticated(self) -> bool:
        em = self.emulator
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() == em.token
        if auth.lower().startswith("basic "):
            try:
                user, _, secret = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return user == f"{em.email}/token" and secret == em.token
        return False

    def _body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise BadRequest("the body is not JSON") from None
        return body if isinstance(body, dict) else {}

    def _file(self, method: str, path: str, query: str) -> None:
        token = path[len("/attachments/token/"):].strip("/")
        content = self.emulator.account.attachment_content(token) if method == "GET" else None
        if content is None:
            self._send(404, {"error": "RecordNotFound", "description": "Not found"}, {}, method, path, query)
            return
        self.emulator.log.record(method, path, query, 200, bytes_out=len(content))
        self.response = kit.Response(200, {"Content-Type": "application/octet-stream",
                                           "Content-Length": str(len(content))}, content)

    def _send(self, status: int, payload: Any, headers: dict[str, str], method: str, path: str, query: str) -> None:
        data = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        self.emulator.log.record(method, path, query, status, bytes_in=len(self.request.body), bytes_out=len(data))
        cut = len(data) // 2 if getattr(self, "_cut", False) and len(data) > 1 else None
        self.response = kit.Response(status, {"Content-Type": "application/json; charset=utf-8",
                                              "Content-Length": str(len(data)), **headers}, data, cut_after=cut)


def start_emulator(*, seed: int = 42, size: int = 100, port: int = 0, **options: Any) -> ZendeskEmulator:
    return ZendeskEmulator(seed, size, port=port, **options)


def main(argv: list[str] | None = None) -> None:
    kit.stop_on_sigterm()
    parser = argparse.ArgumentParser(prog="python -m helpdesk_migrate.plugins.zendesk.emulator.server",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8910)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--size", type=int, default=200, help="number of tickets")
    parser.add_argument("--plan", default="enterprise", choices=sorted(PLANS))
    parser.add_argument("--rate-limit", type=float, default=None, help="account requests a minute (else the plan's)")
    parser.add_argument("--incremental-rate-limit", type=float, default=None,
                        help="incremental export requests a minute (else the plan's, scaled with --rate-limit)")
    parser.add_argument("--window-seconds", type=float, default=60, help="length of a rate-limit window")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="every request waits this long first")
    parser.add_argument("--profile", default="default", help="comma-separated variants: " + ", ".join(PROFILES))
    parser.add_argument("--token", default=None)
    args = parser.parse_args(argv)
    started = datetime.now()
    em = ZendeskEmulator(args.seed, args.size, port=args.port, host=args.host, plan=args.plan,
                         rate_limit=args.rate_limit, incremental_rate_limit=args.incremental_rate_limit,
                         window_seconds=args.window_seconds, profile=args.profile, token=args.token,
                         faults={"latency_ms": args.latency_ms})
    for key, value in em.env().items():
        print(f"{key}={value}", flush=True)
    print(f"# Zendesk emulator: {args.size} tickets (seed {args.seed}) at {em.url}, ready in "
          f"{(datetime.now() - started).total_seconds():.1f}s; Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        em.stop()


if __name__ == "__main__":
    main()


__all__ = ["PLANS", "ZendeskEmulator", "main", "start_emulator"]
