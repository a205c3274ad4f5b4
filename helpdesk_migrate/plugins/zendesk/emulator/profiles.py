"""Emulator profiles: variants of Zendesk's answers that the API reference allows or that clients report, which the
default emulator does not show. A profile reshapes answers only, so the seeded account (and what an extraction
must produce) is the same under each: a source that copes with a variant extracts the same canonical records."""

from __future__ import annotations

from typing import Any

PROFILES: dict[str, str] = {
    "default": "as documented: cursor pagination (page[size], meta.has_more, links.next) on every list, comments "
               "with body, html_body and plain_body, side-loads honoured (include=users on the ticket export and "
               "on comments, include=metric_sets,comment_count on the ticket export)",
    "no-html-body": "comments without html_body (older API clients and some channels show body and plain_body "
                    "only; the reference marks html_body as read-only but not as always present)",
    "no-sideload": "side-loads ignored: no users, metric_sets or comment_count beside the tickets and comments "
                   "(an include the account does not grant is dropped without an error)",
    "offset-pagination": "lists answer offset pagination only (next_page, previous_page, count) whatever "
                         "page[size] says, as endpoints without cursor support do (the reference lists which "
                         "support cursors; not every one does)",
}


class Shaper:
    """Reshapes answers for the active variants (a no-op under "default")."""

    def __init__(self, variants: frozenset[str]):
        self.variants = variants

    def __contains__(self, name: str) -> bool:
        return name in self.variants

    def comment(self, c: dict[str, Any]) -> dict[str, Any]:
        if "no-html-body" in self.variants:
            c = {k: v for k, v in c.items() if k != "html_body"}
        return c

    def side_loads(self, include: str | None) -> set[str]:
        if "no-sideload" in self.variants or not include:
            return set()
        return {p.strip() for p in include.split(",") if p.strip()}


__all__ = ["PROFILES", "Shaper"]
