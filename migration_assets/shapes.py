"""Payload shapes: the keys a platform payload carries, never its values.

Used by a source's shape audit (``Chunk.key_counts``, compared with ``SourceObject.payload_keys``) and by the
read-only probe, which writes a redacted shape file a user can attach to a bug report. A shape holds key paths
and JSON types only, so no customer value can leak through it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

LIST_ITEM = "[]"
MAX_DEPTH = 6  # deeper structures are free-form data (custom field blobs), not the platform's schema


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, (list, dict, tuple)) and not value)


def key_paths(payload: Any, *, prefix: str = "", depth: int = 0) -> set[str]:
    """Dotted key paths of ``payload`` that carry a non-empty value; list items are ``key[]``.

    >>> sorted(key_paths({"a": 1, "b": {"c": None, "d": "x"}, "e": [{"f": 2}], "g": []}))
    ['a', 'b', 'b.d', 'e', 'e[].f']
    """
    out: set[str] = set()
    if depth > MAX_DEPTH:
        return out
    if isinstance(payload, Mapping):
        for key, value in payload.items():
            if _is_empty(value):
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            out.add(path)
            out |= key_paths(value, prefix=path, depth=depth + 1)
    elif isinstance(payload, (list, tuple)):
        for item in payload:
            if isinstance(item, (Mapping, list, tuple)):
                out |= key_paths(item, prefix=f"{prefix}{LIST_ITEM}", depth=depth + 1)
    return out


def tally(payloads: Iterable[Any]) -> tuple[int, Counter[str]]:
    """(number of payloads, per key path the number of payloads carrying it non-empty)."""
    count = 0
    counts: Counter[str] = Counter()
    for payload in payloads:
        count += 1
        counts.update(key_paths(payload))
    return count, counts


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def type_shape(payload: Any, *, prefix: str = "", depth: int = 0) -> dict[str, set[str]]:
    """Key path -> JSON types seen at it (``null`` included): the redacted shape the probe records."""
    out: dict[str, set[str]] = {}
    if depth > MAX_DEPTH:
        return out
    if isinstance(payload, Mapping):
        for key, value in payload.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out.setdefault(path, set()).add(json_type(value))
            for p, types in type_shape(value, prefix=path, depth=depth + 1).items():
                out.setdefault(p, set()).update(types)
    elif isinstance(payload, (list, tuple)):
        for item in payload:
            if isinstance(item, (Mapping, list, tuple)):
                for p, types in type_shape(item, prefix=f"{prefix}{LIST_ITEM}", depth=depth + 1).items():
                    out.setdefault(p, set()).update(types)
            else:
                out.setdefault(f"{prefix}{LIST_ITEM}", set()).add(json_type(item))
    return out
