"""The migration report: per canonical object, extracted / loaded / quarantined / skipped, the quarantine
with reasons, and the recorded decisions (map, pre-flight, sample or its waiver). JSON for scripts, markdown
for people; the shapes are stable (DESIGN.md, "Interfaces users script against")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import markdown
from .gates import reports_dir
from .runtime import reconcile
from .store import MigrationStore

if TYPE_CHECKING:
    from .factory import Pair


def build_report(store: MigrationStore, pair: Pair) -> dict[str, Any]:
    src, dst = pair.source.name, pair.destination.name
    objects = {}
    for canonical in pair.loadable():
        rec = reconcile(store, src, dst, canonical)
        objects[canonical] = {"extracted": rec.extracted, "loaded": rec.loaded, "quarantined": rec.quarantined,
                              "skipped": rec.skipped}
    entries = [e for e in store.quarantine_entries(src, dst) if e["object"] in objects]
    quarantine = []
    for e in entries:
        quarantine.append({"object": e["object"], "source_id": e["source_id"], "stage": e["stage"],
                           "kind": e["kind"], "rule": e["rule"], "reason": e["reason"], "fix": e["fix"]})
    decisions = {}
    for kind in ("mapping", "preflight", "sample"):
        a = store.latest_approval(src, dst, kind)
        decisions[kind] = None if a is None else {
            "decision": a["decision"], "by": a["by"], "at": a["created_at"].isoformat(), "note": a["note"],
            "fingerprint": a["fingerprint"]}
    return {"source": src, "destination": dst, "objects": objects,
            "quarantine": [q for q in quarantine if q["kind"] == "quarantined"],
            "skipped": [q for q in quarantine if q["kind"] == "skipped"],
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
    lines += ["", f"## Quarantine ({len(report['quarantine'])})", "",
              markdown.table(report["quarantine"], ["object", "source_id", "stage", "rule", "reason", "fix"], limit=200),
              "", f"## Skipped with reason ({len(report['skipped'])})", "",
              markdown.table(report["skipped"], ["object", "source_id", "rule", "reason"], limit=200), ""]
    return "\n".join(lines)


def write_report(store: MigrationStore, pair: Pair) -> tuple[dict[str, Any], Path]:
    report = build_report(store, pair)
    out = reports_dir(pair.name)
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    path = out / "report.md"
    path.write_text(report_markdown(report))
    return report, path
