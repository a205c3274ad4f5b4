"""A read-only Trengo API v2 client: requests, a shared rate limit, retries, both paginators.

- Read-only by construction: the only verbs are GET (``get``, ``pages``, ``download``). Trengo bills by
  conversation and any write restarts a conversation's 7-day window, so a migration must not write.
- The budget (TRENGO_RATE_LIMIT_PER_MINUTE, 120 by default) belongs to the token and is shared by every
  process using it, through ``migration_assets.ratelimit`` (pyrate-limiter; SQLite or Redis).
- Retries (tenacity): 5xx, timeouts and connection resets with exponential backoff; 429 after the
  server's Retry-After (else X-RateLimit-Reset), recorded for every process; never another 4xx.
- 401/403 raise ``TrengoAuthError``, which names TRENGO_API_TOKEN and never contains the token.
"""

from __future__ import annotations

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
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from helpdesk_migrate.sdk import (
    ConfigurationError,
    Setting,
    SharedRateLimit,
    ThreadSessions,
    credential_key,
    read_settings,
    secure_or_local,
    shared_rate_limit,
    write_hashed,
)

log = logging.getLogger("helpdesk_migrate.trengo")

TOKEN_ENV = "TRENGO_API_TOKEN"
BASE_URL_ENV = "TRENGO_BASE_URL"
RATE_ENV = "TRENGO_RATE_LIMIT_PER_MINUTE"
WINDOW_ENV = "TRENGO_RATE_LIMIT_WINDOW_SECONDS"
TIMEZONE_ENV = "TRENGO_TIMEZONE"
OVERLAP_ENV = "TRENGO_DELTA_OVERLAP_MINUTES"
NOTES_ENV = "TRENGO_CONTACT_NOTES"
CONCURRENCY_ENV = "TRENGO_CONCURRENCY"
RETRIES_ENV = "TRENGO_MAX_RETRIES"
BACKOFF_ENV = "TRENGO_RETRY_BASE_SECONDS"
TIMEOUT_ENV = "TRENGO_TIMEOUT_SECONDS"
REPORT_START_ENV = "TRENGO_REPORT_START"
REPORT_END_ENV = "TRENGO_REPORT_END"
REPORTS_CSV_ENV = "TRENGO_REPORTS_CSV"
MEDIA_HOSTS_ENV = "TRENGO_MEDIA_HOSTS"

DEFAULT_BASE_URL = "https://app.trengo.com/api/v2"
REPORTS_CSV_DEFAULT = "reports/trengo_reporting_metrics.csv"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


DEFAULT_MEDIA_HOSTS = "trengo.com,trengo.eu,trengo.s3.eu-central-1.amazonaws.com"
MAX_429_RETRIES = 30


class TrengoError(Exception):
    """A request Trengo refused or that kept failing; the message names the call, never the token."""


class TrengoAuthError(ConfigurationError, TrengoError):
    pass


class TrengoRequestError(TrengoError):
    def __init__(self, message: str, status: int | None = None, path: str = ""):
        super().__init__(message)
        self.status, self.path = status, path


class TrengoNotFound(TrengoRequestError):
    pass


