"""P4 and P5: transform + validate throughput on one core, and its peak memory.

Raw Trengo message payloads come from the emulator's workspace generator (the same deterministic workspace
the emulator serves, read without HTTP: ``as_received`` gives them as an HTTP client decodes them). They
are mapped to canonical records with the plugin's own ``map_thread`` and validated with the engine's Great
Expectations suite (``migration_assets.quality.SuiteValidator``) chunk by chunk, as ``validate_object`` does.
The payloads are generated first, in a producer process, and read back pickled from a temporary file,
standing in for the network: the measured process holds only what the pipeline holds (not the generator's
workspace), no other work of ours shares the machine while it is measured, and only mapping and validation
are timed (not generating, unpickling, or mapping the tickets, another object). The measured process pins itself to one CPU.

    python benchmarks/transform_validate.py --messages 1000000 [--chunk 5000] [--json]

Throughput is records per CPU-second of this process (mapping + validation), so a busy machine does not
halve it; the wall-clock rate is reported next to it. Each stage's CPU time includes the cyclic garbage
collections that happen to run inside it; ``*_gc_cpu_seconds`` says how much that was. A full collection walks
every object of the process (Great Expectations and pandas alone make ~260k), so a few of them can weigh as
much as a stage's own work, and which stage they land in shifts from run to run.
With --json it prints one JSON object (records, seconds per stage, records/s, peak RSS of this process);
run_all.py runs it in a subprocess per size, so each peak RSS is that run's alone.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE = "http://127.0.0.1:8900"  # the emulator root the payloads' links name (no server is contacted)
MESSAGES_PER_TICKET = 7.0  # the workspace's mean thread length is ~8; spare tickets are never generated


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pin_to_one_core() -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def produce(n_messages: int, seed: int, avoid_cpu: int | None, batch: int = 100) -> None:
    """The producer process: pickled lists of ``batch`` threads on stdout, then None."""
    if avoid_cpu is not None and hasattr(os, "sched_setaffinity"):
        others = os.sched_getaffinity(0) - {avoid_cpu}
        if others:
            os.sched_setaffinity(0, others)
    out = sys.stdout.buffer
    pending = []
    for item in threads(n_messages, seed):
        pending.append(item)
        if len(pending) >= batch:
            pickle.dump(pending, out, protocol=5)
            pending = []
    pickle.dump(pending, out, protocol=5)
    pickle.dump(None, out, protocol=5)
    out.flush()


def received_threads(n_messages: int, seed: int, cpu: int | None):
    """The producer's batches, read back one by one. The producer runs to the end first, writing to a
    temporary file: run alongside, it would share the machine (on 2 vCPUs, often the same physical core)
    with the process being measured, and the figure would be the producer's as much as ours."""
    cmd = [sys.executable, __file__, "--produce", "--messages", str(n_messages), "--seed", str(seed)]
    if cpu is not None:
        cmd += ["--avoid-cpu", str(cpu)]
    with tempfile.TemporaryFile() as spool:
        code = subprocess.run(cmd, stdout=spool, check=False).returncode
        if code:
            raise RuntimeError(f"the payload producer failed with exit code {code}")
        spool.seek(0)
        while (batch := pickle.load(spool)) is not None:
            yield from batch


def threads(n_messages: int, seed: int) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]]:
    """(canonical ticket, raw messages, full emails by id) until ``n_messages`` raw messages were produced;
    the last thread is cut to make the count exact."""
    from helpdesk_migrate.plugins.trengo import workspace as wsmod
    from helpdesk_migrate.plugins.trengo.mapping import Lookups, is_collapsed, map_ticket

    received = getattr(wsmod, "as_received", lambda payload: payload)
    ws = wsmod.Workspace(seed, math.ceil(n_messages / MESSAGES_PER_TICKET) + 100)
    lookups = Lookups.build(ws.custom_fields, ws.ticket_results)
    left = n_messages
    for i in range(ws.n_tickets):
        if left <= 0:
            return
        ticket = map_ticket(received(ws.ticket_payload(i, base=BASE)), lookups, ws.tz)
        if not isinstance(ticket, dict):
            continue  # a ticket the source rejects: its thread is never read
        raw = received(ws.ticket_messages(i, base=BASE))[:left]
        full = {str(m["id"]): received(ws.full_email(i, m["id"], base=BASE)) for m in raw if is_collapsed(m)}
        left -= len(raw)
        yield ticket, raw, full
    if left > 0:
        raise RuntimeError(f"the workspace ran out of messages {left} short of {n_messages}")


