"""The Tidio plugin's settings: every environment variable it reads, and the parsed configuration.

Secrets (the client id and secret) are read here and handed only to the HTTP client; nothing else keeps
them, so no message, log line or report can carry them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from helpdesk_migrate.sdk import ConfigurationError, Setting

DEFAULT_BASE_URL = "https://api.tidio.com"
HISTORY_MODES = ("internal_notes", "public_replies")
PHONE_ONLY_POLICIES = ("placeholder_email", "skip_tickets")
CONTACT_LOOKUPS = ("list", "email")
INVALID_VALUE_POLICIES = ("drop", "quarantine")  # the first is the default
TIDIO_STATUSES = ("open", "pending", "solved")
TIDIO_PRIORITIES = ("low", "normal", "urgent")

# Canonical conversation status -> Tidio status. Trengo's INVALID arrives as "spam"; Tidio has no such
# status, so it is solved and (when the tag exists) tagged, see DEFAULT_STATUS_TAGS.
DEFAULT_STATUS_MAP = {"open": "open", "assigned": "open", "pending": "pending", "closed": "solved", "spam": "solved"}
DEFAULT_STATUS_TAGS = {"spam": "spam"}

SETTINGS: tuple[Setting, ...] = (
    Setting("TIDIO_CLIENT_ID", "Tidio OpenAPI client id (ci_...), Panel > Developer > OpenAPI", required=True,
            secret=True),
    Setting("TIDIO_CLIENT_SECRET", "Tidio OpenAPI client secret (cs_...)", required=True, secret=True),
    Setting("TIDIO_BASE_URL", "Tidio API root", default=DEFAULT_BASE_URL),
    Setting("TIDIO_RATE_LIMIT_PER_MINUTE", "the project's plan budget: 10, 60 (Plus) or 120 (Premium) requests "
            "per minute, shared by every process of the migration", default="60"),
    Setting("TIDIO_RETRY_BACKOFF_SECONDS", "fixed wait after a 429 (Tidio sends no Retry-After) and base wait "
            "after a 5xx", default="10"),
    Setting("TIDIO_MAX_RETRIES", "attempts per request on 429s, and as many on 5xx/connection errors (counted "
            "apart)", default="6"),
    Setting("TIDIO_TIMEOUT_SECONDS", "HTTP timeout per request", default="30"),
    Setting("TIDIO_FALLBACK_OPERATOR_ID", "Tidio operator (UUID or email) that takes tickets of agents without a "
            "matching operator; unset = such tickets are refused and the operators_matched check blocks"),
    Setting("TIDIO_FALLBACK_DEPARTMENT", "Tidio department (UUID or name, e.g. General) for tickets of teams "
            "without a matching department; unset = such tickets are refused and departments_matched blocks"),
    Setting("TIDIO_HISTORY_OPERATOR_ID", "Tidio operator (UUID or email) that posts history notes whose author "
            "is a customer, the system or an unmatched agent; default: the fallback operator, else the owner"),
    Setting("TIDIO_DROP_MISSING_TAGS", "how a label without a Tidio tag is reported in the tags object: false "
            "(quarantined, with what to create) or true (skipped); either way tickets load without it, named in their "
            "opening message (tag-dropped)", default="false"),
    Setting("TIDIO_HISTORY_MODE", "internal_notes (default: every historical message is an internal note with "
            "its original author and time, nobody is emailed) or public_replies (explicit: agent messages are "
            "public replies, which Tidio EMAILS TO THE CUSTOMER)", default="internal_notes"),
    Setting("TIDIO_PHONE_ONLY_POLICY", "contacts without a usable email (Tidio creates tickets by contact email): "
            "placeholder_email (give them <source>-contact-<id>@TIDIO_PLACEHOLDER_EMAIL_DOMAIN, never delivered) "
            "or skip_tickets (create the contact, skip its tickets with a reason)", default="placeholder_email"),
    Setting("TIDIO_PLACEHOLDER_EMAIL_DOMAIN", "domain of placeholder addresses; example.com publishes a null MX, "
            "so nothing sent there is ever delivered", default="example.com"),
    Setting("TIDIO_PROPERTY_MAP", "JSON object or key=name pairs: canonical custom field key (or 'company') -> "
            "Tidio contact property name; an empty name leaves the value out on purpose", default=""),
    Setting("TIDIO_STATUS_MAP", "JSON object: canonical status or the source's own status -> open|pending|solved",
            default=""),
    Setting("TIDIO_RESULT_MAP", "JSON object: ticket result name -> {status, priority, tag}; by default a result "
            "becomes the Tidio tag of the same name when one exists", default=""),
    Setting("TIDIO_INVALID_PROPERTY_VALUES", "a value Tidio cannot hold as it is (e.g. 'n.v.t.' for a number, "
            "a broken email): drop (default: the contact loads without that value, converted where the meaning is "
            "clear; the original is kept in the contact property original_values and reported as a change) or "
            "quarantine (the contact waits until the value is fixed)", default="drop"),
    Setting("TIDIO_CONTACT_LOOKUP", "how existing contacts are found before creating: list (read every contact "
            "once, cheapest for most projects) or email (one GET /contacts?email= per contact)", default="list"),
    Setting("TIDIO_MAX_NOTE_CHARS", "longest note sent in one reply; longer history is split into parts",
            default="5000"),
    Setting("TIDIO_COUNT_MESSAGES_MAX_TICKETS", "count() of messages reads every migrated ticket; above this many "
            "tickets it is not attempted (reported as unknown)", default="300"),
)


def _bool(name: str, raw: str | None) -> bool:
    value = (raw or "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")


def _int(name: str, raw: str | None, default: int, minimum: int = 0) -> int:
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}")
    return value


def _float(name: str, raw: str | None, default: float) -> float:
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise ConfigurationError(f"{name} cannot be negative")
    return value


def _choice(name: str, raw: str | None, choices: tuple[str, ...]) -> str:
    value = (raw or choices[0]).strip().lower()
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return value


def _json_or_pairs(name: str, raw: str | None) -> dict[str, Any]:
    """Accept a JSON object, or comma-separated key=value pairs for the simple string maps."""
    raw = (raw or "").strip()
    if not raw:
        return {}
    if raw.startswith("{"):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{name} is not valid JSON: {exc.msg} at position {exc.pos}") from None
        if not isinstance(value, dict):
            raise ConfigurationError(f"{name} must be a JSON object")
        return value
    out: dict[str, Any] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ConfigurationError(f"{name}: {part.strip()!r} is not key=value")
        key, value = part.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def check_base_url(url: str) -> str:
    """https for real hosts; plain http only for a local emulator. TLS verification is never turned off."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigurationError(f"TIDIO_BASE_URL must be an http(s) URL such as {DEFAULT_BASE_URL}")
    if parsed.scheme == "http" and parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigurationError("TIDIO_BASE_URL must use https; plain http is accepted only for a local "
                                 "emulator on 127.0.0.1 or localhost")
    return url.rstrip("/")


