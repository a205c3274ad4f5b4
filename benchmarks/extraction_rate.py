"""P1 and P2 from one extraction: conversations and messages from the Trengo emulator (its own process, at a
scaled limit) through the engine's ``extract_object``, as the extract assets run it.

- P1: accepted API requests per second over the whole extraction, divided by the limit per second.
  Requests the emulator refused (429) are not counted as throughput; the run must still end with every
  seeded conversation and message staged or quarantined with a reason (nothing lost).
- P2: Trengo requests per conversation of at most 25 messages: the ticket-list pages' share per
  conversation plus message-page requests per such conversation (collapsed emails excluded: their whole
  body is one more request by design), as benchmarks/trengo_extract.py counts them.

    python benchmarks/extraction_rate.py --minutes 10 --rate-limit 600
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.trengo_extract import start_emulator  # noqa: E402
from helpdesk_migrate.plugins.trengo.client import TrengoClient, TrengoConfig  # noqa: E402
from helpdesk_migrate.plugins.trengo.source import TrengoConnection, TrengoSource  # noqa: E402
from migration_assets.runtime import extract_object  # noqa: E402
from migration_assets.store import MigrationStore  # noqa: E402

REAL_LIMIT = 120
REQUESTS_PER_TICKET = 1.40  # list page share + message pages + whole bodies of collapsed emails (measured)


def tickets_for(minutes: float, rate_limit: float) -> int:
    """A workspace whose extraction lasts about ``minutes`` at the limit (a little longer, never shorter)."""
    return math.ceil(minutes * 60 * 1.04 * rate_limit / 60 / REQUESTS_PER_TICKET)


def expected_ids(seed: int, size: int, canonical: str) -> set[str]:
    """Ids an extraction must account for: the seeded workspace through the plugin's own mapping."""
    from helpdesk_migrate.plugins.trengo.emulator.seeded import seed_records
    from helpdesk_migrate.plugins.trengo.emulator.workspace import Workspace

    return {str(r["id"]) for r in seed_records(Workspace(seed, size), canonical, base="http://127.0.0.1")}


def measure(minutes: float = 10.0, rate_limit: float = 600, seed: int = 42, size: int | None = None,
            concurrency: int = 32, echo=print) -> dict[str, dict[str, Any]]:
    size = size or tickets_for(minutes, rate_limit)
    home = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    os.environ["MIGRATION_HOME"] = str(home)
    os.environ.pop("MIGRATION_RATE_LIMIT_URL", None)
    proc, env = start_emulator(SimpleNamespace(seed=seed, size=size, rate_limit=rate_limit))
    env["TRENGO_CONCURRENCY"] = str(concurrency)
    echo(f"  P1/P2: extracting {size} tickets at {rate_limit:g}/min (x{rate_limit / REAL_LIMIT:g} of the real "
         f"{REAL_LIMIT}/min), about {minutes:g} min ...")
    store = MigrationStore(f"sqlite:///{home / 'store.sqlite'}")
    counts: dict[str, int] = {}
    try:
        source = TrengoSource()
        config = TrengoConfig.from_env(env)
        conn = TrengoConnection(config, TrengoClient(config, track_paths=True))
        started = time.monotonic()
        for canonical in ("conversations", "messages"):
            summary = extract_object(store, source, canonical, run_id="bench", connection=conn)
            counts[canonical] = summary.records
            counts[f"{canonical}_rejected"] = summary.rejected
        elapsed = time.monotonic() - started
        stats = conn.client.stats
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    api = stats.total_requests - stats.requests.get("download", 0)
    accepted = api - stats.statuses.get(429, 0) - stats.statuses.get("no response", 0)
    limit_per_second = rate_limit / 60
    p1 = accepted / elapsed / limit_per_second

    lost: dict[str, int] = {}
    for canonical in ("conversations", "messages"):
        want = expected_ids(seed, size, canonical)
        got = store.staged_ids("trengo", canonical) | store.quarantined_ids("trengo", canonical)
        if want - got:
            lost[canonical] = len(want - got)
    paths = stats.by_path or {}
    conversations = [r for chunk in store.iter_staged("trengo", "conversations") for r in chunk]
    collapsed = {p.split("/")[1] for p in paths if re.fullmatch(r"tickets/\d+/email_messages/\d+", p)}
    eligible = [c["id"] for c in conversations if (c.get("message_count") or 0) <= 25 and c["id"] not in collapsed]
    list_pages = paths.get("tickets", 0)
    message_pages = sum(paths.get(f"tickets/{t}/messages", 0) for t in eligible)
    p2 = list_pages / max(1, len(conversations)) + message_pages / max(1, len(eligible))
    store.dispose()

    scale = f"limit {rate_limit:g}/min = x{rate_limit / REAL_LIMIT:g} of the real {REAL_LIMIT}/min"
    refused = stats.statuses.get(429, 0)
    p1_ok = p1 >= 0.97 and not lost and elapsed >= minutes * 60 * 0.97
    return {
        "P1": {
            "value": round(p1, 3), "goal": ">= 0.97", "pass": p1_ok,
            "how": (f"extract_object conversations+messages, {size} tickets, {scale}, concurrency {concurrency}: "
                    f"{accepted} accepted requests in {elapsed:.0f} s ({elapsed / 60:.1f} min) = "
                    f"{accepted / elapsed:.3f}/s / {limit_per_second:g}/s; {refused} answered 429"
                    f"{' (each waited out via Retry-After, then retried)' if refused else ''}, {stats.retries} "
                    f"retries; records lost: {lost or 'none'}"),
            "scale": rate_limit / REAL_LIMIT, "rate_limit_per_minute": rate_limit, "seconds": round(elapsed, 1),
            "accepted_requests": accepted, "refused_429": refused, "retries": stats.retries, "lost": lost,
            "records": counts,
        },
        "P2": {
            "value": round(p2, 3), "goal": "<= 1.05", "pass": p2 <= 1.05,
            "how": (f"same run: {list_pages} ticket-list pages / {len(conversations)} conversations + "
                    f"{message_pages} message pages / {len(eligible)} conversations of <= 25 messages without "
                    f"a collapsed email ({len(collapsed)} had one: +1 request each for the whole body)"),
            "list_pages": list_pages, "conversations": len(conversations), "eligible": len(eligible),
            "message_pages": message_pages, "collapsed_conversations": len(collapsed),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the extraction should last")
    parser.add_argument("--rate-limit", type=float, default=600, help="requests per minute (real: 120)")
    parser.add_argument("--size", type=int, default=None, help="tickets (default: enough for --minutes)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--concurrency", type=int, default=32, help="TRENGO_CONCURRENCY: the most in flight")
    args = parser.parse_args()
    result = measure(args.minutes, args.rate_limit, args.seed, args.size, args.concurrency)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
