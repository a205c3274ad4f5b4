"""Zendesk's three ways of paging, as the emulator answers them (reference: the plugin's README, "Pagination"):

- cursor pagination of lists: ``page[size]`` (at most 100) and ``page[after]``; ``meta.has_more``,
  ``meta.after_cursor``, ``links.next``;
- offset pagination of lists (no ``page[size]``): ``page``/``per_page``; ``next_page``, ``previous_page``, ``count``;
- the incremental exports: cursor-based (``start_time`` then ``cursor``; ``after_cursor``, ``after_url``,
  ``end_of_stream``) and time-based (``start_time``; ``next_page``, ``end_time``, ``count``, ``end_of_stream``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

MAX_PAGE_SIZE = 100
EXPORT_PAGE_SIZE = 1000


class BadRequest(Exception):
    """A parameter Zendesk would refuse (400 with ``error``/``description``)."""

    def __init__(self, description: str):
        super().__init__(description)
        self.description = description


def encode(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(f"invalid cursor {cursor!r}") from None


def _int(params: dict[str, str], key: str, default: int, maximum: int) -> int:
    raw = params.get(key)
    if raw in (None, ""):
        return default
    if not str(raw).isdigit() or int(raw) < 1:
        raise BadRequest(f"{key} must be a positive integer")
    return min(int(raw), maximum)


def list_page(key: str, rows: Sequence[Any], params: dict[str, str], url: str, *, cursor_ok: bool = True) \
        -> dict[str, Any]:
    """One page of a list: cursor pagination when ``page[size]`` is given (and the endpoint offers it), else
    offset pagination."""
    if cursor_ok and params.get("page[size]"):
        size = _int(params, "page[size]", MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        after = params.get("page[after]")
        start = int(decode(after)) if after else 0
        items = list(rows[start:start + size])
        more = start + size < len(rows)
        after_cursor = encode(str(start + len(items))) if items else None
        keep = {k: v for k, v in params.items() if k not in ("page[after]", "page[before]")}
        return {key: items, "meta": {"has_more": more, "after_cursor": after_cursor,
                                     "before_cursor": encode(str(start)) if items else None},
                "links": {"next": f"{url}?{urlencode({**keep, 'page[after]': after_cursor})}" if more else None,
                          "prev": None}}
    per_page = _int(params, "per_page", MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    page = _int(params, "page", 1, 10**9)
    start = (page - 1) * per_page
    items = list(rows[start:start + per_page])
    keep = {k: v for k, v in params.items() if k not in ("page", "page[size]", "page[after]")}
    nxt = f"{url}?{urlencode({**keep, 'page': page + 1})}" if start + per_page < len(rows) else None
    prev = f"{url}?{urlencode({**keep, 'page': page - 1})}" if page > 1 else None
    return {key: items, "next_page": nxt, "previous_page": prev, "count": len(rows)}


def cursor_export(key: str, rows: Sequence[tuple[int, int, Any]], params: dict[str, str], url: str,
                  render: Callable[[Any], dict[str, Any]]) -> tuple[dict[str, Any], list[Any]]:
    """The cursor-based incremental export over ``rows`` = (updated epoch, id, item) sorted by (updated, id).
    Returns the answer and the items of the page (for side-loads)."""
    size = _int(params, "per_page", EXPORT_PAGE_SIZE, EXPORT_PAGE_SIZE)
    if params.get("cursor"):
        stamp, _, ident = decode(params["cursor"]).partition(":")
        if not stamp.isdigit() or not ident.isdigit():
            raise BadRequest("invalid cursor")
        after = (int(stamp), int(ident))
        todo = [r for r in rows if (r[0], r[1]) > after]
    elif params.get("start_time") is not None:
        start = params["start_time"]
        if not str(start).isdigit():
            raise BadRequest("start_time must be a Unix epoch time in seconds")
        todo = [r for r in rows if r[0] >= int(start)]
        after = None
    else:
        raise BadRequest("start_time or cursor is required")
    page = todo[:size]
    last = (page[-1][0], page[-1][1]) if page else after
    cursor = encode(f"{last[0]}:{last[1]}") if last else params.get("cursor")
    keep = {k: v for k, v in params.items() if k in ("include", "per_page", "exclude_deleted")}
    answer = {key: [render(r[2]) for r in page],
              "after_url": f"{url}?{urlencode({**keep, 'cursor': cursor})}" if cursor else None,
              "after_cursor": cursor, "before_url": None, "before_cursor": None,
              "end_of_stream": len(todo) <= size}
    return answer, [r[2] for r in page]


def time_export(key: str, rows: Sequence[tuple[int, int, Any]], params: dict[str, str], url: str) -> dict[str, Any]:
    """The time-based incremental export: the next page starts at the last item's time, so the items of that
    second come again (Zendesk says to expect duplicates and drop them by id)."""
    start = params.get("start_time")
    if start is None or not str(start).isdigit():
        raise BadRequest("start_time is required, a Unix epoch time in seconds")
    size = _int(params, "per_page", EXPORT_PAGE_SIZE, EXPORT_PAGE_SIZE)
    todo = [r for r in rows if r[0] >= int(start)]
    page = todo[:size]
    end_time = page[-1][0] if page else int(start)
    if len(page) == size and all(r[0] == end_time for r in page):  # one second holds a whole page: step past it
        end_time += 1
    keep = {k: v for k, v in params.items() if k == "per_page"}
    return {key: [r[2] for r in page], "next_page": f"{url}?{urlencode({**keep, 'start_time': end_time})}",
            "count": len(page), "end_time": end_time, "end_of_stream": len(todo) < size}


__all__ = ["EXPORT_PAGE_SIZE", "MAX_PAGE_SIZE", "BadRequest", "cursor_export", "decode", "encode", "list_page",
           "time_export"]
