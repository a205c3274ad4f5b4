"""The migration report: per canonical object, extracted / loaded / quarantined / skipped / changed, the
quarantine with reasons, the records loaded with changes (what was lossy, and why), and the recorded decisions
(map, pre-flight, sample or its waiver). JSON for scripts, markdown for people; the shapes are stable
(DESIGN.md, "Interfaces users script against"), keys are only ever added."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import markdown
from .gates import reports_dir
from .hookspecs import EVERY_RECORD
from .runtime import reconcile
from .store import MigrationStore

if TYPE_CHECKING:
    from .pairs import Pair

MAX_CHANGE_ROWS = 2000
DETAIL_CELL = 200  # characters of the changes table's detail cell (markdown.table's limit for it)
MAX_ORIGINAL = 60  # characters of an original value shown in that cell; report.json has it whole
EVERY = "(every record)"  # how a change made to every record of an object shows in the report


def build_report(store: MigrationStore, pair: Pair) -> dict[str, Any]:
    src, dst = pair.source.name, pair.destination.name
    objects = {}
    for canonical in pair.loadable():
        rec = reconcile(store, src, dst, canonical)
        # quarantined = own_fault + collateral: a record refused for its own data, or only because another
        # record (its parent, its contact) failed; collateral is what degrading should bring to zero.
        objects[canonical] = {"extracted": rec.extracted, "loaded": rec.loaded, "quarantined": rec.quarantined,
                              "own_fault": rec.quarantined - rec.collateral, "collateral": rec.collateral,
                              "skipped": rec.skipped}
    changed = [{**c, "source_id": EVERY if c["source_id"] == EVERY_RECORD else c["source_id"]}
               for c in store.change_entries(src, dst) if c["object"] in objects]
    changed += [{"object": r["object"], "source_id": r["source_id"], "stage": "load", "rule": "merged",
                 "detail": f"loaded into the same {r['destination_object'] or 'record'} {r['destination_id']} as "
                           f"{', '.join(r['with'][:5])}{' …' if len(r['with']) > 5 else ''} (matched as one)",
                 "field": None, "original": None, "kept_in": None, "pending": False, "waits_for": None}
                for r in store.merged_records(src, dst) if r["object"] in objects]
    changed.sort(key=lambda c: (c["object"], c["source_id"] != EVERY, c["source_id"], c["rule"]))
    own: dict[str, set[str]] = {}  # records with a change of their own (not the every-record conversions)
    for c in changed:
        if c["source_id"] != EVERY:
            own.setdefault(c["object"], set()).add(c["source_id"])
    for name, row in objects.items():
        row["changed"] = len(own.get(name, ()))
    entries = [e for e in store.quarantine_entries(src, dst) if e["object"] in objects]
    quarantine = []
    for e in entries:
        quarantine.append({"object": e["object"], "source_id": e["source_id"], "stage": e["stage"],
                           "kind": e["kind"], "rule": e["rule"], "reason": e["reason"], "fix": e["fix"],
                           "caused_by": e["caused_by"]})
    decisions = {}
    for kind in ("mapping", "preflight", "sample", "shape-audit"):
        a = store.latest_approval(src, dst, kind)
        if a is None and kind == "shape-audit":
            continue  # asked for only when a declared payload key never appeared: listed once decided
        decisions[kind] = None if a is None else {
            "decision": a["decision"], "by": a["by"], "at": a["created_at"].isoformat(), "note": a["note"],
            "fingerprint": a["fingerprint"]}
    return {"source": src, "destination": dst, "objects": objects,
            "quarantine": [q for q in quarantine if q["kind"] == "quarantined"],
            "skipped": [q for q in quarantine if q["kind"] == "skipped"],
            "changed": changed,
            "decisions": decisions}


def has_problems(report: dict[str, Any]) -> bool:
    return any(v["quarantined"] for v in report["objects"].values())


def report_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Migration report: {report['source']} -> {report['destination']}", "",
             "## Reconciliation", "",
             markdown.table([{"object": k, **v} for k, v in report["objects"].items()]), "", "## Decisions", ""]
    for kind, d in report["decisions"].items():
        if d is None:
            lines.append(f"- {kind}: not recorded")
        elif d["decision"] == "waived":
            lines.append(f"- {kind}: **WAIVED** by {markdown.text(d['by'])} at {d['at']}: {markdown.text(d['note'])}")
        else:
            lines.append(f"- {kind}: approved by {markdown.text(d['by'])} at {d['at']}")
    collateral = sum(1 for q in report["quarantine"] if q.get("caused_by"))
    # One table for every quarantined record (scripts read its first six columns); caused_by names the record a
    # collateral one follows: fix that one and this one loads with it.
    lines += ["", f"## Quarantine ({len(report['quarantine'])})", "",
              f"{len(report['quarantine']) - collateral} for their own data, {collateral} collateral (quarantined "
              "only because the record in caused_by failed).", "",
              markdown.table(report["quarantine"], ["object", "source_id", "stage", "rule", "reason", "fix",
                                                    "caused_by"], limit=200),
              "", f"## Skipped with reason ({len(report['skipped'])})", "",
              markdown.table(report["skipped"], ["object", "source_id", "rule", "reason"], limit=200), ""]
    lines += _changes_markdown(report["changed"])
    return "\n".join(lines)


def _changes_markdown(changed: list[dict[str, Any]]) -> list[str]:
    """Loaded, but not as-is: a summary per object and rule, then every record (up to a cap; report.json has
    them all)."""
    summary: dict[tuple[str, str], dict[str, Any]] = {}
    for c in changed:
        row = summary.setdefault((c["object"], c["rule"]), {"object": c["object"], "rule": c["rule"], "records": 0,
                                                             "example": c["detail"]})
        if c["source_id"] == EVERY or row["records"] == "every record":  # a rule applied to all says so
            row["records"] = "every record"
        else:
            row["records"] += 1
    shown = [{**c, "detail": change_detail(c)} for c in changed[:MAX_CHANGE_ROWS]]
    more = (f"\n\n{len(changed) - len(shown)} more in report.json (`helpdesk-migrate report --json`)."
            if len(changed) > len(shown) else "")
    return [f"## Loaded with changes ({len(changed)})", "",
            "Records that loaded, but not exactly as the source held them: what was changed and why.", "",
            markdown.table(list(summary.values()), ["object", "rule", "records", "example"], limit=200), "",
            markdown.table(shown, ["object", "source_id", "stage", "rule", "detail"], limit=DETAIL_CELL) + more, ""]


def change_detail(change: dict[str, Any], limit: int = DETAIL_CELL) -> str:
    """The detail cell of a change: what happened, then (degrade, don't discard) the value as the source held it
    and where a person finds it, kept whole at the end of the cell (the detail gives way when the cell is full);
    a pending change says the next run completes it. markdown.table escapes the cell."""
    detail = change["detail"]
    if change.get("pending") and change.get("waits_for"):
        detail = f"pending until {change['waits_for']} loads, then the next run completes it: {detail}"
    elif change.get("pending"):
        detail = f"pending, the next run completes it: {detail}"
    tail = ""
    if change.get("original") is not None:
        shown = json.dumps(change["original"], ensure_ascii=False, default=str)
        tail += f"; original {shown if len(shown) <= MAX_ORIGINAL else shown[:MAX_ORIGINAL - 1] + '…'}"
    if change.get("kept_in"):
        tail += f"; kept in {change['kept_in']}"
    room = max(20, limit - len(tail))
    return (detail if len(detail) <= room else detail[:room - 1] + "…") + tail


def write_report(store: MigrationStore, pair: Pair) -> tuple[dict[str, Any], Path]:
    report = build_report(store, pair)
    out = reports_dir(pair.name)
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    path = out / "report.md"
    path.write_text(report_markdown(report))
    return report, path
