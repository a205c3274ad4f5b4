"""HTTP client for Tidio's public REST API (the "OpenAPI").

- Auth: the two ``X-Tidio-Openapi-Client-*`` headers and the versioned Accept header on every request.
- Budget: every request first takes a slot from the shared limiter (migration_assets.ratelimit: one
  budget per Tidio project across all processes of the migration); a 429 anyway (another tool on the same
  project, a fixed window on Tidio's side) pauses the shared budget for a fixed, configurable time, because
  Tidio sends no Retry-After.
- Retries (tenacity): 429 always; 5xx and connection errors for reads and idempotent writes. A POST whose
  outcome is unknown (5xx or a dropped connection after the body went out) is *not* blindly repeated: it
  raises ``TidioAmbiguousWrite`` so the caller can look for what may have been created before retrying,
  because Tidio's create endpoints never deduplicate.
- Errors: ``{"errors": [{"code", "message"}]}`` bodies become exceptions with a readable message. No
  message ever contains the credentials; on 401/403 it names the environment variables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from helpdesk_migrate.sdk import SharedRateLimit, credential_key, shared_rate_limit

from .config import TidioConfig

log = logging.getLogger("helpdesk_migrate.tidio")

ACCEPT = "application/json; version=1"
USER_AGENT = "helpdesk-migrate (tidio plugin)"


class TidioError(Exception):
    """A request Tidio refused or could not serve. ``errors`` is Tidio's own list of {code, message}."""

    def __init__(self, message: str, *, status: int | None = None, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.errors = errors or []

    @property
    def code(self) -> str:
        return str(self.errors[0].get("code", "")) if self.errors else (f"http_{self.status}" if self.status else "")

    @property
    def reason(self) -> str:
        """Tidio's own words, for the quarantine: 'code: message; ...'."""
        if not self.errors:
            return str(self)
        return "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}".strip() for e in self.errors)


class TidioAuthError(TidioError):
    pass


class TidioNotFound(TidioError):
    pass


class TidioValidationError(TidioError):
    """A 4xx with an errors list: the request (usually one record of it) is refused as it stands."""


class TidioUnavailable(TidioError):
    """Rate limited or failing after every retry."""


class TidioAmbiguousWrite(TidioError):
    """A create whose outcome is unknown: look for the record before sending it again."""


class _Retryable(Exception):
    def __init__(self, kind: str, detail: str, *, status: int | None = None):
        super().__init__(detail)
        self.kind = kind  # "rate_limited" | "server" | "connection"
        self.status = status


def _error_list(response: requests.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list):
        return [e if isinstance(e, dict) else {"code": "error", "message": str(e)} for e in errors]
    return []


def _describe(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}" for e in errors) or "no error details"


def shared_budget(config: TidioConfig) -> SharedRateLimit:
    """The Tidio project's request budget, shared by every process of the migration (a SQLite file under
    MIGRATION_HOME by default, Redis via MIGRATION_RATE_LIMIT_URL): migration_assets.ratelimit."""
    key = credential_key(config.client_id, namespace=f"tidio:{config.base_url}")
    return shared_rate_limit(key, config.rate_limit_per_minute)


