"""Markdown rendering for metadata and reports. Every cell is escaped so HTML from migrated messages stays
inert text wherever the report is rendered (the Dagster UI renders markdown metadata)."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

MAX_CELL = 160


def cell(value: Any, limit: int = MAX_CELL) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    value = " ".join(value.split())  # newlines would break the table
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    # The pipe and backtick would break or restyle the table.
    return _inert(value).replace("|", "\\|").replace("`", "\\`")


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, limit: int = MAX_CELL) -> str:
    if not rows:
        return "_no rows_"
    columns = list(columns or _columns(rows))
    out = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join(cell(r.get(c), limit) for c in columns) + " |")
    return "\n".join(out)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols[:8]


def text(value: Any) -> str:
    """Escape a free-text value for a markdown paragraph."""
    return _inert("" if value is None else str(value))


def _inert(value: str) -> str:
    """html.escape makes <script> inert; escaping the brackets keeps '[x](javascript:...)' and '![](tracker)'
    from becoming a live link or a remote image where the markdown is rendered."""
    return html.escape(value, quote=False).replace("[", "\\[").replace("]", "\\]")
