"""The named dirt of the synthetic Zendesk account: what a real account holds that a migration must not lose.

Each case says what is wrong on the Zendesk side, what the extraction must do with it, and the canonical rules
of the SDK's bad-input corpus (``helpdesk_migrate.sdk.corpus.RULES``) it exercises; what a destination then
reaches is the destination's statement per rule, never this module's. Cases sit on fixed records (``PLACES``)
so a test can find them; a case whose record does not exist at a small size is simply not placed.

Cases without a corpus rule (Zendesk's own: archived, merged, follow-up and deleted tickets) are listed in
``ZENDESK_CASES`` with the extraction's expectation only: no destination outcome follows from them.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpdesk_migrate.sdk.corpus import RULES


@dataclass(frozen=True)
class DirtCase:
    name: str
    resource: str  # the Zendesk resource carrying it: users, tickets, comments, attachments
    canonical: str  # the canonical object the outcome is about
    description: str
    expected: str  # what the extraction must do with it (the source's side)
    rules: tuple[str, ...]  # canonical rules of the SDK's corpus; () for Zendesk-only cases
    gated: bool = False  # placed only when asked for (costly)


def _case(name: str, resource: str, canonical: str, description: str, expected: str, *rules: str,
          gated: bool = False) -> DirtCase:
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise ValueError(f"dirt case {name}: unknown corpus rules {unknown}")
    return DirtCase(name, resource, canonical, description, expected, rules, gated)


CASES: tuple[DirtCase, ...] = (
    # -- users ------------------------------------------------------------------------------------
    _case("user_email_differing_case", "users", "contacts",
          "two end users whose emails differ only in letter case (a secondary identity made primary)",
          "both extracted verbatim", "duplicate-email-differing-case"),
    _case("user_phone_only", "users", "contacts", "end user with a phone number and no email",
          "extracted with the phone, no email", "contact-without-email"),
    _case("user_emoji_name", "users", "contacts", "end user named with emoji and a flag sequence",
          "extracted verbatim", "text-emoji"),
    _case("user_rtl_name", "users", "contacts", "end user with an Arabic name", "extracted verbatim",
          "text-right-to-left"),
    _case("user_suspended", "users", "contacts", "suspended end user (suspended: true)",
          "extracted like any other end user"),
    _case("agent_suspended", "users", "agents", "suspended agent", "extracted with is_active false"),
    # -- tickets ----------------------------------------------------------------------------------
    _case("ticket_archived", "tickets", "conversations",
          "closed more than 120 days ago: absent from GET /tickets.json, present in the incremental export",
          "extracted (the incremental export is the source of tickets)"),
    _case("ticket_merged", "tickets", "conversations",
          "closed by a merge (tag closed_by_merge) with a private system comment (via.source.rel = merge)",
          "extracted closed, result 'merged into #<target>', the system comment as a note by the system"),
    _case("ticket_follow_up", "tickets", "conversations",
          "follow-up of a closed ticket (via.source.rel = follow_up)",
          "extracted; the link to its parent reported as a change (no canonical field holds it)"),
    _case("ticket_deleted", "tickets", "conversations", "deleted ticket (status 'deleted' in the export)",
          "reported in the quarantine (rule ticket-deleted) with who deleted it and when; its comments are not read"),
    _case("ticket_requester_deleted", "tickets", "conversations", "ticket whose requester was deleted",
          "extracted with the dangling requester id", "contact-missing"),
    _case("ticket_assignee_deleted", "tickets", "conversations", "closed ticket assigned to a deleted agent",
          "extracted with the dangling assignee id", "assignee-missing"),
    _case("ticket_group_deleted", "tickets", "conversations", "ticket of a deleted group",
          "extracted with the dangling group id", "team-missing"),
    _case("ticket_10k_comments", "tickets", "conversations", "ticket with 10,000 comments",
          "every comment extracted, in order", "thread-very-long", gated=True),
    # -- comments ---------------------------------------------------------------------------------
    _case("comment_by_deleted_agent", "comments", "messages", "old comments by a permanently deleted agent",
          "extracted with the author id and a placeholder name", "author-missing"),
    _case("comment_html_script", "comments", "messages", "HTML body with <script> and inline styles",
          "body_html verbatim; body_text without the script", "html-script"),
    _case("comment_html_event_handlers", "comments", "messages",
          "unclosed HTML with onerror handlers, a javascript: link and an iframe",
          "body_html verbatim; body_text without the markup", "html-event-handlers"),
    _case("comment_zero_width", "comments", "messages", "text with zero-width characters and a byte-order mark",
          "extracted verbatim", "text-zero-width-characters"),
    _case("comment_emoji", "comments", "messages", "mojibake ('CafÃ©') beside emoji", "extracted verbatim",
          "text-emoji"),
    _case("comment_empty_body", "comments", "messages", "comment with no text, only an attachment",
          "extracted with no body and its attachment", "body-empty"),
    _case("comment_merge_system", "comments", "messages", "the merge's system comment",
          "extracted as a note by the system", "system-event"),
    # -- attachments ------------------------------------------------------------------------------
    _case("attachment_gone", "attachments", "attachments", "attachment whose content answers 404",
          "rejected at extract with the reason", "file-gone"),
    _case("attachment_inline_image", "attachments", "attachments",
          "image pasted into an HTML body (inline: true, its content_url in the body)",
          "extracted as an inline attachment", "inline-image-source-hosted"),
    _case("attachment_non_ascii_name", "attachments", "attachments", "file name 'Überweisung (1) ✓.pdf'",
          "stored under a sanitised name; the original kept in file_name", "file-name-non-ascii"),
    _case("attachment_path_traversal", "attachments", "attachments", "file name '../../etc/passwd'",
          "stored under a sanitised name inside the files directory", "file-name-path-traversal"),
)
DIRT_CASES: dict[str, DirtCase] = {c.name: c for c in CASES}

# Where each case sits: (resource, index) with users by end-user index (agents by agent index) and tickets by id.
PLACES: dict[str, tuple[str, int]] = {
    "user_email_differing_case": ("users", 2),  # and end user 3
    "user_suspended": ("users", 4),
    "user_phone_only": ("users", 5),
    "user_emoji_name": ("users", 6),
    "user_rtl_name": ("users", 7),
    "agent_suspended": ("agents", 2),
    "ticket_archived": ("tickets", 1),
    "comment_by_deleted_agent": ("tickets", 2),
    "ticket_merged": ("tickets", 3),  # merged into ticket 4
    "comment_merge_system": ("tickets", 3),
    "ticket_follow_up": ("tickets", 5),  # of ticket 3
    "ticket_deleted": ("tickets", 6),
    "comment_html_script": ("tickets", 7),
    "comment_html_event_handlers": ("tickets", 8),
    "comment_zero_width": ("tickets", 9),
    "comment_emoji": ("tickets", 10),
    "ticket_requester_deleted": ("tickets", 11),
    "ticket_assignee_deleted": ("tickets", 12),
    "ticket_group_deleted": ("tickets", 13),
    "attachment_gone": ("tickets", 14),
    "attachment_inline_image": ("tickets", 15),
    "comment_empty_body": ("tickets", 16),
    "attachment_non_ascii_name": ("tickets", 17),
    "attachment_path_traversal": ("tickets", 18),
    "ticket_10k_comments": ("tickets", 19),
}

__all__ = ["CASES", "DIRT_CASES", "PLACES", "DirtCase"]
