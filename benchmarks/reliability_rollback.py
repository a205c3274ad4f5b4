"""R4 rollback proof at full size: full run, delta, rollback; prints what was created, changed, linked and
whether the destination came back to its pre-migration state.

Before the migration the destination holds contacts that share an email with source contacts (Tidio: they
are filled in, with before-images; Salesforce: they are linked and get notes), on Salesforce with the
migration's fields already in place also a Contact carrying a source id from an earlier import (updated
through upsert, with a before-image), and the agents, tags and fields the source's are linked to. Schema
metadata the Salesforce migration creates on purpose (custom fields, their permissions) stays after a
rollback of data; it is counted, not compared.

    /work/venv-dev/bin/python benchmarks/reliability_rollback.py [--size 60] [--seed 3] [--matched 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability.campaigns import SALESFORCE_SCHEMA, rollback_migration  # noqa: E402

VARIANTS = {
    "tidio": ("tidio", {}),
    "salesforce (fields prepared)": ("salesforce", {"destination_options": {"schema": "prepared"},
                                                     "import_marked": True, "schema_objects": SALESFORCE_SCHEMA}),
    "salesforce (bare org)": ("salesforce", {"schema_objects": SALESFORCE_SCHEMA}),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=60)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--matched", type=int, default=4, help="pre-existing contacts matched by email")
    args = parser.parse_args()
    failures = 0
    print("| destination | created by full | pre-existing changed (restored) | enriched only | linked untouched | "
          "changed again by delta | rollback | left after rollback |")
    print("|---|---|---|---|---|---|---|---|")
    for label, (destination, options) in VARIANTS.items():
        o = rollback_migration(destination, seed=args.seed, size=args.size, matched=args.matched, **options)
        failures += bool(o.problems)
        left = "; ".join(o.problems)[:400] or "nothing"
        if o.figures.get("schema_left"):
            left += f" (schema, not compared: {o.figures['schema_left']})"
        print(f"| {label} | {o.figures['created_by_full']} | {o.restored} | {o.enriched} | {o.linked} | "
              f"{o.figures['changed_again_by_delta']} | exit {o.rollback_exit}, {o.seconds:.0f}s | {left} |", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
