"""simple-salesforce wiring: login (three ways), the loopback-only scheme adapter, API metering against a
budget, retries of transient failures, and query helpers that escape every value.

Every HTTP request to the instance goes through ``MeteredAdapter``: it counts the call, reads
``Sforce-Limit-Info`` (REST and Bulk alike), refuses to send once the configured budget or the org's
reserve is reached, and gives the request ``SALESFORCE_TIMEOUT_SECONDS`` (simple-salesforce sets none).
Only for 127.0.0.1/localhost does it rewrite ``https://`` to ``http://`` (the local emulator); TLS
verification is never turned off for a real host.
"""

from __future__ import annotations

import http.client
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceRefusedRequest,
)
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from helpdesk_migrate.sdk import ConfigurationError

from .settings import SalesforceConfig
from .soql import in_chunks, in_list, quote

log = logging.getLogger("helpdesk_migrate.salesforce")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
RETRY_ATTEMPTS = 4  # tries of one request that fails transiently (the first one included)
T = TypeVar("T")

# What a connection that failed under a request looks like: refused or reset, silent past the timeout, or an
# answer cut off mid-body (requests wraps urllib3's ProtocolError / IncompleteRead in ChunkedEncodingError;
# a streamed body can raise them bare). Whether Salesforce applied the request is unknown in every case.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.ProtocolError, http.client.IncompleteRead)


class ApiBudgetExhausted(Exception):
    """The configured API budget (or the org's reserve) is spent; nothing more is sent."""


class ApiLimitReached(Exception):
    """The org refused the request: its daily API request limit is exhausted (REQUEST_LIMIT_EXCEEDED)."""


class SalesforceUnavailable(Exception):
    """Salesforce kept failing with server errors or dropped connections after retries."""


class ApiMeter:
    """Counts this connection's requests and tracks the org's usage from ``Sforce-Limit-Info``."""

    _LIMIT_RE = re.compile(r"api-usage=(\d+)/(\d+)")

    def __init__(self, budget: int | None = None, reserve: int = 0):
        self.budget = budget
        self.reserve = reserve
        self.calls = 0
        self.org_used: int | None = None
        self.org_max: int | None = None
        self.lock = threading.Lock()

    @property
    def org_remaining(self) -> int | None:
        return None if self.org_max is None or self.org_used is None else self.org_max - self.org_used

    def before_request(self) -> None:
        with self.lock:
            if self.budget is not None and self.calls >= self.budget:
                raise ApiBudgetExhausted(f"the API budget of {self.budget} requests (SALESFORCE_API_BUDGET) is spent")
            remaining = self.org_remaining
            if remaining is not None and self.reserve and remaining <= self.reserve:
                raise ApiBudgetExhausted(f"the org has {remaining} API requests left today, at the reserve of "
                                         f"{self.reserve} (SALESFORCE_API_RESERVE)")

    def after_response(self, response: requests.Response) -> None:
        with self.lock:
            self.calls += 1
            m = self._LIMIT_RE.search(response.headers.get("Sforce-Limit-Info") or "")
            if m:
                self.org_used, self.org_max = int(m.group(1)), int(m.group(2))

    def record_limits(self, limits: dict[str, Any]) -> None:
        daily = limits.get("DailyApiRequests") or {}
        if "Max" in daily and "Remaining" in daily:
            with self.lock:
                self.org_max = int(daily["Max"])
                self.org_used = int(daily["Max"]) - int(daily["Remaining"])


class TimeoutAdapter(HTTPAdapter):
    """Gives every request that has none a timeout: requests has no session-wide one and simple-salesforce
    passes none, so a connection that goes silent would otherwise hang the run for good."""

    def __init__(self, *, timeout: float | None = None, **kw: Any):
        super().__init__(**kw)
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:  # type: ignore[override]
        if kw.get("timeout") is None and self.timeout is not None:
            kw["timeout"] = self.timeout
        return super().send(request, **kw)


