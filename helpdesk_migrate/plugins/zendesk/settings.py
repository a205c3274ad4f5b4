"""The Zendesk plugin's settings, declared once (the SDK parses and checks them), and its plans' budgets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from helpdesk_migrate.sdk import ConfigurationError, Setting, read_settings

SUBDOMAIN_ENV = "ZENDESK_SUBDOMAIN"
BASE_URL_ENV = "ZENDESK_BASE_URL"
EMAIL_ENV = "ZENDESK_EMAIL"
TOKEN_ENV = "ZENDESK_API_TOKEN"
PLAN_ENV = "ZENDESK_PLAN"
HIGH_VOLUME_ENV = "ZENDESK_HIGH_VOLUME_API"
RATE_ENV = "ZENDESK_RATE_LIMIT_PER_MINUTE"
INCREMENTAL_RATE_ENV = "ZENDESK_INCREMENTAL_RATE_LIMIT_PER_MINUTE"
WINDOW_ENV = "ZENDESK_RATE_LIMIT_WINDOW_SECONDS"
OVERLAP_ENV = "ZENDESK_DELTA_OVERLAP_MINUTES"
CONCURRENCY_ENV = "ZENDESK_CONCURRENCY"
EXPORT_PAGE_ENV = "ZENDESK_EXPORT_PAGE_SIZE"
RETRIES_ENV = "ZENDESK_MAX_RETRIES"
BACKOFF_ENV = "ZENDESK_RETRY_BASE_SECONDS"
TIMEOUT_ENV = "ZENDESK_TIMEOUT_SECONDS"

# Requests a minute for the Support and Help Center APIs by Suite plan, and the incremental exports' own limit
# (https://developer.zendesk.com/api-reference/introduction/rate-limits/ and .../incremental_exports/).
PLAN_BUDGETS = {"team": 200, "growth": 400, "professional": 400, "enterprise": 700, "enterprise_plus": 2500}
HIGH_VOLUME_BUDGET = 2500
INCREMENTAL_BUDGET, INCREMENTAL_HIGH_VOLUME_BUDGET = 10, 30
RATE_BASIS = ("https://developer.zendesk.com/api-reference/introduction/rate-limits/ (Team 200, Growth and "
              "Professional 400, Enterprise 700, Enterprise Plus or the High Volume API add-on 2,500 requests a "
              "minute); incremental exports 10 a minute, 30 with High Volume "
              "(https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/)")

SETTINGS: tuple[Setting, ...] = (
    Setting(SUBDOMAIN_ENV, "the account's subdomain: acme for https://acme.zendesk.com (or set ZENDESK_BASE_URL)",
            pattern=r"[a-z0-9][a-z0-9-]*", pattern_help="letters, digits and dashes, as in acme.zendesk.com"),
    Setting(BASE_URL_ENV, "the account's root URL (a host-mapped domain, or a local emulator); overrides "
                          "ZENDESK_SUBDOMAIN", kind="url"),
    Setting(EMAIL_ENV, "email of the admin the API token acts as", required=True),
    Setting(TOKEN_ENV, "an API token (Admin Center > Apps and integrations > Zendesk API); used as "
                       "{email}/token:{token}", required=True, secret=True),
    Setting(PLAN_ENV, "the Suite plan, for the account's request budget", default="professional", kind="choice",
            choices=tuple(PLAN_BUDGETS)),
    Setting(HIGH_VOLUME_ENV, "the account has the High Volume API add-on (2,500 a minute; exports 30 a minute)",
            default=False, kind="bool"),
    Setting(RATE_ENV, "requests a minute this migration may spend of the account's budget (default: the plan's); "
                      "shared by every process", kind="float", minimum=0.001),
    Setting(INCREMENTAL_RATE_ENV, "requests a minute to the incremental exports (default 10, 30 with High Volume)",
            kind="float", minimum=0.001),
    Setting(WINDOW_ENV, "length of the rate-limit window in seconds (only to rehearse on an emulator)", default=60.0,
            kind="float", minimum=0.001),
    Setting(OVERLAP_ENV, "minutes a delta reaches back before the last watermark", default=10.0, kind="float",
            minimum=0),
    Setting(CONCURRENCY_ENV, "most requests in flight at once (the shared budget still applies)", default=16,
            kind="int", minimum=1, maximum=128),
    Setting(EXPORT_PAGE_ENV, "items per page of the incremental exports (Zendesk's maximum, 1000, costs the "
                             "fewest requests)", default=1000, kind="int", minimum=1, maximum=1000),
    Setting(RETRIES_ENV, "retries of a 5xx, timeout or reset before giving up", default=6, kind="int", minimum=0),
    Setting(BACKOFF_ENV, "first backoff in seconds (doubles each retry)", default=1.0, kind="float", minimum=0),
    Setting(TIMEOUT_ENV, "seconds before a request times out", default=60.0, kind="float", minimum=0.1),
)


@dataclass
class ZendeskConfig:
    email: str
    token: str = field(repr=False)
    base_url: str
    plan: str = "professional"
    high_volume: bool = False
    rate_limit_per_minute: float = 400
    incremental_per_minute: float = INCREMENTAL_BUDGET
    window_seconds: float = 60
    overlap_minutes: float = 10
    concurrency: int = 16
    export_page_size: int = 1000
    max_retries: int = 6
    retry_base_seconds: float = 1.0
    timeout_seconds: float = 60

    @property
    def plan_budget(self) -> int:
        return HIGH_VOLUME_BUDGET if self.high_volume else PLAN_BUDGETS[self.plan]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ZendeskConfig:
        v = read_settings(SETTINGS, env, "zendesk")
        base = v[BASE_URL_ENV] or (f"https://{v[SUBDOMAIN_ENV]}.zendesk.com" if v[SUBDOMAIN_ENV] else None)
        if not base:
            raise ConfigurationError(f"set {SUBDOMAIN_ENV} (acme for https://acme.zendesk.com) or {BASE_URL_ENV}")
        high_volume = bool(v[HIGH_VOLUME_ENV]) or v[PLAN_ENV] == "enterprise_plus"
        plan_budget = HIGH_VOLUME_BUDGET if high_volume else PLAN_BUDGETS[v[PLAN_ENV]]
        incremental = INCREMENTAL_HIGH_VOLUME_BUDGET if high_volume else INCREMENTAL_BUDGET
        return cls(email=v[EMAIL_ENV].strip(), token=v[TOKEN_ENV].strip(), base_url=base.rstrip("/"),
                   plan=v[PLAN_ENV], high_volume=high_volume, rate_limit_per_minute=v[RATE_ENV] or plan_budget,
                   incremental_per_minute=v[INCREMENTAL_RATE_ENV] or incremental, window_seconds=v[WINDOW_ENV],
                   overlap_minutes=v[OVERLAP_ENV], concurrency=v[CONCURRENCY_ENV],
                   export_page_size=v[EXPORT_PAGE_ENV], max_retries=v[RETRIES_ENV],
                   retry_base_seconds=v[BACKOFF_ENV], timeout_seconds=v[TIMEOUT_ENV])


__all__ = ["PLAN_BUDGETS", "RATE_BASIS", "SETTINGS", "ZendeskConfig"]
