"""The benchmark suite in one command: P1-P7 on the emulators, a table, and benchmarks/results.json.

    python benchmarks/run_all.py            # the full suite, about 20 minutes on 2 cores
    python benchmarks/run_all.py --quick    # a smoke run of a few minutes: scaled limits, small sizes

Every figure is a ratio or a rate taken within one run, so the machine's noise cancels as far as it can;
scaled rate limits are printed with their scale. The figures:

- P1  Trengo requests per second / the token's limit, over >= 10 minutes of extraction   goal >= 0.97
- P2  Trengo requests per conversation (<= 25 messages)                                   goal <= 1.05
- P3  Salesforce API calls per 1,000 records at 10k and 100k (Bulk API 2.0)              goal <= 1
- P4  transform + validate records per second on one core, 1M messages                   goal >= 50,000
- P5  peak RSS at 1M messages / at 10k                                                   goal < 1.5x, < 1 GB
- P6  end-to-end wall time / the source rate-limit floor, Trengo -> Salesforce, at Trengo's real limit  goal <= 1.05
- P6T the same for Trengo -> Tidio at both real limits, against the binding budget's floor (Tidio's)  goal <= 1.05
- P6S, P6TS  the same two runs with both limits scaled x5: a 5x shorter floor against the same fixed costs
      (starting the step processes, the last load, the report), which they show; no goal of their own
- P7  definitions load time                                                              goal < 3 s
- D1  the demo's collateral quarantine, both pairs (benchmarks/degrade.py)               goal 0, sound messages all land
- B1  a source's share of its budget, 60 -> 6,000 requests a minute (budget_utilisation.py) goal >= 0.97 at each
- T1  Tidio requests per migrated message (and per conversation shell) (tidio_load.py)     goal <= 1.05 (<= 1.1)
- Z1  Zendesk requests per ticket: export pages + comment pages (zendesk_extract.py)       goal <= 1.05
- Z2  the Zendesk comments crawl's share of the account's budget (zendesk_extract.py)      goal >= 0.9

The quick run writes benchmarks/results-quick.json, so it never overwrites the full run's results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

FULL = {"p1_minutes": 10.0, "p1_rate": 600, "p3_sizes": (10_000, 100_000), "p4_messages": 1_000_000,
        "p5_small": 10_000, "p6_size": 500, "p6_rate": 120, "p6t_size": 50, "p6t_tidio_rate": 60, "p7_repeats": 5,
        "p6s_size": 500, "p6s_rate": 600, "p6ts_size": 100, "p6ts_tidio_rate": 300,
        "b1_seconds": 45, "b1_budgets": (60, 300, 1200, 6000), "z_size": 1000, "z_window": 10.0}
QUICK = {"p1_minutes": 1.0, "p1_rate": 1200, "p3_sizes": (10_000,), "p4_messages": 50_000,
         "p5_small": 10_000, "p6_size": 40, "p6_rate": 1200, "p6t_size": 20, "p6t_tidio_rate": 1200, "p7_repeats": 2,
         "p6s_size": 40, "p6s_rate": 1200, "p6ts_size": 20, "p6ts_tidio_rate": 1200,
         "d1_size": 40,
         "b1_seconds": 15, "b1_budgets": (300, 6000), "z_size": 200, "z_window": 3.0}


def machine() -> dict[str, Any]:
    def first(path: str, key: str) -> str | None:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return None

    mem_kb = first("/proc/meminfo", "MemTotal")
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": first("/proc/cpuinfo", "model name") or platform.processor() or None,
        "ram_gb": round(int(mem_kb.split()[0]) / 2**20, 1) if mem_kb else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --------------------------------------------------------------------------------------------------
# One function per figure (or pair of figures measured in the same run)
# --------------------------------------------------------------------------------------------------


def p7(cfg: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.definitions_load import measure

    result = measure(repeats=cfg["p7_repeats"])
    result["pass"] = result["value"] < 3
    return {"P7": result}


def p4_p5(cfg: dict[str, Any]) -> dict[str, Any]:
    def child(n: int) -> dict[str, Any]:
        # A process per size: its peak RSS is that run's alone (getrusage(RUSAGE_SELF) in the child, which
        # is what RUSAGE_CHILDREN would give, without the other children mixed in).
        out = subprocess.run([sys.executable, str(HERE / "transform_validate.py"), "--messages", str(n), "--json"],
                             capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            raise RuntimeError(f"transform_validate.py --messages {n} failed:\n{out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    big_n, small_n = cfg["p4_messages"], cfg["p5_small"]
    print(f"  P4/P5: mapping + validating {big_n:,} Trengo messages on one core, then {small_n:,} ...", flush=True)
    big = child(big_n)
    small = child(small_n)
    rate = big["records_per_second"]
    ratio = big["peak_rss_mb"] / small["peak_rss_mb"]
    where = (f"map_thread {big['map_per_second']:,}/s ({big['map_cpu_seconds']} s), SuiteValidator "
             f"{big['validate_per_second']:,}/s ({big['validate_cpu_seconds']} s) per CPU-second; wall-clock "
             f"{big['records_per_second_wall']:,}/s at load average {big['load_average'][0]}")
    return {
        "P4": {"value": rate, "goal": ">= 50000 records/s", "pass": rate >= 50_000, "unit": "records/s",
               "how": (f"{big['mapped']:,} raw messages from the Trengo workspace generator (generated first by a "
                       f"producer process, read back pickled from a file, not timed) -> helpdesk_migrate.plugins.trengo.mapping.map_thread -> "
                       f"quality.SuiteValidator('messages') in chunks of {big['chunk']}, pinned to CPU "
                       f"{big['cpu']}: {where}"),
               "detail": big},
        "P5": {"value": round(ratio, 2), "goal": "< 1.5x and < 1024 MB", "unit": "x",
               "pass": ratio < 1.5 and big["peak_rss_mb"] < 1024,
               "how": (f"peak RSS (getrusage RUSAGE_SELF of the measuring subprocess) of the P4 pipeline: "
                       f"{big['peak_rss_mb']:.0f} MB at {big['mapped']:,} messages / {small['peak_rss_mb']:.0f} MB "
                       f"at {small['mapped']:,} (after imports: {small['baseline_rss_mb']:.0f} MB)"),
               "peak_rss_mb": {str(big_n): big["peak_rss_mb"], str(small_n): small["peak_rss_mb"]},
               "detail": small},
    }


def p3(cfg: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.salesforce_load import run

    os.environ["MIGRATION_LOAD_CHUNK_SIZE"] = "10000"
    rows = []
    for size in cfg["p3_sizes"]:
        print(f"  P3: loading {size:,} conversations into the Salesforce emulator (Bulk API 2.0) ...", flush=True)
        rows.append(run("conversations", "bulk", size, 10_000, 42))
    worst = max(r["per_1000"] for r in rows)
    complete = all(r["loaded"] == r["records"] and not r["failed"] for r in rows)
    parts = [f"{r['records']:,}: {r['api_calls']} calls = {r['per_1000']:.2f}/1k in {r['seconds']:.0f} s" +
             ("" if r["loaded"] == r["records"] else f" (loaded {r['loaded']}, failed {r['failed']})") for r in rows]
    return {"P3": {
        "value": round(worst, 2), "goal": "<= 1 call per 1,000 records", "pass": worst <= 1 and complete,
        "how": ("benchmarks/salesforce_load.run: Case inserts with audit fields through runtime.load_object, Bulk "
                "API 2.0, MIGRATION_LOAD_CHUNK_SIZE=10000, calls counted by the client and the org; worst of "
                + "; ".join(parts) + " (the reconciliation count after the load is not a load call)"),
        "per_1000": {str(r["records"]): round(r["per_1000"], 3) for r in rows},
    }}


def p1_p2(cfg: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.extraction_rate import measure

    return measure(minutes=cfg["p1_minutes"], rate_limit=cfg["p1_rate"],
                   echo=lambda line: print(line, flush=True))


SCALED = "none of its own: the x5 run shows the fixed costs against a 5x shorter floor"


def _end_to_end(name: str, size: int, rate: int, destination: str = "salesforce",
                destination_rate: int | None = None) -> dict[str, Any]:
    """A full job in a fresh interpreter each: the code location's graph is fixed at import (MIGRATION_PAIRS), and
    the forkserver a run starts keeps the environment it started with."""
    what = f"full Trengo -> {destination} job, {size} tickets, Trengo {rate}/min"
    print(f"  {name}: {what}" + (f", {destination} {destination_rate}/min" if destination_rate else "") + " ...",
          flush=True)
    command = [sys.executable, str(HERE / "end_to_end.py"), "--size", str(size), "--rate-limit", str(rate),
               "--destination", destination]
    if destination_rate:
        command += ["--destination-rate", str(destination_rate)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"end_to_end.py exited {done.returncode}: {done.stderr[-2000:]}")
    return json.loads(done.stdout[done.stdout.index("{\n"):])["P6"]


def p6(cfg: dict[str, Any]) -> dict[str, Any]:
    return {"P6": _end_to_end("P6", cfg["p6_size"], cfg["p6_rate"])}


def p6t(cfg: dict[str, Any]) -> dict[str, Any]:
    figure = _end_to_end("P6T", cfg["p6t_size"], cfg["p6_rate"], "tidio", cfg["p6t_tidio_rate"])
    return {"P6T": figure | {"goal": "<= 1.05 (the Tidio floor)"}}


def p6s(cfg: dict[str, Any]) -> dict[str, Any]:
    figure = _end_to_end("P6S", cfg["p6s_size"], cfg["p6s_rate"])
    return {"P6S": figure | {"goal": SCALED, "pass": None}}


def p6ts(cfg: dict[str, Any]) -> dict[str, Any]:
    figure = _end_to_end("P6TS", cfg["p6ts_size"], cfg["p6s_rate"], "tidio", cfg["p6ts_tidio_rate"])
    return {"P6TS": figure | {"goal": SCALED, "pass": None}}


def b1(cfg: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.budget_utilisation import measure

    return measure(seconds=cfg["b1_seconds"], budgets=cfg["b1_budgets"], echo=lambda line: print(line, flush=True))


def t1(cfg: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.tidio_load import measure

    return measure(conversations=cfg.get("t1_conversations", 100))


def d1(cfg: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.degrade import measure

    return {"D1": measure(size=cfg.get("d1_size", 120), echo=lambda line: print(line, flush=True))}


def z1_z2(cfg: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.zendesk_extract import measure

    return measure(size=cfg.get("z_size", 300), window_seconds=cfg.get("z_window", 6.0),
                   echo=lambda line: print(line, flush=True))


# P7 first: it starts fresh interpreters that must see the environment untouched by the other figures.
STEPS: list[tuple[tuple[str, ...], Callable[[dict[str, Any]], dict[str, Any]]]] = [
    (("P7",), p7), (("P4", "P5"), p4_p5), (("P3",), p3), (("P1", "P2"), p1_p2), (("P6",), p6),
    (("P6T",), p6t), (("P6S",), p6s), (("P6TS",), p6ts), (("D1",), d1), (("B1",), b1), (("T1",), t1),
    (("Z1", "Z2"), z1_z2),
]
ORDER = ("P1", "P2", "P3", "P4", "P5", "P6", "P6T", "P6S", "P6TS", "P7", "D1", "B1", "T1", "Z1", "Z2")


def display(name: str, fig: dict[str, Any]) -> str:
    value = fig.get("value")
    if value is None:
        return "error"
    if name == "P3" and "per_1000" in fig:
        return " / ".join(f"{v:.2f}" for v in fig["per_1000"].values())
    if name == "P4":
        return f"{value:,.0f}/s"
    if name == "P5":
        return f"{value:.2f}x"
    if name == "P7":
        return f"{value:.2f} s"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def table(figures: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'figure':6} {'value':>16}  {'goal':28} {'result':6}  how", "-" * 110]
    for name in ORDER:
        fig = figures.get(name)
        if fig is None:
            continue
        how = textwrap.wrap(fig.get("how", ""), 100) or [""]
        verdict = "info" if fig.get("pass") is None and fig.get("value") is not None else (
            "pass" if fig.get("pass") else "FAIL")
        lines.append(f"{name:6} {display(name, fig):>16}  {fig.get('goal', ''):28} {verdict:6}  {how[0]}")
        lines += [f"{'':61}{more}" for more in how[1:]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: scaled limits, smaller sizes")
    parser.add_argument("--only", nargs="+", choices=ORDER, help="run only these figures")
    parser.add_argument("--output", type=Path, default=None,
                        help="where to write the JSON (default benchmarks/results.json, or results-quick.json)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    output = args.output or HERE / ("results-quick.json" if args.quick else "results.json")
    info = machine()
    print(f"benchmarks ({'quick' if args.quick else 'full'}): {info['cpu_count']} x {info['cpu_model']}, "
          f"{info['ram_gb']} GB, Python {info['python']}, load average {info['load_average_at_start']}", flush=True)
    started = time.time()
    figures: dict[str, dict[str, Any]] = {}
    for names, step in STEPS:
        if args.only and not set(names) & set(args.only):
            continue
        t0 = time.time()
        try:
            figures.update(step(cfg))
        except Exception as exc:  # one broken figure must not cost the others: report it and go on
            detail = traceback.format_exc(limit=3)
            for name in names:
                figures[name] = {"value": None, "goal": "", "pass": False,
                                 "how": f"the measurement failed: {type(exc).__name__}: {exc}", "error": detail}
        print(f"  {'/'.join(names)} done in {time.time() - t0:.0f} s", flush=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results = {
        "machine": info,
        "run": {"command": "python benchmarks/run_all.py" + (" --quick" if args.quick else ""),
                "mode": "quick" if args.quick else "full", "settings": {k: v for k, v in cfg.items()},
                "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
                "seconds": round(time.time() - started)},
        **{name: figures[name] for name in ORDER if name in figures},
    }
    if args.only and output.exists():  # a partial run updates its figures in the existing results
        previous = json.loads(output.read_text())
        previous.update({name: figures[name] for name in ORDER if name in figures})
        # Each re-run says which machine its figures come from (the top-level one is the last full run's).
        previous.setdefault("partial_reruns", []).append(results["run"] | {"figures": sorted(figures),
                                                                            "machine": info})
        results = previous
    output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print()
    print(table(figures))
    goals = [f for f in figures.values() if f.get("pass") is not None or f.get("value") is None]
    print(f"\n{sum(1 for f in goals if f.get('pass'))}/{len(goals)} goals met in "
          f"{(time.time() - started) / 60:.1f} min; results: {output}")
    return 0


if __name__ == "__main__":  # P6's step processes re-import the main module: nothing may run on import
    sys.exit(main())
