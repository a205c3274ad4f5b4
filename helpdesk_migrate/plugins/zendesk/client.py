"""A read-only Zendesk API client: requests, two shared budgets, retries, Zendesk's three ways of paging.

- Read-only by construction: the only verb is GET.
- Two budgets, both shared by every process through the SDK's limiter: the account's per-minute budget (it
  belongs to the account, not to a token, so it is keyed by the account's URL) and the incremental exports' own,
  much lower one (10 a minute, 30 with High Volume); an export request spends both.
- Retries (tenacity): 5xx, timeouts and resets with exponential backoff; a 429 waits the server's
  ``Retry-After`` on the budget it names (the account's when ``X-Rate-Limit-Remaining`` is 0, else the
  export's for an export), so every process holds off; never another 4xx.
- 401/403 raise ``ZendeskAuthError`` naming the settings, never the token.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from helpdesk_migrate.sdk import (
    ConfigurationError,
    SharedRateLimit,
    ThreadSessions,
    credential_key,
    shared_rate_limit,
    write_hashed,
)

from .settings import BASE_URL_ENV, EMAIL_ENV, TOKEN_ENV, ZendeskConfig

log = logging.getLogger("helpdesk_migrate.zendesk")

LIST_PAGE_SIZE = 100  # cursor pagination's maximum page[size]
MAX_429_RETRIES = 30
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class ZendeskError(Exception):
    """A request Zendesk refused or that kept failing; the message names the call, never the token."""


class ZendeskAuthError(ConfigurationError, ZendeskError):
    pass


class ZendeskRequestError(ZendeskError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ZendeskNotFound(ZendeskRequestError):
    pass


class _Retryable(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class _RateLimited(_Retryable):
    pass


@dataclass
class ClientStats:
    requests: Counter = field(default_factory=Counter)  # by endpoint kind, ids dropped
    statuses: Counter = field(default_factory=Counter)
    retries: int = 0
    rate_limited: int = 0
    downloads: int = 0
    downloaded_bytes: int = 0
    account_limit_seen: int | None = None  # the X-Rate-Limit Zendesk reports for the account
    min_remaining: int | None = None

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


def endpoint_kind(path: str) -> str:
    """'api/v2/tickets/12/comments.json' -> 'tickets/comments'."""
    parts = [p.removesuffix(".json") for p in path.strip("/").split("/") if p][2:]
    return "/".join(p for p in parts if not p.isdigit()) or "/"


@dataclass
class ExportPage:
    items: list[dict[str, Any]]
    payload: dict[str, Any]
    cursor: str | None  # the export's after_cursor (cursor-based) or next start_time (time-based)
    end_of_stream: bool


class ZendeskClient:
    def __init__(self, config: ZendeskConfig, *, account_limit: SharedRateLimit | None = None,
                 export_limit: SharedRateLimit | None = None):
        self.config = config
        host = urlsplit(config.base_url).netloc
        self.account_limit = account_limit or shared_rate_limit(
            credential_key(host, "zendesk-account"), config.rate_limit_per_minute, period_seconds=config.window_seconds)
        self.export_limit = export_limit or shared_rate_limit(
            credential_key(host, "zendesk-incremental"), config.incremental_per_minute,
            period_seconds=config.window_seconds)
        self.stats = ClientStats()
        self._lock = threading.Lock()
        self._host = host
        secret = base64.b64encode(f"{config.email}/token:{config.token}".encode()).decode()
        self._auth = f"Basic {secret}"
        self._sessions = ThreadSessions({"Authorization": self._auth, "Accept": "application/json",
                                         "User-Agent": "helpdesk-migrate/zendesk"})
        self.on_latency: Callable[[float], None] | None = None

    def _session(self) -> requests.Session:
        return self._sessions.get()

    def close(self) -> None:
        self._sessions.close()
        self.account_limit.close()
        self.export_limit.close()

    # -- requests ------------------------------------------------------------------------------------

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET an API path (``api/v2/...json``) or a full URL Zendesk handed out (``links.next``)."""
        url = path_or_url if "://" in path_or_url else f"{self.config.base_url}/{path_or_url.lstrip('/')}"
        path = urlsplit(url).path
        if urlsplit(url).netloc != self._host:
            raise ZendeskRequestError(f"refusing to send the credentials to {urlsplit(url).netloc}")
        export = path.startswith("/api/v2/incremental/")
        described = f"GET {path}"

        def attempt() -> Any:
            if export:
                self.export_limit.acquire()
            self.account_limit.acquire()
            started = time.monotonic()
            try:
                resp = self._session().get(url, params=params, timeout=self.config.timeout_seconds)
            except _TRANSIENT as exc:
                self._count(path, None)
                raise _Retryable(f"{described}: {type(exc).__name__}") from None
            if self.on_latency is not None:
                self.on_latency(time.monotonic() - started)
            self._count(path, resp.status_code)
            self._read_budget(resp)
            return self._json(resp, described, export)

        return self._retrying(attempt, described)

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a list as Zendesk answers it (side-loads included), by cursor pagination
        (``page[size]``), following ``links.next`` while ``meta.has_more``; an endpoint that answers offset
        pagination instead is followed by ``next_page``."""
        payload = self.get(path, {**(params or {}), "page[size]": LIST_PAGE_SIZE})
        while True:
            if not isinstance(payload, dict):
                raise ZendeskRequestError(f"GET /{path}: expected a JSON object")
            yield payload
            meta, links = payload.get("meta"), payload.get("links")
            if isinstance(meta, dict) and "has_more" in meta:
                nxt = links.get("next") if meta.get("has_more") and isinstance(links, dict) else None
            else:
                nxt = payload.get("next_page")
            if not nxt:
                return
            payload = self.get(nxt)

    def items(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """The ``key`` items of every page of a list."""
        for payload in self.pages(path, params):
            yield [i for i in payload.get(key) or [] if isinstance(i, dict)]

    def every(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return [i for page in self.items(path, key, params) for i in page]

    def export_cursor(self, resource: str, *, start_time: int | None = None, cursor: str | None = None,
                      include: str | None = None, extra: Mapping[str, Any] | None = None) -> Iterator[ExportPage]:
        """A cursor-based incremental export (``incremental/<resource>/cursor.json``) until ``end_of_stream``."""
        key = resource
        params: dict[str, Any] = {"per_page": self.config.export_page_size, **(extra or {})}
        if include:
            params["include"] = include
        while True:
            ask = {**params, "cursor": cursor} if cursor else {**params, "start_time": int(start_time or 0)}
            payload = self.get(f"api/v2/incremental/{resource}/cursor.json", ask)
            if not isinstance(payload, dict):
                raise ZendeskRequestError(f"the {resource} export answered something that is not a JSON object")
            after = payload.get("after_cursor") or cursor
            end = bool(payload.get("end_of_stream")) or not payload.get(key)
            yield ExportPage([i for i in payload.get(key) or [] if isinstance(i, dict)], payload, after, end)
            if end:
                return
            cursor = after

    def export_time(self, resource: str, *, start_time: int) -> Iterator[ExportPage]:
        """A time-based incremental export (``incremental/<resource>.json``): the next page starts at the last
        item's time, so items of that second come again; drop them by id."""
        start = int(start_time)
        while True:
            payload = self.get(f"api/v2/incremental/{resource}.json",
                               {"start_time": start, "per_page": self.config.export_page_size})
            if not isinstance(payload, dict):
                raise ZendeskRequestError(f"the {resource} export answered something that is not a JSON object")
            items = [i for i in payload.get(resource) or [] if isinstance(i, dict)]
            end_time = payload.get("end_time")
            stuck = not isinstance(end_time, int) or end_time <= start and len(items) >= self.config.export_page_size
            end = bool(payload.get("end_of_stream")) or not items or stuck
            yield ExportPage(items, payload, str(end_time) if isinstance(end_time, int) else None, end)
            if end:
                return
            start = end_time

    def download(self, url: str, dest: Path) -> tuple[str, int]:
        """Stream a file into ``dest`` (via a temporary name). Returns (sha256, size). Attachments are file
        storage, not the API: no budget; the credentials go only to the account's own host."""
        described = f"GET {urlsplit(url).path}"
        parts = urlsplit(url)
        if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ZendeskRequestError(f"{described}: refusing a plain-http file link")

        def attempt() -> tuple[str, int]:
            same = parts.netloc == self._host
            tmp = dest.with_name(dest.name + ".part")
            try:
                with self._session().get(url, stream=True, timeout=self.config.timeout_seconds,
                                         headers=None if same else {"Authorization": None}) as resp:
                    self._count("download", resp.status_code)
                    if resp.status_code == 404:
                        raise ZendeskNotFound(f"{described}: HTTP 404", 404)
                    if resp.status_code >= 500:
                        raise _Retryable(f"{described}: HTTP {resp.status_code}", resp.status_code)
                    if resp.status_code >= 400:
                        raise ZendeskRequestError(f"{described}: HTTP {resp.status_code}", resp.status_code)
                    sha, size = write_hashed(resp.iter_content(64 * 1024), tmp)
            except _TRANSIENT as exc:
                tmp.unlink(missing_ok=True)
                raise _Retryable(f"{described}: {type(exc).__name__}") from None
            os.replace(tmp, dest)
            with self._lock:
                self.stats.downloads += 1
                self.stats.downloaded_bytes += size
            return sha, size

        return self._retrying(attempt, described)

    # -- internals -----------------------------------------------------------------------------------

    def _retrying(self, fn: Callable[[], Any], described: str) -> Any:
        backoff = wait_exponential_jitter(initial=self.config.retry_base_seconds, max=60,
                                          jitter=self.config.retry_base_seconds)
        failures: Counter = Counter()

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return 0.0 if isinstance(exc, _RateLimited) else backoff(state)  # the limiter waits a 429 out

        def stop(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            failures["429" if isinstance(exc, _RateLimited) else "other"] += 1
            return failures["429"] > MAX_429_RETRIES or failures["other"] > self.config.max_retries

        def before_sleep(state: RetryCallState) -> None:
            with self._lock:
                self.stats.retries += 1
            log.info("retrying %s after %s", described, state.outcome.exception() if state.outcome else None)

        try:
            for attempt in Retrying(retry=retry_if_exception_type(_Retryable), wait=wait, stop=stop,
                                    before_sleep=before_sleep, reraise=True):
                with attempt:
                    return fn()
        except _Retryable as exc:
            raise ZendeskRequestError(f"{exc} (gave up after {sum(failures.values())} attempts)", exc.status) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _count(self, path: str, status: int | None) -> None:
        with self._lock:
            self.stats.requests[endpoint_kind(path) if path.startswith("/") else path] += 1
            self.stats.statuses[status or "no response"] += 1

    def _read_budget(self, resp: requests.Response) -> None:
        limit = resp.headers.get("X-Rate-Limit") or resp.headers.get("ratelimit-limit")
        remaining = resp.headers.get("X-Rate-Limit-Remaining") or resp.headers.get("ratelimit-remaining")
        with self._lock:
            if limit and limit.strip().isdigit():
                self.stats.account_limit_seen = int(limit)
            if remaining and remaining.strip().isdigit():
                value = int(remaining)
                self.stats.min_remaining = value if self.stats.min_remaining is None else min(value,
                                                                                              self.stats.min_remaining)

    def _json(self, resp: requests.Response, described: str, export: bool) -> Any:
        status = resp.status_code
        if status == 429:
            wait = _retry_after(resp, self.config.window_seconds)
            account_spent = (resp.headers.get("X-Rate-Limit-Remaining") or "").strip() == "0"
            (self.export_limit if export and not account_spent else self.account_limit).pause(wait)
            with self._lock:
                self.stats.rate_limited += 1
            raise _RateLimited(f"{described}: HTTP 429 (waiting {wait:.0f}s)", status)
        if status >= 500:
            raise _Retryable(f"{described}: HTTP {status}", status)
        if status in (401, 403):
            raise ZendeskAuthError(
                f"Zendesk refused the credentials (HTTP {status}) for {described}: check {EMAIL_ENV} and {TOKEN_ENV} "
                f"(an admin's email and an active API token) and that {BASE_URL_ENV} or ZENDESK_SUBDOMAIN names the "
                f"account ({self.config.base_url}).")
        if status == 404:
            raise ZendeskNotFound(f"{described}: HTTP 404 {_message(resp)}", status)
        if status >= 400:
            raise ZendeskRequestError(f"{described}: HTTP {status} {_message(resp)}", status)
        try:
            return resp.json()
        except ValueError:
            raise _Retryable(f"{described}: HTTP {status} with a body that is not JSON", status) from None


def _retry_after(resp: requests.Response, window: float) -> float:
    raw = (resp.headers.get("Retry-After") or "").strip()
    if raw.replace(".", "", 1).isdigit():
        return max(0.0, float(raw))
    reset = (resp.headers.get("ratelimit-reset") or "").strip()
    return float(reset) if reset.isdigit() else window


def _message(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        return " ".join(str(body.get(k)) for k in ("error", "description") if body.get(k))[:300]
    return ""


__all__ = ["ClientStats", "ExportPage", "ZendeskAuthError", "ZendeskClient", "ZendeskError", "ZendeskNotFound",
           "ZendeskRequestError", "endpoint_kind"]
