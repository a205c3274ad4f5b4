"""A small canonical workspace with the dirt a Trengo -> Tidio migration meets, as a source would stage it."""

from __future__ import annotations

import copy
from typing import Any

SOURCE = "trengo"
T0 = "2024-01-02T10:00:00+00:00"


def ts(hour: int, minute: int = 0) -> str:
    return f"2024-01-{2 + hour // 24:02d}T{hour % 24:02d}:{minute:02d}:00+00:00"


AGENTS = [
    {"id": "a1", "email": "ann@example.com", "name": "Ann Agent", "is_active": True},
    {"id": "a2", "email": "bob@example.com", "name": "Bob Agent", "is_active": True},
    {"id": "a3", "email": "carol@example.com", "name": "Carol Agent", "is_active": False},
    {"id": "a4", "email": "ghost@example.com", "name": "Ghost Agent", "is_active": True},  # no operator in Tidio
]
TEAMS = [
    {"id": "t1", "name": "Support"},
    {"id": "t2", "name": "Billing"},
    {"id": "t3", "name": "Legacy desk"},  # no department in Tidio
]
TAGS = [
    {"id": "g1", "name": "vip", "applies_to": "conversation"},
    {"id": "g2", "name": "refund", "applies_to": "conversation"},
    {"id": "g4", "name": "escalated", "applies_to": "conversation"},  # no tag in Tidio
    {"id": "g5", "name": "newsletter", "applies_to": "contact"},  # Tidio tags tickets only
]
CUSTOM_FIELDS = [
    {"id": "cf1", "name": "Customer number", "key": "customer_number", "entity": "contact", "data_type": "number"},
    {"id": "cf2", "name": "Plan", "key": "plan", "entity": "contact", "data_type": "select", "options": ["Gold"]},
    {"id": "cf3", "name": "Order ref", "key": "order_ref", "entity": "conversation", "data_type": "text"},
]
PRE_EXISTING_EMAIL = "already.there@example.net"
REFUSED_MARK = "blocked"

CONTACTS: list[dict[str, Any]] = [
    {"id": "c1", "name": "Clean One", "email": "one@example.org", "phone": "+31 6 1234 5678", "company": "Acme",
     "custom_fields": {"customer_number": 123, "plan": "Gold"},
     "notes": [{"id": "n1", "body": "Prefers phone calls", "author_id": "a1", "author_name": "Ann Agent",
                "created_at": ts(1)},
               {"id": "n2", "body": "<p>VIP since <b>2019</b></p>", "author_id": "a4", "author_name": "Ghost Agent",
                "created_at": ts(2)}]},
    {"id": "c2", "first_name": "Two", "last_name": "Clean", "email": "two@example.org"},
    {"id": "c3", "name": "Dirty Email", "email": "not-an-email"},
    {"id": "c4", "name": "Phone Only", "phone": "+31 6 8765 4321"},
    {"id": "c5", "name": "Two Again", "email": "TWO@example.org"},  # same person as c2, other case
    {"id": "c6", "name": "Bad Number", "email": "six@example.org", "custom_fields": {"customer_number": "n/a"}},
    {"id": "c7", "name": "Already There", "email": PRE_EXISTING_EMAIL, "custom_fields": {"plan": "Gold"}},
    {"id": "c8", "name": "Refused By Tidio", "email": f"{REFUSED_MARK}@example.org"},
] + [{"id": f"c{n}", "name": f"Bulk {n}", "email": f"bulk{n}@example.org"} for n in range(9, 31)]

CONVERSATIONS: list[dict[str, Any]] = [
    {"id": "v1", "subject": "Refund please", "status": "closed", "source_status": "CLOSED", "contact_id": "c1",
     "assignee_id": "a1", "team_id": "t1", "tags": ["vip"], "result": "Solved", "created_at": ts(3),
     "closed_at": ts(5), "custom_fields": {"order_ref": "A-1"}},
    {"id": "v2", "subject": "Where is my order", "status": "assigned", "contact_id": "c2", "assignee_id": "a4",
     "team_id": "t2", "created_at": ts(4)},
    {"id": "v3", "subject": None, "status": "pending", "contact_id": "c4", "created_at": ts(6)},
    {"id": "v4", "subject": "From a bad email", "status": "open", "contact_id": "c3", "created_at": ts(7)},
    {"id": "v5", "subject": "Spammy", "status": "spam", "source_status": "INVALID", "contact_id": "c2",
     "tags": ["escalated"], "created_at": ts(8)},
    {"id": "v6", "subject": "Old desk", "status": "open", "contact_id": "c7", "assignee_id": "a2", "team_id": "t3",
     "created_at": ts(9)},
    {"id": "v7", "subject": "Urgent one", "status": "open", "contact_id": "c9", "assignee_id": "a3",
     "team_id": "t2", "priority": "high", "created_at": ts(10)},
]

