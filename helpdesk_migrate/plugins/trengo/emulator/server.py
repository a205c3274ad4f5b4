"""A Trengo API v2 emulator: a real HTTP server over a synthetic workspace (``workspace.py``).

What it reproduces from shared/reference/trengo-api.md:

- Bearer-token auth (401 ``{"message":"Unauthenticated."}``; 403 for a token without rights).
- Both Laravel paginators, verbatim: the *simple* one on /tickets, /contacts, /profiles (no total, no
  last_page, ``links.last: null``, 25 per page whatever ``per_page`` says) and the *length-aware* one
  elsewhere (``total``, ``last_page``, ``meta.links`` with the untranslated ``pagination.previous`` /
  ``pagination.next`` labels; 999 per page for configuration lists). Links carry only ``page``, as
  Laravel's do, and echo the host that was called.
- Laravel's throttle: a fixed window per token that starts at its first request (120 a minute by
  default); ``x-ratelimit-limit``/``x-ratelimit-remaining`` on every API response; on 429 also
  ``Retry-After`` (seconds) and ``X-RateLimit-Reset`` (epoch seconds) and ``{"message":"Too Many
  Attempts."}``.
- Collapsed email bodies in message lists, whole ones at ``/tickets/{id}/email_messages/{id}``.
- Writes that agents' activity would make (reply, note, close, label, assign, delete, edit contact),
  so a test can show that a migration makes none: ``request_log()`` and ``snapshot()``.
- Fault switches: ``error_rate`` (5xx), ``reset_rate`` (connection reset before any answer),
  ``truncate_rate`` (answers cut off half-way through the body by a TCP reset), ``slow_rate`` with
  ``slow_ms`` (answers that take that long, past a client's timeout), ``storm_rate`` with ``storm_seconds``
  (a 429 storm: the token's budget is spent elsewhere, every call is refused with Retry-After until it
  passes), ``latency_ms``.
- Profiles (``profile="inbox-default,utc-messages"``, see profiles.py): variants for real-world behaviours
  ours does not confirm; they reshape payloads only, so the seeded workspace is the same under each.

Run it for a demo or the UI: ``python -m helpdesk_migrate.plugins.trengo.emulator.server --port 8900 --seed 42 --size 500``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import threading
import time
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from helpdesk_migrate.sdk import emulator as kit

from ..mapping import REPORT_METRICS
from .profiles import INBOX_HIDDEN, PROFILES, Shaper, parse_profiles
from .workspace import (
    ARTICLE_BASE,
    CATEGORY_BASE,
    HELP_CENTER_BASE,
    PROFILE_BASE,
    TICKET_BASE,
    Workspace,
    to_seconds,
)

API_PREFIX = "/api/v2"
SIMPLE_PER_PAGE = 25
CONFIG_PER_PAGE = 999


class _Throttle:
    """Laravel's ThrottleRequests: per key, a window opens at the first hit and lasts ``window`` seconds."""

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}
        self.refused = 0
        self.max_hits_in_window = 0

    def hit(self, key: str) -> tuple[bool, int, float]:
        """(allowed, remaining, window end as epoch seconds)."""
        now = time.time()
        with self._lock:
            start, hits = self._windows.get(key, (now, 0))
            if now >= start + self.window:
                start, hits = now, 0
            if hits >= self.limit:
                self.refused += 1
                self._windows[key] = (start, hits)
                return False, 0, start + self.window
            hits += 1
            self._windows[key] = (start, hits)
            self.max_hits_in_window = max(self.max_hits_in_window, hits)
            return True, self.limit - hits, start + self.window


