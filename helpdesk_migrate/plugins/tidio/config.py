"""The Tidio plugin's settings: every environment variable it reads, and the parsed configuration.

Secrets (the client id and secret) are read here and handed only to the HTTP client; nothing else keeps
them, so no message, log line or report can carry them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from helpdesk_migrate.sdk import ConfigurationError, Setting, read_settings

DEFAULT_BASE_URL = "https://api.tidio.com"
HISTORY_MODES = ("internal_notes", "public_replies")
PHONE_ONLY_POLICIES = ("placeholder_email", "skip_tickets")
CONTACT_LOOKUPS = ("list", "email")
INVALID_VALUE_POLICIES = ("drop", "quarantine")  # the first is the default
TIDIO_STATUSES = ("open", "pending", "solved")
TIDIO_PRIORITIES = ("low", "normal", "urgent")

# Canonical conversation status -> Tidio status. A source's invalid/junk status arrives as "spam"; Tidio has no such
# status, so it is solved and (when the tag exists) tagged, see DEFAULT_STATUS_TAGS.
DEFAULT_STATUS_MAP = {"open": "open", "assigned": "open", "pending": "pending", "closed": "solved", "spam": "solved"}
DEFAULT_STATUS_TAGS = {"spam": "spam"}

SETTINGS: tuple[Setting, ...] = (
    Setting("TIDIO_CLIENT_ID", "Tidio OpenAPI client id (ci_...), Panel > Developer > OpenAPI", required=True,
            secret=True),
    Setting("TIDIO_CLIENT_SECRET", "Tidio OpenAPI client secret (cs_...)", required=True, secret=True),
    Setting("TIDIO_BASE_URL", "Tidio API root", default=DEFAULT_BASE_URL, kind="url"),
    Setting("TIDIO_RATE_LIMIT_PER_MINUTE", "the project's plan budget: 10, 60 (Plus) or 120 (Premium) requests "
            "per minute, shared by every process of the migration", default=60, kind="int", minimum=1),
    Setting("TIDIO_RETRY_BACKOFF_SECONDS", "fixed wait after a 429 (Tidio sends no Retry-After) and base wait "
            "after a 5xx", default=10.0, kind="float", minimum=0),
    Setting("TIDIO_MAX_RETRIES", "attempts per request on 429s, and as many on 5xx/connection errors (counted "
            "apart)", default=6, kind="int", minimum=1),
    Setting("TIDIO_TIMEOUT_SECONDS", "HTTP timeout per request", default=30.0, kind="float", minimum=0.1),
    Setting("TIDIO_FALLBACK_OPERATOR_ID", "Tidio operator (UUID or email) that takes tickets of agents without a "
            "matching operator; unset = such tickets are refused and the operators_matched check blocks"),
    Setting("TIDIO_FALLBACK_DEPARTMENT", "Tidio department (UUID or name, e.g. General) for tickets of teams "
            "without a matching department; unset = such tickets are refused and departments_matched blocks"),
    Setting("TIDIO_HISTORY_OPERATOR_ID", "Tidio operator (UUID or email) that posts history notes whose author "
            "is a customer, the system or an unmatched agent; default: the fallback operator, else the owner"),
    Setting("TIDIO_DROP_MISSING_TAGS", "how a label without a Tidio tag is reported in the tags object: false "
            "(quarantined, with what to create) or true (skipped); either way tickets load without it, named in their "
            "opening message (tag-dropped)", default=False, kind="bool"),
    Setting("TIDIO_HISTORY_MODE", "internal_notes (default: every historical message is an internal note with "
            "its original author and time, nobody is emailed) or public_replies (explicit: agent messages are "
            "public replies, which Tidio EMAILS TO THE CUSTOMER)", default="internal_notes", kind="choice",
            choices=HISTORY_MODES),
    Setting("TIDIO_PHONE_ONLY_POLICY", "contacts without a usable email (Tidio creates tickets by contact email): "
            "placeholder_email (give them <source>-contact-<id>@TIDIO_PLACEHOLDER_EMAIL_DOMAIN, never delivered) "
            "or skip_tickets (create the contact, skip its tickets with a reason)", default="placeholder_email",
            kind="choice", choices=PHONE_ONLY_POLICIES),
    Setting("TIDIO_PLACEHOLDER_EMAIL_DOMAIN", "domain of placeholder addresses; example.com publishes a null MX, "
            "so nothing sent there is ever delivered", default="example.com",
            pattern=r"@?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", pattern_help="a domain name such as example.com"),
    Setting("TIDIO_PROPERTY_MAP", "JSON object or key=name pairs: canonical custom field key (or 'company') -> "
            "Tidio contact property name; an empty name leaves the value out on purpose", kind="mapping"),
    Setting("TIDIO_STATUS_MAP", "JSON object: canonical status or the source's own status -> open|pending|solved",
            kind="mapping"),
    Setting("TIDIO_RESULT_MAP", "JSON object: ticket result name -> {status, priority, tag}; by default a result "
            "becomes the Tidio tag of the same name when one exists", kind="mapping"),
    Setting("TIDIO_INVALID_PROPERTY_VALUES", "a value Tidio cannot hold as it is (e.g. 'n.v.t.' for a number, "
            "a broken email): drop (default: the contact loads without that value, converted where the meaning is "
            "clear; the original is kept in the contact property original_values and reported as a change) or "
            "quarantine (the contact waits until the value is fixed)", default="drop", kind="choice",
            choices=INVALID_VALUE_POLICIES),
    Setting("TIDIO_CONTACT_LOOKUP", "how existing contacts are found before creating: list (read every contact "
            "once, cheapest for most projects) or email (one GET /contacts?email= per contact)", default="list",
            kind="choice", choices=CONTACT_LOOKUPS),
    Setting("TIDIO_MAX_NOTE_CHARS", "longest note sent in one reply; longer history is split into parts",
            default=5000, kind="int", minimum=500),
    Setting("TIDIO_COUNT_MESSAGES_MAX_TICKETS", "count() of messages reads every migrated ticket; above this many "
            "tickets it is not attempted (reported as unknown)", default=300, kind="int", minimum=0),
)


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
        """The configuration from the environment: parsed by the declarations above (``SETTINGS``), plus the
        checks no declaration can state (the credentials' prefixes, the maps' target values)."""
        v = read_settings(SETTINGS, env, "tidio")
        client_id, client_secret = v["TIDIO_CLIENT_ID"].strip(), v["TIDIO_CLIENT_SECRET"].strip()
        # The prefixes are documented; a swapped pair is the most common mistake and is named without values.
        if not client_id.startswith("ci_"):
            raise ConfigurationError("TIDIO_CLIENT_ID must start with ci_ (is the client secret in it?)")
        if not client_secret.startswith("cs_"):
            raise ConfigurationError("TIDIO_CLIENT_SECRET must start with cs_ (is the client id in it?)")
        status_map = {str(k): str(v).lower() for k, v in v["TIDIO_STATUS_MAP"].items()}
        bad = sorted({s for s in status_map.values() if s not in TIDIO_STATUSES})
        if bad:
            raise ConfigurationError(f"TIDIO_STATUS_MAP: {', '.join(bad)} is not a Tidio status "
                                     f"({', '.join(TIDIO_STATUSES)})")
        result_map: dict[str, dict[str, str]] = {}
        for name, target in v["TIDIO_RESULT_MAP"].items():
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
            result_map[str(name)] = {k: str(x) for k, x in target.items() if x}
        return cls(
            base_url=v["TIDIO_BASE_URL"],
            client_id=client_id,
            client_secret=client_secret,
            rate_limit_per_minute=v["TIDIO_RATE_LIMIT_PER_MINUTE"],
            retry_backoff_seconds=v["TIDIO_RETRY_BACKOFF_SECONDS"],
            max_retries=v["TIDIO_MAX_RETRIES"],
            timeout_seconds=v["TIDIO_TIMEOUT_SECONDS"],
            fallback_operator=v["TIDIO_FALLBACK_OPERATOR_ID"],
            fallback_department=v["TIDIO_FALLBACK_DEPARTMENT"],
            history_operator=v["TIDIO_HISTORY_OPERATOR_ID"],
            drop_missing_tags=v["TIDIO_DROP_MISSING_TAGS"],
            history_mode=v["TIDIO_HISTORY_MODE"],
            phone_only_policy=v["TIDIO_PHONE_ONLY_POLICY"],
            placeholder_email_domain=v["TIDIO_PLACEHOLDER_EMAIL_DOMAIN"].lstrip("@").lower(),
            property_map={str(k): ("" if x is None else str(x)) for k, x in v["TIDIO_PROPERTY_MAP"].items()},
            status_map=status_map,
            result_map=result_map,
            contact_lookup=v["TIDIO_CONTACT_LOOKUP"],
            invalid_property_values=v["TIDIO_INVALID_PROPERTY_VALUES"],
            max_note_chars=v["TIDIO_MAX_NOTE_CHARS"],
            count_messages_max_tickets=v["TIDIO_COUNT_MESSAGES_MAX_TICKETS"],
        )
