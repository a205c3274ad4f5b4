"""Rollback: undo what a run (or the whole migration) put into the destination, in reverse dependency
order. Created records are deleted, updated ones get their before-image back, linked ones are left alone;
the id map is marked so a later run creates them again if wanted."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import markdown
from .gates import reports_dir
from .runtime import EngineLoadContext, connect_destination
from .store import MigrationStore

if TYPE_CHECKING:
    from .pairs import Pair

log = logging.getLogger("helpdesk_migrate")


@dataclass
class RollbackReport:
    path: Path
    markdown: str
    undone: int = 0
    not_undone: int = 0
    per_object: dict[str, dict[str, int]] = field(default_factory=dict)


def rollback_pair(store: MigrationStore, pair: Pair, *, run_id: str | None = None, logger: Any = log) -> RollbackReport:
    src, dst = pair.source.name, pair.destination.name
    conn = connect_destination(pair.destination, source=pair.source.name)
    ctx = EngineLoadContext(store, src, dst, run_id or "rollback", logger)
    per_object: dict[str, dict[str, int]] = {}
    leftovers: list[dict[str, Any]] = []
    try:
        for canonical in reversed(pair.loadable()):
            entries = store.id_map_entries(src, dst, canonical, run_id=run_id)
            linked = [e for e in entries if e["action"] == "linked" and not e["before_image"]]
            todo = [e for e in entries if e not in linked]
            undone = conn.rollback(canonical, todo, context=ctx) if todo else []
            undone_set = {str(x) for x in undone}
            # Linked records were never written: nothing to undo, but the map forgets them too.
            store.mark_rolled_back(src, dst, canonical, sorted(undone_set | {e["source_id"] for e in linked}))
            failed = [e for e in todo if e["source_id"] not in undone_set]
            leftovers += [{"object": canonical, "source_id": e["source_id"], "destination_id": e["destination_id"],
                           "action": e["action"]} for e in failed]
            per_object[canonical] = {"undone": len(undone_set), "left_untouched_linked": len(linked),
                                     "not_undone": len(failed)}
    finally:
        conn.close()
    rows = [{"object": k, **v} for k, v in per_object.items()]
    scope = f"run {run_id}" if run_id else "the whole migration"
    md = (f"# Rollback of {scope}: {pair.source.title} -> {pair.destination.title}\n\n"
          + markdown.table(rows) + "\n\n"
          + ("## Not undone\n\n" + markdown.table(leftovers) if leftovers else "Everything was undone.") + "\n")
    path = reports_dir(pair.name) / f"rollback-{run_id or 'all'}.md"
    path.write_text(md)
    path.with_suffix(".json").write_text(json.dumps({"scope": scope, "objects": per_object, "not_undone": leftovers},
                                                    indent=2))
    return RollbackReport(path, md, sum(v["undone"] for v in per_object.values()), len(leftovers), per_object)
