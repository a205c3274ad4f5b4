"""What a migration into Tidio reaches with the SDK's bad-input corpus, per canonical rule (or for every rule
found on one canonical object), where it differs from the rule's default (``helpdesk_migrate.sdk.corpus``):
production knowledge of Tidio's API, stated once for every source. The plugin hands it out as
``corpus_outcomes()``; the corpus test holds the loader to it.
"""

from __future__ import annotations

OUTCOMES: dict[str, str] = {
    # Tidio's API cannot upload files: every attachment is listed for manual work (inventory.SKIP_REASONS).
    "attachments": "skipped: manual-configuration",
    "name-very-long": "loaded-transformed: first name cut to Tidio's limit, the whole name kept in original_values",
    # Tidio's email field cannot hold a non-ASCII local part (contact_values.py).
    "email-non-ascii-local-part": "loaded-transformed: loaded without the email (email-not-carried: a non-ASCII "
                                  "local part), the original kept",
    # Tidio's API cannot create tags; one the workspace lacks is named in the ticket instead (matching.py).
    "tag-unknown": "loaded-transformed: the deleted label dropped, named in the ticket's opening message",
    # A Tidio ticket needs a contact (tickets.py).
    "contact-missing": "loaded-transformed: filed under a placeholder contact (contact-unlinked)",
    "assignee-missing": "loaded-transformed: assigned to the fallback operator (TIDIO_FALLBACK_OPERATOR_ID)",
    "team-missing": "loaded-transformed: in Tidio's fallback department (department-fallback)",
}
