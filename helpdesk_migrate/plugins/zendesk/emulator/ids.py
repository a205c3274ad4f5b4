"""The synthetic account's identity space, clock and vocabulary, shared by account.py and catalog.py."""

from __future__ import annotations

from datetime import UTC, datetime

ANCHOR = int(datetime(2025, 6, 30, 17, 0, tzinfo=UTC).timestamp())  # "now" of the seeded account
DAY = 86_400
SPAN = 730 * DAY
ARCHIVE_AFTER = 120 * DAY  # Zendesk archives tickets closed this long ago

AGENT_BASE = 360_000_000_000
END_USER_BASE = 361_000_000_000
DELETED_AGENT_ID = AGENT_BASE + 999_999  # wrote old comments, then was permanently deleted: in no export
DELETED_END_USER_ID = END_USER_BASE + 999_999_999  # requester of a ticket, then deleted
ORG_BASE = 362_000_000_000
GROUP_BASE = 363_000_000_000
DELETED_GROUP_ID = GROUP_BASE + 99
MEMBERSHIP_BASE = 364_000_000_000
TICKET_FIELD_BASE = 365_000_000
USER_FIELD_BASE = 366_000_000
ORG_FIELD_BASE = 367_000_000
COMMENT_BASE = 100_000_000_000
COMMENTS_PER_TICKET_SPACE = 100_000  # comment id = COMMENT_BASE + ticket id * this + position
ATTACHMENT_BASE = 900_000_000_000_000
MACRO_BASE, TRIGGER_BASE, AUTOMATION_BASE, SLA_BASE, VIEW_BASE = 370_000, 371_000, 372_000, 373_000, 374_000
CATEGORY_BASE, SECTION_BASE, ARTICLE_BASE = 375_000, 376_000, 377_000

SUPPORT_ADDRESS = "support@acme.zendesk.com"
LONG_THREAD = 250  # comments on the long thread (three pages of 100); 10,000 with huge_thread=10000
STATUS_WEIGHTS = {"new": 4, "open": 18, "pending": 10, "hold": 4, "solved": 20, "closed": 44}
CHANNEL_WEIGHTS = {"email": 45, "web": 15, "chat": 8, "native_messaging": 6, "api": 5, "voice": 6,
                   "whatsapp": 5, "facebook": 3, "twitter": 2, "sms": 3, "mobile_sdk": 2}
PRIORITIES = (None, "low", "normal", "normal", "high", "urgent")
TYPES = (None, "question", "incident", "problem", "task")
TAG_WORDS = ("billing", "refund", "vip", "bug", "shipping", "login", "feature_request", "urgent_customer",
             "returns", "invoice")
FIRST = ("Anna", "Bram", "Chloé", "Daan", "Eva", "Finn", "Greta", "Hugo", "Iris", "Jonas", "Katja", "Lucas",
         "Mila", "Noah", "Olga", "Piet", "Rosa", "Sven", "Tess", "Umar")
LAST = ("de Vries", "Jansen", "Müller", "Smith", "Bakker", "Visser", "Dubois", "García", "Rossi", "Nowak",
        "O'Brien", "Kowalski", "Meijer", "Bos", "Peeters")
PHRASES = ("my order has not arrived yet", "I was charged twice for the same invoice",
           "the app logs me out every few minutes", "can I return an item after 30 days?",
           "the tracking link does not work", "please update my billing address",
           "I cannot find the export button", "the product arrived damaged")
REPLIES = ("Thanks for reaching out, we are looking into it.", "I have refunded the duplicate charge.",
           "Could you send us a screenshot?", "The replacement ships tomorrow.", "That is fixed in our latest release.")
NOTES = ("Checked with billing: refund approved.", "Escalated to tier 2.", "Customer called, waiting on logs.")


def iso(epoch: int) -> str:
    """Zendesk's timestamps: ISO 8601 in UTC with a Z."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
