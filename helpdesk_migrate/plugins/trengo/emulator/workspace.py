"""A deterministic synthetic Trengo workspace: same (seed, size) in, same payloads out, in any process.

The emulator serves these payloads over HTTP; ``TrengoEmulator.seed_records`` maps them in-process to say
what an extraction must produce. Payload shapes follow shared/reference/trengo-api.md (verbatim keys where
a client recorded them, the reference's inferences where not; those are marked *provisional*).

Built to scale: tickets and contacts are a handful of integers each in flat lists, generated in one pass
from one random stream; everything else about a ticket (its messages, bodies, attachments) and about a
contact (names, custom fields, notes) is generated on demand from a per-entity stream, so 100,000 tickets
take a few seconds and a few tens of megabytes.

Realistic dirt comes as *named cases* (``DIRT_CASES``): each is placed deterministically on specific
records, listed by ``dirt_manifest()`` with the canonical rules of the SDK's bad-input corpus it exercises
(``helpdesk_migrate.sdk.corpus``), which say what a migration must reach in each destination. Further dirt of the same kinds is sprinkled at low rates.

Writes (``apply_write``) model what an agent's or an integration's activity does to the workspace; the
migration must never cause any, and ``snapshot()`` proves it.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from helpdesk_migrate.sdk.corpus import RULES

# --------------------------------------------------------------------------------------------------
# Identity and time
# --------------------------------------------------------------------------------------------------

AGENCY_ID = 320554
# Trengo ids exceed 2**31 for tickets, messages and contacts (reference §1.10).
TICKET_BASE = 2_500_000_000
CONTACT_BASE = 4_600_000_000
CONTACT_STEP = 7  # ids are not contiguous in real workspaces
MESSAGE_BASE = 10_000_000_000
MESSAGES_PER_TICKET_ID_SPACE = 1000  # message id = MESSAGE_BASE + ticket_index * 1000 + position
USER_BASE = 709_600
DELETED_AGENT_ID = 709_599  # wrote messages, then was deleted: absent from /users
CHANNEL_BASE = 1_306_490
TEAM_BASE = 52_000
LABEL_BASE = 1_701_900
FIELD_BASE = 609_800
RESULT_BASE = 4_100
QUICK_REPLY_BASE = 4_129
GROUP_BASE = 172_100
WEBHOOK_BASE = 7_630
PROFILE_BASE = 88_000_000
NOTE_BASE = 6_221_000
HELP_CENTER_BASE = 4_400
CATEGORY_BASE = 44_000
SECTION_BASE = 45_000
ARTICLE_BASE = 460_000

EPOCH_LOCAL = datetime(2000, 1, 1)  # naive local time; seconds since it are the workspace's clock
ANCHOR = datetime(2025, 6, 30, 17, 0, 0)  # seeded activity ends here (local time)
SPAN_SECONDS = 730 * 86400
MAX_MESSAGES = 400

STATUSES = ("OPEN", "ASSIGNED", "CLOSED", "INVALID")
CHANNEL_TYPES = ("EMAIL", "CHAT", "WA_BUSINESS", "WHATSAPP", "VOIP", "SMS", "FACEBOOK", "INSTAGRAM", "TELEGRAM",
                 "TWITTER", "WECHAT", "GBM", "CUSTOM")
# How contacts spread over channel types (first channel of each type gets them).
CHANNEL_WEIGHTS = (45, 14, 14, 2, 6, 3, 5, 4, 2, 1, 1, 1, 2)
PHONE_TYPES = {"WA_BUSINESS", "WHATSAPP", "VOIP", "SMS"}
ROLES = ("administrator", "supervisor", "advanced_agent", "basic_agent", "observer")
# Custom field data types (provisional: the reference saw only TEXT) for each owning entity.
FIELD_TYPES = {
    "CONTACT": ("TEXT", "NUMBER", "DATE", "DROPDOWN", "CHECKBOX", "EMAIL", "PHONE", "URL", "MULTI_SELECT"),
    "TICKET": ("TEXT", "NUMBER", "DATE", "DROPDOWN", "CHECKBOX", "MULTI_SELECT"),
    "PROFILE": ("TEXT", "DROPDOWN"),
}
COLLAPSE_AT = 2_000  # characters: longer email bodies come collapsed in the message list
COLLAPSED_PREVIEW = 600


def to_seconds(dt: datetime) -> int:
    return int((dt - EPOCH_LOCAL).total_seconds())


def fmt(seconds: int) -> str:
    """Trengo's resource timestamp: naive local time."""
    return (EPOCH_LOCAL + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def fmt_iso_utc(seconds: int, tz: ZoneInfo) -> str:
    """Trengo's raw-model timestamp (leaks into some payloads): UTC with microseconds and a Z."""
    local = (EPOCH_LOCAL + timedelta(seconds=seconds)).replace(tzinfo=tz)
    return local.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "item"


# --------------------------------------------------------------------------------------------------
# Named dirt: the bad-input corpus
# --------------------------------------------------------------------------------------------------

# A case says what is wrong on the Trengo side, what the extraction must do with it, and which canonical
# rules of the SDK's corpus (helpdesk_migrate.sdk.corpus.RULES) it exercises. What a migration then reaches is
# no business of the source: each destination states it per rule, and the corpus test combines the two.
LARGE_ATTACHMENT_BYTES = 25 * 1024 * 1024 + 1  # one byte over 25 MiB, a common REST upload limit
LONG_THREAD_MESSAGE_BASE = 90_000_000_000  # the long thread's message ids: it outgrows a ticket's id space


@dataclass(frozen=True)
class DirtCase:
    name: str
    resource: str  # the Trengo resource carrying it
    canonical: str  # the canonical object the outcome is about
    description: str
    expected: str  # what the extraction must do with it (the source's side)
    rules: tuple[str, ...]  # the canonical rules it exercises (helpdesk_migrate.sdk.corpus.RULES)
    gated: bool = False  # placed only when the workspace is asked for it (costly: see Workspace counts)


def _case(name: str, resource: str, canonical: str, description: str, expected: str, *rules: str,
          gated: bool = False) -> DirtCase:
    unknown = [r for r in rules if r not in RULES]
    if not rules or unknown:
        raise ValueError(f"dirt case {name}: names no rule of the SDK's corpus, or unknown ones {unknown}")
    return DirtCase(name, resource, canonical, description, expected, rules, gated)


DIRT_CASES: dict[str, DirtCase] = {c.name: c for c in (
    # -- contacts: emails -------------------------------------------------------------------------
    _case("contact_quote_backslash", "contacts", "contacts",
          "name and email with quotes and a backslash (\"Seán O'Brien \\\\ 'Jr'\", sean.o'brien@...)",
          "extracted verbatim", "text-quotes-and-backslash"),
    _case("contact_invalid_email", "contacts", "contacts", "email without a valid domain ('jan@@voorbeeld')",
          "extracted verbatim; the contacts email expectation flags it", "email-invalid"),
    _case("contact_email_no_tld", "contacts", "contacts", "email 'info@localhost' without a top-level domain",
          "extracted verbatim; the contacts email expectation flags it", "email-without-tld"),
    _case("contact_duplicate_email", "contacts", "contacts", "two contacts (two channels) share one email",
          "both extracted; deduplication is the destination's matching decision", "duplicate-email"),
    _case("contact_email_mixed_case_duplicate", "contacts", "contacts",
          "email equal to another contact's but for letter case ('Jan.Smit7@GMAIL.COM' / 'jan.smit7@gmail.com')",
          "both extracted verbatim; the uniqueness expectation (case-insensitive) warns",
          "duplicate-email-differing-case"),
    _case("contact_email_whitespace_case", "contacts", "contacts", "email ' Jan.Smit@Example.COM ' with spaces",
          "extracted trimmed (case kept)", "email-surrounding-whitespace", "email-mixed-case"),
    _case("contact_email_non_ascii", "contacts", "contacts", "internationalised email 'zoë.döring7@example.com'",
          "extracted verbatim (the syntax check accepts it)", "email-non-ascii-local-part"),
    # -- contacts: names and text -----------------------------------------------------------------
    _case("contact_phone_only", "contacts", "contacts", "WhatsApp contact: no email, the name is the phone number",
          "extracted with phone and no email", "contact-without-email"),
    _case("contact_empty_name", "contacts", "contacts", "empty name and full_name",
          "extracted with no name (null), identifier kept", "name-empty"),
    _case("contact_name_300_chars", "contacts", "contacts", "name of 300 characters", "extracted whole",
          "name-very-long"),
    _case("contact_emoji_name", "contacts", "contacts", "name with emoji and a flag sequence",
          "extracted verbatim (UTF-8 intact)", "text-emoji"),
    _case("contact_rtl_name", "contacts", "contacts", "Arabic name (right-to-left)", "extracted verbatim",
          "text-right-to-left"),
    _case("contact_zero_width_name", "contacts", "contacts",
          "name with zero-width space, zero-width joiner and a byte-order mark", "extracted verbatim",
          "text-zero-width-characters"),
    _case("contact_name_invalid_utf8", "contacts", "contacts",
          "name holding a Latin-1 byte (0xFC) that is not UTF-8, raw in the JSON body",
          "decoded with U+FFFD in place of the byte", "name-invalid-utf8"),
    # -- contacts: custom fields ------------------------------------------------------------------
    _case("contact_custom_number_not_numeric", "contacts", "contacts", "NUMBER custom field holding 'n.v.t.'",
          "kept verbatim in custom_fields; the field map's type conversion reports it", "number-not-numeric"),
    _case("contact_custom_dropdown_unknown_value", "contacts", "contacts",
          "DROPDOWN custom field 'Tier' holding 'Platinum', which is not one of its options",
          "kept verbatim in custom_fields", "option-unknown"),
    # -- conversations ----------------------------------------------------------------------------
    _case("ticket_zero_date", "tickets", "conversations", "created_at '0000-00-00 00:00:00' (MySQL zero date)",
          "created_at falls back to the ticket's earliest other time", "date-unparseable"),
    _case("ticket_dst_gap_time", "tickets", "conversations",
          "created_at 02:30 on the spring-forward night (a local time that does not exist)",
          "converted with the offset before the change (UTC 01:30)", "time-in-dst-gap"),
    _case("ticket_dst_ambiguous_time", "tickets", "conversations",
          "created_at 02:30 on the fall-back night (a local time that happens twice)",
          "converted with the first occurrence (summer time, UTC 00:30)", "time-ambiguous"),
    _case("ticket_iso_utc_timestamp", "tickets", "conversations",
          "updated_at in the raw-model form '...T...000000Z' (UTC) among naive local ones",
          "parsed as UTC, not as local time", "time-formats-mixed"),
    _case("ticket_far_future_time", "tickets", "conversations", "created_at '9999-12-31 23:59:59' (a placeholder)",
          "created_at falls back to the ticket's earliest other time", "date-placeholder"),
    _case("ticket_unknown_status", "tickets", "conversations", "status 'SNOOZED', which the API documents nowhere",
          "mapped to open; source_status keeps 'SNOOZED'", "status-unknown"),
    _case("ticket_unknown_label", "tickets", "conversations", "label that /labels no longer lists (deleted)",
          "tag name kept on the conversation", "tag-unknown"),
    _case("ticket_custom_dropdown_unknown_value", "tickets", "conversations",
          "DROPDOWN ticket field 'Reason' holding a value that is not one of its options",
          "kept verbatim in custom_fields", "option-unknown"),
    _case("ticket_deleted_contact", "tickets", "conversations", "ticket whose contact no longer exists",
          "extracted with the dangling contact id; loads carry the conversation without its contact",
          "contact-missing"),
    _case("ticket_assignee_deleted", "tickets", "conversations", "ticket assigned to a since-deleted agent",
          "extracted with the dangling assignee id", "assignee-missing"),
    _case("ticket_team_deleted", "tickets", "conversations", "ticket of a team that no longer exists",
          "extracted with the dangling team id", "team-missing"),
    _case("ticket_10k_messages", "tickets", "conversations", "ticket with a thread of 10,000 messages",
          "every message extracted, in order", "thread-very-long", gated=True),
    # -- teams ------------------------------------------------------------------------------------
    _case("team_member_deleted", "teams", "teams", "team that lists a since-deleted agent as a member",
          "extracted with the dangling member id", "member-missing"),
    # -- messages ---------------------------------------------------------------------------------
    _case("message_emoji", "messages", "messages", "chat message full of emoji", "extracted verbatim",
          "text-emoji"),
    _case("message_rtl", "messages", "messages", "Hebrew and Arabic message text", "extracted verbatim",
          "text-right-to-left"),
    _case("message_zero_width", "messages", "messages",
          "chat text with zero-width space, non-joiner, joiner, word joiner and a byte-order mark",
          "extracted verbatim", "text-zero-width-characters"),
    _case("message_invalid_utf8", "messages", "messages",
          "chat text holding bytes that are not UTF-8 (0x80, 0xE9), raw in the JSON body",
          "decoded with U+FFFD in place of each byte", "body-invalid-utf8"),
    _case("message_html_script", "messages", "messages", "HTML email with <script> and inline styles",
          "body_html verbatim; body_text without the script", "html-script"),
    _case("message_html_event_handlers", "messages", "messages",
          "HTML email with onerror/onload handlers, a javascript: link and an iframe",
          "body_html verbatim; body_text without the markup", "html-event-handlers"),
    _case("message_body_over_32k", "messages", "messages", "email body longer than 32,768 characters",
          "extracted whole through the email-message endpoint (destinations truncate or attach)",
          "body-over-32k-characters"),
    _case("message_body_over_131k", "messages", "messages", "email body longer than 131,072 characters",
          "extracted whole through the email-message endpoint", "body-over-131k-characters"),
    _case("message_collapsed_email", "messages", "messages", "long email that the list returns collapsed",
          "full body fetched from /tickets/{id}/email_messages/{id}", "body-quoted-history"),
    _case("message_by_deleted_agent", "messages", "messages", "outbound message by a since-deleted agent",
          "extracted with the author id; loads fall back to a default owner", "author-missing"),
    _case("message_empty_body", "messages", "messages", "image-only message with a null text",
          "extracted with no body and its attachment", "body-empty"),
    _case("message_system_label_event", "messages", "messages", "label-change system event in the thread",
          "extracted as a note by the system", "system-event"),
    _case("message_naive_timestamp", "messages", "messages", "naive local timestamps (every message)",
          "converted from TRENGO_TIMEZONE to UTC", "time-without-zone"),
    _case("message_parent_cycle", "messages", "messages",
          "two messages whose reply-to parents point at each other (a cycle)",
          "both extracted once, ordered by time; the parent link is not followed", "parent-cycle"),
    _case("message_listed_twice", "messages", "messages",
          "message that the thread list returns twice (it moved while the pages were read)",
          "extracted once", "record-listed-twice"),
    # -- attachments ------------------------------------------------------------------------------
    _case("attachment_unsafe_name", "attachments", "attachments", "file name '../../etc/passwd'",
          "stored under a sanitised name inside the files directory", "file-name-path-traversal"),
    _case("attachment_absolute_path_name", "attachments", "attachments", "file name '/etc/shadow'",
          "stored under a sanitised name inside the files directory", "file-name-absolute-path"),
    _case("attachment_unicode_name", "attachments", "attachments", "file name 'Überweisung (1) ✓.pdf'",
          "stored under a sanitised name; original name kept in file_name", "file-name-non-ascii"),
    _case("attachment_duplicate_name", "attachments", "attachments", "two files of one message with one name",
          "both stored, under names that do not collide", "file-name-duplicate"),
    _case("attachment_missing_content", "attachments", "attachments", "attachment whose file is gone (404)",
          "rejected at extract with the reason", "file-gone"),
    _case("attachment_zero_bytes", "attachments", "attachments", "empty file", "extracted, size 0", "file-empty"),
    _case("attachment_over_size_limit", "attachments", "attachments",
          f"file of {LARGE_ATTACHMENT_BYTES:,} bytes, one byte over 25 MiB", "downloaded whole", "file-over-25-mib"),
    _case("inline_image_cid", "attachments", "attachments", "email body image referenced by cid:",
          "extracted as an inline attachment with its content id", "inline-image-by-content-id"),
    _case("inline_image_hosted", "attachments", "attachments", "pasted image hosted by Trengo, only in the body",
          "downloaded and extracted as an inline attachment", "inline-image-source-hosted"),
    _case("inline_image_external", "attachments", "attachments", "external tracking pixel in an email body",
          "listed as an inline attachment with its URL, not downloaded (fetching it tells the sender)",
          "inline-image-external"),
)}


def as_received(payload: Any) -> Any:
    """A payload as an HTTP client decodes it: the emulator writes lone surrogates (how the workspace holds
    bytes that are not UTF-8) as those raw bytes, and a client decoding with errors="replace" reads U+FFFD."""
    text = json.dumps(payload, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.loads(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    return payload


# The contacts suite's email rule (expectations/contacts.json): a ticket case wants a contact that passes it.
_VALID_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
EXTERNAL_PIXEL = "https://tracker.example.net/open.gif?u=42"


def _short_hash(text: str) -> str:
    # How the Trengo source names an image it finds only in a body: "<message id>-img-<this>".
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------------------------------
# Word pools (built once per process, independent of the seed: the seed only picks from them)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pools:
    first: tuple[str, ...]
    last: tuple[str, ...]
    companies: tuple[str, ...]
    rtl_names: tuple[str, ...]
    cities: tuple[str, ...]


@lru_cache(maxsize=1)
def pools() -> Pools:
    from faker import Faker

    fake = Faker(["nl_NL", "en_GB", "de_DE", "fr_FR"])
    fake.seed_instance(20240101)
    first = tuple(dict.fromkeys(fake.first_name() for _ in range(400)))
    last = tuple(dict.fromkeys(fake.last_name() for _ in range(400)))
    companies = tuple(dict.fromkeys(fake.company() for _ in range(150)))
    cities = tuple(dict.fromkeys(fake.city() for _ in range(80)))
    arabic = Faker("ar_AA")
    arabic.seed_instance(7)
    hebrew = Faker("he_IL")
    hebrew.seed_instance(7)
    rtl = tuple(dict.fromkeys([arabic.name() for _ in range(20)] + [hebrew.name() for _ in range(20)]))
    return Pools(first, last, companies, rtl, cities)


INBOUND_TEXTS = (
    "Hoi, mijn bestelling {order} is nog steeds niet aangekomen. Kunnen jullie kijken waar hij blijft?",
    "Hello, I was charged twice for order {order}. Could you refund one of the payments?",
    "Guten Tag, die Lieferung {order} war beschädigt. Was nun?",
    "Bonjour, je voudrais changer l'adresse de livraison de la commande {order}.",
    "Can I return the shoes from order {order}? They are too small.",
    "Wanneer gaan jullie weer open na de feestdagen?",
    "My account is locked after three login attempts, please help.",
    "Ik wil mijn abonnement opzeggen per volgende maand.",
    "Is the blue version back in stock?",
    "De factuur van {order} klopt niet, er staat een verkeerd btw-nummer op.",
)
OUTBOUND_TEXTS = (
    "Thanks for reaching out! I've looked into order {order} and it ships today.",
    "Bedankt voor je bericht. We hebben het bedrag voor {order} teruggestort.",
    "Sorry for the trouble. A replacement is on its way, no need to send the old one back.",
    "Je abonnement is opgezegd; je ontvangt nog een bevestiging per e-mail.",
    "I've unlocked your account. You can log in again now.",
    "Vielen Dank, wir schicken Ihnen ein Retourenetikett.",
    "Could you send us a photo of the damage? Then we can sort it out quickly.",
)
NOTE_TEXTS = (
    "Klant belt vaak, let op toon. Zie ook {order}.",
    "Escalated to tier 2, waiting for the warehouse.",
    "@team refund approved by finance.",
    "Duplicate of an earlier ticket, merged by hand.",
)
EMOJI = ("🙂", "👍", "🎉", "😡", "📦", "❤️", "🙏", "🔥", "👩‍💻", "🇳🇱", "🤷‍♀️")
RTL_TEXTS = (
    "שלום, ההזמנה שלי {order} עדיין לא הגיעה. תודה!",
    "مرحبا، أريد إرجاع الطلب {order} من فضلك.",
    "Order {order}: תודה רבה — شكرا جزيلا",
)
LABEL_NAMES = ("Refund", "Bug", "Feature request", "VIP", "Verzending", "Retour", "Klacht", "Factuur", "Lead",
               "🔥 Urgent", "Wachten op klant", "Spam", "B2B", "עדיפות גבוהה", "Levering", "Nieuwsbrief")
TEAM_NAMES = ("Support NL", "Support DE", "Billing", "Sales", "Tier 2", "Social", "Returns", "Onboarding")
RESULT_NAMES = ("Solved", "Refunded", "Not reproducible", "Duplicate", "Sold", "No answer from customer")
FILE_KINDS = (("invoice-{n}.pdf", "application/pdf"), ("photo-{n}.jpg", "image/jpeg"),
              ("screenshot {n}.png", "image/png"), ("contract_{n}.docx",
                                                   "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
              ("export-{n}.csv", "text/csv"))


# --------------------------------------------------------------------------------------------------
# The workspace
# --------------------------------------------------------------------------------------------------


class Workspace:
    """The seeded data plus the writes applied since. Thread-safe for the emulator's handler threads."""

    def __init__(self, seed: int = 42, size: int = 100, *, dirt: bool = True, counts: dict[str, int] | None = None,
                 timezone: str = "Europe/Amsterdam"):
        if size < 0:
            raise ValueError("size must be >= 0")
        self.seed, self.size, self.dirt = seed, size, dirt
        self.tz = ZoneInfo(timezone)
        counts = dict(counts or {})
        self.n_tickets = counts.pop("tickets", size)
        self.n_contacts = counts.pop("contacts", round(size * 0.6) if size else 0)
        self.n_agents = counts.pop("agents", max(5, size // 20))
        self.n_labels = counts.pop("labels", min(len(LABEL_NAMES) + 60, 10 + size // 200))
        self.n_articles = counts.pop("articles", min(400, 8 + size // 100))
        # The ticket_10k_messages case: a thread this long, placed only when asked for (it is costly).
        self.long_thread_messages = counts.pop("long_thread_messages", 0)
        if counts:
            raise ValueError(f"unknown count overrides: {sorted(counts)}")
        if self.n_tickets and not self.n_contacts:
            self.n_contacts = 1
        self.lock = threading.RLock()
        self.writes = 0
        self._rng = random.Random(seed)
        self._build_config()
        self._build_contacts()
        self._build_tickets()
        self._place_dirt()
        self._messages_cache: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()
        self._ticket_over: dict[int, dict[str, Any]] = {}
        self._extra_messages: dict[int, list[dict[str, Any]]] = {}
        self._deleted_tickets: set[int] = set()
        self._contact_over: dict[int, dict[str, Any]] = {}
        self._order_cache: dict[tuple, list[int]] = {}
        self._long_thread_payloads: tuple[Any, list[dict[str, Any]]] = (None, [])

    # -- small deterministic helpers ----------------------------------------------------------------

    def _sub(self, kind: int, index: int) -> random.Random:
        return random.Random(self.seed * 1_000_003 + kind * 2_147_483_659 + index)

    def now_seconds(self) -> int:
        return to_seconds(datetime.now(self.tz).replace(tzinfo=None))

    # -- configuration objects (small: built eagerly) -----------------------------------------------

    def _build_config(self) -> None:
        r = self._rng
        p = pools()
        start = to_seconds(ANCHOR) - SPAN_SECONDS
        # Channels: one of every type, more email inboxes for bigger workspaces.
        self.channels: list[dict[str, Any]] = []
        types = list(CHANNEL_TYPES) + ["EMAIL"] * (self.size // 1000)
        for i, ctype in enumerate(types):
            cid = CHANNEL_BASE + i
            title = {"EMAIL": "Support mailbox" if i == 0 else f"Mailbox {i}", "VOIP": "Voip", "CHAT": "Website chat",
                     "WA_BUSINESS": "WhatsApp Business"}.get(ctype, ctype.replace("_", " ").title())
            username = f"support{i}" if ctype == "EMAIL" else None
            ch = {
                "id": cid, "name": ctype.title().replace("_", ""), "title": title, "phone": f"+31 20 555 01{i:02d}"
                if ctype in PHONE_TYPES else "", "type": ctype, "auto_reply": "ENABLED" if i % 3 == 0 else None,
                "color": f"#{r.randrange(0x1000000):06x}", "notification_email": None,
                "business_hour_id": 125020 if i % 2 else None, "notification_sound": "chat.mp3",
                # One disconnected channel: status null.
                "status": None if ctype == "WECHAT" else "ACTIVE",
                "display_name": f"{ctype.lower()} • {title}", "text": f"{ctype.lower()} • {title}",
                "show_ticket_fields": 1, "show_contact_fields": 1, "users": [], "username": username,
                "password_is_null": False, "reopen_closed_ticket": 1 if i % 2 == 0 else None, "is_private": False,
                "reassign_reopened_ticket": False, "reopen_closed_ticket_time_window_days": str(7 * (i % 5)),
                "password": None,
            }
            if ctype == "EMAIL":
                ch["emailChannel"] = {"sender_name": "Support", "signature": "<p>Met vriendelijke groet</p>",
                                      "auto_reply_body": None, "split_by_subject": True, "type": "TRENGO",
                                      "email": f"{username}@trengomail.com"}
            self.channels.append(ch)
        self.channel_of_type = {}
        for i, ch in enumerate(self.channels):
            self.channel_of_type.setdefault(ch["type"], i)

        # Agents; the first is the token's owner. Every seventh is deactivated.
        self.users: list[dict[str, Any]] = []
        for i in range(self.n_agents):
            first, last = r.choice(p.first), r.choice(p.last)
            role = "administrator" if i == 0 else ROLES[r.randrange(len(ROLES))]
            status = "INACTIVE" if i % 7 == 3 else "ACTIVE"
            self.users.append(self._user(USER_BASE + i, first, last, role, status, start - r.randrange(900) * 86400,
                                         is_primary=int(i == 0)))
        self.deleted_user = self._user(DELETED_AGENT_ID, "Former", "Colleague", "basic_agent", "ACTIVE",
                                       start - 1000 * 86400)

        self.teams: list[dict[str, Any]] = []
        for i in range(max(2, self.n_agents // 4)):
            members = sorted(set(r.sample(range(self.n_agents), k=min(self.n_agents, r.randint(1, 5)))))
            chans = sorted(set(r.sample(range(len(self.channels)), k=r.randint(1, 3))))
            name = TEAM_NAMES[i % len(TEAM_NAMES)] + ("" if i < len(TEAM_NAMES) else f" {i // len(TEAM_NAMES) + 1}")
            self.teams.append({
                "id": TEAM_BASE + i, "name": name,
                "users": [{k: self.users[m][k] for k in ("id", "name", "full_name", "email")} for m in members],
                "channels": [{k: self.channels[c][k] for k in ("id", "title", "type")} for c in chans],
            })

        self.labels: list[dict[str, Any]] = []
        for i in range(self.n_labels):
            name = LABEL_NAMES[i] if i < len(LABEL_NAMES) else f"{r.choice(LABEL_NAMES)} {i}"
            self.labels.append({"id": LABEL_BASE + i, "name": name, "slug": slugify(name),
                                "color": f"#{r.randrange(0x1000000):06X}", "sort_order": None if i % 4 else i,
                                "archived": 1 if i == 3 else None})

        self.custom_fields: list[dict[str, Any]] = []
        for entity, ftypes in FIELD_TYPES.items():
            for ftype in ftypes:
                i = len(self.custom_fields)
                title = {"TEXT": "Customer number" if entity == "CONTACT" else "Order number",
                         "NUMBER": "Lifetime value" if entity == "CONTACT" else "Items",
                         "DATE": "Birthday" if entity == "CONTACT" else "Delivery date",
                         "DROPDOWN": "Tier" if entity != "TICKET" else "Reason", "CHECKBOX": "Newsletter",
                         "EMAIL": "Invoice email", "PHONE": "Mobile", "URL": "Website",
                         "MULTI_SELECT": "Interests" if entity == "CONTACT" else "Products"}[ftype]
                if entity == "PROFILE":
                    title = f"Company {title.lower()}"
                items = None
                if ftype in ("DROPDOWN", "MULTI_SELECT"):
                    items = ["Bronze", "Silver", "Gold"] if title in ("Tier", "Company tier") else \
                        ["Shoes", "Bags", "Gift cards", "Accessories"]
                self.custom_fields.append({
                    "id": FIELD_BASE + i, "title": title, "sort_order": -i, "type": entity,
                    "identifier": slugify(title) if i % 5 else title.replace(" ", "-").capitalize(),
                    "field_type": ftype, "placeholder": None, "items": items, "channels": [],
                    "is_required": ftype == "TEXT" and entity == "TICKET",
                })
        self.fields_by_entity = {e: [f for f in self.custom_fields if f["type"] == e] for e in FIELD_TYPES}

        self.ticket_results = [{"id": RESULT_BASE + i, "name": n, "sort_order": i} for i, n in enumerate(RESULT_NAMES)]
        self.quick_replies = []
        for i in range(6 + self.size // 2000):
            text = OUTBOUND_TEXTS[i % len(OUTBOUND_TEXTS)].format(order="{{order}}")
            self.quick_replies.append({
                "id": QUICK_REPLY_BASE + i, "title": f"Reply {i + 1}: {text[:24]}", "message": text,
                "type": "EMAIL" if i % 3 == 0 else "MESSAGING", "attachments": [],
                "channels": [self.channels[c]["id"] for c in sorted({i % len(self.channels), 0})],
            })
        self.contact_groups = [{"id": GROUP_BASE + i, "name": n} for i, n in
                               enumerate(("Newsletter", "VIP customers", "Wholesale", "Churned", "Beta testers"))]
        self.webhooks = [
            {"id": WEBHOOK_BASE + i, "title": f"Webhook #{WEBHOOK_BASE + i}", "url": url, "type": wtype,
             "signing_secret": hashlib.sha256(f"{self.seed}:{i}".encode()).hexdigest()[:32]}
            for i, (wtype, url) in enumerate((("INBOUND", "https://hooks.example.com/trengo/inbound"),
                                               ("TICKET_CLOSED", "https://crm.example.com/trengo/closed"),
                                               ("TICKET_LABEL_ADDED", "https://hooks.example.com/labels"),
                                               ("VOICE_CALL_MISSED", "https://voip.example.com/missed")))
        ]

        # Help center: two locales; an article has an English translation and, mostly, a Dutch one.
        self.help_centers = [{"id": HELP_CENTER_BASE, "name": "Help", "slug": "help", "locales": ["en", "nl"],
                              "default_locale": "en"}]
        self.categories: list[dict[str, Any]] = []
        for c, (en, nl) in enumerate((("Orders", "Bestellingen"), ("Returns", "Retouren"), ("Account", "Account"),
                                      ("Payments", "Betalingen"))):
            sections = [{"id": SECTION_BASE + c * 10 + s, "name": f"{en} {s + 1}",
                         "translations": [{"locale": "en", "name": f"{en} {s + 1}"},
                                          {"locale": "nl", "name": f"{nl} {s + 1}"}]} for s in range(2)]
            self.categories.append({"id": CATEGORY_BASE + c, "help_center_id": HELP_CENTER_BASE, "name": en,
                                    "translations": [{"locale": "en", "name": en}, {"locale": "nl", "name": nl}],
                                    "sections": sections})
        self.articles: list[dict[str, Any]] = []
        for a in range(self.n_articles):
            cat = self.categories[a % len(self.categories)]
            section = cat["sections"][a % 2]
            created = start + r.randrange(SPAN_SECONDS)
            title_en = f"How do I {r.choice(('track', 'return', 'cancel', 'pay for', 'change'))} my order? ({a + 1})"
            body_en = f"<h2>{title_en}</h2><p>Go to <a href=\"https://shop.example.com/account\">your account</a>.</p>"
            translations = [{"locale": "en", "title": title_en, "content": body_en, "slug": slugify(title_en),
                             "status": "published" if a % 6 else "draft"}]
            if a % 5 != 4:
                title_nl = f"Hoe kan ik mijn bestelling wijzigen? ({a + 1})"
                translations.append({"locale": "nl", "title": title_nl, "content": f"<p>{title_nl} Ga naar je account.</p>",
                                     "slug": slugify(title_nl), "status": "published" if a % 3 else "draft"})
            self.articles.append({"id": ARTICLE_BASE + a, "help_center_id": HELP_CENTER_BASE, "category_id": cat["id"],
                                  "section_id": section["id"], "created_at": fmt(created),
                                  "updated_at": fmt(created + r.randrange(86400 * 30)), "translations": translations})

    def _user(self, uid: int, first: str, last: str, role: str, status: str, created: int, is_primary: int = 0):
        full = f"{first} {last}"
        email = f"{slugify(first)}.{slugify(last)}@brightshop.example"
        return {
            "id": uid, "agency_id": AGENCY_ID, "first_name": first, "last_name": last, "name": full, "full_name": full,
            "email": email, "abbr": first[:1], "phone": None, "color": "#009688", "locale_code": "nl-NL" if uid % 2
            else "en-GB", "status": status, "text": full, "is_online": uid % 2, "user_status": "ONLINE",
            "chat_status": "1" if uid % 3 else True, "voip_status": "OFFLINE", "voip_device": "WEB",
            "profile_image": None, "authorization": None, "role": {"id": 20 + ROLES.index(role), "name": role},
            "is_primary": is_primary, "timezone": "Europe/Amsterdam", "created_at": fmt(created),
            "two_factor_authentication_enabled": bool(uid % 2),
        }

    # -- contacts (compact) -------------------------------------------------------------------------

    def _build_contacts(self) -> None:
        r = self._rng
        types = [self.channel_of_type[t] for t in CHANNEL_TYPES]
        self.c_channel = r.choices(types, weights=CHANNEL_WEIGHTS, k=self.n_contacts)
        # Roughly one profile per three contacts; a contact links to one or none.
        self.n_profiles = self.n_contacts // 3
        self.c_profile = [r.randrange(self.n_profiles) if self.n_profiles and r.random() < 0.5 else -1
                          for _ in range(self.n_contacts)]
        self.contact_dirt: dict[int, str] = {}
        self._members: dict[int, list[int]] | None = None

    def contact_id(self, i: int) -> int:
        return CONTACT_BASE + i * CONTACT_STEP

    def contact_index(self, contact_id: int) -> int | None:
        off = contact_id - CONTACT_BASE
        if off < 0 or off % CONTACT_STEP or off // CONTACT_STEP >= self.n_contacts:
            return None
        return off // CONTACT_STEP

    @lru_cache(maxsize=4096)  # noqa: B019 - the workspace lives as long as its emulator
    def _contact_base(self, i: int) -> dict[str, Any]:
        r = self._sub(1, i)
        p = pools()
        ch = self.channels[self.c_channel[i]]
        first, last = r.choice(p.first), r.choice(p.last)
        name = f"{first} {last}"
        email = phone = None
        if ch["type"] == "EMAIL" or (ch["type"] == "CHAT" and r.random() < 0.6):
            email = f"{slugify(first)}.{slugify(last)}{r.randrange(100)}@{r.choice(('gmail.com', 'outlook.com', 'ziggo.nl', 'web.de', 'example.org'))}"
        if ch["type"] in PHONE_TYPES or r.random() < 0.15:
            phone = f"+31 6 {r.randrange(10_000_000, 99_999_999)}"
        identifier = email or phone or f"{ch['type'].lower()}-{r.randrange(10**9, 10**10)}"
        dirt = self.contact_dirt.get(i)
        if dirt == "contact_invalid_email":
            email = identifier = f"{slugify(first)}@@voorbeeld"
        elif dirt == "contact_email_no_tld":
            email = identifier = "info@localhost"
        elif dirt == "contact_duplicate_email" and i > 0:
            email = self._contact_base(i - 1)["email"] or "shared@example.org"
        elif dirt == "contact_email_whitespace_case":
            email = f" {slugify(first).title()}.{slugify(last).title()}@Example.COM "
        elif dirt == "contact_email_non_ascii":
            email = identifier = f"zoë.döring{i}@example.com"
        elif dirt == "contact_phone_only":
            email, phone = None, phone or f"+31 6 {r.randrange(10_000_000, 99_999_999)}"
            name = identifier = phone
        elif dirt == "contact_empty_name":
            name = ""
        elif dirt == "contact_emoji_name":
            name = f"{first} 🌸🇳🇱"
        elif dirt == "contact_rtl_name":
            name = p.rtl_names[i % len(p.rtl_names)]
        elif dirt == "contact_email_mixed_case_duplicate" and i > 0:
            twin = self._contact_base(i - 1)["email"] or "shared@example.org"
            local, _, domain = twin.partition("@")
            email = identifier = f"{local[:1].upper()}{local[1:]}@{domain.upper()}"
        elif dirt == "contact_quote_backslash":
            name = "Seán O'Brien \\ 'Jr' \"Junior\""
            email = identifier = f"sean.o'brien{i}@example.ie"
        elif dirt == "contact_name_300_chars":
            name = (f"{first} " + "-".join([last] * 60))[:299] + "x"
        elif dirt == "contact_zero_width_name":
            name = f"{first}\u200b {last}\u200d\ufeff"
        elif dirt == "contact_name_invalid_utf8":
            name = f"{first} M\udcfcller"  # the Latin-1 byte 0xFC, raw: see as_received()
        elif self.dirt and r.random() < 0.01:  # sprinkled: a typo'd email
            email = (email or "x@example.org").replace("@", "@@", 1)
        values = []
        for f in self.fields_by_entity["CONTACT"]:
            # A contact carrying a custom-field case always has that field set.
            forced = (dirt == "contact_custom_number_not_numeric" and f["field_type"] == "NUMBER") or \
                (dirt == "contact_custom_dropdown_unknown_value" and f["field_type"] == "DROPDOWN")
            if r.random() < 0.55 or forced:
                values.append({"custom_field_id": f["id"], "field_name": f["title"],
                               "value": self._field_value(r, f, dirt)})
        notes = []
        if r.random() < 0.2 or dirt:
            for n in range(r.randint(1, 3)):
                author = self.users[r.randrange(len(self.users))]
                notes.append({"id": NOTE_BASE + i * 4 + n, "body": r.choice(NOTE_TEXTS).format(order=f"#{r.randrange(10**5)}"),
                              "user_id": author["id"], "created_at": to_seconds(ANCHOR) - r.randrange(SPAN_SECONDS)})
        groups = sorted(r.sample(range(len(self.contact_groups)), k=r.choice((0, 0, 0, 1, 1, 2))))
        return {"name": name, "email": email, "phone": phone, "identifier": identifier, "values": values,
                "notes": notes, "color": f"#{r.randrange(0x1000000):06x}", "groups": groups}

    def _field_value(self, r: random.Random, f: dict[str, Any], dirt: str | None) -> str:
        t = f["field_type"]
        if t == "NUMBER":
            return "n.v.t." if dirt == "contact_custom_number_not_numeric" else str(r.randrange(10, 5000))
        if t == "DATE":
            return (ANCHOR - timedelta(days=r.randrange(365 * 60))).strftime("%Y-%m-%d")
        if t == "DROPDOWN":
            choice = r.choice(f["items"])
            return "Platinum" if dirt == "contact_custom_dropdown_unknown_value" else choice
        if t == "MULTI_SELECT":
            return ",".join(sorted(r.sample(f["items"], k=r.randint(1, 2))))
        if t == "CHECKBOX":
            return r.choice(("1", "0"))
        if t == "EMAIL":
            return f"billing{r.randrange(100)}@example.org"
        if t == "PHONE":
            return f"+32 4{r.randrange(10_000_000, 99_999_999)}"
        if t == "URL":
            return f"https://shop{r.randrange(100)}.example.com"
        return f"K-{r.randrange(10**6):06d}"

    def contact_payload(self, i: int, *, base: str, include_notes: bool = False) -> dict[str, Any]:
        b = self._contact_base(i)
        over = self._contact_over.get(i, {})
        name = over.get("name", b["name"])
        ch = self.channels[self.c_channel[i]]
        values = b["values"]
        by_title = {v["field_name"]: v["value"] for v in values}
        phone = b["phone"]
        out = {
            "id": self.contact_id(i), "name": name, "full_name": name, "email": b["email"], "abbr": (name or "?")[:1],
            "color": b["color"], "profile_image": None, "is_phone": phone is not None and b["email"] is None,
            "phone": phone, "formatted_phone": phone, "avatar": f"{base}/img/defaultpic.png",
            "identifier": b["identifier"], "custom_field_data": by_title or None, "pivot": None,
            "formatted_custom_field_data": {f["title"]: by_title.get(f["title"]) for f in self.fields_by_entity["CONTACT"]},
            "display_name": f"{name} ({b['identifier']})" if name else b["identifier"], "is_private": False,
            "channels": [_channel_light(ch)],
            "profile": [] if self.c_profile[i] < 0 else [{"id": PROFILE_BASE + self.c_profile[i],
                                                         "name": self._profile_name(self.c_profile[i])}],
            "custom_field_values": values,
            # Provisional: PUT /contacts takes contact_group_ids, so a contact is assumed to show its groups.
            "contact_groups": [self.contact_groups[g] for g in b["groups"]],
        }
        if include_notes:
            out["notes"] = [self._note_payload(i, n) for n in b["notes"] + over.get("notes", [])]
        return out

    def _note_payload(self, i: int, note: dict[str, Any]) -> dict[str, Any]:
        user = self.user_by_id(note["user_id"]) or self.deleted_user
        return {"id": note["id"], "contact": {"id": self.contact_id(i)},
                "user": {k: user[k] for k in ("id", "first_name", "last_name", "name", "full_name", "email")},
                "body": note["body"], "created_at": fmt(note["created_at"])}

    def _profile_name(self, k: int) -> str:
        p = pools()
        return p.companies[(k * 7 + self.seed) % len(p.companies)]

    def profile_payload(self, k: int) -> dict[str, Any]:
        created = to_seconds(ANCHOR) - SPAN_SECONDS + (k * 7919) % SPAN_SECONDS
        return {"id": PROFILE_BASE + k, "agency_id": AGENCY_ID, "name": self._profile_name(k), "color": "#795548",
                "abbr": self._profile_name(k)[:1], "profile_image": None, "created_at": fmt(created),
                "updated_at": fmt(created + 3600),
                "contacts": [{"id": self.contact_id(i)} for i in self._profile_members().get(k, [])[:50]]}

    def _profile_members(self) -> dict[int, list[int]]:
        with self.lock:
            if self._members is None:
                members: dict[int, list[int]] = {}
                for i, k in enumerate(self.c_profile):
                    if k >= 0:
                        members.setdefault(k, []).append(i)
                self._members = members
            return self._members

    def user_by_id(self, uid: int) -> dict[str, Any] | None:
        off = uid - USER_BASE
        return self.users[off] if 0 <= off < len(self.users) else None

    # -- tickets (compact) --------------------------------------------------------------------------

    def _build_tickets(self) -> None:
        r = self._rng
        n = self.n_tickets
        start = to_seconds(ANCHOR) - SPAN_SECONDS
        self.t_contact: list[int] = []
        self.t_channel: list[int] = []
        self.t_status: list[int] = []
        self.t_user: list[int] = []
        self.t_team: list[int] = []
        self.t_created: list[int] = []
        self.t_latest: list[int] = []
        self.t_updated: list[int] = []
        self.t_nmsg: list[int] = []
        n_teams = len(self.teams)
        for _ in range(n):
            # A few contacts write often: square the uniform draw to skew toward low indices.
            c = int(self.n_contacts * r.random() ** 2) if self.n_contacts else -1
            self.t_contact.append(c)
            self.t_channel.append(self.c_channel[c] if c >= 0 and r.random() < 0.93 else r.randrange(len(self.channels)))
            x = r.random()
            status = 2 if x < 0.6 else 1 if x < 0.8 else 0 if x < 0.95 else 3
            self.t_status.append(status)
            self.t_user.append(r.randrange(self.n_agents) if status != 0 else -1)
            self.t_team.append(r.randrange(n_teams) if r.random() < 0.6 else -1)
            y = r.random()
            if y < 0.965:
                nmsg = 1 + min(24, int(r.expovariate(1 / 5)))
            elif y < 0.998:
                nmsg = r.randint(26, 120)
            else:
                nmsg = r.randint(200, MAX_MESSAGES)
            self.t_nmsg.append(nmsg)
            created = start + r.randrange(SPAN_SECONDS - 30 * 86400)
            duration = 0 if nmsg == 1 else int(r.expovariate(1 / (nmsg * 3600 * 3)))
            self.t_created.append(created)
            self.t_latest.append(created + duration)
            self.t_updated.append(created + duration + (r.randrange(60, 86400) if status == 2 else r.randrange(0, 90)))

    def ticket_index(self, ticket_id: int) -> int | None:
        i = ticket_id - TICKET_BASE
        if 0 <= i < len(self.t_contact) and i not in self._deleted_tickets:
            return i
        return None

    # -- dirt placement -----------------------------------------------------------------------------

    def _place_dirt(self) -> None:
        self.dirt_at: dict[str, list[tuple[str, int]]] = {}
        self.ticket_dirt: dict[int, set[str]] = {}
        self.long_thread_index: int | None = None
        if not self.dirt:  # no named dirt; a case asked for by its option (the long thread) still comes
            self._place_ticket_dirt(named=False)
            return
        self._place_contact_dirt()
        self._place_ticket_dirt()
        if self.teams:
            gone = self.deleted_user
            self.teams[0]["users"].append({k: gone[k] for k in ("id", "name", "full_name", "email")})
            self.dirt_at["team_member_deleted"] = [("teams", 0)]

    def _place_contact_dirt(self) -> None:
        """Contacts carry one case each, scanning from the last contact: tickets favour the first contacts,
        so the busy ones stay clean and the ticket cases below are not hidden behind a contact's own case."""
        email_only = {"contact_invalid_email", "contact_email_no_tld", "contact_email_whitespace_case",
                      "contact_email_non_ascii", "contact_quote_backslash"}
        twins = {"contact_duplicate_email", "contact_email_mixed_case_duplicate"}  # need a clean twin before them

        def ctype(i: int) -> str:
            return self.channels[self.c_channel[i]]["type"]

        taken: set[int] = set()
        for case in (c for c in DIRT_CASES.values() if c.resource == "contacts"):
            for i in range(self.n_contacts - 1, -1, -1):
                if i in taken:
                    continue
                if case.name == "contact_phone_only" and ctype(i) not in PHONE_TYPES:
                    continue
                if case.name in twins and (i == 0 or i - 1 in taken or ctype(i) != "EMAIL" or ctype(i - 1) != "EMAIL"):
                    continue
                if case.name in email_only and ctype(i) != "EMAIL":
                    continue
                self.contact_dirt[i] = case.name
                taken.add(i)
                if case.name in twins:
                    taken.add(i - 1)
                self.dirt_at[case.name] = [("contacts", i)]
                break

    def _clean_contact(self, c: int) -> bool:
        """A contact that every destination loads: no case of its own and an email that passes validation."""
        if c < 0 or c in self.contact_dirt:
            return False
        email = self._contact_base(c)["email"]
        return bool(email and _VALID_EMAIL.match(email))

    def _place_ticket_dirt(self, named: bool = True) -> None:
        """One case per ticket. A ticket that carries a case gets a clean contact (it is moved to one when its
        own is not), so that each case's outcome is its own and not its contact's: a contact that is
        quarantined, or that has no email, takes its conversations with it in some destinations."""
        used: set[int] = set()
        clean_contacts = [c for c in range(self.n_contacts) if self._clean_contact(c)]

        def pick(case: str, want_type: set[str] | None = None, min_msgs: int = 1,
                 need: Any = None) -> int | None:
            if not self.n_tickets:
                return None
            start = int(hashlib.sha256(f"{self.seed}:{case}".encode()).hexdigest(), 16) % self.n_tickets
            for k in range(self.n_tickets):
                i = (start + k) % self.n_tickets
                if i in used:
                    continue
                if want_type and self.channels[self.t_channel[i]]["type"] not in want_type:
                    continue
                if self.t_nmsg[i] < min_msgs or (need is not None and not need(i)):
                    continue
                used.add(i)
                if clean_contacts and not self._clean_contact(self.t_contact[i]):
                    self.t_contact[i] = clean_contacts[i % len(clean_contacts)]
                self.ticket_dirt.setdefault(i, set()).add(case)
                self.dirt_at.setdefault(case, []).append(("tickets", i))
                return i
            return None

        email = {"EMAIL"}
        chat = {"CHAT", "WA_BUSINESS", "WHATSAPP", "FACEBOOK", "INSTAGRAM", "TELEGRAM", "SMS"}

        def assigned(i: int) -> bool:
            return self.t_user[i] >= 0

        for case, want, min_msgs, need in (
            ("ticket_zero_date", None, 1, None), ("ticket_dst_gap_time", None, 1, None),
            ("ticket_dst_ambiguous_time", None, 1, None), ("ticket_iso_utc_timestamp", None, 1, None),
            ("ticket_far_future_time", None, 1, None), ("ticket_unknown_status", None, 1, None),
            ("ticket_unknown_label", None, 1, None), ("ticket_custom_dropdown_unknown_value", None, 1, None),
            ("ticket_deleted_contact", None, 1, None), ("ticket_assignee_deleted", None, 1, assigned),
            ("ticket_team_deleted", None, 1, None),
            ("message_emoji", chat, 1, None), ("message_rtl", chat, 1, None), ("message_zero_width", chat, 1, None),
            ("message_invalid_utf8", chat, 1, None), ("message_html_script", email, 1, None),
            ("message_html_event_handlers", email, 1, None), ("message_body_over_32k", email, 1, None),
            ("message_body_over_131k", email, 1, None), ("message_collapsed_email", email, 1, None),
            ("message_by_deleted_agent", None, 2, None), ("message_empty_body", chat, 1, None),
            ("message_system_label_event", None, 2, None), ("message_naive_timestamp", None, 1, None),
            ("message_parent_cycle", None, 2, None), ("message_listed_twice", None, 1, None),
            ("attachment_unsafe_name", None, 1, None), ("attachment_absolute_path_name", None, 1, None),
            ("attachment_unicode_name", None, 1, None), ("attachment_duplicate_name", None, 1, None),
            ("attachment_missing_content", None, 1, None), ("attachment_zero_bytes", None, 1, None),
            ("attachment_over_size_limit", None, 1, None), ("inline_image_cid", email, 1, None),
            ("inline_image_hosted", email, 1, None), ("inline_image_external", email, 1, None),
        ) if named else ():
            i = pick(case, want, min_msgs, need)
            if i is None and want:
                i = pick(case, None, min_msgs, need)
            if i is None:
                continue
            if case == "ticket_dst_gap_time":
                self._set_created(i, to_seconds(datetime(2025, 3, 30, 2, 30)))
            elif case == "ticket_dst_ambiguous_time":
                self._set_created(i, to_seconds(datetime(2024, 10, 27, 2, 30)))
        if self.long_thread_messages:
            i = pick("ticket_10k_messages", chat, 1)
            if i is not None:
                self.long_thread_index = i
                self.t_nmsg[i] = self.long_thread_messages
                self.t_latest[i] = self.t_created[i] + self.long_thread_messages * 300
                self.t_updated[i] = self.t_latest[i] + 60

    def _set_created(self, i: int, created: int) -> None:
        shift = created - self.t_created[i]
        self.t_created[i] = created
        self.t_latest[i] += shift
        self.t_updated[i] += shift

    def dirt_manifest(self, base: str | None = None) -> list[dict[str, Any]]:
        """Every placed named case: the record carrying it (``source_id``), the canonical record its outcome
        is about (``canonical_id``), and the canonical ``rules`` it exercises, from which the outcome in a
        destination follows (``helpdesk_migrate.sdk.corpus.outcome_for(rules, canonical, outcomes)``).

        ``base`` is the emulator's root URL: the id of an inline image Trengo hosts derives from its URL, so
        without ``base`` that case's ``canonical_id`` is None."""
        out = []
        for name, places in sorted(self.dirt_at.items()):
            case = DIRT_CASES[name]
            for resource, i in places:
                if resource == "contacts":
                    source_id = str(self.contact_id(i))
                elif resource == "teams":
                    source_id = str(self.teams[i]["id"])
                else:
                    source_id = str(TICKET_BASE + i)
                canonical_id = self._dirt_record_id(name, resource, i, base)
                record = f"{resource[:-1]} {source_id}"
                if case.canonical in ("messages", "attachments"):
                    record = f"{case.canonical[:-1]} {canonical_id} (ticket {source_id})"
                out.append({"case": name, "resource": resource, "canonical": case.canonical, "record": record,
                            "source_id": source_id, "canonical_id": canonical_id,
                            "related_id": self._dirt_related_id(name, i),
                            "description": case.description, "expected": case.expected,
                            "rules": list(case.rules)})
        return out

    def _dirt_related_id(self, name: str, i: int) -> str | None:
        """The other record a case involves: a duplicate's twin, the partner in a reply cycle."""
        if name in ("contact_duplicate_email", "contact_email_mixed_case_duplicate"):
            return str(self.contact_id(i - 1))
        if name == "message_parent_cycle":
            return str(self.message_id(i, 1))
        return None

    def _dirt_record_id(self, name: str, resource: str, i: int, base: str | None) -> str | None:
        case = DIRT_CASES[name]
        if resource == "contacts":
            return str(self.contact_id(i))
        if resource == "teams":
            return str(self.teams[i]["id"])
        if case.canonical == "conversations":
            return str(TICKET_BASE + i)
        with self.lock:
            messages = self._generate_messages(i)
        for m in messages:
            if name not in m.get("dirt", ()):
                continue
            mid = self.message_id(i, m["pos"])
            if case.canonical == "messages":
                return str(mid)
            if name == "inline_image_external":
                return f"{mid}-img-{_short_hash(EXTERNAL_PIXEL)}"
            for k, a in enumerate(m["attachments"]):
                if a.get("dirt") == name:
                    return str(self.attachment_id(mid, k))
            for k, img in enumerate(m["inline"]):
                if img.get("dirt") == name and base is not None:
                    return f"{mid}-img-{_short_hash(self._inline_url(base, mid, k, img))}"
        return None

    # -- ticket payloads ------------------------------------------------------------------------------

    def _ticket_state(self, i: int) -> dict[str, Any]:
        over = self._ticket_over.get(i, {})
        status = over.get("status", STATUSES[self.t_status[i]])
        latest = over.get("latest", self.t_latest[i])
        updated = over.get("updated", self.t_updated[i])
        user = over.get("user", self.t_user[i])
        team = over.get("team", self.t_team[i])
        return {"status": status, "latest": latest, "updated": updated, "user": user, "team": team,
                "nmsg": self.t_nmsg[i] + len(self._extra_messages.get(i, [])), "over": over}

    @lru_cache(maxsize=8192)  # noqa: B019
    def _ticket_base(self, i: int) -> dict[str, Any]:
        r = self._sub(2, i)
        subject = None if r.random() < 0.25 else r.choice(
            ("Order {o}", "Vraag over bestelling {o}", "Refund", "Re: Factuur {o}", "Account locked", "Retour {o}",
             "Lieferung {o}", "Question")).format(o=f"#{r.randrange(10**5, 10**6)}")
        labels = sorted(r.sample(range(self.n_labels), k=min(self.n_labels, r.choice((0, 0, 1, 1, 2, 3)))))
        result = r.randrange(len(self.ticket_results)) if STATUSES[self.t_status[i]] == "CLOSED" and r.random() < 0.7 else -1
        custom = {}
        for f in self.fields_by_entity["TICKET"]:
            if r.random() < 0.4:
                custom[f["identifier"]] = self._field_value(r, f, None)
        return {"subject": subject, "labels": labels, "result": result, "custom": custom or None,
                "assigned_gap": r.randrange(30, 7200)}

    def ticket_payload(self, i: int, *, base: str) -> dict[str, Any]:
        b = self._ticket_base(i)
        st = self._ticket_state(i)
        over = st["over"]
        ch = self.channels[self.t_channel[i]]
        c = self.t_contact[i]
        dirt = self.ticket_dirt.get(i, set())
        labels = over.get("labels", b["labels"])
        created = self.t_created[i]
        closed_at = over.get("closed_at", st["updated"] if st["status"] == "CLOSED" else None)
        messages = self.ticket_messages(i, base=base)
        latest = messages[-1] if messages else None
        contact = None
        contact_id = self.contact_id(c) if c >= 0 else None
        if "ticket_deleted_contact" in dirt:
            contact_id = CONTACT_BASE - 10_007  # no such contact
        elif c >= 0:
            contact = {k: v for k, v in self.contact_payload(c, base=base).items()
                       if k not in ("channels", "custom_field_values")}
            contact["profile"] = []
        created_at = "0000-00-00 00:00:00" if "ticket_zero_date" in dirt else \
            "9999-12-31 23:59:59" if "ticket_far_future_time" in dirt else fmt(created)
        label_rows = [self.labels[k] for k in labels]
        if "ticket_unknown_label" in dirt:
            label_rows.append({"id": LABEL_BASE + 9_999, "name": "Oud label (verwijderd)", "slug": "oud-label-verwijderd",
                               "color": "#9E9E9E", "sort_order": None, "archived": 1})
        custom = b["custom"]
        if "ticket_custom_dropdown_unknown_value" in dirt:
            reason = next(f for f in self.fields_by_entity["TICKET"] if f["field_type"] == "DROPDOWN")
            custom = {**(custom or {}), reason["identifier"]: "Anders (optie verwijderd)"}
        user_id = USER_BASE + st["user"] if st["user"] >= 0 else None
        if "ticket_assignee_deleted" in dirt:
            user_id = DELETED_AGENT_ID
        team_id = TEAM_BASE + st["team"] if st["team"] >= 0 else None
        if "ticket_team_deleted" in dirt:
            team_id = TEAM_BASE + 999
        out = {
            "id": TICKET_BASE + i, "status": "SNOOZED" if "ticket_unknown_status" in dirt else st["status"],
            "subject": b["subject"], "closed_at": fmt(closed_at) if closed_at is not None else None,
            "created_at": created_at,
            "updated_at": fmt_iso_utc(st["updated"], self.tz) if "ticket_iso_utc_timestamp" in dirt else fmt(st["updated"]),
            "user_id": user_id, "team_id": team_id,
            "assigned_at": fmt(created + b["assigned_gap"]) if st["user"] >= 0 else None,
            "contact_id": contact_id, "contact": contact, "channel": _channel_light(ch), "channelMeta": None,
            "latest_message": {k: latest[k] for k in ("id", "type", "message", "created_at", "attachments")}
            if latest else None,
            "labels": label_rows, "custom_data": custom, "messages_count": st["nmsg"],
            # Provisional (reference §3.1: closing takes ticket_result_id): the result chosen at close.
            "ticket_result_id": over.get("result", RESULT_BASE + b["result"] if b["result"] >= 0 else None),
        }
        if latest and latest["message"]:
            out["latest_message"]["message"] = latest["message"][:200]
        return out

    # -- messages -------------------------------------------------------------------------------------

    def ticket_messages(self, i: int, *, base: str) -> list[dict[str, Any]]:
        """The ticket's thread, oldest first, as /tickets/{id}/messages items (collapsed emails included)."""
        with self.lock:
            cached = self._messages_cache.get(i)
            if cached is None:
                cached = self._generate_messages(i)
                self._messages_cache[i] = cached
                if len(self._messages_cache) > 512:
                    self._messages_cache.popitem(last=False)
            else:
                self._messages_cache.move_to_end(i)
            extra = list(self._extra_messages.get(i, []))
            # A long thread is read a page at a time: build its payloads once, not once per page.
            key = (base, len(extra))
            if i == self.long_thread_index and self._long_thread_payloads[0] == key:
                out = list(self._long_thread_payloads[1])
            else:
                out = [self._message_payload(i, m, base) for m in cached + extra]
                if i == self.long_thread_index:
                    self._long_thread_payloads = (key, out)
                    out = list(out)
        if out and "message_listed_twice" in self.ticket_dirt.get(i, ()):
            out.append(out[0])  # read again on a later page, as when activity moves it while pages are read
        return out

    def _generate_messages(self, i: int) -> list[dict[str, Any]]:
        r = self._sub(3, i)
        n = self.t_nmsg[i]
        created, latest = self.t_created[i], self.t_latest[i]
        times = sorted([created] + [created + r.randrange(max(1, latest - created + 1)) for _ in range(n - 2)]
                       + ([latest] if n > 1 else []))
        ctype = self.channels[self.t_channel[i]]["type"]
        dirt = self.ticket_dirt.get(i, set())
        user = self.t_user[i]
        order = f"#{r.randrange(10**5, 10**6)}"
        out: list[dict[str, Any]] = []
        for j, t in enumerate(times):
            if j == 0:
                kind = "INBOUND"
            else:
                x = r.random()
                kind = "NOTE" if x < 0.1 else ("OUTBOUND" if out[-1]["kind"] == "INBOUND" or x < 0.4 else "INBOUND")
            author = None
            if kind != "INBOUND":
                author = USER_BASE + (user if user >= 0 and r.random() < 0.85 else r.randrange(self.n_agents))
            m: dict[str, Any] = {"pos": j, "kind": kind, "t": t, "author": author, "channel": ctype, "attachments": [],
                                 "inline": [], "body_type": "TEXT", "auto": False}
            if ctype == "VOIP":
                m["body_type"] = "CALL_LOG"
                m["text"] = "Inbound call" if kind == "INBOUND" else ("Outbound call" if kind == "OUTBOUND" else None)
                m["duration"] = r.randrange(5, 1800)
                if kind == "NOTE":
                    m["body_type"] = "TEXT"
                    m["text"] = r.choice(NOTE_TEXTS).format(order=order)
            elif kind == "NOTE":
                m["text"] = r.choice(NOTE_TEXTS).format(order=order)
            elif ctype == "EMAIL":
                m["body_type"] = "EMAIL"
                m["text"] = self._email_html(r, kind, order, long=r.random() < 0.08)
                m["subject"] = f"Re: Order {order}" if j else f"Order {order}"
            else:
                pool = INBOUND_TEXTS if kind == "INBOUND" else OUTBOUND_TEXTS
                m["text"] = r.choice(pool).format(order=order)
                if r.random() < 0.15:
                    m["text"] += " " + r.choice(EMOJI)
            if r.random() < 0.07 and kind != "NOTE" and ctype != "VOIP" and i != self.long_thread_index:
                for _k in range(r.choice((1, 1, 2))):
                    pattern, mime = r.choice(FILE_KINDS)
                    m["attachments"].append({"name": pattern.format(n=r.randrange(1000)), "mime": mime,
                                             "size": r.randrange(200, 60_000)})
            out.append(m)
        self._apply_message_dirt(i, r, out, dirt, order)
        return out

    def _email_html(self, r: random.Random, kind: str, order: str, long: bool = False) -> str:
        pool = INBOUND_TEXTS if kind == "INBOUND" else OUTBOUND_TEXTS
        paras = "".join(f"<p>{r.choice(pool).format(order=order)}</p>" for _ in range(r.randint(1, 3)))
        body = f"<div dir=\"ltr\">{paras}<p>Met vriendelijke groet,<br>Brightshop</p></div>"
        if long:  # a reply with the quoted history: the list collapses these
            quoted = "".join(f"<p>&gt; {r.choice(INBOUND_TEXTS).format(order=order)}</p>" for _ in range(30))
            body += f"<blockquote class=\"gmail_quote\">{quoted}</blockquote>"
        return body

    def _apply_message_dirt(self, i: int, r: random.Random, msgs: list[dict[str, Any]], dirt: set[str],
                            order: str) -> None:
        """Put each case on its message; ``dirt`` marks on the message (and on the attachment, for file cases)
        tell ``dirt_manifest`` which record a case is about."""
        first = msgs[0]
        last_agent = next((m for m in msgs if m["kind"] != "INBOUND"), None)

        def mark(m: dict[str, Any], case: str) -> dict[str, Any]:
            m.setdefault("dirt", []).append(case)
            return m

        def files(m: dict[str, Any], case: str, *items: dict[str, Any]) -> None:
            mark(m, case)
            m["attachments"] = [dict(a) for a in items]
            m["attachments"][-1]["dirt"] = case

        for case in sorted(dirt):
            if case == "message_emoji":
                mark(first, case)["text"] = "Hoi!! 🙂🙂 " + " ".join(EMOJI) + " pakket 📦 kwijt?? 😡"
            elif case == "message_rtl":
                mark(first, case)["text"] = RTL_TEXTS[i % len(RTL_TEXTS)].format(order=order)
            elif case == "message_zero_width":
                mark(first, case)["text"] = (f"Hallo\u200b, mijn bestelling\u200c {order}\u200d is er nog niet"
                                             "\u2060.\ufeff Groet")
            elif case == "message_invalid_utf8":
                # 0x80 and 0xE9 are not UTF-8 on their own: raw bytes on the wire (see as_received()).
                mark(first, case)["text"] = f"Bestelling {order} kost 12\udc80 euro; het caf\udce9 is dicht"
            elif case == "message_html_script":
                first["body_type"] = "EMAIL"
                mark(first, case)["text"] = (
                    "<html><head><style>p{color:red}</style><script>alert('x')</script></head><body>"
                    "<p style=\"font-family:Arial\">Graag <b>snel</b> antwoord.</p>"
                    "<table><tr><td>Order</td><td>" + order + "</td></tr></table></body></html>")
            elif case == "message_html_event_handlers":
                first["body_type"] = "EMAIL"
                mark(first, case)["text"] = (
                    "<div><p onclick=\"steal()\">Zie <a href=\"javascript:alert(document.cookie)\">deze link</a> "
                    f"voor order {order}.</p><img src=\"x\" onerror=\"alert(1)\"><svg onload=\"alert(2)\"></svg>"
                    "<iframe src=\"https://evil.example/frame\"></iframe></div>")
            elif case in ("message_body_over_32k", "message_body_over_131k"):
                first["body_type"] = "EMAIL"
                lines = 420 if case == "message_body_over_32k" else 1_700
                mark(first, case)["text"] = "<div>" + "".join(
                    f"<p>Regel {k}: {INBOUND_TEXTS[k % len(INBOUND_TEXTS)].format(order=order)}</p>"
                    for k in range(lines)) + "</div>"
            elif case == "message_collapsed_email":
                first["body_type"] = "EMAIL"
                mark(first, case)["text"] = self._email_html(r, "INBOUND", order, long=True)
            elif case == "message_by_deleted_agent":
                target = mark(last_agent or msgs[-1], case)
                if target["kind"] == "INBOUND":
                    target["kind"] = "OUTBOUND"
                target["author"] = DELETED_AGENT_ID
            elif case == "message_empty_body":
                mark(first, case).update(text=None, body_type="IMAGE")
                first["attachments"] = [{"name": "IMG_2041.jpg", "mime": "image/jpeg", "size": 48_211}]
            elif case == "message_system_label_event":
                target = mark(msgs[-1], case)
                label = self.labels[0]["name"] if self.labels else "Label"
                target.update(kind="SYSTEM", author=None, body_type="TEXT", attachments=[],
                              text=f"Label {label} toegevoegd door Brightshop op {fmt(target['t'])}")
            elif case == "message_naive_timestamp":
                mark(first, case)  # every message has them; the first one stands for the case
            elif case == "message_parent_cycle":
                mark(first, case)["parent_pos"] = msgs[1]["pos"]
                msgs[1]["parent_pos"] = first["pos"]
            elif case == "message_listed_twice":
                mark(first, case)
            elif case == "attachment_unsafe_name":
                files(first, case, {"name": "../../etc/passwd", "mime": "text/plain", "size": 1_024})
            elif case == "attachment_absolute_path_name":
                files(first, case, {"name": "/etc/shadow", "mime": "text/plain", "size": 512})
            elif case == "attachment_unicode_name":
                files(first, case, {"name": "Überweisung (1) ✓.pdf", "mime": "application/pdf", "size": 9_876})
            elif case == "attachment_duplicate_name":
                files(first, case, {"name": "factuur.pdf", "mime": "application/pdf", "size": 4_321},
                      {"name": "factuur.pdf", "mime": "application/pdf", "size": 6_789})
            elif case == "attachment_missing_content":
                files(first, case, {"name": "deleted-scan.pdf", "mime": "application/pdf", "size": 5_000,
                                    "missing": True})
            elif case == "attachment_zero_bytes":
                files(first, case, {"name": "empty.txt", "mime": "text/plain", "size": 0})
            elif case == "attachment_over_size_limit":
                files(first, case, {"name": "scans-2024.zip", "mime": "application/zip",
                                    "size": LARGE_ATTACHMENT_BYTES})
            elif case == "inline_image_cid":
                first["body_type"] = "EMAIL"
                mark(first, case)["text"] = (first["text"] or "") + \
                    "<p><img src=\"cid:image001.png@01DA1B2C\" alt=\"logo\"></p>"
                first["attachments"] = first["attachments"] + [
                    {"name": "image001.png", "mime": "image/png", "size": 3_100, "cid": "image001.png@01DA1B2C",
                     "dirt": case}]
            elif case == "inline_image_hosted":
                first["body_type"] = "EMAIL"
                mark(first, case)["inline"] = [{"name": "pasted-image.png", "size": 7_777, "dirt": case}]
            elif case == "inline_image_external":
                first["body_type"] = "EMAIL"
                mark(first, case)["text"] = (first["text"] or "") + \
                    f"<img src=\"{EXTERNAL_PIXEL}\" width=\"1\" height=\"1\">"

    def message_id(self, i: int, pos: int) -> int:
        if i == self.long_thread_index:
            return LONG_THREAD_MESSAGE_BASE + pos
        return MESSAGE_BASE + i * MESSAGES_PER_TICKET_ID_SPACE + pos

    def _inline_url(self, base: str, message_id: int, k: int, img: dict[str, Any]) -> str:
        return f"{base}/media/inline/{self.attachment_id(message_id, 5 + k)}/{quote(img['name'])}"

    def attachment_id(self, message_id: int, k: int) -> int:
        return message_id * 10 + k

    def _message_payload(self, i: int, m: dict[str, Any], base: str) -> dict[str, Any]:
        mid = self.message_id(i, m["pos"])
        c = self.t_contact[i]
        text = m["text"]
        for k, img in enumerate(m["inline"]):
            text = (text or "") + f"<p><img src=\"{self._inline_url(base, mid, k, img)}\"></p>"
        attachments = []
        for k, a in enumerate(m["attachments"]):
            aid = self.attachment_id(mid, k)
            att = {"id": aid, "client_name": a["name"], "full_url": f"{base}/media/{aid}/{quote(a['name'], safe='')}",
                   "mime_type": a["mime"], "size": a["size"]}
            if a.get("cid"):
                att["content_id"] = a["cid"]
                att["inline"] = True
            attachments.append(att)
        agent = None
        if m["author"] is not None and m["author"] != DELETED_AGENT_ID:
            u = self.user_by_id(m["author"])
            agent = {k: u[k] for k in ("id", "agency_id", "first_name", "last_name", "name", "full_name", "email",
                                       "abbr", "status", "locale_code", "timezone")} if u else None
        email_message = None
        collapsed = False
        if m["body_type"] == "EMAIL":
            collapsed = text is not None and len(text) > COLLAPSE_AT
            contact_email = self._contact_base(c)["email"] if c >= 0 else None
            ours = self.channels[self.t_channel[i]].get("username") or "support"
            ours = f"{ours}@trengomail.com"
            frm, to = (contact_email, [ours]) if m["kind"] == "INBOUND" else (ours, [contact_email] if contact_email else [])
            email_message = {"id": mid, "subject": m.get("subject"), "from": frm, "to": to, "cc": [],
                             "message_id": f"<{mid}@mail.example>", "collapsed": collapsed}
        contact = None
        if c >= 0 and "ticket_deleted_contact" not in self.ticket_dirt.get(i, ()):
            cb = self._contact_base(c)
            contact = {"id": self.contact_id(c), "name": cb["name"], "full_name": cb["name"], "email": cb["email"],
                       "phone": cb["phone"], "identifier": cb["identifier"], "is_private": False}
        return {
            "id": mid, "ticket_id": TICKET_BASE + i, "type": m["kind"], "body_type": m["body_type"],
            "message": text[:COLLAPSED_PREVIEW] + "…" if collapsed else text,
            "file_name": f"https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE{mid}"
            if m["body_type"] == "CALL_LOG" else None,
            "file_caption": None, "location_data": {"duration": m["duration"]} if m["body_type"] == "CALL_LOG" else None,
            "created_at": fmt(m["t"]), "updated_at": fmt(m["t"] + 60), "user_id": m["author"],
            "contact": contact, "agent": agent, "attachments": attachments, "mentions": [], "contacts": [],
            "meta": None, "reactionSums": [],
            "parent": {"id": self.message_id(i, m["parent_pos"])} if m.get("parent_pos") is not None else None, "diff_in_hours": 1, "messageEvents": [],
            "is_auto_reply": None, "email_message": email_message,
        }

    def full_email(self, i: int, message_id: int, *, base: str) -> dict[str, Any] | None:
        """/tickets/{id}/email_messages/{id}: the whole email (shape provisional: the reference has none)."""
        pos = message_id - self.message_id(i, 0)
        with self.lock:
            msgs = self._messages_cache.get(i) or self._generate_messages(i)
        extra = self._extra_messages.get(i, [])
        all_msgs = msgs + extra
        m = next((x for x in all_msgs if x["pos"] == pos), None)
        if m is None or m["body_type"] != "EMAIL":
            return None
        payload = self._message_payload(i, {**m}, base)
        full_text = m["text"]
        for k, img in enumerate(m["inline"]):
            full_text = (full_text or "") + f"<p><img src=\"{self._inline_url(base, message_id, k, img)}\"></p>"
        em = payload["email_message"]
        return {"id": message_id, "ticket_id": TICKET_BASE + i, "subject": em["subject"], "from": em["from"],
                "to": em["to"], "cc": em["cc"], "message_id": em["message_id"], "html": full_text,
                "attachments": payload["attachments"]}

    def attachment_content(self, att_id: int, *, inline: bool = False) -> bytes | None:
        """Deterministic bytes of an attachment, or None when its file is gone."""
        message_id, k = divmod(att_id, 10)
        if message_id >= LONG_THREAD_MESSAGE_BASE and self.long_thread_index is not None:
            i, pos = self.long_thread_index, message_id - LONG_THREAD_MESSAGE_BASE
        else:
            i = (message_id - MESSAGE_BASE) // MESSAGES_PER_TICKET_ID_SPACE
            pos = (message_id - MESSAGE_BASE) % MESSAGES_PER_TICKET_ID_SPACE
        if not 0 <= i < self.n_tickets:
            return None
        with self.lock:
            msgs = self._messages_cache.get(i) or self._generate_messages(i)
        m = next((x for x in msgs if x["pos"] == pos), None)
        if m is None:
            return None
        if inline:
            if not 5 <= k < 5 + len(m["inline"]):
                return None
            size = m["inline"][k - 5]["size"]
        else:
            if k >= len(m["attachments"]) or m["attachments"][k].get("missing"):
                return None
            size = m["attachments"][k]["size"]
        return _content_bytes(self.seed, att_id, size)

    # -- lists ----------------------------------------------------------------------------------------

    def ticket_order(self, *, sort: str = "-date", status: str | None = None, updated_gt: int | None = None,
                     contact_id: int | None = None) -> list[int]:
        """Ticket indices for a /tickets query. Default order: latest message first (reference: PD's default)."""
        key = (sort, status, updated_gt, contact_id, self.writes)
        with self.lock:
            cached = self._order_cache.get(key)
            if cached is not None:
                return cached
            idx = [i for i in range(len(self.t_contact)) if i not in self._deleted_tickets]
            if status or updated_gt is not None or contact_id is not None or self._ticket_over:
                states = {i: self._ticket_state(i) for i in self._ticket_over}
                out = []
                for i in idx:
                    st = states.get(i)
                    s = st["status"] if st else STATUSES[self.t_status[i]]
                    u = st["updated"] if st else self.t_updated[i]
                    if status and s != status:
                        continue
                    if updated_gt is not None and u <= updated_gt:
                        continue
                    if contact_id is not None and (self.t_contact[i] < 0 or self.contact_id(self.t_contact[i]) != contact_id):
                        continue
                    out.append(i)
                idx = out
            latest = {i: self._ticket_over[i].get("latest", self.t_latest[i]) for i in self._ticket_over}
            reverse = sort.startswith("-")
            idx.sort(key=lambda i: (latest.get(i, self.t_latest[i]), i), reverse=reverse)
            if len(self._order_cache) > 64:
                self._order_cache.clear()
            self._order_cache[key] = idx
            return idx

    # -- writes: what activity (never the migration) does -------------------------------------------

    def apply_write(self, method: str, parts: list[str], body: dict[str, Any]) -> tuple[int, Any]:
        """Apply a write the API accepts; returns (status, payload). Every accepted write counts in
        ``writes`` and changes ``snapshot()``."""
        with self.lock:
            now = self.now_seconds()
            if parts[:1] == ["tickets"] and len(parts) >= 2 and parts[1].isdigit():
                i = self.ticket_index(int(parts[1]))
                if i is None:
                    return 404, {"message": "No query results for model [App\\Ticket]."}
                over = self._ticket_over.setdefault(i, {})
                action = parts[2] if len(parts) > 2 else ""
                if method == "DELETE" and len(parts) == 2:
                    self._deleted_tickets.add(i)
                    result: Any = ""
                elif method == "POST" and action == "messages":
                    text = body.get("message")
                    if not text:
                        return 422, {"message": "The given data was invalid.",
                                     "errors": {"message": ["The message field is required."]}}
                    extra = self._extra_messages.setdefault(i, [])
                    pos = self.t_nmsg[i] + len(extra)
                    kind = "NOTE" if str(body.get("internal_note", "")).lower() in ("1", "true") else "OUTBOUND"
                    extra.append({"pos": pos, "kind": kind, "t": now, "author": USER_BASE, "channel": "", "attachments": [],
                                  "inline": [], "body_type": "TEXT", "text": str(text), "auto": False})
                    over["latest"] = now
                    result = {"message": {"id": self.message_id(i, pos), "ticket_id": TICKET_BASE + i, "type": kind}}
                elif method == "POST" and action == "close":
                    over["status"] = "CLOSED"
                    over["closed_at"] = now
                    if body.get("ticket_result_id"):
                        over["result"] = int(body["ticket_result_id"])
                    result = ""
                elif method == "POST" and action == "reopen":
                    over["status"] = "ASSIGNED" if self._ticket_state(i)["user"] >= 0 else "OPEN"
                    over["closed_at"] = None
                    result = ""
                elif method == "POST" and action == "labels":
                    labels = list(over.get("labels", self._ticket_base(i)["labels"]))
                    k = int(body.get("label_id", 0)) - LABEL_BASE
                    if not 0 <= k < self.n_labels:
                        return 422, {"message": "The given data was invalid.",
                                     "errors": {"label_id": ["The selected label id is invalid."]}}
                    over["labels"] = sorted(set(labels) | {k})
                    result = ""
                elif method == "POST" and action == "assign":
                    if body.get("user_id"):
                        over["user"] = int(body["user_id"]) - USER_BASE
                        over["status"] = "ASSIGNED"
                    if body.get("team_id"):
                        over["team"] = int(body["team_id"]) - TEAM_BASE
                    result = ""
                else:
                    return 404, {"message": "Not Found"}
                over["updated"] = now
            elif parts[:1] == ["contacts"] and len(parts) >= 2 and parts[1].isdigit():
                c = self.contact_index(int(parts[1]))
                if c is None:
                    return 404, {"message": "No query results for model [App\\Contact]."}
                over = self._contact_over.setdefault(c, {})
                if method == "PUT" and len(parts) == 2:
                    over["name"] = str(body.get("name", ""))
                    result = ""
                elif method == "POST" and parts[2:] == ["notes"]:
                    notes = over.setdefault("notes", [])
                    note = {"id": NOTE_BASE + 10**7 + self.writes, "body": str(body.get("note", "")),
                            "user_id": USER_BASE, "created_at": now}
                    notes.append(note)
                    result = self._note_payload(c, note)
                else:
                    return 404, {"message": "Not Found"}
            else:
                return 404, {"message": "Not Found"}
            self.writes += 1
            self._order_cache.clear()
            return 200, result

    # -- reporting ------------------------------------------------------------------------------------

    def metrics(self, start: int, end: int, names: list[str]) -> dict[str, float]:
        """Aggregates over tickets created in [start, end) (local seconds); a stand-in for Trengo's BETA API."""
        created = closed = assigned = 0
        resolution = []
        for i in range(len(self.t_contact)):
            if i in self._deleted_tickets:
                continue
            c = self.t_created[i]
            if start <= c < end:
                created += 1
                st = self._ticket_state(i)
                if st["user"] >= 0:
                    assigned += 1
                if st["status"] == "CLOSED":
                    closed += 1
                    resolution.append(st["updated"] - c)
        values = {
            "new_tickets": created, "created_tickets": created, "assigned_tickets": assigned, "closed_tickets": closed,
            "reopened_tickets": closed // 20,
            "average_total_resolution_time": round(sum(resolution) / len(resolution), 1) if resolution else 0,
            "average_first_response_time": round(1800 + (created % 97) * 13.5, 1) if created else 0,
        }
        return {n: values[n] for n in names if n in values}

    # -- proof of no change ---------------------------------------------------------------------------

    def snapshot(self, base: str = "http://snapshot") -> dict[str, Any]:
        """A digest of everything the API would show, plus counts and the number of accepted writes.
        Equal snapshots before and after a migration prove it changed nothing."""
        h = hashlib.sha256()

        def feed(obj: Any) -> None:
            h.update(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogateescape"))

        for coll in (self.users, self.teams, self.channels, self.labels, self.custom_fields, self.ticket_results,
                     self.quick_replies, self.contact_groups, self.webhooks, self.categories, self.articles):
            feed(coll)
        for c in range(self.n_contacts):
            feed(self.contact_payload(c, base=base, include_notes=True))
        live = [i for i in range(len(self.t_contact)) if i not in self._deleted_tickets]
        for i in live:
            feed(self.ticket_payload(i, base=base))
        return {"digest": h.hexdigest(), "writes": self.writes,
                "counts": {"tickets": len(live), "contacts": self.n_contacts, "users": len(self.users),
                           "messages": sum(self._ticket_state(i)["nmsg"] for i in live)}}


def _channel_light(ch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ch.items() if k != "emailChannel"}


def _content_bytes(seed: int, att_id: int, size: int) -> bytes:
    block = hashlib.sha256(f"{seed}:{att_id}".encode()).digest() * 64  # 2 KiB of seeded noise
    reps = size // len(block) + 1
    return (block * reps)[:size]


__all__ = ["DIRT_CASES", "DirtCase", "Workspace", "fmt", "to_seconds"]