class TrengoEmulator:
    """The emulator as a ``RunningEmulator``: ``url``, ``env()``, ``seed_records()``, ``stop()``; plus
    ``request_log()``, ``snapshot()`` and ``set_faults()`` for tests."""

    def __init__(self, seed: int = 42, size: int = 100, *, port: int = 0, rate_limit: float = 120,
                 window_seconds: float = 60, faults: dict[str, float] | None = None, dirt: bool = True,
                 counts: dict[str, int] | None = None, token: str | None = None, host: str = "127.0.0.1",
                 timezone: str = "Europe/Amsterdam", profile: str = "default"):
        self.profiles = parse_profiles(profile)
        self.profile = profile
        self.workspace = Workspace(seed, size, dirt=dirt, counts=counts, timezone=timezone)
        self.seed, self.size = seed, size
        self.rate_limit = int(rate_limit)
        self.window_seconds = window_seconds
        self.throttle = _Throttle(self.rate_limit, window_seconds)
        # A fresh token per emulator: two emulators never share a rate-limit budget by accident.
        self.token = token or f"trengo-emulator-{uuid.uuid4().hex}"
        self.forbidden_token = f"{self.token}-observer"
        self.timezone = timezone
        # The kit's fault vocabulary (helpdesk_migrate.sdk.emulator_faults), seeded so a campaign repeats.
        self.faults = kit.Faults(faults, seed=seed)
        self._error_rng = random.Random(seed)  # which 5xx a server error is (Trengo's or its load balancer's)
        self.log = kit.RequestLog()
        self._server = kit.EmulatorServer(lambda request: _Handler.serve(self, request), host=host, port=port,
                                          name="trengo-emulator")
        self.port = self._server.port
        self.root = f"http://{host}:{self.port}"
        self.url = self.root + API_PREFIX

    # -- RunningEmulator ---------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {"TRENGO_BASE_URL": self.url, "TRENGO_API_TOKEN": self.token,
               "TRENGO_RATE_LIMIT_PER_MINUTE": str(self.rate_limit)}
        if self.timezone != "Europe/Amsterdam":
            # Set only when it differs from the source's own assumption: an explicit setting overrides what the
            # source measures, and a rehearsal should measure as a real first run does.
            env["TRENGO_TIMEZONE"] = self.timezone
        if self.window_seconds != 60:
            env["TRENGO_RATE_LIMIT_WINDOW_SECONDS"] = str(self.window_seconds)
        return env

    def seed_records(self, canonical: str) -> list[dict[str, Any]]:
        from .seeded import seed_records

        return seed_records(self.workspace, canonical, base=self.root)

    def seed_rejections(self, canonical: str) -> set[str]:
        """Ids of seeded records the source rejects at extract (named dirt), each with a reason."""
        from .seeded import seed_rejections

        return seed_rejections(self.workspace, canonical, base=self.root)

    def stop(self) -> None:
        self._server.stop()

    # -- inspection for tests ----------------------------------------------------------------------

    def request_log(self) -> list[dict[str, Any]]:
        return self.log.all()

    def clear_log(self) -> None:
        self.log.clear()

    def snapshot(self) -> dict[str, Any]:
        return self.workspace.snapshot(base=self.root)

    def set_faults(self, **faults: float) -> None:
        self.faults.arm(**faults)

    def _record(self, method: str, path: str, query: str, status: int) -> None:
        self.log.record(method, path, query, status)

    def __enter__(self) -> TrengoEmulator:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(kit.RequestHandler):
    """One request, handled: the answer is left in ``response`` for the serving layer (the SDK emulator kit)."""

    emulator: TrengoEmulator

    # -- plumbing ------------------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        em = self.emulator
        split = urlsplit(self.path)
        path, query = split.path, split.query
        body = self._read_body()
        control = kit.control_response(self.request, em.faults, em.log)
        if control is not None:
            self.response = control
            return
        self._truncate = em.faults.due("reset_mid_body", method, path)
        em.faults.wait_latency()
        if em.faults.due("slow_body", method, path):
            time.sleep(em.faults.slow_seconds())
        if em.faults.due("reset", method, path):
            em._record(method, path, query, 0)
            self._reset()
            return
        if path.startswith("/media/"):
            self._media(method, path, query)
            return
        if not path.startswith(API_PREFIX + "/") and path != API_PREFIX:
            self._send(404, {"message": "Not Found"}, method=method, path=path, query=query)
            return
        auth = self.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        known = token in (em.token, em.forbidden_token)
        # Laravel's api group throttles before authenticating: by token, else by the caller's address.
        allowed, remaining, reset_at = em.throttle.hit(token if known else f"ip:{self.client_address[0]}")
        if allowed and known and em.faults.due("rate_limit", method, path):  # a storm: storm_seconds long
            allowed, remaining, reset_at = False, 0, time.time() + max(em.faults.storm_left(), 1.0)
        headers = {"x-ratelimit-limit": str(em.rate_limit), "x-ratelimit-remaining": str(remaining)}
        if not allowed:
            retry_after = max(1, math.ceil(reset_at - time.time()))
            headers.update({"Retry-After": str(retry_after), "X-RateLimit-Reset": str(math.ceil(reset_at))})
            self._send(429, {"message": "Too Many Attempts."}, headers, method=method, path=path, query=query)
            return
        if not known or em.faults.due("expired_auth", method, path):
            self._send(401, {"message": "Unauthenticated."}, headers, method=method, path=path, query=query)
            return
        if token == em.forbidden_token:
            self._send(403, {"message": "This action is unauthorized."}, headers, method=method, path=path,
                       query=query)
            return
        if em.faults.due("server_error", method, path):
            status = em.faults.server_error_status(em._error_rng.choice((500, 502, 503)))
            if status == 500:
                self._send(500, {"message": "Server Error"}, headers, method=method, path=path, query=query)
            else:  # the load balancer answers these, in HTML
                self._send(status, f"<html><body><h1>{status}</h1></body></html>", headers, method=method, path=path,
                           query=query, content_type="text/html")
            return
        parts = [unquote(p) for p in path[len(API_PREFIX):].strip("/").split("/") if p]
        params = parse_qs(query, keep_blank_values=True)
        host = self.headers.get("Host") or f"127.0.0.1:{em.port}"
        base = f"http://{host}"
        try:
            if method == "GET":
                status, payload = _Api(em.workspace, base, em.timezone, em.profiles).get(parts, params)
            else:
                status, payload = em.workspace.apply_write(method, parts, body)
        except _BadRequest as exc:
            status, payload = 422, {"message": "The given data was invalid.", "errors": exc.errors}
        self._send(status, payload, headers, method=method, path=path, query=query)

    def _read_body(self) -> dict[str, Any]:
        raw = self.request.body
        if not raw:
            return {}
        ctype = self.headers.get("Content-Type", "")
        try:
            if "json" in ctype:
                value = json.loads(raw or b"{}")
                return value if isinstance(value, dict) else {}
            return {k: v[-1] for k, v in parse_qs(raw.decode()).items()}  # form bodies (Guzzle form_params)
        except (ValueError, UnicodeDecodeError):
            return {}

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None, *, method: str, path: str,
              query: str, content_type: str = "application/json") -> None:
        if isinstance(payload, str):
            data = payload.encode()
            if content_type == "application/json" and payload == "":
                content_type = "text/html; charset=UTF-8"  # Trengo's empty 200s
        else:
            # surrogateescape: text the workspace holds as lone surrogates goes out as the raw bytes it stands
            # for (bytes that are not UTF-8, as a server with a badly encoded row sends them).
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogateescape")
        self.emulator._record(method, path, query, status)
        # Content-Length promises the whole body; a truncated answer is cut half-way by a reset.
        cut = len(data) // 2 if getattr(self, "_truncate", False) and len(data) > 1 else None
        self.response = kit.Response(status, {"Server": "nginx", "Content-Type": content_type,
                                              "Content-Length": str(len(data)), **(headers or {})}, data,
                                     cut_after=cut)

    def _reset(self) -> None:
        # The client sees "connection reset by peer" and no answer.
        self.response = kit.Response.connection_reset()

    def _media(self, method: str, path: str, query: str) -> None:
        # /media/{attachment_id}/{name} and /media/inline/{id}/{name}: file storage, not the API (no token,
        # no rate limit), like Trengo's S3 links.
        parts = path.strip("/").split("/")
        inline = len(parts) >= 3 and parts[1] == "inline"
        ident = parts[2] if inline else (parts[1] if len(parts) >= 2 else "")
        content = self.emulator.workspace.attachment_content(int(ident), inline=inline) if ident.isdigit() else None
        if method != "GET" or content is None:
            self._send(404, "<Error><Code>NoSuchKey</Code></Error>", method=method, path=path, query=query,
                       content_type="application/xml")
            return
        self.emulator._record(method, path, query, 200)
        self.response = kit.Response(200, {"Server": "nginx", "Content-Type": "application/octet-stream",
                                           "Content-Length": str(len(content))}, content)


