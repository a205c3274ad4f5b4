"""Tickets merged by id across the lists one extract reads, and what a ticket's move says about those lists.

GET /tickets is paged by page number. A ticket that leaves a list while that list is being paged (an agent
closes an OPEN ticket) moves every later item up one place: the first item of the next page lands on a page
already read and is never fetched. That item did not change, so no ``updated_at_gt`` catch-up lists it. What
*can* be seen is the ticket that left: it shows up again later (in another status list, or in a catch-up) under
another status. :class:`TicketMerge` remembers, per ticket, the list it was last seen in, and reports such a
move as ``(left, entered)`` list indexes; the source then reads the left list again.

A ticket seen for the first time in a catch-up says nothing of the kind: it either entered a list during the
extract (an insertion moves later items *down*: a page repeats an item, none is skipped), or left its list
before that list's paging reached it (the pages still to read shift together: nothing is skipped), or it is the
skipped ticket itself, now found.

The merge survives a crash: what each chunk added is appended to a file once the engine has staged the chunk
(the source appends after its ``yield`` returns), and a resumed extract reads it back. A crash between staging
and the append only re-emits that chunk's tickets (staging is an upsert) and may miss a move seen in it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# The statuses read each in its own list; the unfiltered list is read for any other.
TICKET_STATUSES = ("OPEN", "ASSIGNED", "CLOSED", "INVALID")
OTHER = len(TICKET_STATUSES)  # the index of the unfiltered list, read for the statuses outside the four
MERGE_FILE = "trengo-ticket-merge.jsonl"


def list_of(raw: dict[str, Any]) -> int:
    """The list a ticket belongs in, by the status it has now: one of the four status lists, or OTHER."""
    status = str(raw.get("status") or "").upper()
    return TICKET_STATUSES.index(status) if status in TICKET_STATUSES else OTHER


class TicketMerge:
    def __init__(self, files_dir: Path | str | None, partition: str | None = None):
        name = MERGE_FILE if partition is None else MERGE_FILE.replace(".jsonl", f"-{partition}.jsonl")
        self.path = Path(files_dir) / name if files_dir is not None else None
        self.seen: dict[str, tuple[Any, int]] = {}  # ticket id -> (updated_at as read, list it is in)
        self._unsaved: list[tuple[str, Any, int]] = []

    def reset(self) -> None:
        """A fresh extract: what an earlier one merged is not this one's."""
        self.seen.clear()
        self._unsaved.clear()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("", encoding="utf-8")

    def load(self) -> None:
        """A resumed extract: the merge as the interrupted one left it (a torn last line is skipped)."""
        if self.path is None or not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    tid, updated_at, in_list = json.loads(line)
                except (ValueError, TypeError):
                    continue
                self.seen[str(tid)] = (updated_at, int(in_list))

    def take(self, raw: dict[str, Any], *, observe_only: bool = False) -> tuple[bool, tuple[int, int] | None]:
        """(emit it, the move it shows or None). A ticket is emitted when it is new to this extract or its
        ``updated_at`` changed. ``observe_only``: a ticket listed where it is not read (the unfiltered list
        shows every status): only a move of a ticket already seen is noted."""
        tid, updated_at, now_in = str(raw.get("id")), raw.get("updated_at"), list_of(raw)
        before = self.seen.get(tid)
        if before is None and observe_only:
            return False, None
        move = (before[1], now_in) if before is not None and before[1] != now_in else None
        emit = not observe_only and (before is None or before[0] != updated_at)
        if emit or move:
            kept_time = updated_at if emit or before is None else before[0]
            self.seen[tid] = (kept_time, now_in)
            self._unsaved.append((tid, kept_time, now_in))
        return emit, move

    def save(self) -> None:
        """Appends what the chunks since the last save merged; called once the engine has staged them."""
        if not self._unsaved or self.path is None:
            self._unsaved.clear()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("".join(json.dumps([t, u, i], default=str) + "\n" for t, u, i in self._unsaved))
            fh.flush()
            os.fsync(fh.fileno())
        self._unsaved.clear()