@dataclass
class TidioConfig:
    base_url: str = DEFAULT_BASE_URL
    client_id: str = field(default="", repr=False)
    client_secret: str = field(default="", repr=False)
    rate_limit_per_minute: int = 60
    retry_backoff_seconds: float = 10.0
    max_retries: int = 6
    timeout_seconds: float = 30.0
    fallback_operator: str | None = None
    fallback_department: str | None = None
    history_operator: str | None = None
    drop_missing_tags: bool = False
    history_mode: str = "internal_notes"
    phone_only_policy: str = "placeholder_email"
    placeholder_email_domain: str = "example.com"
    property_map: dict[str, str] = field(default_factory=dict)
    status_map: dict[str, str] = field(default_factory=dict)
    result_map: dict[str, dict[str, str]] = field(default_factory=dict)
    contact_lookup: str = "list"
    invalid_property_values: str = "drop"
    max_note_chars: int = 5000
    count_messages_max_tickets: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TidioConfig:
        def get(name: str) -> str | None:
            value = env.get(name)
            return None if value is None or str(value).strip() == "" else str(value).strip()

        client_id, client_secret = get("TIDIO_CLIENT_ID"), get("TIDIO_CLIENT_SECRET")
        if not client_id:
            raise ConfigurationError("TIDIO_CLIENT_ID is not set (Tidio Panel > Developer > OpenAPI)")
        if not client_secret:
            raise ConfigurationError("TIDIO_CLIENT_SECRET is not set (Tidio Panel > Developer > OpenAPI)")
        # The prefixes are documented; a swapped pair is the most common mistake and is named without values.
        if not client_id.startswith("ci_"):
            raise ConfigurationError("TIDIO_CLIENT_ID must start with ci_ (is the client secret in it?)")
        if not client_secret.startswith("cs_"):
            raise ConfigurationError("TIDIO_CLIENT_SECRET must start with cs_ (is the client id in it?)")
        rate = _int("TIDIO_RATE_LIMIT_PER_MINUTE", get("TIDIO_RATE_LIMIT_PER_MINUTE"), 60, minimum=1)
        domain = (get("TIDIO_PLACEHOLDER_EMAIL_DOMAIN") or "example.com").lstrip("@").lower()
        if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain):
            raise ConfigurationError("TIDIO_PLACEHOLDER_EMAIL_DOMAIN must be a domain name such as example.com")
        status_map = {str(k): str(v).lower() for k, v in _json_or_pairs("TIDIO_STATUS_MAP",
                                                                        get("TIDIO_STATUS_MAP")).items()}
        bad = sorted({v for v in status_map.values() if v not in TIDIO_STATUSES})
        if bad:
            raise ConfigurationError(f"TIDIO_STATUS_MAP: {', '.join(bad)} is not a Tidio status "
                                     f"({', '.join(TIDIO_STATUSES)})")
        result_map_raw = _json_or_pairs("TIDIO_RESULT_MAP", get("TIDIO_RESULT_MAP"))
        result_map: dict[str, dict[str, str]] = {}
        for name, target in result_map_raw.items():
            if isinstance(target, str):
                target = {"tag": target}
            if not isinstance(target, dict) or set(target) - {"status", "priority", "tag"}:
                raise ConfigurationError(f"TIDIO_RESULT_MAP[{name!r}] must be an object with status, priority "
                                         "and/or tag")
            if target.get("status") and target["status"] not in TIDIO_STATUSES:
                raise ConfigurationError(f"TIDIO_RESULT_MAP[{name!r}].status must be one of "
                                         f"{', '.join(TIDIO_STATUSES)}")
            if target.get("priority") and target["priority"] not in TIDIO_PRIORITIES:
                raise ConfigurationError(f"TIDIO_RESULT_MAP[{name!r}].priority must be one of "
                                         f"{', '.join(TIDIO_PRIORITIES)}")
            result_map[str(name)] = {k: str(v) for k, v in target.items() if v}
        property_map = {str(k): ("" if v is None else str(v)) for k, v in
                        _json_or_pairs("TIDIO_PROPERTY_MAP", get("TIDIO_PROPERTY_MAP")).items()}
        return cls(
            base_url=check_base_url(get("TIDIO_BASE_URL") or DEFAULT_BASE_URL),
            client_id=client_id,
            client_secret=client_secret,
            rate_limit_per_minute=rate,
            retry_backoff_seconds=_float("TIDIO_RETRY_BACKOFF_SECONDS", get("TIDIO_RETRY_BACKOFF_SECONDS"), 10.0),
            max_retries=_int("TIDIO_MAX_RETRIES", get("TIDIO_MAX_RETRIES"), 6, minimum=1),
            timeout_seconds=_float("TIDIO_TIMEOUT_SECONDS", get("TIDIO_TIMEOUT_SECONDS"), 30.0) or 30.0,
            fallback_operator=get("TIDIO_FALLBACK_OPERATOR_ID"),
            fallback_department=get("TIDIO_FALLBACK_DEPARTMENT"),
            history_operator=get("TIDIO_HISTORY_OPERATOR_ID"),
            drop_missing_tags=_bool("TIDIO_DROP_MISSING_TAGS", get("TIDIO_DROP_MISSING_TAGS")),
            history_mode=_choice("TIDIO_HISTORY_MODE", get("TIDIO_HISTORY_MODE"), HISTORY_MODES),
            phone_only_policy=_choice("TIDIO_PHONE_ONLY_POLICY", get("TIDIO_PHONE_ONLY_POLICY"),
                                      PHONE_ONLY_POLICIES),
            placeholder_email_domain=domain,
            property_map=property_map,
            status_map=status_map,
            result_map=result_map,
            contact_lookup=_choice("TIDIO_CONTACT_LOOKUP", get("TIDIO_CONTACT_LOOKUP"), CONTACT_LOOKUPS),
            invalid_property_values=_choice("TIDIO_INVALID_PROPERTY_VALUES", get("TIDIO_INVALID_PROPERTY_VALUES"),
                                            INVALID_VALUE_POLICIES),
            max_note_chars=_int("TIDIO_MAX_NOTE_CHARS", get("TIDIO_MAX_NOTE_CHARS"), 5000, minimum=500),
            count_messages_max_tickets=_int("TIDIO_COUNT_MESSAGES_MAX_TICKETS",
                                            get("TIDIO_COUNT_MESSAGES_MAX_TICKETS"), 300),
        )
