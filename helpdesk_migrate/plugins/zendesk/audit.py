"""The shape audit: the payload keys the mapping reads (``SourceObject.payload_keys``) and a tally of the keys the
payloads carried (``Chunk.payloads``/``Chunk.key_counts``), so discovery says when Zendesk stopped sending one.

Where the mapping takes any of several keys (a comment's text from ``html_body``, ``plain_body`` or ``body``), the
declaration names them ``|``-separated in the last segment and a payload counts for it when it carries any.
The first ``WHOLE`` payloads of an object are tallied whole, then one in ``STRIDE`` (key_paths walks a whole
payload; a renamed key is missing from every payload, and a sample finds that as surely)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from helpdesk_migrate.sdk import PayloadKey, key_paths

WHOLE, STRIDE = 1000, 10


def _k(path: str, feeds: str, required: bool = False) -> PayloadKey:
    return PayloadKey(path, feeds, required)


PAYLOAD_KEYS: dict[str, tuple[PayloadKey, ...]] = {
    "agents": (_k("id", "the agent's identity", True), _k("email", "agents are matched by email", True),
               _k("name", "the agent's name"), _k("role", "the agent's role")),
    "contacts": (_k("id", "the contact's identity", True), _k("email|phone", "contacts are matched by email/phone"),
                 _k("name", "the contact's name"), _k("user_fields", "user field values"),
                 _k("organization_id", "the contact's organization (company and group)")),
    "conversations": (_k("id", "the conversation's identity", True), _k("status", "the conversation status", True),
                      _k("created_at", "the conversation's creation time", True),
                      _k("updated_at", "deltas and the closing time"), _k("requester_id", "the conversation's contact"),
                      _k("via.channel", "the conversation's channel"), _k("tags", "tags"),
                      _k("custom_fields[].id", "ticket field values")),
    "messages": (_k("id", "the message's identity", True), _k("created_at", "the message's time and place", True),
                 _k("author_id", "the message's author"), _k("html_body|plain_body|body", "the message body"),
                 _k("attachments[].content_url", "attachments are downloaded"),
                 _k("attachments[].file_name", "attachment file names")),
    "articles": (_k("id", "the article's identity", True), _k("title|name", "the article's title"),
                 _k("body", "the article's body"), _k("section_id", "the article's category path")),
}


def _alternatives(keys: Sequence[PayloadKey]) -> list[tuple[str, list[str]]]:
    out = []
    for key in keys:
        prefix, _, last = key.path.rpartition(".")
        if "|" in last:
            out.append((key.path, [f"{prefix}.{alt}" if prefix else alt for alt in last.split("|")]))
    return out


_ALTERNATIVES = {canonical: _alternatives(keys) for canonical, keys in PAYLOAD_KEYS.items()}


class Auditor:
    """Tallies an object's payloads, whole up to ``WHOLE``, then one in ``STRIDE``. Thread-safe."""

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()

    def tally(self, canonical: str, payloads: Sequence[Any]) -> tuple[int, dict[str, int]]:
        with self._lock:
            seen = self._seen[canonical]
            self._seen[canonical] += len(payloads)
        sample = payloads if seen < WHOLE else payloads[seen % STRIDE::STRIDE]
        counts: Counter[str] = Counter()
        for payload in sample:
            paths = key_paths(payload)
            counts.update(paths)
            for declared, alternatives in _ALTERNATIVES.get(canonical, ()):
                if any(a in paths for a in alternatives):
                    counts[declared] += 1
        return len(sample), dict(counts)


__all__ = ["PAYLOAD_KEYS", "Auditor"]