def run(n_messages: int, chunk: int = 5000, seed: int = 42) -> dict[str, Any]:
    from helpdesk_migrate.plugins.trengo.mapping import map_thread
    from migration_assets.gc_tuning import freeze_long_lived
    from migration_assets.quality import SuiteValidator

    cpu = pin_to_one_core()
    warm_up = SuiteValidator("messages")  # GX's first validation in a process builds its caches (~2 s)
    warm_up.validate_chunk([{"id": "warm-up", "conversation_id": "1", "kind": "note", "author_type": "system",
                             "created_at": "2024-01-01T00:00:00Z"}])
    warm_up.finish()
    freeze_long_lived()  # as extract_object and validate_object do first
    baseline_mb = peak_rss_mb()  # interpreter, pandas and Great Expectations loaded
    validator = SuiteValidator("messages")
    tz = __import__("zoneinfo").ZoneInfo("Europe/Amsterdam")
    hosts = ("127.0.0.1",)
    mapped = rejected = 0
    # Wall and CPU time per stage. CPU time (process_time: this process only, the producer is another)
    # is what one core spends, whatever else the machine is doing; wall time also counts waiting for it.
    wall = {"map": 0.0, "validate": 0.0}
    cpu_s = {"map": 0.0, "validate": 0.0}
    gc_s = {"map": 0.0, "validate": 0.0}  # the part of cpu_s the garbage collector took
    in_stage: list[str | None] = [None]
    gc_started = [0.0]

    def on_gc(phase: str, _info: dict[str, int]) -> None:
        if in_stage[0] is None:
            return
        if phase == "start":
            gc_started[0] = time.process_time()
        else:
            gc_s[in_stage[0]] += time.process_time() - gc_started[0]

    wall_started = time.perf_counter()
    pending: list[dict[str, Any]] = []

    def timed(stage: str, fn, *args):
        w, c = time.perf_counter(), time.process_time()
        in_stage[0] = stage
        try:
            result = fn(*args)
        finally:
            in_stage[0] = None
        wall[stage] += time.perf_counter() - w
        cpu_s[stage] += time.process_time() - c
        return result

    gc.callbacks.append(on_gc)

    for ticket, raw, full in received_threads(n_messages, seed, cpu):
        records, rej, _refs = timed("map", lambda r, t, f: map_thread(r, t, tz, full_emails=f, platform_hosts=hosts),
                                    raw, ticket, full)
        mapped += len(records)
        rejected += len(rej)
        pending += records
        if len(pending) >= chunk:
            timed("validate", validator.validate_chunk, pending)
            pending = []
    if pending:
        timed("validate", validator.validate_chunk, pending)
    outcome = timed("validate", validator.finish)
    gc.callbacks.remove(on_gc)
    total_wall = time.perf_counter() - wall_started
    map_s, validate_s = cpu_s["map"], cpu_s["validate"]
    failed = [f"{e.type}:{e.column} ({e.unexpected})" for e in outcome.expectations if not e.success]
    return {
        "messages": n_messages, "mapped": mapped, "rejected_by_mapping": rejected, "validated": outcome.records,
        "map_cpu_seconds": round(map_s, 2), "validate_cpu_seconds": round(validate_s, 2),
        "map_gc_cpu_seconds": round(gc_s["map"], 2), "validate_gc_cpu_seconds": round(gc_s["validate"], 2),
        "map_wall_seconds": round(wall["map"], 2), "validate_wall_seconds": round(wall["validate"], 2),
        "wait_for_payloads_seconds": round(total_wall - wall["map"] - wall["validate"], 2),
        "records_per_second": round(mapped / (map_s + validate_s)) if map_s + validate_s else None,
        "records_per_second_wall": round(mapped / (wall["map"] + wall["validate"])) if wall["map"] else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "map_per_second": round(mapped / map_s) if map_s else None,
        "validate_per_second": round(outcome.records / validate_s) if validate_s else None,
        "failed_expectations": failed, "chunk": chunk, "cpu": cpu,
        "baseline_rss_mb": round(baseline_mb, 1), "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=5000, help="records per validated chunk (validate_object's)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--avoid-cpu", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.produce:
        produce(args.messages, args.seed, args.avoid_cpu)
        return 0
    result = run(args.messages, args.chunk, args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:22} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
