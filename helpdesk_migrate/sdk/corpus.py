"""The SDK's bad-input corpus: what can be wrong with a canonical value or record, and what a migration must
reach with it, with no platform in it.

Three parties meet here and none knows another:

- the SDK (this module) names each canonical **rule** (``RULES``): what is wrong, independent of any platform
  (``email-invalid``, ``file-empty``, ``parent-cycle``...), with the outcome a destination reaches when it has
  no limit of its own (``Rule.default``);
- a **source's emulator** places named dirt cases on its fake records and says, for each, what its extraction
  must do and which rules the case exercises; never a destination or an outcome;
- a **destination** states its outcome per rule only where it differs from the default: a mapping returned by
  its plugin's optional member ``corpus_outcomes()``. A key is a rule's name, or a canonical object's name for
  every rule found on a record of that object (a destination with no place for files says so once, under
  "attachments").

The corpus test combines them: case -> rules -> the destination's outcome (``outcome_for``). A new
destination adds one mapping, a new source adds cases; a new kind of dirt adds a rule here.

Outcome grammar (``parse_outcome``), one of:

- ``loaded``: in the id map, content as the source has it;
- ``loaded-transformed: <what>``: in the id map, changed on the way as <what> says;
- ``quarantined: <rule>``: in the quarantine under that rule (stage extract, validate or load);
- ``skipped: <rule>``: deliberately not loaded, counted apart with the reason (e.g. a destination with no
  place for files).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from migration_assets.canonical import OBJECTS

OUTCOME_KINDS = ("loaded", "loaded-transformed", "quarantined", "skipped")
LOADED = "loaded"


def parse_outcome(text: str) -> tuple[str, str]:
    """("quarantined", "contact-missing") out of "quarantined: contact-missing"."""
    kind, _, detail = text.partition(":")
    kind = kind.strip()
    if kind not in OUTCOME_KINDS:
        raise ValueError(f"unknown outcome {text!r}; expected one of {', '.join(OUTCOME_KINDS)}")
    detail = detail.strip()
    if kind != LOADED and not detail:
        raise ValueError(f"outcome {text!r} needs the rule or the change it names")
    return kind, detail


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    default: str = LOADED  # the outcome where a destination has no limit of its own (see parse_outcome)
    # Settled by the extraction, before any destination sees the record: a destination cannot state its own.
    at_extract: bool = False


def _rule(name: str, description: str, default: str = LOADED, *, at_extract: bool = False) -> Rule:
    parse_outcome(default)  # a default outside the grammar fails at import, not in a test run much later
    return Rule(name, description, default, at_extract)


_UNCARRIED_EMAIL = "loaded-transformed: loaded without the email (email-invalid), the original kept"
_CREATED_AT_FALLBACK = (
    "loaded-transformed: created_at from the ticket's earliest other time (created-at-fallback)")
_TWIN_LINKED = "loaded-transformed: linked to the destination contact of its twin, not created twice"

RULES: dict[str, Rule] = {r.name: r for r in (
    # -- text, wherever it is -----------------------------------------------------------------------------
    _rule("text-quotes-and-backslash", "quotes, an apostrophe and a backslash in a name or email"),
    _rule("text-emoji", "emoji, skin tones and flag sequences (characters outside the BMP)"),
    _rule("text-right-to-left", "right-to-left script (Arabic, Hebrew)"),
    _rule("text-zero-width-characters",
          "zero-width space, non-joiner, joiner, word joiner or a byte-order mark inside text"),
    _rule("name-invalid-utf8", "a name holding a byte that is not UTF-8",
          "loaded-transformed: the invalid byte became U+FFFD"),
    _rule("body-invalid-utf8", "message text holding bytes that are not UTF-8",
          "loaded-transformed: invalid bytes became U+FFFD"),
    # -- contacts -----------------------------------------------------------------------------------------
    _rule("email-invalid", "an email that is not an address (no valid domain)", _UNCARRIED_EMAIL),
    _rule("email-without-tld", "an email whose domain has no top-level domain ('info@localhost')",
          _UNCARRIED_EMAIL),
    _rule("email-non-ascii-local-part",
          "an internationalised email: non-ASCII characters before the @ (valid under SMTPUTF8)"),
    _rule("email-surrounding-whitespace", "an email with spaces around it",
          "loaded-transformed: email trimmed"),
    _rule("email-mixed-case", "an email in mixed letter case (kept as written)"),
    _rule("duplicate-email", "two contacts with one email", _TWIN_LINKED),
    _rule("duplicate-email-differing-case", "two contacts whose emails differ only in letter case",
          _TWIN_LINKED),
    _rule("contact-without-email", "a contact with a phone number and no email"),
    _rule("name-empty", "a contact with no name"),
    _rule("name-very-long", "a name of 300 characters, longer than name fields commonly hold"),
    _rule("number-not-numeric", "a NUMBER custom field holding text ('n.v.t.')",
          "loaded-transformed: the number field left empty ('no value'), the original kept"),
    _rule("option-unknown", "a dropdown custom field holding a value that is not one of its options"),
    # -- conversations ------------------------------------------------------------------------------------
    _rule("date-unparseable", "a creation time that is no date ('0000-00-00 00:00:00')",
          _CREATED_AT_FALLBACK),
    _rule("date-placeholder", "a creation time far in the future ('9999-12-31'), a placeholder",
          _CREATED_AT_FALLBACK),
    _rule("time-in-dst-gap", "a local time that does not exist (the spring-forward night)",
          "loaded-transformed: created_at read with the offset before the change"),
    _rule("time-ambiguous", "a local time that happens twice (the fall-back night)",
          "loaded-transformed: created_at read as the first occurrence"),
    _rule("time-formats-mixed", "UTC timestamps among local ones in one record"),
    _rule("status-unknown", "a status the source documents nowhere",
          "loaded-transformed: status open (the source's status kept in source_status)"),
    _rule("tag-unknown", "a tag that the source's tag list no longer has (deleted)"),
    _rule("contact-missing", "a conversation whose contact no longer exists",
          "loaded-transformed: loaded without its contact (contact-unlinked), the contact id kept"),
    _rule("assignee-missing", "a conversation assigned to a since-deleted agent",
          "loaded-transformed: owned by the destination's fallback owner (owner-fallback)"),
    _rule("team-missing", "a conversation of a team that no longer exists"),
    _rule("thread-very-long", "a thread of 10,000 messages"),
    # -- teams --------------------------------------------------------------------------------------------
    _rule("member-missing", "a team listing a since-deleted agent as a member"),
    # -- messages -----------------------------------------------------------------------------------------
    _rule("html-script", "HTML with <script> and inline styles",
          "loaded-transformed: text body without the script"),
    _rule("html-event-handlers", "HTML with event handlers, a javascript: link and an iframe",
          "loaded-transformed: text body without the markup"),
    _rule("body-over-32k-characters", "a body longer than 32,768 characters"),
    _rule("body-over-131k-characters", "a body longer than 131,072 characters"),
    _rule("body-quoted-history", "a long email carrying its quoted history (over 2,000 characters)"),
    _rule("body-empty", "a message with no text (an image only)"),
    _rule("author-missing", "a message by a since-deleted agent"),
    _rule("system-event", "a system event in the thread (a label change)"),
    _rule("time-without-zone", "naive local timestamps",
          "loaded-transformed: created_at converted to UTC"),
    _rule("parent-cycle", "two messages whose reply-to parents point at each other"),
    _rule("record-listed-twice", "a record that one listing returns twice"),
    # -- attachments --------------------------------------------------------------------------------------
    _rule("file-name-path-traversal", "a file name climbing out of its directory ('../../x')"),
    _rule("file-name-absolute-path", "a file name that is an absolute path ('/etc/shadow')"),
    _rule("file-name-non-ascii", "a file name with non-ASCII characters, spaces and brackets"),
    _rule("file-name-duplicate", "two files of one message with one name"),
    _rule("file-gone", "a file whose content cannot be downloaded (404)",
          "quarantined: attachment-missing", at_extract=True),
    _rule("file-empty", "a file of zero bytes"),
    _rule("file-over-25-mib", "a file one byte over 25 MiB, a common upload limit of REST APIs"),
    _rule("inline-image-by-content-id", "an image in an HTML body referenced by cid:"),
    _rule("inline-image-source-hosted", "a pasted image the source hosts, only in the body"),
    _rule("inline-image-external",
          "an external image (a tracking pixel) in a body: listed by URL, never fetched"),
)}


def check_outcomes(outcomes: Mapping[str, str]) -> list[str]:
    """What is wrong with a destination's ``corpus_outcomes()`` mapping (empty when nothing is): each key names
    a rule or a canonical object, each value parses, and no key names a rule the extraction settles."""
    objects = {o.name for o in OBJECTS}
    problems = []
    for key, outcome in outcomes.items():
        if key in RULES and RULES[key].at_extract:
            problems.append(f"{key}: settled at extract ({RULES[key].default}), before any destination")
        elif key not in RULES and key not in objects:
            problems.append(f"{key}: neither a corpus rule nor a canonical object")
        try:
            parse_outcome(outcome)
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
    return problems


def rule_outcome(rule: str, canonical: str, outcomes: Mapping[str, str]) -> str:
    """The outcome one rule, found on a ``canonical`` record, reaches in a destination stating ``outcomes``:
    the destination's own for the rule, else its own for every record of that object, else the default."""
    r = RULES[rule]
    if r.at_extract:
        return r.default
    return outcomes.get(r.name) or outcomes.get(canonical) or r.default


def outcome_for(rules: Iterable[str], canonical: str, outcomes: Mapping[str, str]) -> str:
    """The outcome a case exercising ``rules`` on a ``canonical`` record reaches in a destination stating
    ``outcomes``: "loaded" when every rule loads as it is, else the one outcome that is not. A case whose rules
    reach two different outcomes that are not "loaded" is ambiguous: split it."""
    rules = tuple(rules)
    reached = {rule_outcome(rule, canonical, outcomes) for rule in rules} - {LOADED}
    if len(reached) > 1:
        raise ValueError(f"rules {sorted(rules)} reach different outcomes {sorted(reached)}: one rule per case")
    return reached.pop() if reached else LOADED


__all__ = ["LOADED", "OUTCOME_KINDS", "RULES", "Rule", "check_outcomes", "outcome_for", "parse_outcome",
           "rule_outcome"]