class MeteredAdapter(TimeoutAdapter):
    def __init__(self, meter: ApiMeter, *, plain_http: bool = False, **kw: Any):
        super().__init__(**kw)
        self.meter = meter
        self.plain_http = plain_http

    def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:  # type: ignore[override]
        self.meter.before_request()
        if self.plain_http and request.url and request.url.startswith("https://"):
            request.url = "http://" + request.url[len("https://"):]
        response = super().send(request, **kw)
        self.meter.after_response(response)
        return response


def is_loopback(host: str | None) -> bool:
    return (host or "").strip("[]").lower() in LOOPBACK_HOSTS


def mount_instance(session: requests.Session, sf_instance: str, meter: ApiMeter, *,
                   timeout: float | None = None) -> None:
    """Route requests for the instance through the metering adapter (plain HTTP for loopback only)."""
    host = sf_instance.split("/")[0]
    hostname = urlsplit(f"//{host}").hostname
    session.mount(f"https://{host}/", MeteredAdapter(meter, plain_http=is_loopback(hostname), timeout=timeout,
                                                     pool_maxsize=10))


def new_session(timeout: float) -> requests.Session:
    """A session whose every HTTPS request (the login host's too) has ``timeout``."""
    session = requests.Session()
    session.mount("https://", TimeoutAdapter(timeout=timeout))
    return session


def _login(cfg: SalesforceConfig, session: requests.Session) -> Salesforce:
    version = cfg.api_version
    mode = cfg.auth_mode
    try:
        if mode == "session":
            return Salesforce(session_id=cfg.session_id, instance_url=cfg.instance_url, session=session, version=version)
        if mode == "password" and cfg.consumer_key is None:
            return Salesforce(username=cfg.username, password=cfg.password, security_token=cfg.security_token or "",
                              domain=cfg.domain, session=session, version=version)
        if mode == "password":
            return Salesforce(username=cfg.username, password=cfg.password, consumer_key=cfg.consumer_key,
                              consumer_secret=cfg.consumer_secret, domain=cfg.domain, session=session,
                              version=version)
        return Salesforce(consumer_key=cfg.consumer_key, consumer_secret=cfg.consumer_secret,
                          domain=cfg.my_domain(), session=session, version=version)
    except SalesforceAuthenticationFailed as exc:
        names = {"password": "SALESFORCE_USERNAME, SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN (and "
                             "SALESFORCE_DOMAIN: login for production, test for a sandbox)",
                 "client_credentials": "SALESFORCE_CONSUMER_KEY, SALESFORCE_CONSUMER_SECRET and the My Domain "
                                       "(SALESFORCE_DOMAIN or SALESFORCE_INSTANCE_URL)"}
        raise ConfigurationError(f"Salesforce login failed ({exc.code}): check {names.get(mode, mode)}") from None
    except requests.RequestException as exc:
        raise ConfigurationError(f"Salesforce login endpoint unreachable ({type(exc).__name__}); check "
                                 "SALESFORCE_DOMAIN / SALESFORCE_INSTANCE_URL and the network") from None


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, SalesforceGeneralError):
        return exc.status >= 500
    return _locked(exc) or isinstance(exc, NETWORK_ERRORS)


def _locked(exc: BaseException) -> bool:
    """UNABLE_TO_LOCK_ROW: the write was not applied, so sending it again is always safe."""
    return isinstance(exc, SalesforceError) and exc.status == 400 and error_code(exc) == "UNABLE_TO_LOCK_ROW"


def error_code(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or "")
    return ""


