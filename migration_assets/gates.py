"""Human gates before records move: the destination's pre-flight acknowledgement, the confirmed field map
and the signed-off sample spot-check. Each is a recorded decision in the store, tied to a fingerprint of what
was reviewed, so a changed report or a drifted schema asks for a new decision. The verdicts are here, below the
assets that show them, so loads_allowed reads them without importing those assets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from .audit import APPROVAL_KIND as SHAPE_AUDIT
from .audit import shape_fingerprint, source_verdict
from .hookspecs import Preflight, SourcePlugin
from .map_rules import map_problems, read_schema
from .mapping import map_fingerprint, map_path, read_map
from .pairs import go_ahead_key
from .store import MigrationStore, home_hint, reports_dir

if TYPE_CHECKING:
    from .pairs import Pair


PAIR_TAG, JOB_TAG = "helpdesk_migrate/pair", "helpdesk_migrate/job"


def gate_keys(pair: Pair) -> list[dg.AssetKey]:
    """What a load waits for: the one go-ahead, which itself follows the field map and the pre-flight."""
    return [go_ahead_key(pair)]


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
    if kind == "mapping" and fp is not None:
        refused = map_problems(read_map(pair_name), read_schema(map_path(pair_name)))
        if refused:
            return False, (f"the field map cannot be confirmed: {len(refused)} entr"
                           f"{'y' if len(refused) == 1 else 'ies'} the destination would refuse on every record: "
                           + "; ".join(refused))
    label = {"mapping": "field map", "preflight": "pre-flight report", "sample": "sample spot-check",
             SHAPE_AUDIT: "shape audit"}[kind]
    if waive_reason:
        store.record_approval(source, destination, kind, decision="waived", fingerprint=fp, note=waive_reason, by=by)
        return True, f"{label} waived: {waive_reason}"
    if fp is None:
        return False, (f"there is no {label} for {source} -> {destination} yet: run the job that produces it first "
                       f"({home_hint()}helpdesk-migrate run --source {source} --destination {destination} --job "
                       f"{'sample' if kind == 'sample' else 'discover'})")
    store.record_approval(source, destination, kind, decision="approved", fingerprint=fp, by=by)
    return True, f"{label} approved (fingerprint {fp[:12]})"


def mapping_verdict(store: MigrationStore, pair: Pair) -> tuple[bool, str]:
    fp = map_fingerprint(pair.name)
    if fp is None:
        return False, "no field map has been proposed yet"
    approval = store.latest_approval(pair.source.name, pair.destination.name, "mapping")
    if approval and approval["fingerprint"] == fp:
        return True, f"field map confirmed by {approval['by'] or 'someone'} on {approval['created_at']:%Y-%m-%d %H:%M}"
    if approval:
        return False, ("the field map changed since it was confirmed (an edit or schema drift): review "
                       f"{map_path(pair.name)} and confirm again")
    return False, (f"the field map awaits confirmation: review {map_path(pair.name)}, then run `{home_hint()}helpdesk-migrate "
                   f"mapping confirm --source {pair.source.name} --destination {pair.destination.name}` or "
                   f"click Materialize on {pair.destination.name}/from_{pair.source.name}/confirm_field_map in the UI")


def sample_verdict(store: MigrationStore, pair: Pair) -> tuple[bool, str]:
    approval = store.latest_approval(pair.source.name, pair.destination.name, "sample")
    if approval and approval["decision"] == "waived":
        return True, f"sample spot-check WAIVED by {approval['by'] or 'someone'}: {approval['note']}"
    fp = current_fingerprint(pair.name, "sample")
    if approval and fp and approval["fingerprint"] == fp:
        return True, f"sample spot-check signed off by {approval['by'] or 'someone'}"
    if fp is None:
        return False, (f"run the sample job first ({home_hint()}helpdesk-migrate run --source {pair.source.name} --destination "
                       f"{pair.destination.name} --job sample), review the spot-check, then sign it off, or waive it "
                       f"with `{home_hint()}helpdesk-migrate approve sample --waive REASON`")
    return False, ("the sample spot-check awaits sign-off: review "
                   f"{reports_dir(pair.name) / 'sample.md'} and run `{home_hint()}helpdesk-migrate approve sample --source "
                   f"{pair.source.name} --destination {pair.destination.name}` (or --waive REASON), or click "
                   f"Materialize on {pair.destination.name}/from_{pair.source.name}/sign_off_sample in the UI")


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
                   f"{reports_dir(pair.name) / 'preflight.md'} and run `{home_hint()}helpdesk-migrate approve preflight "
                   f"--source {src} --destination {dst}`, or click Materialize on "
                   f"{pair.destination.name}/from_{pair.source.name}/acknowledge_preflight in the UI")


def _map_and_preflight_problems(store: MigrationStore, pair: Pair) -> list[str]:
    """What the sample and every load wait for: the confirmed field map and the acknowledged pre-flight."""
    problems = []
    ok, message = mapping_verdict(store, pair)
    if not ok:
        problems.append(message)
    report = read_preflight_report(pair)
    if report is None:
        problems.append(f"no pre-flight report yet: run `{home_hint()}helpdesk-migrate run --source {pair.source.name} "
                        f"--destination {pair.destination.name} --job discover` first")
    else:
        verdict = evaluate_preflight(store, pair, report)
        if not verdict.passed:
            problems.append(verdict.message)
    return problems


def loads_allowed(store: MigrationStore, pair: Pair) -> Verdict:
    """The gates again, from what is recorded, for a load that runs without them in its run (a backfill
    of a load asset alone, a re-executed step): blocking checks only stop assets of their own run."""
    problems = _map_and_preflight_problems(store, pair)
    ok, message = sample_verdict(store, pair)
    if not ok:
        problems.append(message)
    ok, audit_problems = source_verdict(store, pair.source)
    if not ok:
        problems.append(f"the source audit of {pair.source.name} blocks the loads: " + "; ".join(audit_problems))
    return Verdict(not problems, "; ".join(problems) or "every gate passed", problems)


def waiting_for(store: MigrationStore, pair: Pair, job: str) -> list[str]:
    """The decisions a person has still to make before ``job`` (full, delta or sample) can move records, each
    with what to do; empty when it may go on. A job checks this before it extracts anything: a run that could
    only stop at a gate spends none of the source's budget."""
    if job in ("full", "delta"):
        return loads_allowed(store, pair).problems
    if job == "sample":
        return _map_and_preflight_problems(store, pair)
    return []


def pair_of_run(tags: dict[str, str], pairs: dict[str, Pair]) -> tuple[Pair | None, str]:
    """(the pair whose job this run is, the job's kind) from the run's tags; (None, "") for a run that is not a
    pair's job (a plain materialization from the UI, a backfill)."""
    return pairs.get(tags.get(PAIR_TAG, "")), tags.get(JOB_TAG, "")
