"""D1: degrade, don't discard, measured on the demo. For each pair the demo flow runs as `helpdesk-migrate demo`
runs it (seeded emulators, discover -> confirm -> sample -> full, the in-process executor), and the report
gives two figures:

- collateral: records quarantined only because another record failed: those whose quarantine entries name the
  record they follow (``caused_by``), plus those a destination refused without saying so while a record they
  reference did not land (undeclared, counted apart); degrading should bring it to 0;
- the share of messages whose own data is sound that landed: loaded / (extracted - refused at extract or
  validation for their own data). A message never costs its conversation, nor a conversation its messages: the
  goal is 1.

    python benchmarks/degrade.py [--size 120] [--seed 42] [--pairs trengo-salesforce trengo-tidio]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAIRS = ("trengo-salesforce", "trengo-tidio")
DEMO_SIZE, DEMO_SEED, DEMO_SAMPLE = 120, 42, 25  # `helpdesk-migrate demo`'s defaults


def undeclared_collateral(store: Any, pair: Any) -> dict[str, int]:
    """Per object, records the destination refused (load stage, no caused_by) while a record they reference (a
    canonical reference field: a message's conversation, a conversation's contact) did not land either: collateral
    that no plugin declared. Counted so the figure means the same before and after plugins set caused_by."""
    from migration_assets.canonical import SCHEMA, FieldType

    src, dst = pair.source.name, pair.destination.name
    loadable = set(pair.loadable())
    entries: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in store.quarantine_entries(src, dst):
        if e["kind"] == "quarantined":
            entries.setdefault((e["object"], e["source_id"]), []).append(e)
    candidates: dict[str, list[str]] = {}
    for (obj, sid), rows in entries.items():
        if all(r["stage"] == "load" and not r["caused_by"] for r in rows):
            candidates.setdefault(obj, []).append(sid)
    out: dict[str, int] = {}
    for obj, ids in candidates.items():
        refs = {f.name: f.ref for f in SCHEMA[obj].fields if f.type == FieldType.REFERENCE and f.ref in loadable}
        ids = [i for i in ids if i not in store.lookup(src, dst, obj, ids)]  # a stale entry of a loaded record
        records = [r for chunk in store.iter_staged(src, obj, ids=ids) for r in chunk]
        landed = {ref: store.lookup(src, dst, ref, [str(r[f]) for r in records if r.get(f)])
                  for f, ref in refs.items()}
        n = sum(1 for r in records if any(r.get(f) and str(r[f]) not in landed[ref] for f, ref in refs.items()))
        if n:
            out[obj] = n
    return out


def measure_pair(spec: str, *, seed: int, size: int, sample_size: int, workdir: Path) -> dict[str, Any]:
    """One pair's demo in its own migration home; the figures from the report it wrote."""
    from migration_assets.demo import parse_pair, run_demo
    from migration_assets.registry import default_registry
    from migration_assets.reporting import build_report
    from migration_assets.store import MigrationStore

    pair = parse_pair(default_registry(), spec)
    home = workdir / spec
    os.environ["MIGRATION_HOME"] = str(home)  # run_demo starts it clean and keeps its store there
    lines: list[str] = []
    started = time.perf_counter()
    exit_code = run_demo(pair, seed=seed, size=size, sample_size=sample_size, echo=lines.append)
    seconds = time.perf_counter() - started
    store = MigrationStore()
    try:
        report = build_report(store, pair)
        undeclared = undeclared_collateral(store, pair)
        # A message's own data is sound when the source mapped it and the checks passed it (extract and
        # validate stages); what the destination then did with it is what the share measures.
        refused_before_load = {e["source_id"] for e in store.quarantine_entries(pair.source.name, "", "messages")
                               if e["kind"] == "quarantined" and not e["caused_by"]}
    finally:
        store.dispose()
    objects = report["objects"]
    messages = objects.get("messages", {})
    sound = messages.get("extracted", 0) - len(refused_before_load)
    landed = messages.get("loaded", 0)
    declared = sum(o.get("collateral", 0) for o in objects.values())
    return {
        "pair": pair.name, "exit_code": exit_code, "seconds": round(seconds, 1),
        "collateral": declared + sum(undeclared.values()),
        "collateral_declared": declared,
        "collateral_undeclared_by_object": undeclared,
        "collateral_by_object": {k: o["collateral"] + undeclared.get(k, 0) for k, o in objects.items()
                                 if o.get("collateral") or undeclared.get(k)},
        "quarantined": sum(o["quarantined"] for o in objects.values()),
        "own_fault": sum(o.get("own_fault", 0) for o in objects.values()) - sum(undeclared.values()),
        "messages_sound": sound, "messages_landed": landed,
        "messages_skipped": messages.get("skipped", 0),
        "sound_messages_landed_share": round(landed / sound, 4) if sound else None,
        "changed_records": sum(o.get("changed", 0) for o in objects.values()),
        "pending_changes": sum(1 for c in report["changed"] if c.get("pending")),
    }


def measure(*, seed: int = DEMO_SEED, size: int = DEMO_SIZE, sample_size: int = DEMO_SAMPLE,
            pairs: tuple[str, ...] = PAIRS, echo=print) -> dict[str, Any]:
    os.environ.setdefault("MIGRATION_EXECUTOR", "in_process")  # as the demo runs
    rows = []
    with tempfile.TemporaryDirectory(prefix="degrade-bench-") as tmp:
        dagster_home = Path(tmp) / "dagster_home"
        dagster_home.mkdir()
        (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        os.environ["DAGSTER_HOME"] = str(dagster_home)
        for spec in pairs:
            echo(f"  D1: the {spec} demo, seed {seed}, {size} conversations ...")
            row = measure_pair(spec, seed=seed, size=size, sample_size=sample_size, workdir=Path(tmp))
            echo(f"    collateral {row['collateral']} {row['collateral_by_object'] or ''}; sound messages landed "
                 f"{row['messages_landed']}/{row['messages_sound']} = {row['sound_messages_landed_share']}; "
                 f"quarantined {row['quarantined']} ({row['own_fault']} for their own data) in {row['seconds']} s")
            rows.append(row)
    collateral = sum(r["collateral"] for r in rows)
    shares = [r["sound_messages_landed_share"] for r in rows if r["sound_messages_landed_share"] is not None]
    worst = min(shares) if shares else None
    return {
        "value": collateral, "unit": "records", "goal": "0 collateral; sound messages landed = 1",
        "pass": collateral == 0 and worst is not None and worst >= 1,
        "worst_sound_messages_landed_share": worst,
        "how": (f"benchmarks/degrade.py: the demo flow (migration_assets.demo.run_demo, seed {seed}, {size} "
                "conversations, in-process executor) per pair; collateral = quarantined records whose every entry "
                "names the record it follows (caused_by), summed over the pairs: "
                + "; ".join(f"{r['pair']} {r['collateral']} collateral, sound messages landed "
                            f"{r['messages_landed']}/{r['messages_sound']}" for r in rows)),
        "pairs": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=DEMO_SIZE)
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--sample-size", type=int, default=DEMO_SAMPLE)
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS))
    args = parser.parse_args(argv)
    result = measure(seed=args.seed, size=args.size, sample_size=args.sample_size, pairs=tuple(args.pairs))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
