"""P6: a real Trengo -> Salesforce (or Tidio) full job through the engine, against the emulators, at a scaled
Trengo limit. The figure is the job's wall time divided by the rate-limit floor: the minimal number of Trengo
requests (distinct successful API calls in the emulator's request log) divided by the limit; with
``--destination tidio --destination-rate N`` also Tidio's accepted requests divided by its (scaled) plan, and
the floor is the larger of the two.

The job runs exactly as ``helpdesk-migrate run --job full`` runs it (``migration_assets.execution.run_job``,
Dagster's multiprocess executor unless MIGRATION_EXECUTOR says otherwise), after a discover run and the
approvals a person would give. Discover runs in-process against an unthrottled emulator (it is not what is
measured); the full job then meets an emulator with the same workspace, token and port at the scaled limit.

    python benchmarks/end_to_end.py --size 600 --rate-limit 600
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from migration_assets.registry import emulator_for

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REAL_LIMIT = 120  # Trengo's requests per minute per token
DISCOVER_LIMIT = 60_000  # the discover run is preparation, not measured: let it go as fast as it can


def minimal_requests(log: list[dict[str, Any]]) -> int:
    """API calls the job could not have done without: each distinct successful GET once. Refusals (429),
    failures and repeats of the same call are waste the figure must show, so they are not in the floor.
    File downloads (/media) are not API calls and count against no budget."""
    return len({(r["method"], r["path"], r["query"]) for r in log
                if r["path"].startswith("/api/") and 200 <= r["status"] < 300})


def step_timeline(instance: Any, run_id: str) -> dict[str, Any]:
    """Where the job's time went, from Dagster's own event log: per step, when its worker process was asked
    for, when the step body started and when it ended (seconds from the run's start)."""
    steps: dict[str, dict[str, float]] = {}
    run_start = None
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type_value
        if kind in ("RUN_START", "PIPELINE_START"):
            run_start = entry.timestamp
        if not event.step_key:
            continue
        mark = {"STEP_WORKER_STARTING": "asked", "STEP_START": "start", "STEP_SUCCESS": "end",
                "STEP_FAILURE": "end", "STEP_SKIPPED": "end"}.get(kind)
        if mark:
            steps.setdefault(event.step_key, {}).setdefault(mark, entry.timestamp)
    if run_start is None or not steps:
        return {}
    startups = sorted(s["start"] - s["asked"] for s in steps.values() if "asked" in s and "start" in s)
    bodies = {k: s["end"] - s["start"] for k, s in steps.items() if "start" in s and "end" in s}
    return {
        "steps": len(steps),
        "worker_startup_median_s": round(startups[len(startups) // 2], 1) if startups else None,
        "worker_startup_total_s": round(sum(startups), 1),
        "step_bodies_total_s": round(sum(bodies.values()), 1),
        "longest_steps_s": {k: round(v, 1) for k, v in sorted(bodies.items(), key=lambda kv: -kv[1])[:6]},
        "steps_s": {k: {m: round(t - run_start, 1) for m, t in s.items()} for k, s in sorted(
            steps.items(), key=lambda kv: kv[1].get("asked", kv[1].get("start", 0)))},
    }


def measure(size: int = 600, rate_limit: int = 600, seed: int = 42, echo=print, *, destination: str = "salesforce",
            destination_rate: int | None = None) -> dict[str, Any]:
    """``destination_rate``: the destination's requests a minute during the full job (Tidio's plan, scaled), for a
    destination whose budget binds; its floor (its accepted requests / that rate) then counts beside the source's."""
    home = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    os.environ["MIGRATION_HOME"] = str(home / "migration")
    os.environ.pop("MIGRATION_STORE_URL", None)
    os.environ.pop("MIGRATION_RATE_LIMIT_URL", None)
    os.environ["MIGRATION_PAIRS"] = f"trengo:{destination}"  # step processes load only this pair's definitions
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(dagster_home)

    import dagster as dg

    from migration_assets import gates, planner
    from migration_assets.demo import demo_settings, start_pair_emulators
    from migration_assets.execution import run_job
    from migration_assets.factory import Pair
    from migration_assets.registry import default_registry
    from migration_assets.reporting import build_report
    from migration_assets.runtime import reconcile
    from migration_assets.store import MigrationStore, reports_dir

    registry = default_registry()
    pair = Pair(registry.source("trengo"), registry.destination(destination))
    src, dst, env = start_pair_emulators(pair, seed=seed, size=size, rate_limit=DISCOVER_LIMIT)
    os.environ.update({**env, **demo_settings(dst)})
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    output: list[str] = []
    executor = os.environ.get("MIGRATION_EXECUTOR", "")
    try:
        started = time.perf_counter()
        os.environ["MIGRATION_EXECUTOR"] = "in_process"
        run_job(pair, "discover", instance=instance, echo=output.append)
        os.environ["MIGRATION_EXECUTOR"] = executor
        store = MigrationStore()
        for kind in ("mapping", "preflight"):
            ok, message = gates.approve(store, pair.name, "trengo", destination, kind, by="benchmark")
            if not ok:
                raise RuntimeError(f"discover did not produce what the {kind} approval needs: {message}\n"
                                   + "\n".join(output))
        gates.approve(store, pair.name, "trengo", destination, "sample", by="benchmark",
                      waive_reason="benchmark: the full job is what is measured")
        echo(f"  P6: discover + approvals took {time.perf_counter() - started:.0f} s (not measured); full job "
             f"at {rate_limit}/min ...")

        # The same workspace, token and port, now at the scaled limit.
        token, port = src.token, src.port
        src.stop()
        src = emulator_for(pair.source).start(seed=seed, size=size, port=port, rate_limit=rate_limit, token=token)
        os.environ.update(src.env())
        if destination_rate:  # the destination's plan, scaled like the source's
            dst.set_rate_limit(destination_rate)
            os.environ[f"{destination.upper()}_RATE_LIMIT_PER_MINUTE"] = str(destination_rate)
        dst_log_start = len(dst.request_log()) if destination_rate else 0
        # The plan discovery would have made at this limit: its measured requests, the destination's estimate.
        scope = json.loads((reports_dir(pair.name) / "scope.json").read_text())
        plan = planner.plan_pair(store, pair, scope, os.environ)
        output.clear()
        started = time.time()
        code = run_job(pair, "full", instance=instance, echo=output.append)
        wall = time.time() - started
        log = src.request_log()
        dst_log = dst.request_log()[dst_log_start:] if destination_rate else []
        if os.environ.get("BENCH_DUMP_LOG"):  # for a person looking into where the budgets went
            Path(os.environ["BENCH_DUMP_LOG"]).write_text(json.dumps({"source": log, "destination": dst_log}))
        run_id = next((line.split()[1] for line in output if line.startswith("run ")), None)
        timeline = step_timeline(instance, run_id) if run_id else {}
        report = build_report(store, pair)
        unbalanced = {c: reconcile(store, "trengo", destination, c).as_dict() for c in pair.loadable()}
        unbalanced = {c: r for c, r in unbalanced.items() if r["unaccounted"]}
    finally:
        instance.dispose()
        src.stop()
        dst.stop()
        if executor:
            os.environ["MIGRATION_EXECUTOR"] = executor
        else:
            os.environ.pop("MIGRATION_EXECUTOR", None)

    api = [r for r in log if r["path"].startswith("/api/")]
    minimal = minimal_requests(log)
    per_second = rate_limit / 60
    source_floor = minimal / per_second
    accepted = [r for r in dst_log if not r["path"].startswith("/_emulator") and 200 <= r["status"] < 300]
    destination_floor = len(accepted) / (destination_rate / 60) if destination_rate else 0.0
    floor = max(source_floor, destination_floor)
    first, last = (min(r["time"] for r in api), max(r["time"] for r in api)) if api else (started, started)
    refused = sum(r["status"] == 429 for r in api)
    succeeded = any(line.startswith("run ") and line.rstrip().endswith("succeeded") for line in output)
    problems = [line.strip() for line in output if line.strip().startswith(("step ", "check "))]
    loaded = {k: v["loaded"] for k, v in report["objects"].items()}
    extracted = {k: v["extracted"] for k, v in report["objects"].items()}
    return {
        "value": round(wall / floor, 3) if floor else None,
        "goal": "<= 1.05",
        "pass": bool(floor) and wall / floor <= 1.05 and succeeded and not unbalanced,
        "how": (f"`helpdesk-migrate run --job full` (run_job, executor {executor or 'multiprocess'}) Trengo -> "
                f"{pair.destination.title} on the emulators, {size} tickets, Trengo limit {rate_limit}/min (scale "
                f"x{rate_limit / REAL_LIMIT:g} of 120/min): wall {wall:.0f} s / floor {floor:.0f} s "
                f"({minimal} distinct successful Trengo API calls in the emulator log / {per_second:g} per s"
                + (f"; {pair.destination.title}: {len(accepted)} accepted requests / {destination_rate}/min = "
                   f"{destination_floor:.0f} s, the floor is the larger" if destination_rate else "") + "). "
                f"Source calls spanned {last - first:.0f} s, the last {started + wall - last:.0f} s before the end; "
                f"{timeline.get('steps', '?')} step processes, median start {timeline.get('worker_startup_median_s')} s"
                f"; longest steps {timeline.get('longest_steps_s', {})}. The throughput plan said "
                f"{plan.seconds:.0f} s ({wall / plan.seconds:.2f} x: measured / planned)"),
        "planned_seconds": round(plan.seconds, 1),
        "measured_over_planned": round(wall / plan.seconds, 3),
        "planned_bottleneck": plan.bottleneck,
        "scale": rate_limit / REAL_LIMIT,
        "rate_limit_per_minute": rate_limit,
        "tickets": size,
        "wall_seconds": round(wall, 1),
        "floor_seconds": round(floor, 1),
        "source_floor_seconds": round(source_floor, 1),
        "destination_floor_seconds": round(destination_floor, 1) if destination_rate else None,
        "destination_rate_per_minute": destination_rate,
        "minimal_requests": minimal,
        "api_requests": len(api),
        "refused_429": refused,
        "before_first_request_s": round(first - started, 1),
        "extraction_span_s": round(last - first, 1),
        "after_last_request_s": round(started + wall - last, 1),
        "job_succeeded": succeeded,
        "exit_code": code,  # 1 also when records were quarantined, which the seeded dirt makes certain
        "problems": problems,
        "timeline": timeline,
        "unbalanced": unbalanced,
        "extracted": extracted,
        "loaded": loaded,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=600, help="tickets in the Trengo workspace")
    parser.add_argument("--rate-limit", type=int, default=600, help="Trengo requests per minute (real: 120)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--destination", default="salesforce", help="salesforce or tidio")
    parser.add_argument("--destination-rate", type=int, default=None,
                        help="the destination's requests per minute in the full job (Tidio Plus: 60)")
    args = parser.parse_args()
    print(json.dumps({"P6": measure(args.size, args.rate_limit, args.seed, destination=args.destination,
                                    destination_rate=args.destination_rate)}, indent=2))
    return 0


if __name__ == "__main__":  # the multiprocess executor re-imports the main module in its step processes
    sys.exit(main())
