"""B1: how full a source keeps its rate budget, from 60 to 6,000 requests a minute.

For each budget, the Trengo emulator (its own process) answers every API request after a realistic latency. The
conversations are listed first (not measured: list pages are read one after another, a few per cent of a
migration's requests), then the source's message crawl (``extract_object`` of messages: one or more requests
per conversation, the bulk of any migration) runs for a fixed window. Utilisation = accepted API requests per second over the window / the budget per second, counted
by the emulator itself. The client paces its concurrency by the measured latency (migration_assets/pacing.py);
the shared limiter decides when each request goes. Goal: >= 0.97 at every budget.

    python benchmarks/budget_utilisation.py --seconds 45 --latency-ms 150
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.trengo_extract import start_emulator  # noqa: E402
from helpdesk_migrate.plugins.trengo.client import TrengoConfig  # noqa: E402
from helpdesk_migrate.plugins.trengo.source import TrengoConnection, TrengoSource  # noqa: E402
from migration_assets.runtime import extract_object  # noqa: E402
from migration_assets.store import MigrationStore  # noqa: E402

BUDGETS = (60, 300, 1200, 6000)


def measure_one(budget: int, seconds: float, latency_ms: float, seed: int = 42) -> dict[str, Any]:
    """One budget: crawl for ``seconds`` (the extraction is stopped then), count what the emulator accepted."""
    size = max(60, int(budget / 60 * (seconds + 10) * 1.3))  # more than the window can take: the budget binds
    home = Path(tempfile.mkdtemp(prefix="bench-budget-"))
    os.environ["MIGRATION_HOME"] = str(home)
    os.environ.pop("MIGRATION_RATE_LIMIT_URL", None)
    proc, env = start_emulator(SimpleNamespace(seed=seed, size=size, rate_limit=budget, latency_ms=latency_ms))
    root = env["TRENGO_BASE_URL"].rsplit("/api/", 1)[0]
    store = MigrationStore(f"sqlite:///{home / 'store.sqlite'}")
    config = TrengoConfig.from_env(env)
    conn = TrengoConnection(config)
    stop = threading.Event()

    extract_object(store, TrengoSource(), "conversations", run_id="bench", connection=conn)

    def crawl() -> None:
        try:
            extract_object(store, TrengoSource(), "messages", run_id="bench", connection=conn)
        except Exception:  # the window closed under it: the emulator stops answering
            pass

    worker = threading.Thread(target=crawl, daemon=True)
    try:
        worker.start()
        # The window opens after the first requests (start-up is not what is measured) and closes after
        # `seconds`, both read from the emulator's request log.
        time.sleep(min(5.0, seconds / 4))
        first = requests.get(root + "/_emulator/requests", timeout=30).json()
        time.sleep(seconds)
        last = requests.get(root + "/_emulator/requests", timeout=30).json()
        stop.set()
        peak_concurrency = conn._pool.concurrency
        measured_latency = conn._pool.latency
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        worker.join(30)
        store.dispose()

    def accepted(log: list[dict]) -> list[dict]:
        return [r for r in log if r["path"].startswith("/api/") and 200 <= r["status"] < 300]

    start_t = max(r["time"] for r in accepted(first))
    window = [r for r in accepted(last) if r["time"] > start_t]
    end_t = max(r["time"] for r in window)
    rate = len(window) / (end_t - start_t)
    refused = sum(1 for r in last if r["status"] == 429 and r["time"] > start_t)
    return {"budget_per_minute": budget, "utilisation": round(rate / (budget / 60), 3),
            "accepted": len(window), "window_seconds": round(end_t - start_t, 1), "refused_429": refused,
            "concurrency_at_end": peak_concurrency, "measured_latency_ms": round(measured_latency * 1000)}


def measure(seconds: float = 45, latency_ms: float = 150, budgets=BUDGETS, echo=print) -> dict[str, Any]:
    rows = []
    for budget in budgets:
        row = measure_one(budget, seconds if budget >= 300 else max(seconds, 60), latency_ms)
        echo(f"  B1 {budget}/min: utilisation {row['utilisation']} ({row['accepted']} accepted in "
             f"{row['window_seconds']} s, concurrency {row['concurrency_at_end']} at "
             f"{row['measured_latency_ms']} ms)")
        rows.append(row)
    worst = min(r["utilisation"] for r in rows)
    return {"B1": {
        "value": worst, "goal": ">= 0.97 at every budget", "pass": worst >= 0.97, "unit": "of the budget",
        "how": (f"the Trengo source's crawl (extract_object conversations, messages) against the emulator at "
                f"{latency_ms:g} ms a request, budgets {', '.join(str(b) for b in budgets)} a minute; accepted API "
                f"requests per second over a window of the emulator's own log / the budget; value = the worst: "
                + "; ".join(f"{r['budget_per_minute']}/min {r['utilisation']} (concurrency "
                            f"{r['concurrency_at_end']})" for r in rows)),
        "detail": rows,
    }}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45, help="measured window per budget (60 s at least "
                                                                   "for 60/min)")
    parser.add_argument("--latency-ms", type=float, default=150)
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    args = parser.parse_args()
    print(json.dumps(measure(args.seconds, args.latency_ms, tuple(args.budgets)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
