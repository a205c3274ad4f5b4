"""Benchmark: a Zendesk extraction against the emulator at a plan's budgets (not a test).

Runs the emulator in its own process, extracts every object the way the engine does, and prints per object the
requests it cost (from the emulator's request log) and how long it took, then:

- requests per ticket: export pages plus comment pages, over every ticket (goal: about 1, the comment page;
  the export adds one request per 1,000 tickets);
- budget utilisation of the comments crawl: its requests a second over the account's budget (goal >= 0.9), and
  of the exports: export requests a minute over their own budget;
- the time a full extraction of 10,000 and 100,000 tickets takes on each plan, from the measured requests per
  ticket (the README's throughput table).

``--window-seconds`` shortens the rate-limit window for a rehearsal (the budgets scale with it, the ratios hold).

    python benchmarks/zendesk_extract.py --size 500 --plan enterprise --window-seconds 6
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpdesk_migrate.plugins.zendesk.settings import PLAN_BUDGETS, ZendeskConfig  # noqa: E402
from helpdesk_migrate.plugins.zendesk.source import OBJECTS, ZendeskConnection, ZendeskSource  # noqa: E402
from migration_assets.canonical import dependency_order  # noqa: E402
from migration_assets.runtime import extract_object  # noqa: E402
from migration_assets.store import MigrationStore  # noqa: E402


def start_emulator(args) -> tuple[subprocess.Popen, dict[str, str]]:
    cmd = [sys.executable, "-m", "helpdesk_migrate.plugins.zendesk.emulator.server", "--port", "0", "--seed",
           str(args.seed), "--size", str(args.size), "--plan", args.plan, "--window-seconds", str(args.window_seconds),
           "--latency-ms", str(args.latency_ms)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    env = {}
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("the emulator stopped before it was ready")
        if line.startswith("#"):
            return proc, env
        key, _, value = line.strip().partition("=")
        env[key] = value


def kind(path: str) -> str:
    if path.startswith("/api/v2/incremental/"):
        return "export"
    if path.endswith("/comments.json"):
        return "comments"
    if path.startswith("/attachments/"):
        return "files"
    return "other"


def hours(requests_needed: float, per_minute: float) -> str:
    minutes = requests_needed / per_minute
    return f"{minutes / 60:.1f} h" if minutes >= 90 else f"{minutes:.0f} min"


def measure(*, size: int = 300, plan: str = "enterprise", window_seconds: float = 6.0, latency_ms: float = 20.0,
            seed: int = 42, echo=print) -> dict[str, dict]:
    """Extract every object; the figures Z1 (requests per ticket) and Z2 (the comments crawl's share of the
    account's budget), with the per-plan time table in Z1's ``table``."""
    args = argparse.Namespace(size=size, plan=plan, window_seconds=window_seconds, latency_ms=latency_ms, seed=seed)
    proc, env = start_emulator(args)
    home = tempfile.mkdtemp(prefix="zendesk-bench-")
    previous_home = os.environ.get("MIGRATION_HOME")
    os.environ["MIGRATION_HOME"] = home
    try:
        store = MigrationStore(f"sqlite:///{home}/store.sqlite")
        source = ZendeskSource()
        config = ZendeskConfig.from_env(env)
        conn = ZendeskConnection(config)
        base = env["ZENDESK_BASE_URL"]
        order = dependency_order([o.canonical for o in OBJECTS], {o.canonical: o.depends_on for o in OBJECTS})
        echo(f"Zendesk extraction, {size} tickets, plan {plan}: {config.rate_limit_per_minute:g} requests "
             f"and {config.incremental_per_minute:g} export requests per {window_seconds:g} s window")
        spans: dict[str, tuple[float, Counter]] = {}
        seen = 0
        try:
            for canonical in order:
                started = time.monotonic()
                summary = extract_object(store, source, canonical, run_id="bench", connection=conn)
                log = requests.get(f"{base}/_emulator/requests", timeout=30).json()
                spent = Counter(kind(r["path"]) for r in log[seen:])
                seen = len(log)
                spans[canonical] = (time.monotonic() - started, spent)
                echo(f"  {canonical:15s} {summary.records:7d} records {sum(spent.values()):6d} requests "
                     f"({', '.join(f'{k} {v}' for k, v in sorted(spent.items()))}) in {spans[canonical][0]:.1f}s")
        finally:
            conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if previous_home is None:
            os.environ.pop("MIGRATION_HOME", None)
        else:
            os.environ["MIGRATION_HOME"] = previous_home
    export_tickets = spans["conversations"][1]["export"]
    comments = spans["messages"][1]["comments"]
    per_ticket = (export_tickets + comments) / size
    account_rate = config.rate_limit_per_minute / window_seconds
    share = comments / spans["messages"][0] / account_rate
    rows = []
    for name, budget in (*PLAN_BUDGETS.items(), ("high_volume_add_on", 2500)):
        export_rate = 30 if name in ("enterprise_plus", "high_volume_add_on") else 10
        cells = [hours(max(n * comments / size / budget, -(-n // 1000) / export_rate) * budget, budget)
                 for n in (10_000, 100_000)]
        rows.append(f"| {name} | {budget} | {cells[0]} | {cells[1]} |")
    scale = f"{size} tickets, {plan} budgets in a {window_seconds:g} s window"
    return {"Z1": {"value": round(per_ticket, 3), "goal": "<= 1.05", "pass": per_ticket <= 1.05,
                   "how": f"Zendesk requests per ticket (export pages + comment pages), {scale}: {export_tickets} "
                          f"export + {comments} comment pages (beside P2, Trengo's per conversation)",
                   "table": rows},
            "Z2": {"value": round(share, 3), "goal": ">= 0.9", "pass": share >= 0.9,
                   "how": f"the Zendesk comments crawl's requests a second / the account's budget, {scale}"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300, help="tickets in the emulated account")
    parser.add_argument("--plan", default="enterprise", choices=sorted(PLAN_BUDGETS))
    parser.add_argument("--window-seconds", type=float, default=6.0, help="rate-limit window (60 = real time)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="server latency per request")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    figures = measure(size=args.size, plan=args.plan, window_seconds=args.window_seconds, latency_ms=args.latency_ms,
                      seed=args.seed)
    print(f"requests per ticket: {figures['Z1']['value']:.3f} ({figures['Z1']['how']})")
    print(f"budget utilisation of the comments crawl: {figures['Z2']['value']:.2f}")
    print("full extraction time by plan (comments at the account's budget; exports at 10 a minute, 30 with "
          "High Volume; users and organizations not counted):")
    print("| plan | requests/min | 10,000 tickets | 100,000 tickets |")
    print("|---|---|---|---|")
    print("\n".join(figures["Z1"]["table"]))


if __name__ == "__main__":
    main()