MESSAGES: list[dict[str, Any]] = [
    {"id": "m1", "conversation_id": "v1", "kind": "inbound", "author_type": "contact", "author_id": "c1",
     "author_name": "Clean One", "author_email": "one@example.org", "body_html": "<p>I want a <b>refund</b></p>",
     "body_type": "email", "subject": "Refund please", "created_at": ts(3), "sequence": 0},
    {"id": "m2", "conversation_id": "v1", "kind": "outbound", "author_type": "agent", "author_id": "a1",
     "author_name": "Ann Agent", "body_text": "Refund issued.", "created_at": ts(3, 30), "sequence": 1,
     "attachment_ids": ["att1"]},
    {"id": "m3", "conversation_id": "v1", "kind": "note", "author_type": "agent", "author_id": "a2",
     "author_name": "Bob Agent", "body_text": "Checked with finance", "created_at": ts(4), "sequence": 2},
    {"id": "m4", "conversation_id": "v1", "kind": "outbound", "author_type": "agent", "author_id": "a4",
     "author_name": "Ghost Agent", "body_text": "x" * 12000, "created_at": ts(5), "sequence": 3},
    {"id": "m5", "conversation_id": "v3", "kind": "inbound", "author_type": "contact", "author_id": "c4",
     "body_type": "whatsapp", "body_text": "Hello from WhatsApp", "created_at": ts(6), "sequence": 0},
    {"id": "m6", "conversation_id": "v2", "kind": "inbound", "author_type": "contact", "author_id": "c2",
     "body_text": "Where is it?", "created_at": ts(4), "sequence": 0},
    {"id": "m7", "conversation_id": "v7", "kind": "outbound", "author_type": "agent", "author_id": "a3",
     "author_name": "Carol Agent", "body_text": "On it", "created_at": ts(10, 5), "sequence": 0},
]
ATTACHMENTS = [{"id": "att1", "message_id": "m2", "conversation_id": "v1", "file_name": "invoice.pdf",
                "mime_type": "application/pdf", "size_bytes": 1024}]
QUICK_REPLIES = [{"id": "q1", "title": "Greeting", "body": "Hi! Thanks for reaching out."}]
ARTICLES = [{"id": "ar1:en", "article_id": "ar1", "locale": "en", "title": "How refunds work",
             "body_html": "<h2>Refunds</h2><p>Within 14 days.</p>", "category_path": ["Billing"], "status": "published"}]
WORKFLOWS = [{"id": "w1", "name": "Route billing", "kind": "rule", "trigger": "ticket.created",
              "conditions": {"channel": "email"}, "actions": [{"assign_team": "t2"}], "is_active": True}]
CONTACT_GROUPS = [{"id": "cg1", "name": "Resellers"}]
CHANNELS = [{"id": "ch1", "name": "Support email", "type": "email", "address": "support@example.com",
             "config": {"team_id": "t1"}}]

WORKSPACE: dict[str, list[dict[str, Any]]] = {
    "agents": AGENTS, "teams": TEAMS, "tags": TAGS, "custom_fields": CUSTOM_FIELDS, "contacts": CONTACTS,
    "conversations": CONVERSATIONS, "messages": MESSAGES, "attachments": ATTACHMENTS, "quick_replies": QUICK_REPLIES,
    "articles": ARTICLES, "workflows": WORKFLOWS, "contact_groups": CONTACT_GROUPS, "channels": CHANNELS,
}

# What the Tidio admin has already set up: everything except the deliberate gaps above.
EXISTING = {
    "agents": AGENTS[:3],
    "teams": TEAMS[:2],
    "tags": [TAGS[0], TAGS[1]],
    "custom_fields": CUSTOM_FIELDS,
    "contacts": [{"id": "pre1", "name": "Already There", "email": PRE_EXISTING_EMAIL}],
}


def workspace() -> dict[str, list[dict[str, Any]]]:
    return copy.deepcopy(WORKSPACE)
