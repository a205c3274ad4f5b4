"""P7: how long the Dagster definitions take to load (goal < 3 s), in a fresh interpreter each time so
import costs count. Prints the figure; never a test."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

CODE = ("import time; t=time.perf_counter(); from migration_assets.definitions import defs; "
        "n=len(list(defs.resolve_all_asset_keys())); print(time.perf_counter()-t, n)")


def measure(repeats: int = 5) -> dict:
    times, assets = [], 0
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout.split()
        times.append(float(out[0]))
        assets = int(out[1])
    return {"value": round(statistics.median(times), 3), "goal": "< 3 s", "unit": "s",
            "how": f"median of {repeats} fresh interpreters importing migration_assets.definitions ({assets} assets)"}


if __name__ == "__main__":
    print(json.dumps({"P7": measure()}, indent=2))