# Worth another try: refused or reset connections, timeouts, a body cut off mid-way.
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class _Retryable(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class _RateLimited(_Retryable):
    pass


MONTH = r"\d{4}-(0[1-9]|1[0-2])"
SETTINGS: tuple[Setting, ...] = (
    Setting(TOKEN_ENV, "Trengo personal access token of an administrator (Settings > Apps & integrations > Rest API)",
            required=True, secret=True),
    Setting(BASE_URL_ENV, "Trengo API root", default=DEFAULT_BASE_URL, kind="url"),
    Setting(RATE_ENV, "the token's request budget per minute, shared by every process", default=120.0, kind="float",
            minimum=0.001),
    Setting(TIMEZONE_ENV, "time zone of Trengo's zone-less timestamps (IANA, e.g. Europe/Amsterdam); unset, the "
                          "source measures it where payloads carry an epoch beside the naive time, else reads "
                          "Europe/Amsterdam"),
    Setting(OVERLAP_ENV, "minutes a delta reaches back before the last watermark", default=120.0, kind="float",
            minimum=0),
    Setting(NOTES_ENV, "read each contact's notes (one extra request per contact)", default=True, kind="bool"),
    Setting(CONCURRENCY_ENV, "most requests in flight at once: the source keeps as many in flight as the budget "
            "needs at the measured latency, up to this (the shared rate limit still applies)", default=32,
            kind="int", minimum=1, maximum=256),
    Setting(RETRIES_ENV, "retries of a 5xx, timeout or reset before giving up", default=6, kind="int", minimum=0),
    Setting(BACKOFF_ENV, "first backoff in seconds (doubles each retry)", default=1.0, kind="float", minimum=0),
    Setting(TIMEOUT_ENV, "seconds before a request times out", default=60.0, kind="float", minimum=0.1),
    Setting(REPORT_START_ENV, "first month of reporting metrics (YYYY-MM); default: the conversations' span",
            pattern=MONTH, pattern_help="a month as YYYY-MM"),
    Setting(REPORT_END_ENV, "last month of reporting metrics (YYYY-MM)", pattern=MONTH, pattern_help="a month as YYYY-MM"),
    Setting(REPORTS_CSV_ENV, f"where to write the reporting CSV export, relative to the files directory "
                             f"(default {REPORTS_CSV_DEFAULT})"),
    Setting(MEDIA_HOSTS_ENV, "hosts whose images in email bodies are Trengo's storage, downloaded as inline "
                             "attachments", default=DEFAULT_MEDIA_HOSTS),
    Setting(WINDOW_ENV, "length of the rate-limit window in seconds (only to rehearse on an emulator)", default=60.0,
            kind="float", minimum=0.001),
)

@dataclass
class TrengoConfig:
    token: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    rate_limit_per_minute: float = 120
    window_seconds: float = 60
    timezone: str = "Europe/Amsterdam"
    timezone_explicit: bool = False  # TRENGO_TIMEZONE was set: it overrides the zone measured from the data
    overlap_minutes: float = 120
    contact_notes: bool = True
    concurrency: int = 32
    max_retries: int = 6
    retry_base_seconds: float = 1.0
    timeout_seconds: float = 60
    report_start: str | None = None
    report_end: str | None = None
    reports_csv: str | None = None
    media_hosts: tuple[str, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TrengoConfig:
        """The configuration from the environment, parsed by the declarations (``SETTINGS``); the time zone is
        the one check no declaration states."""
        v = read_settings(SETTINGS, env, "trengo")
        timezone = v[TIMEZONE_ENV] or "Europe/Amsterdam"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"{TIMEZONE_ENV} must be an IANA time zone such as Europe/Amsterdam, "
                                     f"got {timezone!r}") from None
        base = v[BASE_URL_ENV]
        media = tuple(h.strip().lower() for h in (v[MEDIA_HOSTS_ENV] or "").split(",") if h.strip())
        return cls(
            token=v[TOKEN_ENV].strip(), base_url=base, rate_limit_per_minute=v[RATE_ENV],
            window_seconds=v[WINDOW_ENV], timezone=timezone, timezone_explicit=TIMEZONE_ENV in v.given,
            overlap_minutes=v[OVERLAP_ENV], contact_notes=v[NOTES_ENV], concurrency=v[CONCURRENCY_ENV],
            max_retries=v[RETRIES_ENV], retry_base_seconds=v[BACKOFF_ENV], timeout_seconds=v[TIMEOUT_ENV],
            report_start=v[REPORT_START_ENV], report_end=v[REPORT_END_ENV], reports_csv=v[REPORTS_CSV_ENV],
            media_hosts=tuple(dict.fromkeys((urlsplit(base).hostname or "", *media))),
        )


@dataclass
class Page:
    number: int
    items: list[Any]
    is_last: bool
    total: int | None = None


@dataclass
class ClientStats:
    requests: Counter = field(default_factory=Counter)  # by endpoint kind, e.g. "tickets", "tickets/messages"
    statuses: Counter = field(default_factory=Counter)
    retries: int = 0
    rate_limited: int = 0
    downloads: int = 0
    downloaded_bytes: int = 0
    min_remaining: int | None = None
    by_path: Counter | None = None  # requests per exact path, when the client was asked to track them

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


def endpoint_kind(path: str) -> str:
    """'tickets/123/messages' -> 'tickets/messages': ids dropped, for per-endpoint counts."""
    return "/".join(p for p in path.strip("/").split("/") if not p.isdigit()) or "/"


class TrengoClient:
    def __init__(self, config: TrengoConfig, *, limit: SharedRateLimit | None = None, track_paths: bool = False):
        self.config = config
        self.limit = limit or shared_rate_limit(credential_key(config.token, "trengo"), config.rate_limit_per_minute,
                                                period_seconds=config.window_seconds)
        self.stats = ClientStats(by_path=Counter() if track_paths else None)
        self._stats_lock = threading.Lock()
        self._sessions = ThreadSessions({"Authorization": f"Bearer {self.config.token}",
                                         "Accept": "application/json", "Content-Type": "application/json",
                                         "User-Agent": "helpdesk-migrate/trengo"})
        self._api_host = urlsplit(config.base_url).netloc
        self._warned_exhausted = 0.0
        # Told each API request's duration (the wait for the budget left out): a paced pool sizes itself by it.
        self.on_latency: Callable[[float], None] | None = None

    # -- sessions ------------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        return self._sessions.get()

    def close(self) -> None:
        self._sessions.close()
        self.limit.close()

    # -- requests ------------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET an API path (relative to the base URL) and return its JSON."""
        url = f"{self.config.base_url}/{path.lstrip('/')}"
        kind = endpoint_kind(path)
        described = f"GET /{path.lstrip('/')}"

        def attempt() -> Any:
            self.limit.acquire()
            started = time.monotonic()
            try:
                resp = self._session().get(url, params=params, timeout=self.config.timeout_seconds)
            except _TRANSIENT as exc:
                self._count(kind, None, path)
                raise _Retryable(f"{described}: {type(exc).__name__}") from None
            if self.on_latency is not None:
                self.on_latency(time.monotonic() - started)
            self._count(kind, resp.status_code, path)
            self._read_budget(resp)
            return self._json(resp, described)

        return self._retrying(attempt, described)

    def pages(self, path: str, params: Mapping[str, Any] | None = None, *, start_page: int = 1) -> Iterator[Page]:
        """Every page of a list, from ``start_page``. Works with both of Trengo's paginators: stops on
        ``links.next == null``, on an empty ``data``, or on ``current_page >= last_page`` when there is one.
        Pages are asked for by number with the same filters (Laravel's links drop the filters)."""
        page = max(1, int(start_page))
        base = dict(params or {})
        while True:
            payload = self.get(path, {**base, "page": page})
            if isinstance(payload, list):  # a bare list: everything at once
                yield Page(page, payload, True, None)  # no total reported: none is made up
                return
            if not isinstance(payload, dict):
                raise TrengoRequestError(f"GET /{path}: expected a JSON object, got {type(payload).__name__}", None, path)
            data = payload.get("data") or []
            links = payload.get("links") if isinstance(payload.get("links"), dict) else {}
            meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
            last_page = meta.get("last_page")
            current = meta.get("current_page", page)
            is_last = (not data or ("next" in links and links.get("next") is None)
                       or (last_page is not None and int(current) >= int(last_page)))
            yield Page(page, data, is_last, meta.get("total"))
            if is_last:
                return
            page += 1

    def download(self, url: str, dest: Path) -> tuple[str, int]:
        """Stream a file into ``dest`` (via a temporary name, so a partial file never looks finished).
        Returns (sha256 hex, size). The token goes only to the API's own host."""
        described = f"GET {urlsplit(url).path}"

        if not secure_or_local(url):  # the token never travels in clear, and neither does a customer's file
            raise TrengoRequestError(f"{described}: refusing a plain-http file link to {urlsplit(url).hostname}; "
                                     "only https is used outside a local emulator", None, described)

        def attempt() -> tuple[str, int]:
            same_host = urlsplit(url).netloc == self._api_host
            if same_host and urlsplit(url).path.startswith(urlsplit(self.config.base_url).path + "/"):
                self.limit.acquire()  # API paths count against the budget; file storage does not
            headers = None if same_host else {"Authorization": None}
            tmp = dest.with_name(dest.name + ".part")
            try:
                with self._session().get(url, stream=True, timeout=self.config.timeout_seconds,
                                         headers=headers) as resp:
                    self._count("download", resp.status_code)
                    if resp.status_code in (401, 403) and not same_host:
                        # File storage links (S3) are signed and expire; the token has nothing to do with it.
                        raise TrengoRequestError(f"{described}: HTTP {resp.status_code}: the file link was refused "
                                                 "(it may have expired; re-extract messages for fresh links)",
                                                 resp.status_code, described)
                    if resp.status_code >= 400:
                        self._json(resp, described)  # raises the right error
                    sha, size = write_hashed(resp.iter_content(64 * 1024), tmp)
            except _TRANSIENT as exc:
                tmp.unlink(missing_ok=True)
                raise _Retryable(f"{described}: {type(exc).__name__}") from None
            os.replace(tmp, dest)
            with self._stats_lock:
                self.stats.downloads += 1
                self.stats.downloaded_bytes += size
            return sha, size

        return self._retrying(attempt, described)

    # -- internals -----------------------------------------------------------------------------------

    def _retrying(self, fn, described: str):
        backoff = wait_exponential_jitter(initial=self.config.retry_base_seconds, max=60,
                                          jitter=self.config.retry_base_seconds)
        failures = Counter()

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _RateLimited):
                return 0.0  # the pause is on the shared limit: acquire() waits it out, in every process
            return backoff(state)

        def stop(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            failures["429" if isinstance(exc, _RateLimited) else "other"] += 1
            return failures["429"] > MAX_429_RETRIES or failures["other"] > self.config.max_retries

        def before_sleep(state: RetryCallState) -> None:
            with self._stats_lock:
                self.stats.retries += 1
            exc = state.outcome.exception() if state.outcome else None
            log.info("retrying %s after %s", described, exc)

        try:
            for attempt in Retrying(retry=retry_if_exception_type(_Retryable), wait=wait, stop=stop,
                                    before_sleep=before_sleep, reraise=True):
                with attempt:
                    return fn()
        except _Retryable as exc:
            tries = failures["429"] + failures["other"]
            raise TrengoRequestError(f"{exc} (gave up after {tries} attempts)", exc.status) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _count(self, kind: str, status: int | None, path: str | None = None) -> None:
        with self._stats_lock:
            self.stats.requests[kind] += 1
            if self.stats.by_path is not None and path is not None:
                self.stats.by_path[path.strip("/")] += 1
            self.stats.statuses[status or "no response"] += 1

    def _read_budget(self, resp: requests.Response) -> None:
        remaining = resp.headers.get("x-ratelimit-remaining")
        if remaining is None or not remaining.strip().lstrip("-").isdigit():
            return
        value = int(remaining)
        with self._stats_lock:
            self.stats.min_remaining = value if self.stats.min_remaining is None else min(self.stats.min_remaining,
                                                                                          value)
        if value == 0 and resp.status_code != 429 and time.monotonic() - self._warned_exhausted > 60:
            # Our own pacing stays under the limit, so an empty budget means someone else spends this token
            # too. The next call will be refused with an exact Retry-After, which pauses every process.
            self._warned_exhausted = time.monotonic()
            log.warning("Trengo reports the token's rate limit used up (x-ratelimit-remaining: 0): another "
                        "integration shares %s; lower %s or pause it", TOKEN_ENV, RATE_ENV)

    def _json(self, resp: requests.Response, described: str) -> Any:
        status = resp.status_code
        if status == 429:
            wait = _retry_after(resp, self.config.window_seconds)
            with self._stats_lock:
                self.stats.rate_limited += 1
            self.limit.pause(wait)
            raise _RateLimited(f"{described}: HTTP 429 Too Many Attempts (waiting {wait:.0f}s)", status)
        if status >= 500:
            raise _Retryable(f"{described}: HTTP {status} {_message(resp)}", status)
        if status in (401, 403):
            what = ("refused the token (HTTP 401)" if status == 401 else
                    "says the token's user may not do this (HTTP 403)")
            raise TrengoAuthError(
                f"Trengo {what} for {described}: check {TOKEN_ENV}. It must be a current personal access token "
                f"of an administrator (Settings > Apps & integrations > Rest API); {BASE_URL_ENV} must point at "
                f"the workspace's API ({self.config.base_url})."
            )
        if status == 404:
            raise TrengoNotFound(f"{described}: HTTP 404 {_message(resp)}", status, described)
        if status >= 400:
            raise TrengoRequestError(f"{described}: HTTP {status} {_message(resp)}", status, described)
        if not resp.content or not resp.content.strip():
            return None  # Trengo's empty 200s
        try:
            return resp.json()
        except ValueError:
            raise _Retryable(f"{described}: HTTP {status} with a body that is not JSON", status) from None


def _retry_after(resp: requests.Response, window: float) -> float:
    """Seconds to wait after a 429: Retry-After (no clock skew), else X-RateLimit-Reset (epoch seconds),
    else a whole window."""
    raw = resp.headers.get("Retry-After")
    if raw and raw.strip().replace(".", "", 1).isdigit():
        return max(0.0, float(raw))
    reset = resp.headers.get("X-RateLimit-Reset")
    if reset and reset.strip().isdigit():
        return min(window, max(0.0, int(reset) - time.time()))
    return window


def _message(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or ""
        errors = body.get("errors")
        if isinstance(errors, dict):
            message += " " + "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                                       for k, v in errors.items())
        return str(message).strip()[:300]
    return ""


__all__ = ["ClientStats", "Page", "TrengoAuthError", "TrengoClient", "TrengoConfig", "TrengoError", "TrengoNotFound",
           "TrengoRequestError", "endpoint_kind"]
