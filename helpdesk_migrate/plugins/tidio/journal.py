"""Replies about to be posted, written down before they are sent: what lets history go in without reads.

A reply cannot be looked up cheaply in Tidio (only by reading its ticket), so the plugin needs to know, without
asking Tidio, whether a message may already be there. The migration store knows what was recorded; what it
cannot know is a reply Tidio saved while the run died before the engine recorded it (a crash, a lost answer).
Those are exactly the replies of a chunk that was journaled and never confirmed:

- before a chunk's replies are posted, one file lists them (ticket, message, markers), fsynced;
- the next load (the engine records a chunk's outcomes before it hands over the next one) or the next run
  finds the file, asks the store which of its messages are recorded, and deletes the file when all are;
- a message still unrecorded makes its ticket a *suspect*: that ticket is read once (its notes, by marker)
  before anything is posted to it. Every other reply is posted without a read.

So a clean run reads no ticket, and a crashed one reads only the tickets the crash touched.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from helpdesk_migrate.sdk import LoadContext

Marker = tuple[Any, ...]


class ReplyJournal:
    def __init__(self, folder: Path):
        self.folder = folder

    def suspects(self, context: LoadContext) -> dict[int, set[Marker]]:
        """{ticket id: markers of replies that may be in Tidio without being recorded}; confirmed files go."""
        out: dict[int, set[Marker]] = {}
        if not self.folder.is_dir():
            return out
        for path in sorted(self.folder.glob("*.json")):
            try:
                entries = json.loads(path.read_text())
            except (OSError, ValueError):  # a file cut short by the crash itself: its replies were not sent yet
                path.unlink(missing_ok=True)
                continue
            previous = context.previous("messages", [e["message"] for e in entries])
            unrecorded = [e for e in entries if not (previous.get(e["message"])
                                                     and previous[e["message"]].destination_id)]
            if not unrecorded:
                path.unlink(missing_ok=True)
                continue
            for e in unrecorded:
                out.setdefault(int(e["ticket"]), set()).update(tuple(m) for m in e["markers"])
        return out

    def write(self, entries: Iterable[dict[str, Any]]) -> Path | None:
        """Durably note the replies about to be posted: ``{ticket, message, markers}`` each."""
        entries = list(entries)
        if not entries:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{uuid.uuid4().hex}.json"
        tmp = path.with_suffix(".part")
        with open(tmp, "w") as fh:
            json.dump(entries, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path
