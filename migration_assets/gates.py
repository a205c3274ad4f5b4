"""Human gates before records move: the destination's pre-flight acknowledgement and the confirmed field
map. Both are recorded decisions in the store, tied to a fingerprint of what was reviewed, so a changed
report or a drifted schema asks for a new decision."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from .audit import APPROVAL_KIND as SHAPE_AUDIT
from .audit import shape_fingerprint, source_verdict
from .hookspecs import Preflight, SourcePlugin
from .store import MigrationStore, default_home

if TYPE_CHECKING:
    from .factory import Pair


def reports_dir(pair_name: str) -> Path:
    path = default_home() / "reports" / pair_name
    path.mkdir(parents=True, exist_ok=True)
    return path


def gate_keys(pair: Pair) -> list[dg.AssetKey]:
    from .factory import preflight_key
    from .lifecycle import go_ahead_key
    from .mapping_assets import field_map_key

    return [preflight_key(pair), field_map_key(pair), go_ahead_key(pair)]


def write_preflight_report(pair: Pair, report: Preflight | None) -> Path:
    path = reports_dir(pair.name) / "preflight.md"
    body = report.markdown if report else f"# Pre-flight: {pair.destination.title}\n\nNothing to review.\n"
    path.write_text(body)
    (path.parent / "preflight.json").write_text(json.dumps({
        "fingerprint": report.fingerprint if report else None,
        "requires_acknowledgement": bool(report and report.requires_acknowledgement),
        "blocking_problems": list(report.blocking_problems) if report else [],
        "items": report.items if report else [],
    }, indent=2, default=str))
    return path


def read_preflight_report(pair: Pair) -> Preflight | None:
    """The last pre-flight report write_preflight_report wrote (its findings, not its markdown), or None."""
    path = reports_dir(pair.name) / "preflight.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return Preflight(markdown="", items=data.get("items", []), fingerprint=data.get("fingerprint") or "",
                     requires_acknowledgement=bool(data.get("requires_acknowledgement")),
                     blocking_problems=list(data.get("blocking_problems", [])))


def current_fingerprint(pair_name: str, kind: str) -> str | None:
    """The fingerprint of what a person would approve now: the pre-flight report, the field map or the
    sample spot-check, as last written by its asset."""
    if kind == "mapping":
        from .mapping import map_fingerprint

        return map_fingerprint(pair_name)
    path = reports_dir(pair_name) / f"{'preflight' if kind == 'preflight' else 'sample'}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("fingerprint")


def approve(store: MigrationStore, pair_name: str, source: str, destination: str, kind: str, *, by: str = "",
            waive_reason: str | None = None, source_plugin: SourcePlugin | None = None) -> tuple[bool, str]:
    """Record a person's go-ahead for what is current. Returns (recorded, message). The shape audit is the
    source's (``source_plugin``), measured by its extracts; the other kinds are the pair's reports."""
    if kind == SHAPE_AUDIT:
        if source_plugin is None:
            raise ValueError("approving the shape audit needs the source plugin")
        fp = shape_fingerprint(store, source_plugin)
    else:
        fp = current_fingerprint(pair_name, kind)
    label = {"mapping": "field map", "preflight": "pre-flight report", "sample": "sample spot-check",
             SHAPE_AUDIT: "shape audit"}[kind]
    if waive_reason:
        store.record_approval(source, destination, kind, decision="waived", fingerprint=fp, note=waive_reason, by=by)
        return True, f"{label} waived: {waive_reason}"
    if fp is None:
        return False, (f"there is no {label} for {source} -> {destination} yet: run the job that produces it first "
                       f"(helpdesk-migrate run --source {source} --destination {destination} --job "
                       f"{'sample' if kind == 'sample' else 'discover'})")
    store.record_approval(source, destination, kind, decision="approved", fingerprint=fp, by=by)
    return True, f"{label} approved (fingerprint {fp[:12]})"


@dataclass
class Verdict:
    passed: bool
    message: str
    problems: list[str] = field(default_factory=list)


def evaluate_preflight(store: MigrationStore, pair: Pair, report: Preflight | None) -> Verdict:
    src, dst = pair.source.name, pair.destination.name
    if report is None:
        return Verdict(True, "nothing to acknowledge")
    if report.blocking_problems:
        return Verdict(False, "pre-flight found problems that must be fixed in the destination first: "
                       + "; ".join(report.blocking_problems), list(report.blocking_problems))
    if not report.requires_acknowledgement:
        return Verdict(True, "nothing in the pre-flight needs acknowledging")
    approval = store.latest_approval(src, dst, "preflight")
    if approval and approval["fingerprint"] == report.fingerprint:
        how = "waived" if approval["decision"] == "waived" else "acknowledged"
        return Verdict(True, f"pre-flight {how} by {approval['by'] or 'someone'} on {approval['created_at']:%Y-%m-%d %H:%M}")
    stale = " (an earlier report was acknowledged, but the findings changed since)" if approval else ""
    return Verdict(False, f"the pre-flight report{stale} awaits acknowledgement: read "
                   f"{reports_dir(pair.name) / 'preflight.md'} and run `helpdesk-migrate approve preflight "
                   f"--source {src} --destination {dst}`, or materialize the preflight acknowledgement in the UI")


def loads_allowed(store: MigrationStore, pair: Pair) -> Verdict:
    """The gates again, from what is recorded, for a load that runs without them in its run (a backfill
    of a load asset alone, a re-executed step): blocking checks only stop assets of their own run."""
    from .lifecycle import sample_verdict
    from .mapping_assets import mapping_verdict

    problems = []
    ok, message = mapping_verdict(store, pair)
    if not ok:
        problems.append(message)
    report = read_preflight_report(pair)
    if report is None:
        problems.append(f"no pre-flight report yet: run `helpdesk-migrate run --source {pair.source.name} "
                        f"--destination {pair.destination.name} --job discover` first")
    else:
        verdict = evaluate_preflight(store, pair, report)
        if not verdict.passed:
            problems.append(verdict.message)
    ok, message = sample_verdict(store, pair)
    if not ok:
        problems.append(message)
    ok, audit_problems = source_verdict(store, pair.source)
    if not ok:
        problems.append(f"the source audit of {pair.source.name} blocks the loads: " + "; ".join(audit_problems))
    return Verdict(not problems, "; ".join(problems) or "every gate passed", problems)
