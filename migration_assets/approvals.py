"""A person's decisions, one click each in the UI, and the gate checks that read them.

Each decision (confirm the field map, acknowledge the pre-flight, sign off the sample) is an asset of the pair
that records it for what is current, with who decided from the run's tags, and refuses when there is nothing to
decide on yet (a plain materialization never records nothing and goes green). Each gate check reads the
recorded decisions and is its own step, so a job per decision (``<pair>_confirm_field_map``, ...) records the
decision and re-evaluates its gate at once, instead of leaving it red until the next run.
"""

import getpass
from collections.abc import Mapping
from dataclasses import dataclass

import dagster as dg

from .asset_metadata import row_count, stage_metadata
from .gates import approve, evaluate_preflight, mapping_verdict, read_preflight_report, sample_verdict
from .jobs import job_name
from .mapping_review import remember_confirmed
from .pairs import Pair, field_map_key, go_ahead_key, pair_key, preflight_key
from .resources import MigrationStoreResource
from .store import MigrationStore

# Who launched the run, in the tags Dagster sets: dagster/user where the UI has signed-in users, user where a
# launcher adds it. Without either (open-source UI, no sign-in) the code server's account is recorded, marked.
USER_TAGS = ("dagster/user", "user")


@dataclass(frozen=True)
class Decision:
    kind: str  # what gates.approve records: mapping, preflight or sample
    asset: str  # the decision's asset (and job) name
    check: str  # the gate check that reads it
    what: str


DECISIONS = (
    Decision("mapping", "confirm_field_map", "confirmed", "Confirm the field map as it is now"),
    Decision("preflight", "acknowledge_preflight", "acknowledged", "Acknowledge the pre-flight report as it is now"),
    Decision("sample", "sign_off_sample", "sample_signed_off", "Sign off the sample spot-check as it is now"),
)


def decider(tags: dict[str, str]) -> str:
    for tag in USER_TAGS:
        if tags.get(tag):
            return tags[tag]
    try:
        account = getpass.getuser()
    except Exception:
        account = "unknown"
    return f"{account} (UI without sign-in: the code server's account)"


def _gate_key(pair: Pair, decision: Decision) -> dg.AssetKey:
    return {"mapping": field_map_key, "preflight": preflight_key, "sample": go_ahead_key}[decision.kind](pair)


def _decision_asset(pair: Pair, decision: Decision) -> dg.AssetsDefinition:
    src, dst = pair.source.name, pair.destination.name

    @dg.asset(key=pair_key(pair, decision.asset), group_name=f"{pair.name}_gates", kinds={"approval"},
              tags={"helpdesk_migrate/stage": "decision"}, metadata=stage_metadata("decision"),
              description=f"{decision.what}: one click (Materialize, or the job {job_name(pair, decision.asset)}, "
                          f"which also updates the gate check {decision.check} at once). Records who decided, "
                          "from the run's tags, and the fingerprint of what was reviewed; refuses when there is "
                          "nothing to decide on yet.")
    def _decide(context: dg.AssetExecutionContext, store: MigrationStoreResource) -> dg.MaterializeResult:
        st = store.get()
        who = decider(dict(context.run.tags))
        ok, message = approve(st, pair.name, src, dst, decision.kind, by=who)
        if not ok:
            raise dg.Failure(f"nothing recorded: {message}")
        if decision.kind == "mapping":
            try:
                remember_confirmed(st, pair, who)  # reused for the next workspace with the same fields
            except ValueError as exc:
                context.log.warning(f"the confirmed choices were not remembered: {exc}")
        return dg.MaterializeResult(metadata={"recorded": message, "by": who, **row_count(1)})

    return _decide


def _verdict(st: MigrationStore, pair: Pair, kind: str) -> tuple[bool, str, dg.AssetCheckSeverity, list[str]]:
    if kind == "mapping":
        ok, message = mapping_verdict(st, pair)
        return ok, message, dg.AssetCheckSeverity.WARN, []
    if kind == "sample":
        ok, message = sample_verdict(st, pair)
        return ok, message, dg.AssetCheckSeverity.WARN, []
    verdict = evaluate_preflight(st, pair, read_preflight_report(pair))
    # Awaiting an acknowledgement is a warning (the go-ahead holds the loads); a problem that must be fixed in
    # the destination first is an error.
    severity = dg.AssetCheckSeverity.ERROR if verdict.problems else dg.AssetCheckSeverity.WARN
    return verdict.passed, verdict.message, severity, verdict.problems


_CHECK_TEXT = {
    "mapping": "No record moves before a person confirms the current field map, and the schema it was confirmed "
               "against has not drifted.",
    "preflight": "Loads wait until the pre-flight report (rules, flows, triggers, duplicate rules, missing "
                 "permissions and schema) has been acknowledged.",
    "sample": "The full and delta runs wait for the sample spot-check's sign-off (or an explicit, reported waiver).",
}


def _gate_check(pair: Pair, decision: Decision) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=_gate_key(pair, decision), name=decision.check, blocking=False,
                    additional_deps=[pair_key(pair, decision.asset)],
                    description=f"{_CHECK_TEXT[decision.kind]} Awaiting a person is a warning, not a failure: the "
                                f"go-ahead holds the loads. Pass it with {pair_key(pair, decision.asset).to_user_string()} "
                                f"(one click) or the command line.")
    def _check(store: MigrationStoreResource) -> dg.AssetCheckResult:
        passed, message, severity, problems = _verdict(store.get(), pair, decision.kind)
        return dg.AssetCheckResult(passed=passed, description=message, severity=severity,
                                   metadata={"blocking_problems": dg.MetadataValue.json(problems)})

    return _check


def build_decisions(pair: Pair, tags: Mapping[str, str] | None = None) -> \
        tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition], list]:
    """The pair's decision assets, its gate checks and a job per decision (record, then re-check the gate);
    ``tags`` go on every job (the migration component's own)."""
    assets = [_decision_asset(pair, d) for d in DECISIONS]
    checks = [_gate_check(pair, d) for d in DECISIONS]
    jobs = [dg.define_asset_job(
        job_name(pair, d.asset),
        selection=dg.AssetSelection.assets(pair_key(pair, d.asset))
        | dg.AssetSelection.checks(dg.AssetCheckKey(_gate_key(pair, d), d.check)),
        description=f"{d.what}, then update the gate check {d.check} at once.",
        tags={**(tags or {}), "helpdesk_migrate/pair": pair.name, "helpdesk_migrate/job": d.asset},
    ) for d in DECISIONS]
    return assets, checks, jobs