def error_message(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return f"{content[0].get('errorCode')}: {content[0].get('message')}"
    return f"HTTP {exc.status}: {str(content)[:300]}"


class SalesforceClient:
    """One authenticated connection: simple-salesforce plus metering, retries and cached describes."""

    def __init__(self, cfg: SalesforceConfig, *, session: requests.Session | None = None):
        self.cfg = cfg
        self.meter = ApiMeter(cfg.api_budget, cfg.api_reserve)
        # A session handed in keeps its own adapters (tests route the login host to an emulator); the
        # instance's requests get the timeout either way.
        self.session = session or new_session(cfg.timeout_seconds)
        # The login answer names the API user (the token response's identity URL, SOAP's userId), but
        # simple-salesforce keeps only the session: a response hook notes the user id, never the token.
        self._login_user_id: str | None = None
        self.session.hooks.setdefault("response", []).append(self._note_login_user)
        if cfg.instance_url:
            self._mount(urlsplit(cfg.instance_url).netloc)
        self.sf = _login(cfg, self.session)
        self._mount(self.sf.sf_instance)
        self._describe: dict[str, dict[str, Any]] = {}
        self._global: dict[str, Any] | None = None
        self._user_id: str | None = None
        self.retry_wait = wait_exponential(multiplier=0.2, max=5)

    def _mount(self, sf_instance: str) -> None:
        mount_instance(self.session, sf_instance, self.meter, timeout=self.cfg.timeout_seconds)

    # -- calling ----------------------------------------------------------------------------------------

    def call(self, fn: Callable[..., T], *args: Any, idempotent: bool = True, **kw: Any) -> T:
        """Run one simple-salesforce call: retry transient failures when safe, re-login once on an expired
        session when the login method allows, and turn refusals into clear errors."""
        relogged = False
        while True:
            try:
                for attempt in Retrying(retry=retry_if_exception(_transient if idempotent else _locked),
                                        stop=stop_after_attempt(RETRY_ATTEMPTS), wait=self.retry_wait, reraise=True):
                    with attempt:
                        return fn(*args, **kw)
            except SalesforceExpiredSession:
                if self.cfg.auth_mode == "session":
                    raise ConfigurationError(
                        "Salesforce rejected the session (INVALID_SESSION_ID): SALESFORCE_SESSION_ID has expired or "
                        "was revoked; get a new one, or log in with SALESFORCE_USERNAME/SALESFORCE_PASSWORD/"
                        "SALESFORCE_SECURITY_TOKEN or SALESFORCE_CONSUMER_KEY/SALESFORCE_CONSUMER_SECRET") from None
                if relogged:
                    raise ConfigurationError("Salesforce rejects every new session (INVALID_SESSION_ID); check the "
                                             "user's login hours, IP restrictions and API access") from None
                relogged = True
                self.sf = _login(self.cfg, self.session)
                self._mount(self.sf.sf_instance)
                continue
            except SalesforceRefusedRequest as exc:
                if error_code(exc) == "REQUEST_LIMIT_EXCEEDED":
                    raise ApiLimitReached("the org's daily API request limit is exhausted (REQUEST_LIMIT_EXCEEDED); "
                                          "the remaining records are retried by the next run") from None
                raise
            except RetryError as exc:  # pragma: no cover - reraise=True makes this unreachable
                raise SalesforceUnavailable(str(exc)) from None
            except NETWORK_ERRORS as exc:
                raise SalesforceUnavailable(f"Salesforce unreachable or its answer incomplete: "
                                            f"{type(exc).__name__}") from None
            except SalesforceGeneralError as exc:
                if exc.status >= 500:
                    raise SalesforceUnavailable(f"Salesforce answered HTTP {exc.status} repeatedly") from None
                raise

    # -- reads ------------------------------------------------------------------------------------------

    def query_all(self, soql: str) -> list[dict[str, Any]]:
        return self.call(lambda: list(self.sf.query_all_iter(soql)))

    def count(self, soql: str) -> int:
        return int(self.call(self.sf.query, soql)["totalSize"])

    def query_in(self, template: str, values: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Run ``template`` (holding ``{values}``) over URL-sized IN-lists of the escaped values."""
        fixed = len(template)
        for chunk in in_chunks(list(values), fixed_length=fixed):
            yield from self.query_all(template.format(values=in_list(chunk)))

    def tooling_query(self, soql: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        result = self.call(self.sf.toolingexecute, "query/?q=" + requests.utils.quote(soql, safe=""))
        out += result.get("records", [])
        while not result.get("done", True) and result.get("nextRecordsUrl"):
            url = result["nextRecordsUrl"].split("/tooling/", 1)[1]
            result = self.call(self.sf.toolingexecute, url)
            out += result.get("records", [])
        return out

    def describe_global(self) -> dict[str, Any]:
        if self._global is None:
            self._global = self.call(self.sf.describe) or {"sobjects": []}
        return self._global

    def has_object(self, name: str) -> bool:
        return any(o["name"].lower() == name.lower() for o in self.describe_global().get("sobjects", []))

    def describe(self, obj: str, *, refresh: bool = False) -> dict[str, Any]:
        if refresh or obj not in self._describe:
            self._describe[obj] = self.call(getattr(self.sf, obj).describe)
        return self._describe[obj]

    def fields(self, obj: str) -> dict[str, dict[str, Any]]:
        return {f["name"]: f for f in self.describe(obj)["fields"]}

    def forget_describe(self, obj: str | None = None) -> None:
        if obj is None:
            self._describe.clear()
        else:
            self._describe.pop(obj, None)

    def _note_login_user(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Response hook: the user id a login answer names (OAuth2 token response ``id``, the identity URL
        ``…/id/<org id>/<user id>``; SOAP ``<userId>``)."""
        path = urlsplit(response.url or "").path.rstrip("/")
        if response.status_code != 200 or response.request is None or response.request.method != "POST":
            return
        user = None
        if path.endswith("/services/oauth2/token"):
            try:
                identity = response.json().get("id")
            except (ValueError, AttributeError):
                identity = None
            user = user_of_identity_url(identity)
        elif "/services/Soap/u/" in path:
            m = re.search(r"<userId>(\w{15,18})</userId>", response.text or "")
            user = m.group(1) if m else None
        if user:
            self._login_user_id = user

    def user_id(self) -> str:
        """The API user's id: userinfo; else the identity URL the login answered (a client-credentials token
        may lack the openid scope userinfo needs); else chatter/users/me; else a Username query."""
        if self._user_id is None:
            for find in (self._user_from_userinfo, lambda: self._login_user_id, self._user_from_chatter,
                         self._user_from_username):
                self._user_id = find()
                if self._user_id:
                    break
            else:
                raise ConfigurationError("cannot tell which Salesforce User the API session belongs to: userinfo, "
                                         "the login's identity URL and chatter/users/me gave none, and no "
                                         "SALESFORCE_USERNAME is set; give the connected app the openid/id scope")
        return self._user_id

    def _user_from_userinfo(self) -> str | None:
        try:
            return (self.call(self.sf.oauth2, "userinfo") or {}).get("user_id")
        except SalesforceError:
            return None

    def _user_from_chatter(self) -> str | None:
        try:
            found = str((self.restful("chatter/users/me") or {}).get("id") or "")
        except SalesforceError:
            return None
        return found if found.startswith("005") else None

    def _user_from_username(self) -> str | None:
        if not self.cfg.username:
            return None
        rows = self.query_all(f"SELECT Id FROM User WHERE Username = {quote(self.cfg.username)}")
        return rows[0]["Id"] if rows else None

    def limits(self) -> dict[str, Any]:
        limits = self.call(self.sf.limits)
        self.meter.record_limits(limits)
        return limits

    # -- writes -----------------------------------------------------------------------------------------

    def restful(self, path: str, method: str = "GET", *, idempotent: bool = True, **kw: Any) -> Any:
        return self.call(self.sf.restful, path, method=method, idempotent=idempotent, **kw)

    def tooling(self, path: str, method: str = "GET", data: dict[str, Any] | None = None, *,
                idempotent: bool = True) -> Any:
        return self.call(self.sf.toolingexecute, path, method=method, data=data, idempotent=idempotent)

    def bulk2_client(self, obj: str) -> Any:
        """simple-salesforce's Bulk API 2.0 job client for ``obj`` (its high-level insert/upsert raise on a
        failed job and lose the per-record results, so the writer drives the job lifecycle itself)."""
        return getattr(self.sf.bulk2, obj)._client

    def bulk2_type(self, obj: str) -> Any:
        return getattr(self.sf.bulk2, obj)


def user_of_identity_url(identity: Any) -> str | None:
    """The user id at the end of an identity URL (https://login.salesforce.com/id/<org id>/<user id>)."""
    m = re.search(r"/id/00D\w+/(005\w{12,15})/?$", str(identity or ""))
    return m.group(1) if m else None


def connect(cfg: SalesforceConfig, *, session: requests.Session | None = None) -> SalesforceClient:
    return SalesforceClient(cfg, session=session)


def chunked(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