class TidioClient:
    def __init__(self, config: TidioConfig, *, session: requests.Session | None = None,
                 budget: SharedRateLimit | None = None, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.base_url = config.base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers.update({
            "X-Tidio-Openapi-Client-Id": config.client_id,
            "X-Tidio-Openapi-Client-Secret": config.client_secret,
            "Accept": ACCEPT,
            "User-Agent": USER_AGENT,
        })
        # The budget is shared across processes; ``budget=None`` opens the default shared one.
        self.budget = budget if budget is not None else shared_budget(config)
        self._sleep = sleep
        self.requests_sent = 0
        self.rate_limited = 0

    def close(self) -> None:
        self.session.close()
        self.budget.close()

    # -- one request ------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None) -> Any:
        method = method.upper()
        label = f"{method} {path}"

        # 429s and failures (5xx, dropped connections) each get TIDIO_MAX_RETRIES attempts, counted apart: a
        # burst of 429s must not use up the attempts a 5xx or a reset on the same request needs, or vice versa.
        tries = {"rate_limited": 0, "failed": 0}

        def kind(state: RetryCallState) -> str:
            exc = state.outcome.exception() if state.outcome else None
            return "rate_limited" if isinstance(exc, _Retryable) and exc.kind == "rate_limited" else "failed"

        def stop(state: RetryCallState) -> bool:
            tries[kind(state)] += 1
            return tries[kind(state)] >= self.config.max_retries

        def wait(state: RetryCallState) -> float:
            if kind(state) == "rate_limited":
                return 0.0  # the shared budget was paused for the fixed backoff; acquire() waits it out
            return min(self.config.retry_backoff_seconds * (2 ** (tries["failed"] - 1)), 120.0)

        retrying = Retrying(stop=stop, wait=wait, retry=retry_if_exception_type(_Retryable), reraise=True,
                            sleep=self._sleep)
        try:
            for attempt in retrying:
                with attempt:
                    return self._send(method, path, params=params, json=json)
        except _Retryable as exc:
            if exc.kind == "rate_limited":
                raise TidioUnavailable(
                    f"Tidio kept answering 429 too_many_requests to {label} after {self.config.max_retries} "
                    f"attempts: lower TIDIO_RATE_LIMIT_PER_MINUTE to the plan's budget, or check for another "
                    f"tool using the same Tidio project", status=429) from None
            raise TidioUnavailable(f"Tidio did not serve {label} after {self.config.max_retries} attempts: "
                                   f"{exc}", status=exc.status) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None, json: Any) -> Any:
        url = f"{self.base_url}{path}"
        label = f"{method} {path}"
        self.budget.acquire()
        self.requests_sent += 1
        try:
            response = self.session.request(method, url, params=params, json=json,
                                            timeout=self.config.timeout_seconds)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            # A refused or unreachable connection never reached Tidio; anything later might have, including an
            # answer cut off mid-body (ChunkedEncodingError: the request was processed, the answer lost).
            sent = not isinstance(exc, requests.exceptions.ConnectTimeout) and "NewConnectionError" not in repr(exc)
            if method == "POST" and sent:
                raise TidioAmbiguousWrite(f"the connection dropped during {label}; the record may or may not "
                                          "have been created") from None
            raise _Retryable("connection", f"cannot reach {self.base_url} ({type(exc).__name__})") from None
        except requests.Timeout:
            if method == "POST":
                raise TidioAmbiguousWrite(f"{label} timed out after {self.config.timeout_seconds:g}s; the "
                                          "record may or may not have been created") from None
            raise _Retryable("connection", f"{label} timed out") from None
        status = response.status_code
        log.debug("tidio %s -> %s", label, status)
        if status == 429:
            self.rate_limited += 1
            # Tidio sends no Retry-After: a fixed, configurable wait, taken by every process on this budget.
            self.budget.pause(self.config.retry_backoff_seconds)
            raise _Retryable("rate_limited", "429 too_many_requests", status=429)
        if status >= 500:
            detail = f"{status} {_describe(_error_list(response))}"
            if method == "POST":
                raise TidioAmbiguousWrite(f"Tidio answered {detail} to {label}; the record may or may not have "
                                          "been created", status=status, errors=_error_list(response))
            raise _Retryable("server", detail, status=status)
        if status in (401, 403):
            errors = _error_list(response)
            codes = {e.get("code") for e in errors}
            if "api_access_disabled" in codes:
                raise TidioAuthError("Tidio refused access (403 api_access_disabled): the project's plan has no "
                                     "OpenAPI access; Plus or Premium is needed", status=status, errors=errors)
            raise TidioAuthError(f"Tidio refused the credentials ({status} {_describe(errors)}): check "
                                 "TIDIO_CLIENT_ID and TIDIO_CLIENT_SECRET (Panel > Developer > OpenAPI)",
                                 status=status, errors=errors)
        if status == 406:
            raise TidioError(f"Tidio refused the API version ({status} {_describe(_error_list(response))}); the "
                             f"client sends Accept: {ACCEPT}", status=status, errors=_error_list(response))
        if status == 404:
            raise TidioNotFound(f"{label}: not found", status=404, errors=_error_list(response))
        if status >= 400:
            errors = _error_list(response)
            raise TidioValidationError(f"Tidio refused {label} ({status}): {_describe(errors)}", status=status,
                                       errors=errors or [{"code": f"http_{status}", "message": response.text[:300]}])
        if status == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TidioError(f"Tidio answered {label} with a body that is not JSON", status=status) from None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None} or None)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, json=body)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    # -- lists ------------------------------------------------------------------------------------

    def paginate(self, path: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Follow Tidio's opaque cursor (``meta.cursor``; null means the last page)."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            body = self.get(path, cursor=cursor, **params) or {}
            yield from body.get(key) or []
            cursor = (body.get("meta") or {}).get("cursor")
            if not cursor:
                return
            if cursor in seen:  # a server bug must not turn into an endless loop
                raise TidioError(f"GET {path}: Tidio returned the same cursor twice; stopping the listing")
            seen.add(cursor)

    # -- endpoints the plugin uses ----------------------------------------------------------------

    def project(self) -> dict[str, Any]:
        return self.get("/project") or {}

    def operators(self) -> list[dict[str, Any]]:
        return list(self.paginate("/operators", "operators"))

    def departments(self) -> list[dict[str, Any]]:
        return list((self.get("/departments") or {}).get("departments") or [])

    def contact_properties(self) -> list[dict[str, Any]]:
        return list(self.paginate("/contact-properties", "properties"))

    def ticket_tags(self) -> list[dict[str, Any]]:
        body = self.get("/tickets/tags")
        return list(body if isinstance(body, list) else (body or {}).get("tags") or [])

    def ticket_custom_fields(self) -> list[dict[str, Any]]:
        body = self.get("/tickets/custom-fields")
        return list(body if isinstance(body, list) else (body or {}).get("custom_fields") or [])
