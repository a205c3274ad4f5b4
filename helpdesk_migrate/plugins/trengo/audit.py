"""The shape audit: the payload keys the mapping reads (``SourceObject.payload_keys``) and a cheap tally of the
keys the payloads carried (``Chunk.payloads`` / ``Chunk.key_counts``).

Where the mapping accepts several keys for one thing (an attachment's link under ``full_url``, ``url``, ``path``
or ``download_url``), the declaration names them all, ``|``-separated in the last segment
(``attachments[].full_url|url|path|download_url``), and the tally counts a payload for it when it carries any
of them: the audit then says "no attachment link at all", not "this one spelling is absent".
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from helpdesk_migrate.sdk import PayloadKey, key_paths

from .mapping import ATTACHMENT_NAME_KEYS, ATTACHMENT_URL_KEYS, TEAM_MEMBER_KEYS

# One payload in AUDIT_STRIDE is tallied (a systematic sample, so the shares stay right). key_paths walks a
# whole payload (a message with its contact, agent and attachments): measured on the seeded workspace, tallying
# every message costs 64-73% of the time mapping them takes, one in ten 3-9% (a shared machine), so one in twenty
# keeps it to a few per cent. A key the platform renamed is missing from every payload, and a sample finds that
# as surely. Small configuration lists and help-centre pages are tallied whole, and so are the first
# AUDIT_WHOLE payloads of any object: a small workspace (a rehearsal) has few messages with attachments, and a
# declared key the sample missed would be reported as never present.
AUDIT_STRIDE = 20
AUDIT_WHOLE = 1000


def _k(path: str, feeds: str, required: bool = False) -> PayloadKey:
    return PayloadKey(path, feeds, required)


PAYLOAD_KEYS: dict[str, tuple[PayloadKey, ...]] = {
    "agents": (_k("id", "the agent's identity", True), _k("email", "agents are matched by email", True),
               _k("full_name|name", "the agent's name"), _k("role|authorization", "the agent's role"),
               _k("status", "active or deactivated")),
    "teams": (_k("id", "the team's identity", True), _k("name", "the team's name"),
              _k("|".join(TEAM_MEMBER_KEYS), "team members (queue membership)")),
    "channels": (_k("id", "the channel's identity", True), _k("type", "the channel type", True),
                 _k("title|name|display_name", "the channel's name")),
    "contacts": (_k("id", "the contact's identity", True), _k("email|phone", "contacts are matched by email/phone"),
                 _k("full_name|name", "the contact's name"),
                 _k("custom_field_values|custom_field_data", "contact custom fields")),
    "conversations": (
        _k("id", "the conversation's identity", True), _k("status", "the conversation status", True),
        _k("created_at", "the conversation's creation time", True), _k("updated_at", "deltas and fallback dates"),
        _k("contact_id", "the conversation's contact"), _k("channel.id|channel_id", "the conversation's channel"),
        _k("labels[].name", "tags"), _k("closed_at", "closing time"),
        _k("ticket_result_id|ticket_result", "the ticket result"),
    ),
    "messages": (
        _k("id", "the message's identity", True), _k("type", "inbound, outbound or note", True),
        _k("created_at", "the message's time and its place in the thread", True),
        _k("created_at_time", "measuring the zone of naive times (epoch beside created_at)"),
        _k("message|body", "the message body"), _k("email_message.from", "email sender"),
        _k("email_message.to", "email recipients"),
        _k("attachments[]." + "|".join(ATTACHMENT_URL_KEYS), "attachments are downloaded"),
        _k("attachments[]." + "|".join(ATTACHMENT_NAME_KEYS), "attachment file names"),
    ),
    "articles": (_k("id", "the article's identity", True),
                 _k("translations|title", "article titles and bodies, per language")),
}


def _alternatives(declared: Iterable[PayloadKey]) -> list[tuple[str, list[str]]]:
    out = []
    for key in declared:
        if "|" not in key.path:
            continue
        prefix, _, last = key.path.rpartition(".")
        out.append((key.path, [f"{prefix}.{alt}" if prefix else alt for alt in last.split("|")]))
    return out


_ALTERNATIVES = {canonical: _alternatives(keys) for canonical, keys in PAYLOAD_KEYS.items()}


def tally(canonical: str, payloads: Sequence[Any], stride: int = 1, offset: int = 0) -> tuple[int, dict[str, int]]:
    """(payloads tallied, per key path how many of them carried it non-empty) over every ``stride``-th payload
    from ``offset`` (vary the offset between pages or threads, so short ones are not always sampled at their
    first payload).

    >>> tally("teams", [{"id": 1, "user_ids": [2]}, {"id": 2, "members": [{"id": 3}]}])[1]["users|members|user_ids"]
    2
    """
    counts: Counter[str] = Counter()
    taken = 0
    alternatives = _ALTERNATIVES.get(canonical, ())
    for payload in payloads[offset % stride::stride] if stride > 1 else payloads:
        taken += 1
        paths = key_paths(payload)
        counts.update(paths)
        for declared, alts in alternatives:
            if any(a in paths for a in alts):
                counts[declared] += 1
    return taken, dict(counts)


class Auditor:
    """Tallies an object's payloads whole up to AUDIT_WHOLE, then one in AUDIT_STRIDE. Thread-safe."""

    def __init__(self, whole: int = AUDIT_WHOLE, stride: int = AUDIT_STRIDE):
        self.whole, self.stride = whole, stride
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()

    def tally(self, canonical: str, payloads: Sequence[Any], offset: int = 0) -> tuple[int, dict[str, int]]:
        with self._lock:
            seen = self._seen[canonical]
            self._seen[canonical] += len(payloads)
        return tally(canonical, payloads, 1 if seen < self.whole else self.stride, offset)


__all__ = ["AUDIT_STRIDE", "AUDIT_WHOLE", "PAYLOAD_KEYS", "Auditor", "tally"]
