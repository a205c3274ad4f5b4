"""The Salesforce destination's configuration: environment variables, parsed once and checked up front.

Secrets (password, token, consumer secret, session id) are read here and handed to simple-salesforce;
they never appear in an error message, a log line or a report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from helpdesk_migrate.sdk import PAIR_SOURCE_ENV, ConfigurationError, Setting, read_settings

DEFAULT_API_VERSION = "62.0"
# Long enough for a slow Bulk API or composite answer, short enough that a silent connection does not hang a run.
DEFAULT_TIMEOUT_SECONDS = 120.0
DEFAULT_STATUS_MAP = {"open": "New", "assigned": "Working", "pending": "Working", "closed": "Closed", "spam": "Closed"}
DEFAULT_PRIORITY_MAP = {"low": "Low", "normal": "Medium", "medium": "Medium", "high": "High", "urgent": "High"}
DEFAULT_ORIGIN_MAP = {
    "email": "Email", "voice": "Phone", "chat": "Web", "whatsapp": "WhatsApp", "facebook": "Facebook",
    "instagram": "Instagram", "sms": "SMS", "telegram": "Telegram", "twitter": "Twitter", "wechat": "WeChat",
    "gbm": "Google Business Messages", "custom": "Web", "other": "Web",
}

SETTINGS: tuple[Setting, ...] = (
    Setting("SALESFORCE_USERNAME", "username for password login (with SALESFORCE_PASSWORD and "
            "SALESFORCE_SECURITY_TOKEN), or for the OAuth2 password grant"),
    Setting("SALESFORCE_PASSWORD", "password of SALESFORCE_USERNAME", secret=True),
    Setting("SALESFORCE_SECURITY_TOKEN", "security token of SALESFORCE_USERNAME", secret=True),
    Setting("SALESFORCE_DOMAIN", "login domain: 'login' (production), 'test' (sandbox), or a My Domain such as "
            "'acme.my' (needed for OAuth2 client credentials)", default="login",
            pattern=r"[A-Za-z0-9.-]+", pattern_help="login, test or a My Domain such as acme.my"),
    Setting("SALESFORCE_CONSUMER_KEY", "connected app consumer key, for OAuth2 client credentials"),
    Setting("SALESFORCE_CONSUMER_SECRET", "connected app consumer secret, for OAuth2 client credentials", secret=True),
    Setting("SALESFORCE_INSTANCE_URL", "instance URL, e.g. https://acme.my.salesforce.com (with SALESFORCE_SESSION_ID, "
            "or to derive the My Domain for client credentials)", kind="url"),
    Setting("SALESFORCE_SESSION_ID", "an existing session (access token), used with SALESFORCE_INSTANCE_URL",
            secret=True),
    Setting("SALESFORCE_API_VERSION", "REST API version", default=DEFAULT_API_VERSION, pattern=r"v?\d+\.\d",
            pattern_help="a version such as 62.0"),
    Setting("SALESFORCE_FALLBACK_OWNER_ID", "User or Queue id (or a User's email) that owns records whose agent has "
            "no Salesforce User; without it such records are stopped"),
    Setting("SALESFORCE_STATUS_MAP", "JSON: canonical conversation status -> Case Status, merged over "
            + json.dumps(DEFAULT_STATUS_MAP), kind="mapping"),
    Setting("SALESFORCE_PRIORITY_MAP", "JSON: source priority (lower case) -> Case Priority, merged over "
            + json.dumps(DEFAULT_PRIORITY_MAP), kind="mapping"),
    Setting("SALESFORCE_ORIGIN_MAP", "JSON: channel type -> Case Origin, merged over the built-in map", kind="mapping"),
    Setting("SALESFORCE_RECORD_TYPES", "JSON: channel type -> Case record type DeveloperName or id (optional)",
            kind="mapping"),
    Setting("SALESFORCE_BULK_THRESHOLD", "records in one load at or above which Bulk API 2.0 is used instead of "
            "sObject Collections", default=2000, kind="int", minimum=1),
    Setting("SALESFORCE_CREATE_SCHEMA", "true: create missing custom fields and picklist values through the "
            "Tooling API; false: write the schema plan and stop", default=False, kind="bool"),
    Setting("SALESFORCE_API_BUDGET", "most API requests this migration may spend per connection (empty: no cap)",
            kind="int", minimum=1),
    Setting("SALESFORCE_API_RESERVE", "stop when the org's remaining daily API requests fall to this", default=0,
            kind="int", minimum=0),
    Setting("SALESFORCE_NON_EMAIL_MESSAGES", "where chat/WhatsApp/SMS... messages go: comment (CaseComment), "
            "task (completed Task) or skip", default="comment", kind="choice", choices=("comment", "task", "skip")),
    Setting("SALESFORCE_COMMENTS_PUBLISHED", "true: CaseComments are published (visible to the customer)",
            default=False, kind="bool"),
    Setting("SALESFORCE_EMAIL_BODY_LIMIT", "characters of EmailMessage TextBody/HtmlBody (32000 unless Support "
            "raised it)", default=32000, kind="int", minimum=1000),
    Setting("SALESFORCE_MAX_FILE_BYTES", "largest file sent as base64 in a JSON ContentVersion insert; larger files "
            "(up to 2 GB) go as a multipart upload", default=25 * 1024 * 1024, kind="int", minimum=1),
    Setting("SALESFORCE_FIELD_PREFIX", "prefix of the custom fields the migration adds (<prefix>_Id__c ...); default: "
            "the pair's source platform, e.g. Acme for a source named acme", pattern=r"[A-Za-z][A-Za-z0-9]{0,14}",
            pattern_help="a letter and up to 14 more letters or digits (it becomes part of custom field names)"),
    Setting("SALESFORCE_TAG_PREFIX", "prefix a tag gets when its name collides with a different picklist value",
            default="Tag: "),
    Setting("SALESFORCE_PLACEHOLDER_LAST_NAME", "Contact LastName when none can be derived", default="Unknown"),
    Setting("SALESFORCE_CONTACT_FIELD_MAP", "JSON: contact custom property key -> Contact field API name",
            kind="mapping"),
    Setting("SALESFORCE_CASE_FIELD_MAP", "JSON: conversation custom field key -> Case field API name",
            kind="mapping"),
    Setting("SALESFORCE_KNOWLEDGE_OBJECT", "Knowledge article version object", default="Knowledge__kav"),
    Setting("SALESFORCE_KNOWLEDGE_BODY_FIELD", "rich text field of the article body (created when missing)"),
    Setting("SALESFORCE_KNOWLEDGE_PUBLISH", "source: publish what was published in the source; draft: keep all "
            "articles as drafts", default="source", kind="choice", choices=("source", "draft")),
    Setting("SALESFORCE_KNOWLEDGE_CATEGORY_GROUP", "data category group articles are classified in (default: the "
            "first active group)"),
    Setting("SALESFORCE_LOCK_RETRIES", "retries of records refused with UNABLE_TO_LOCK_ROW", default=5, kind="int",
            minimum=0),
    Setting("SALESFORCE_BULK_POLL_SECONDS", "the longest wait between Bulk API 2.0 ingest job status polls (they "
            "start at 0.25 s and double); the wait between query job polls", default=2.0, kind="float",
            minimum=0.001),
    Setting("SALESFORCE_TIMEOUT_SECONDS", "seconds to wait for Salesforce to connect and for each chunk of an answer; "
            "a request that takes longer is retried like a dropped connection", default=DEFAULT_TIMEOUT_SECONDS,
            kind="float", minimum=0.001),
)


def field_prefix_for(source: str | None) -> str:
    """The default prefix of the migration's custom fields: the pair's source plugin name in CamelCase
    (acme_desk -> AcmeDesk), cut to the 15 characters a prefix may hold; "Migrated" when no source is known."""
    words = re.findall(r"[A-Za-z0-9]+", source or "")
    prefix = "".join(w[:1].upper() + w[1:] for w in words)
    return prefix[:15] if prefix[:1].isalpha() else "Migrated"


def _string_map(values: Mapping[str, Any], name: str) -> dict[str, str]:
    """A mapping setting whose values must all be text (names of Salesforce values or fields)."""
    value = values[name]
    if not all(isinstance(k, str) and isinstance(x, str) for k, x in value.items()):
        raise ConfigurationError(f"{name} must be a JSON object of strings, e.g. {{\"pending\": \"On Hold\"}}")
    return value


@dataclass
class SalesforceConfig:
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    domain: str = "login"
    consumer_key: str | None = None
    consumer_secret: str | None = field(default=None, repr=False)
    instance_url: str | None = None
    session_id: str | None = field(default=None, repr=False)
    api_version: str = DEFAULT_API_VERSION
    fallback_owner: str | None = None
    status_map: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_STATUS_MAP))
    priority_map: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PRIORITY_MAP))
    origin_map: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ORIGIN_MAP))
    record_types: dict[str, str] = field(default_factory=dict)
    bulk_threshold: int = 2000
    create_schema: bool = False
    api_budget: int | None = None
    api_reserve: int = 0
    non_email_messages: str = "comment"
    comments_published: bool = False
    email_body_limit: int = 32000
    max_file_bytes: int = 25 * 1024 * 1024
    field_prefix: str = "Migrated"  # from_env: SALESFORCE_FIELD_PREFIX, else the pair's source (field_prefix_for)
    tag_prefix: str = "Tag: "
    placeholder_last_name: str = "Unknown"
    contact_field_map: dict[str, str] = field(default_factory=dict)
    case_field_map: dict[str, str] = field(default_factory=dict)
    knowledge_object: str = "Knowledge__kav"
    knowledge_body_field: str | None = None
    knowledge_publish: str = "source"
    knowledge_category_group: str | None = None
    lock_retries: int = 5
    bulk_poll_seconds: float = 2.0
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    @property
    def auth_mode(self) -> str:
        if self.session_id and self.instance_url:
            return "session"
        if self.username and self.password and self.security_token is not None and not self.consumer_key:
            return "password"
        if self.consumer_key and self.consumer_secret:
            return "client_credentials"
        if self.username and self.password:
            return "password"
        return "none"

    @property
    def body_field(self) -> str:
        return self.knowledge_body_field or f"{self.field_prefix}_Body__c"

    def field(self, suffix: str) -> str:
        """API name of one of the migration's own custom fields, e.g. field('Id') -> 'Acme_Id__c' for a source named acme."""
        return f"{self.field_prefix}_{suffix}__c"

    @property
    def id_field(self) -> str:
        return self.field("Id")

    def my_domain(self) -> str | None:
        """The My Domain login host stem ('acme.my') client credentials need."""
        if self.domain and self.domain not in ("login", "test"):
            return self.domain
        if self.instance_url:
            host = urlsplit(self.instance_url).hostname or ""
            if host.endswith(".salesforce.com"):
                return host[: -len(".salesforce.com")]
        return None

    @classmethod
    def from_env(cls, env: Mapping[str, str], options: Mapping[str, Any] | None = None) -> SalesforceConfig:
        """Parse and check the environment; pair options (from the engine) override a few behaviours."""
        options = options or {}
        v = read_settings(SETTINGS, env, "salesforce")
        cfg = cls(
            username=v["SALESFORCE_USERNAME"], password=v["SALESFORCE_PASSWORD"],
            # An empty security token is a real value (an org that trusts the caller's IP): read as given.
            security_token=env.get("SALESFORCE_SECURITY_TOKEN"), domain=v["SALESFORCE_DOMAIN"],
            consumer_key=v["SALESFORCE_CONSUMER_KEY"], consumer_secret=v["SALESFORCE_CONSUMER_SECRET"],
            instance_url=v["SALESFORCE_INSTANCE_URL"], session_id=v["SALESFORCE_SESSION_ID"],
            api_version=v["SALESFORCE_API_VERSION"].lstrip("v"),
            fallback_owner=options.get("fallback_owner") or v["SALESFORCE_FALLBACK_OWNER_ID"],
            record_types=_string_map(v, "SALESFORCE_RECORD_TYPES"),
            bulk_threshold=v["SALESFORCE_BULK_THRESHOLD"], create_schema=v["SALESFORCE_CREATE_SCHEMA"],
            api_budget=v["SALESFORCE_API_BUDGET"], api_reserve=v["SALESFORCE_API_RESERVE"],
            non_email_messages=v["SALESFORCE_NON_EMAIL_MESSAGES"], comments_published=v["SALESFORCE_COMMENTS_PUBLISHED"],
            email_body_limit=v["SALESFORCE_EMAIL_BODY_LIMIT"], max_file_bytes=v["SALESFORCE_MAX_FILE_BYTES"],
            field_prefix=v["SALESFORCE_FIELD_PREFIX"] or field_prefix_for(env.get(PAIR_SOURCE_ENV)),
            # A tag prefix may end in a space ("Tag: "): read as given.
            tag_prefix=env.get("SALESFORCE_TAG_PREFIX") or v["SALESFORCE_TAG_PREFIX"],
            placeholder_last_name=v["SALESFORCE_PLACEHOLDER_LAST_NAME"],
            contact_field_map=_string_map(v, "SALESFORCE_CONTACT_FIELD_MAP"),
            case_field_map=_string_map(v, "SALESFORCE_CASE_FIELD_MAP"),
            knowledge_object=v["SALESFORCE_KNOWLEDGE_OBJECT"], knowledge_body_field=v["SALESFORCE_KNOWLEDGE_BODY_FIELD"],
            knowledge_publish=v["SALESFORCE_KNOWLEDGE_PUBLISH"],
            knowledge_category_group=v["SALESFORCE_KNOWLEDGE_CATEGORY_GROUP"],
            lock_retries=v["SALESFORCE_LOCK_RETRIES"], bulk_poll_seconds=v["SALESFORCE_BULK_POLL_SECONDS"],
            timeout_seconds=v["SALESFORCE_TIMEOUT_SECONDS"],
        )
        cfg.status_map.update({k.lower(): x for k, x in _string_map(v, "SALESFORCE_STATUS_MAP").items()})
        cfg.status_map.update({k.lower(): x for k, x in (options.get("status_map") or {}).items()})
        cfg.priority_map.update({k.lower(): x for k, x in _string_map(v, "SALESFORCE_PRIORITY_MAP").items()})
        cfg.origin_map.update({k.lower(): x for k, x in _string_map(v, "SALESFORCE_ORIGIN_MAP").items()})
        api_name = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
        named = {"SALESFORCE_KNOWLEDGE_OBJECT": [cfg.knowledge_object],
                 "SALESFORCE_KNOWLEDGE_BODY_FIELD": [cfg.knowledge_body_field or "x"],
                 "SALESFORCE_CONTACT_FIELD_MAP": list(cfg.contact_field_map.values()),
                 "SALESFORCE_CASE_FIELD_MAP": list(cfg.case_field_map.values())}
        for var, names in named.items():  # these become part of SOQL statements: API names only
            bad = [n for n in names if not api_name.match(n)]
            if bad:
                raise ConfigurationError(f"{var} holds {bad[0]!r}, which is not a Salesforce API name")
        if cfg.auth_mode == "none":
            raise ConfigurationError(
                "Salesforce credentials are missing: set SALESFORCE_INSTANCE_URL + SALESFORCE_SESSION_ID, or "
                "SALESFORCE_USERNAME + SALESFORCE_PASSWORD + SALESFORCE_SECURITY_TOKEN (+ SALESFORCE_DOMAIN), or "
                "SALESFORCE_CONSUMER_KEY + SALESFORCE_CONSUMER_SECRET with a My Domain (SALESFORCE_DOMAIN or "
                "SALESFORCE_INSTANCE_URL)")
        if cfg.auth_mode == "client_credentials" and not cfg.my_domain():
            raise ConfigurationError("OAuth2 client credentials need a My Domain: set SALESFORCE_DOMAIN (e.g. acme.my) "
                                     "or SALESFORCE_INSTANCE_URL (e.g. https://acme.my.salesforce.com)")
        return cfg
