"""R2 fault campaign at full size: each fault kind alone, then all together, per destination; prints a table.

The source emulator (Trengo) gets 5% 5xx, 429 storms (Retry-After), answers cut off mid-body and connection
resets, and answers slower than the client's timeout; the destination emulator gets, by a seeded schedule,
5% 5xx, 429 storms (Tidio), answers cut mid-body, slow answers, writes whose answer is lost, and on
Salesforce expired sessions (re-login), UNABLE_TO_LOCK_ROW, partial Bulk API 2.0 jobs. Each run is discover +
full with faults on, audited against a clean run of the same workspace (every record accounted for, none
twice), then one more full run without faults that must reach the clean run's state exactly. Each kind
runs alone, then every kind that passed alone runs together.

    /work/venv-dev/bin/python benchmarks/reliability_faults.py [--size 24] [--seed 3]
        [--destinations salesforce,tidio] [--kinds 5xx,429,...]

Exit status 1 if any run found a problem.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability.campaigns import ALL_KINDS, faulted_migration  # noqa: E402
from tests.reliability.harness import take_baseline  # noqa: E402

APPLIES = {"tidio": ["5xx", "429", "reset", "slow", "lost_write"],
           "salesforce": ["5xx", "429", "reset", "slow", "lost_write", "session", "lock", "lock_schema",
                          "bulk_partial"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=24)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--destinations", default="salesforce,tidio")
    parser.add_argument("--kinds", default="", help=f"comma-separated subset of {','.join(ALL_KINDS)}")
    args = parser.parse_args()
    failures = 0
    print("| destination | faults | injected | loaded (clean) | quarantined (clean) | duplicates | recovered | "
          "seconds | problems |")
    print("|---|---|---|---|---|---|---|---|---|")
    for destination in args.destinations.split(","):
        clean = take_baseline(destination, seed=args.seed, size=args.size)
        kinds = [k for k in (args.kinds.split(",") if args.kinds else APPLIES[destination]) if k]
        survived: list[str] = []
        runs = [[k] for k in kinds] + ([survived] if len(kinds) > 1 else [])  # then all that survived alone
        for run in runs:
            if not run:
                continue
            try:
                o = faulted_migration(destination, clean, run, seed=args.seed, size=args.size)
            except AssertionError as exc:  # discover itself did not finish under the faults
                failures += 1
                print(f"| {destination} | {'+'.join(run)} | - | - | - | - | - | - | "
                      f"{str(exc).splitlines()[0][:200]} |", flush=True)
                continue
            acc = o.audit.figures["accounts"]
            loaded = sum(a["loaded"] for a in acc.values())
            quarantined = sum(a["quarantined"] for a in acc.values())
            clean_loaded = sum(a["loaded"] for a in clean.accounts.values())
            clean_q = sum(a["quarantined"] for a in clean.accounts.values())
            recovered = not any(p.startswith("after a run without faults") for p in o.audit.problems)
            failures += not o.audit.ok
            if o.audit.ok and len(run) == 1:
                survived.append(run[0])
            injected = ", ".join(f"{k} {n}" for k, n in sorted(o.injected.items()))
            problems = "; ".join(o.audit.problems)[:300] or "none"
            print(f"| {destination} | {'+'.join(run)} | {injected} | {loaded} ({clean_loaded}) | {quarantined} "
                  f"({clean_q}) | {o.audit.duplicates} | {'yes' if recovered else 'NO'} | {o.seconds:.0f} | "
                  f"{problems} |", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