class _BadRequest(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(str(errors))
        self.errors = errors


class _Api:
    """GET routes. Returns (status, payload)."""

    def __init__(self, ws: Workspace, base: str, timezone: str, profiles: frozenset[str] = frozenset()):
        self.ws, self.base, self.tz = ws, base, ZoneInfo(timezone)
        self.shape = Shaper(profiles, self.tz)
        self._result_names = {r["id"]: r["name"] for r in ws.ticket_results}

    def get(self, parts: list[str], params: dict[str, list[str]]) -> tuple[int, Any]:
        ws = self.ws
        page = self._page(params)
        path = "/".join(parts)
        head = parts[0] if parts else ""
        n = len(parts)
        if n == 1 and head == "users":
            return 200, self.length_aware(path, ws.users, page, SIMPLE_PER_PAGE)
        if n == 2 and head == "users" and parts[1].isdigit():
            user = ws.user_by_id(int(parts[1]))
            return (200, user) if user else _not_found("User")
        if n == 1 and head == "teams":
            return 200, self.length_aware(path, [self.shape.team(t) for t in ws.teams], page, SIMPLE_PER_PAGE)
        if n == 1 and head == "channels":
            return 200, self.length_aware(path, ws.channels, page, SIMPLE_PER_PAGE)
        if n == 1 and head in ("labels", "custom_fields", "ticket_results", "contact_groups", "webhooks"):
            return 200, self.length_aware(path, getattr(ws, head), page, CONFIG_PER_PAGE)
        if n == 1 and head == "quick_replies":
            kind = _one(params, "type")
            items = [q for q in ws.quick_replies if not kind or q["type"] == kind]
            return 200, self.length_aware(path, items, page, CONFIG_PER_PAGE)
        if n == 1 and head == "contacts":
            return 200, self.simple(path, page, ws.n_contacts,
                                    lambda i: ws.contact_payload(i, base=self.base))
        if n == 2 and head == "contacts" and parts[1].isdigit():
            c = ws.contact_index(int(parts[1]))
            if c is None:
                return _not_found("Contact")
            return 200, ws.contact_payload(c, base=self.base, include_notes=_one(params, "include") == "notes")
        if n == 1 and head == "profiles":
            return 200, self.simple(path, page, ws.n_profiles, ws.profile_payload)
        if n == 2 and head == "profiles" and parts[1].isdigit():
            k = int(parts[1]) - PROFILE_BASE
            return (200, ws.profile_payload(k)) if 0 <= k < ws.n_profiles else _not_found("Profile")
        if head == "tickets":
            return self.tickets(parts, params, page)
        if head == "help_center":
            return self.help_center(parts, params, page)
        if n == 2 and parts == ["reporting", "metrics"]:
            return self.metrics(params)
        return 404, {"message": "Not Found"}

    # -- tickets --------------------------------------------------------------------------------------

    def tickets(self, parts: list[str], params: dict[str, list[str]], page: int) -> tuple[int, Any]:
        ws = self.ws
        path = "/".join(parts)
        if len(parts) == 1:
            status = _one(params, "status")
            if status and status not in ("OPEN", "ASSIGNED", "CLOSED", "INVALID"):
                raise _BadRequest({"status": ["The selected status is invalid."]})
            updated_gt = None
            raw = _one(params, "updated_at_gt")
            if raw:
                updated_gt = self._parse_local(raw, "updated_at_gt")
            contact = _one(params, "contact_id")
            order = ws.ticket_order(sort=_one(params, "sort") or "-date", status=status, updated_gt=updated_gt,
                                    contact_id=int(contact) if contact and contact.isdigit() else None)
            if not status and "inbox-default" in self.shape:
                order = [i for i in order if ws._ticket_state(i)["status"] not in INBOX_HIDDEN]
            return 200, self.simple(path, page, len(order), lambda k: self._ticket(order[k]))
        if not parts[1].isdigit():
            return 404, {"message": "Not Found"}
        i = ws.ticket_index(int(parts[1]))
        if i is None:
            return _not_found("Ticket")
        if len(parts) == 2:
            return 200, self._ticket(i)
        if parts[2] == "messages":
            messages = [self.shape.message(m) for m in ws.ticket_messages(i, base=self.base)]
            if len(parts) == 3:
                return 200, self.length_aware(path, messages, page, SIMPLE_PER_PAGE)
            if len(parts) == 4 and parts[3].isdigit():
                m = next((m for m in messages if m["id"] == int(parts[3])), None)
                return (200, m) if m else _not_found("Message")
        if parts[2] == "email_messages" and len(parts) == 4 and parts[3].isdigit():
            full = ws.full_email(i, int(parts[3]), base=self.base)
            return (200, self.shape.full_email(full)) if full else _not_found("EmailMessage")
        if parts[2] == "labels" and len(parts) == 3:
            return 200, {"data": ws.ticket_payload(i, base=self.base)["labels"]}
        return 404, {"message": "Not Found"}

    # -- help center (provisional shapes: the reference captured none) --------------------------------

    def help_center(self, parts: list[str], params: dict[str, list[str]], page: int) -> tuple[int, Any]:
        ws = self.ws
        path = "/".join(parts)
        if len(parts) == 1:
            return 200, self.length_aware(path, ws.help_centers, page, SIMPLE_PER_PAGE)
        if not parts[1].isdigit() or int(parts[1]) != HELP_CENTER_BASE:
            return _not_found("HelpCenter")
        if len(parts) == 2:
            return 200, ws.help_centers[0]
        if parts[2] == "categories":
            if len(parts) == 3:
                return 200, self.length_aware(path, ws.categories, page, SIMPLE_PER_PAGE)
            k = int(parts[3]) - CATEGORY_BASE if parts[3].isdigit() else -1
            return (200, ws.categories[k]) if 0 <= k < len(ws.categories) else _not_found("Category")
        if parts[2] == "articles":
            locale = _one(params, "localeCode") or "en"
            if len(parts) == 3:
                flt = _one(params, "filter")
                items = []
                for a in ws.articles:
                    tr = {t["locale"]: t for t in a["translations"]}
                    own = tr.get(locale)
                    if flt == "draft" and (not own or own["status"] != "draft"):
                        continue
                    if flt == "published" and (not own or own["status"] != "published"):
                        continue
                    if flt and flt.startswith("untranslated_") and flt[len("untranslated_"):] in tr:
                        continue
                    shown = own or tr.get("en") or a["translations"][0]
                    items.append({"id": a["id"], "title": shown["title"], "status": shown["status"],
                                  "category_id": a["category_id"], "section_id": a["section_id"],
                                  "locales": sorted(tr), "created_at": a["created_at"], "updated_at": a["updated_at"]})
                return 200, self.length_aware(path, items, page, SIMPLE_PER_PAGE)
            k = int(parts[3]) - ARTICLE_BASE if parts[3].isdigit() else -1
            return (200, ws.articles[k]) if 0 <= k < len(ws.articles) else _not_found("Article")
        return 404, {"message": "Not Found"}

    def _ticket(self, i: int) -> dict[str, Any]:
        return self.shape.ticket(self.ws.ticket_payload(i, base=self.base), self._result_names)

    def metrics(self, params: dict[str, list[str]]) -> tuple[int, Any]:
        names = params.get("metric[]") or params.get("metric") or []
        bad = [n for n in names if n not in REPORT_METRICS]
        if not names or bad:
            raise _BadRequest({"metric": [f"The selected metric is invalid: {', '.join(bad) or '(none)'}."]})
        start, end = _one(params, "start_date"), _one(params, "end_date")
        if not start or not end:
            raise _BadRequest({"start_date": ["The start date and end date fields are required."]})
        try:
            s = datetime.fromisoformat(start).astimezone(self.tz).replace(tzinfo=None)
            e = datetime.fromisoformat(end).astimezone(self.tz).replace(tzinfo=None)
        except ValueError:
            raise _BadRequest({"start_date": ["The start date is not a valid date."]}) from None
        return 200, {"aggregates": self.ws.metrics(to_seconds(s), to_seconds(e), names)}

    # -- paginators -----------------------------------------------------------------------------------

    def _page(self, params: dict[str, list[str]]) -> int:
        raw = _one(params, "page") or "1"
        try:
            return max(1, int(raw))
        except ValueError:
            raise _BadRequest({"page": ["The page must be an integer."]}) from None

    def _parse_local(self, raw: str, field: str) -> int:
        try:
            dt = datetime.fromisoformat(raw.replace(" ", "T") if "T" not in raw else raw)
        except ValueError:
            raise _BadRequest({field: [f"The {field} does not match the format Y-m-d H:i:s."]}) from None
        if dt.tzinfo is not None:
            dt = dt.astimezone(self.tz).replace(tzinfo=None)
        return to_seconds(dt)

    def _url(self, path: str, page: int | None) -> str | None:
        return None if page is None else f"{self.base}/api/v2/{path}?page={page}"

    def simple(self, path: str, page: int, total: int, make, per: int = SIMPLE_PER_PAGE) -> dict[str, Any]:
        """Laravel simplePaginate: no total, no last page; it only knows whether one more item exists."""
        first = (page - 1) * per
        items = [make(k) for k in range(first, min(total, first + per))]
        more = total > first + per
        return {
            "data": items,
            "links": {"first": self._url(path, 1), "last": None, "prev": self._url(path, page - 1) if page > 1 else None,
                      "next": self._url(path, page + 1) if more else None},
            "meta": {"current_page": page, "from": first + 1 if items else None, "path": f"{self.base}/api/v2/{path}",
                     "per_page": per, "to": first + len(items) if items else None},
        }

    def length_aware(self, path: str, rows: list[Any], page: int, per: int) -> dict[str, Any]:
        if "simple-paginator" in self.shape:
            return self.simple(path, page, len(rows), rows.__getitem__, per)
        total = len(rows)
        last = max(1, math.ceil(total / per))
        first = (page - 1) * per
        items = rows[first:first + per]
        prev_url = self._url(path, page - 1) if page > 1 else None
        next_url = self._url(path, page + 1) if page < last else None
        links = [{"url": prev_url, "label": "pagination.previous", "active": False}]
        for k in _page_window(page, last):
            links.append({"url": None, "label": "...", "active": False} if k is None else
                         {"url": self._url(path, k), "label": str(k), "active": k == page})
        links.append({"url": next_url, "label": "pagination.next", "active": False})
        return {
            "data": items,
            "links": {"first": self._url(path, 1), "last": self._url(path, last), "prev": prev_url, "next": next_url},
            "meta": {"current_page": page, "from": first + 1 if items else None, "last_page": last, "links": links,
                     "path": f"{self.base}/api/v2/{path}", "per_page": per, "to": first + len(items) if items else None,
                     "total": total},
        }


def _page_window(page: int, last: int) -> list[int | None]:
    """Laravel's UrlWindow: all pages when few, else the ends and three on each side, with '...'."""
    if last <= 13:
        return list(range(1, last + 1))
    if page <= 7:
        return [*range(1, 11), None, last - 1, last]
    if page >= last - 6:
        return [1, 2, None, *range(last - 9, last + 1)]
    return [1, 2, None, *range(page - 3, page + 4), None, last - 1, last]


def _one(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return values[-1] if values else None


def _not_found(model: str) -> tuple[int, dict[str, str]]:
    return 404, {"message": f"No query results for model [App\\{model}]."}


def start_emulator(*, seed: int = 42, size: int = 100, port: int = 0, **options: Any) -> TrengoEmulator:
    return TrengoEmulator(seed, size, port=port, **options)


def main(argv: list[str] | None = None) -> None:
    kit.stop_on_sigterm()  # first: a terminate() may come as soon as the environment is printed
    parser = argparse.ArgumentParser(prog="python -m helpdesk_migrate.plugins.trengo.emulator.server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--size", type=int, default=200, help="number of tickets (conversations)")
    parser.add_argument("--rate-limit", type=float, default=120, help="requests per minute per token")
    parser.add_argument("--window-seconds", type=float, default=60, help="length of the rate-limit window")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of API calls answered 5xx")
    parser.add_argument("--reset-rate", type=float, default=0.0, help="share of calls whose connection is reset")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--truncate-rate", type=float, default=0.0, help="share of answers cut off mid-body")
    parser.add_argument("--slow-rate", type=float, default=0.0, help="share of answers delayed by --slow-ms")
    parser.add_argument("--slow-ms", type=float, default=0.0)
    parser.add_argument("--storm-rate", type=float, default=0.0, help="share of calls that start a 429 storm")
    parser.add_argument("--storm-seconds", type=float, default=1.0, help="how long a 429 storm lasts")
    parser.add_argument("--no-dirt", action="store_true", help="a clean workspace, without the named dirt cases")
    parser.add_argument("--profile", default="default",
                        help="comma-separated emulator variants: " + ", ".join(PROFILES))
    parser.add_argument("--token", default=None, help="the accepted API token (default: a fresh random one)")
    args = parser.parse_args(argv)
    started = time.time()
    em = TrengoEmulator(args.seed, args.size, port=args.port, host=args.host, rate_limit=args.rate_limit,
                        window_seconds=args.window_seconds, dirt=not args.no_dirt, token=args.token, profile=args.profile,
                        faults={"server_error_rate": args.error_rate, "reset_rate": args.reset_rate,
                                "latency_ms": args.latency_ms, "reset_mid_body_rate": args.truncate_rate,
                                "slow_body_rate": args.slow_rate, "slow_ms": args.slow_ms,
                                "rate_limit_rate": args.storm_rate, "storm_seconds": args.storm_seconds})
    for key, value in em.env().items():
        print(f"{key}={value}", flush=True)
    print(f"# Trengo emulator: {args.size} tickets (seed {args.seed}) at {em.url}, ready in "
          f"{time.time() - started:.1f}s; Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        em.stop()


if __name__ == "__main__":
    main()


__all__ = ["TICKET_BASE", "TrengoEmulator", "main", "start_emulator"]
