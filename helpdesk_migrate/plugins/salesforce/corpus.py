"""What a migration into Salesforce reaches with the SDK's bad-input corpus, per canonical rule, where it differs
from the rule's default (``helpdesk_migrate.sdk.corpus``): production knowledge of Salesforce's limits, stated
once for every source. The plugin hands it out as ``corpus_outcomes()``; the corpus test holds the loader to it.
"""

from __future__ import annotations

OUTCOMES: dict[str, str] = {
    # Contact.LastName holds 80 characters (mapping.LAST_NAME_LIMIT); the rest of a long name is cut.
    "name-very-long": "loaded-transformed: LastName cut to Salesforce's 80 characters",
    # The Email field refuses non-ASCII characters before the @, and they have no ASCII form (mapping.py).
    "email-non-ascii-local-part": "loaded-transformed: loaded without the email (email-not-carried: a non-ASCII "
                                  "local part), the original kept",
    "contact-missing": "loaded-transformed: Case without ContactId (contact-unlinked), the contact id kept",
    "assignee-missing": "loaded-transformed: owned by the fallback owner (SALESFORCE_FALLBACK_OWNER_ID)",
    # A ContentVersion cannot be empty (load_files.py).
    "file-empty": "quarantined: file-empty",
    # Over the REST JSON limit a file goes as a multipart upload (blob_upload.py), so it still loads: stated
    # because the default upload limit is exactly what the rule is about.
    "file-over-25-mib": "loaded",
    # Fetching an external image would tell its sender; it stays a link in the email (load_files.py).
    "inline-image-external": "skipped: external-image",
}
