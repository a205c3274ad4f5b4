"""Benchmark: a Trengo extraction against the emulator at a configured rate limit (not a test).

Runs the emulator in its own process (so it takes neither this process's memory nor its interpreter lock),
extracts conversations and messages (``--all`` for every object) the way the engine does, and prints:

- throughput: API requests per second divided by the limit (goal >= 0.97);
- ticket-list plus message-page requests per conversation, over conversations of at most 25 messages
  whose bodies did not come collapsed (goal <= 1.05);
- peak memory (max RSS) of the extracting process.

    python benchmarks/trengo_extract.py --size 300 --rate-limit 600
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpdesk_migrate.plugins.trengo.client import TrengoClient, TrengoConfig  # noqa: E402
from helpdesk_migrate.plugins.trengo.source import OBJECTS, TrengoConnection, TrengoSource  # noqa: E402
from migration_assets.runtime import extract_object  # noqa: E402
from migration_assets.store import MigrationStore  # noqa: E402


def start_emulator(args) -> tuple[subprocess.Popen, dict[str, str]]:
    cmd = [sys.executable, "-m", "helpdesk_migrate.plugins.trengo.emulator.server", "--port", "0", "--seed", str(args.seed), "--size",
           str(args.size), "--rate-limit", str(args.rate_limit),
           "--latency-ms", str(getattr(args, "latency_ms", 0) or 0)]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300, help="tickets in the emulated workspace")
    parser.add_argument("--rate-limit", type=float, default=600, help="requests per minute (emulator and client)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--all", action="store_true", help="extract every object, not only conversations+messages")
    args = parser.parse_args()

    proc, env = start_emulator(args)
    home = Path(tempfile.mkdtemp(prefix="trengo-bench-"))
    os.environ["MIGRATION_HOME"] = str(home)
    env["TRENGO_CONCURRENCY"] = str(args.concurrency)
    try:
        source = TrengoSource()
        config = TrengoConfig.from_env(env)
        conn = TrengoConnection(config, TrengoClient(config, track_paths=True))
        store = MigrationStore(f"sqlite:///{home / 'store.sqlite'}")
        objects = [o.canonical for o in OBJECTS] if args.all else ["conversations", "messages"]
        started = time.monotonic()
        for canonical in objects:
            t0, before = time.monotonic(), conn.client.stats.total_requests
            summary = extract_object(store, source, canonical, run_id="bench", connection=conn)
            took, made = time.monotonic() - t0, conn.client.stats.total_requests - before
            print(f"  {canonical:15} {summary.records:7} records  {summary.rejected:4} rejected  {made:6} requests "
                  f"in {took:6.1f} s")
        elapsed = time.monotonic() - started
        stats = conn.client.stats
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    api = stats.total_requests - stats.requests.get("download", 0)
    per_second = api / elapsed
    limit_per_second = args.rate_limit / 60
    paths = stats.by_path or {}
    conversations = [r for chunk in store.iter_staged("trengo", "conversations") for r in chunk]
    collapsed = {p.split("/")[1] for p in paths if re.fullmatch(r"tickets/\d+/email_messages/\d+", p)}
    eligible = [c["id"] for c in conversations if (c.get("message_count") or 0) <= 25 and c["id"] not in collapsed]
    list_requests = paths.get("tickets", 0)
    message_pages = sum(paths.get(f"tickets/{t}/messages", 0) for t in eligible)
    per_conversation = list_requests / max(1, len(conversations)) + message_pages / max(1, len(eligible))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"Trengo extract benchmark: {args.size} tickets, limit {args.rate_limit:g}/min, {elapsed:.1f} s")
    print(f"  API requests            {api} ({stats.retries} retries, {stats.rate_limited} answered 429)")
    print(f"  requests/s / limit      {per_second:.2f} / {limit_per_second:.2f} = {per_second / limit_per_second:.3f}"
          f"   (goal >= 0.97)")
    print(f"  requests/conversation   {per_conversation:.3f}   (goal <= 1.05; {len(eligible)} conversations of "
          f"<= 25 messages, none collapsed; {list_requests} list pages)")
    print(f"  peak memory (max RSS)   {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
