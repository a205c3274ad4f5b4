"""R1 crash campaign at full size: SIGKILL the migration at seeded points, re-run, check, print a table.

For each destination: a clean run of the workspace (the baseline: how many records each destination object
gains, what loads and what is quarantined, how many requests extraction and loading make), then ``--points``
kill points, half during extraction (the discover job, counted in answers of the source emulator) and half
during loading (the full job, counted in writes to the destination emulator). Every other point kills the
process at the moment a request was processed but before its answer arrives; the others 5-250 ms after an
answer, wherever the process then is. The migration runs as ``helpdesk-migrate run`` in a child process; the
emulators live in this process and survive the kill. After each kill the job is re-run to completion and
checked: no duplicate, nothing missing, a consistent id map (tests/reliability/harness.py: ``audit``).

    /work/venv-dev/bin/python benchmarks/reliability_crash.py [--points 20] [--size 24] [--seed 3]
        [--destinations salesforce,tidio] [--kill-seed 20]

Exit status 1 if any point found a problem.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability.campaigns import crash_migration, kill_points  # noqa: E402
from tests.reliability.harness import take_baseline  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20, help="kill points per destination (even)")
    parser.add_argument("--size", type=int, default=24, help="conversations in the source workspace")
    parser.add_argument("--seed", type=int, default=3, help="workspace seed")
    parser.add_argument("--kill-seed", type=int, default=20, help="seed of the kill points")
    parser.add_argument("--destinations", default="salesforce,tidio")
    args = parser.parse_args()
    failures = 0
    rows = []
    for destination in args.destinations.split(","):
        started = time.monotonic()
        baseline = take_baseline(destination, seed=args.seed, size=args.size)
        print(f"{destination}: clean run {baseline.seconds:.0f}s, {baseline.source_requests_discover} source "
              f"answers in discover, {baseline.destination_writes_full} destination writes in full, "
              f"{sum(baseline.new_per_object.values())} new destination records", flush=True)
        points = kill_points(baseline, args.points + args.points % 2, args.kill_seed)
        for i in range(0, len(points), 2):
            for o in crash_migration(destination, baseline, points[i], points[i + 1], seed=args.seed, size=args.size):
                rows.append(o)
                failures += not o.ok
                print(f"  {str(o.point):36} {'killed' if o.killed else 'NOT REACHED':11} "
                      f"{(o.fired_on or '-')[:58]:58} dup {o.duplicates} missing {o.missing} "
                      f"id-map refs {o.id_map_checked:4}  {o.seconds:5.1f}s  {'ok' if o.ok else 'PROBLEM'}",
                      flush=True)
                for p in o.problems:
                    print(f"      {p}")
        print(f"{destination}: {args.points} points in {time.monotonic() - started:.0f}s\n", flush=True)
    print("| destination | phase | points | killed | duplicates | missing | id-map problems | problems |")
    print("|---|---|---|---|---|---|---|---|")
    for destination in args.destinations.split(","):
        for phase in ("extraction", "loading"):
            sel = [o for o in rows if o.destination == destination and o.point.phase == phase]
            id_map = sum(1 for o in sel for p in o.problems if p.startswith("id map"))
            print(f"| {destination} | {phase} | {len(sel)} | {sum(o.killed for o in sel)} | "
                  f"{sum(o.duplicates for o in sel)} | {sum(o.missing for o in sel)} | {id_map} | "
                  f"{sum(1 for o in sel if not o.ok)} |")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
