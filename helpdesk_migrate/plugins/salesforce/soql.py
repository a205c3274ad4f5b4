"""Safe SOQL building: every value placed in a query goes through ``quote``.

A REST query travels in the URL, which Salesforce caps at 16,384 bytes (414 beyond), so ``in_chunks``
splits an ``IN (...)`` list into as many queries as the encoded length requires.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import quote_plus

# Backslash first, so the escapes added after it are not doubled.
_ESCAPES = (("\\", "\\\\"), ("'", "\\'"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"),
            ("\b", "\\b"), ("\f", "\\f"))
MAX_QUERY_URL = 16_384
URL_HEADROOM = 1_500  # scheme, host, path and the rest of the statement


def escape(value: str) -> str:
    for raw, escaped in _ESCAPES:
        value = value.replace(raw, escaped)
    return value


def quote(value: str) -> str:
    """A string literal: 'O\\'Brien'."""
    return "'" + escape(str(value)) + "'"


def like_prefix(value: str) -> str:
    """A LIKE pattern matching values that start with ``value`` (its own % and _ escaped)."""
    return "'" + escape(str(value)).replace("%", "\\%").replace("_", "\\_") + "%'"


def in_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(quote(v) for v in values) + ")"


def in_chunks(values: Sequence[str], *, fixed_length: int = 0, limit: int = MAX_QUERY_URL) -> Iterator[list[str]]:
    """Split values so that each ``IN (...)`` list, URL-encoded, fits the request-line limit."""
    budget = limit - URL_HEADROOM - len(quote_plus(" " * fixed_length))
    chunk: list[str] = []
    used = 0
    for v in dict.fromkeys(values):  # de-duplicated, order kept
        size = len(quote_plus(quote(v) + ", "))
        if chunk and used + size > budget:
            yield chunk
            chunk, used = [], 0
        chunk.append(v)
        used += size
    if chunk:
        yield chunk
