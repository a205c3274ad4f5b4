"""The throughput plan: how long a full migration of the discovered scope takes, and what limits it.

Discovery extracts everything, so what the source spends is known: every extract step records the requests it
was admitted under the shared budget (``ratelimit.requests_acquired``, whatever the plugin) and its duration. What
the destination will spend comes from the destination plugin (``PlansRequests.estimate_requests``), and each
platform states its budget on the user's plan and on its other plans (``PlansRequests.request_budget``).

The duration is not requests / limit summed: the engine overlaps work. The plan replays the run's own
dependency graph (the same rules ``assets_load`` and ``jobs`` build it with) as a small simulation with one shared
budget per platform:

- extracts of objects that read no other object start at once; the others (messages after conversations) when
  their parents are staged;
- the gates wait for the root extracts the pair writes; a load waits for the gates, its own extract and the loads
  it depends on;
- tasks running at the same time on one platform share its budget equally among the most urgent of them (the
  shared limiter's ``Priority``: what the gates wait for, then what is loaded, then what is only inventoried; a
  less urgent task waits while a more urgent one runs); a platform without a per-minute budget (a daily
  allowance) takes ``seconds_per_request`` a request, tasks side by side.

The run adds a fixed start-up and tail (``RUN_OVERHEAD_SECONDS``). The bottleneck is the platform whose work ends
last; each higher plan of either platform is planned again, so the report says what an upgrade buys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from . import markdown
from .hookspecs import PlansRequests, RequestBudget
from .ratelimit import DEFAULT_HEADROOM, Priority
from .store import MigrationStore, metadata

# Measured by P6 on the emulators (benchmarks/end_to_end.py): step processes starting before the first request,
# and the checks, the last load and the report after the last one. Seconds in a run of hours, but a rehearsal on
# the emulators is short enough for them to count.
RUN_OVERHEAD_SECONDS = 8.0

# One row per extracted object (per shard): what its last full extract spent. A new table: create_all adds it.
extract_requests = sa.Table(
    "extract_requests",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("object", sa.String(64), primary_key=True),
    sa.Column("shard", sa.String(32), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("requests", sa.BigInteger, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


def record_extract(store: MigrationStore, source: str, canonical: str, shard: str | None, *, requests: int,
                   seconds: float, run_id: str) -> None:
    """What one full extract (of one shard) cost: requests admitted under the shared budget, and seconds."""
    extract_requests.create(store.engine, checkfirst=True)
    key = (extract_requests.c.source == source, extract_requests.c.object == canonical,
           extract_requests.c.shard == (shard or ""))
    values = dict(run_id=run_id, requests=int(requests), seconds=float(seconds), updated_at=datetime.now(UTC))
    with store.engine.begin() as conn:
        if not conn.execute(extract_requests.update().where(*key).values(**values)).rowcount:
            conn.execute(extract_requests.insert().values(source=source, object=canonical, shard=shard or "",
                                                          **values))


def measured_requests(store: MigrationStore, source: str) -> dict[str, int]:
    """Per object, the requests its last full extract spent (the shards of its latest run added up)."""
    extract_requests.create(store.engine, checkfirst=True)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(extract_requests).where(extract_requests.c.source == source)).mappings().all()
    latest: dict[str, tuple[datetime, str]] = {}
    for r in rows:
        if r["object"] not in latest or r["updated_at"] > latest[r["object"]][0]:
            latest[r["object"]] = (r["updated_at"], r["run_id"])
    out: dict[str, int] = {}
    for r in rows:
        if r["run_id"] == latest[r["object"]][1]:
            out[r["object"]] = out.get(r["object"], 0) + int(r["requests"])
    return out


# --------------------------------------------------------------------------------------------------
# The simulation
# --------------------------------------------------------------------------------------------------


@dataclass
class Task:
    name: str  # "extract contacts", "load messages"
    platform: str
    requests: int
    after: tuple[str, ...] = ()
    basis: str = ""
    priority: int = int(Priority.NORMAL)  # the shared limiter's: a lower value is served first
    start: float = 0.0
    end: float = 0.0


def simulate(tasks: list[Task], budgets: Mapping[str, RequestBudget]) -> float:
    """Run ``tasks`` on their platforms' budgets; sets each task's start and end (seconds); returns the end."""
    by_name = {t.name: t for t in tasks}
    left = {t.name: float(t.requests) for t in tasks}
    done: set[str] = set()
    active: set[str] = set()
    now = 0.0
    for _ in range(10 * len(tasks) + 10):
        for t in tasks:
            if t.name not in done and t.name not in active and all(a in done for a in t.after if a in by_name):
                active.add(t.name)
                t.start = now
        finished = [n for n in active if left[n] <= 0]
        if finished:
            for n in finished:
                active.discard(n)
                done.add(n)
                by_name[n].end = now
            continue
        if not active:
            break
        speeds = _speeds([by_name[n] for n in active], budgets)
        step = min(left[n] / speeds[n] for n in active if speeds[n] > 0)
        now += step
        for n in active:
            left[n] = max(0.0, left[n] - speeds[n] * step) if left[n] - speeds[n] * step > 1e-9 else 0.0
    if len(done) != len(tasks):
        raise ValueError(f"the plan's tasks wait on each other: {sorted(set(by_name) - done)}")
    return max((t.end for t in tasks), default=0.0)


def _speeds(active: list[Task], budgets: Mapping[str, RequestBudget]) -> dict[str, float]:
    """Requests a second each active task gets: a platform's per-minute budget shared equally among its most urgent
    active tasks with requests left; the others wait (0)."""
    urgent: dict[str, int] = {}
    for t in active:
        if t.requests:
            urgent[t.platform] = min(urgent.get(t.platform, t.priority), t.priority)
    sharing: dict[str, int] = {}
    for t in active:
        if t.priority == urgent.get(t.platform, t.priority):
            sharing[t.platform] = sharing.get(t.platform, 0) + 1
    speeds = {}
    for t in active:
        budget = budgets[t.platform]
        if not budget.per_minute:
            speeds[t.name] = 1.0 / max(budget.seconds_per_request, 1e-3)
        elif t.priority == urgent.get(t.platform, t.priority):
            speeds[t.name] = effective_per_second(budget) / sharing[t.platform]
        else:
            speeds[t.name] = 0.0
    return speeds


def effective_per_second(budget: RequestBudget) -> float:
    """What the shared limiter lets through: the budget less its headroom (ratelimit.DEFAULT_HEADROOM)."""
    return (budget.per_minute or 0) / 60 / (1 + DEFAULT_HEADROOM)


# --------------------------------------------------------------------------------------------------
# The plan of a pair
# --------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    source: str
    destination: str
    budgets: dict[str, RequestBudget]
    tasks: list[Task]
    seconds: float  # expected wall time of the full run, overhead included
    bottleneck: str | None
    alternatives: list[dict[str, Any]] = field(default_factory=list)  # {platform, plan, per_minute, seconds}
    unknown: list[str] = field(default_factory=list)  # what the plan could not count

    def requests(self, platform: str) -> int:
        return sum(t.requests for t in self.tasks if t.platform == platform)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 1), "duration": human_duration(self.seconds),
            "bottleneck": self.bottleneck, "overhead_seconds": RUN_OVERHEAD_SECONDS,
            "budgets": {p: {"plan": b.plan, "per_minute": b.per_minute, "per_day": b.per_day,
                            "seconds_per_request": b.seconds_per_request or None, "basis": b.basis}
                        for p, b in self.budgets.items()},
            "requests": {p: self.requests(p) for p in self.budgets},
            "phases": [{"task": t.name, "platform": t.platform, "requests": t.requests, "basis": t.basis,
                        "starts_s": round(t.start, 1), "ends_s": round(t.end, 1)} for t in self.tasks],
            "alternatives": self.alternatives, "unknown": self.unknown,
        }


def _budget(plugin: Any, env: Mapping[str, str], unknown: list[str]) -> RequestBudget:
    if isinstance(plugin, PlansRequests):
        try:
            return plugin.request_budget(env)
        except Exception as exc:  # a setting missing at discovery time: say so, plan the rest
            unknown.append(f"{plugin.name}: no request budget ({type(exc).__name__}: {exc})")
    else:
        unknown.append(f"{plugin.name}: the plugin states no request budget (PlansRequests)")
    return RequestBudget(per_minute=None, plan="unknown", seconds_per_request=0.0)


def _estimates(plugin: Any, scope: Mapping[str, Any], unknown: list[str]) -> dict[str, tuple[int, str]]:
    if not isinstance(plugin, PlansRequests):
        return {}
    try:
        return {e.canonical: (int(e.requests), e.basis) for e in plugin.estimate_requests(scope)}
    except Exception as exc:
        unknown.append(f"{plugin.name}: no request estimate ({type(exc).__name__}: {exc})")
        return {}


def build_tasks(store: MigrationStore, pair: Any, scope: Mapping[str, Any], unknown: list[str]) -> list[Task]:
    src, dst = pair.source, pair.destination
    measured = measured_requests(store, src.name)
    estimated = _estimates(src, scope, unknown)
    tasks: list[Task] = []
    provided = {o.canonical for o in src.objects()}
    for o in src.objects():
        if o.canonical in measured:
            requests, basis = measured[o.canonical], "measured by discovery"
        elif o.canonical in estimated:
            requests, basis = estimated[o.canonical][0], estimated[o.canonical][1] or "the source's estimate"
        else:
            requests, basis = 0, "not measured"
            unknown.append(f"{src.name} {o.canonical}: requests neither measured nor estimated")
        tasks.append(Task(f"extract {o.canonical}", src.name, requests,
                          after=tuple(f"extract {d}" for d in o.depends_on if d in provided), basis=basis,
                          priority=int(pair.request_priority(o.canonical))))
    gate_after = tuple(f"extract {c}" for c in pair.gate_objects())
    tasks.append(Task("gates", src.name, 0, after=gate_after, basis="pre-flight, field map, go-ahead"))
    loads = _estimates(dst, scope, unknown)
    loadable = pair.loadable()
    dest_objects = {o.canonical: o for o in dst.objects()}
    for canonical in loadable:
        requests, basis = loads.get(canonical, (0, ""))
        if canonical not in loads:
            unknown.append(f"{dst.name} {canonical}: the destination gives no estimate")
        after = ("gates", f"extract {canonical}", *(f"load {d}" for d in dest_objects[canonical].depends_on
                                                    if d in loadable))
        tasks.append(Task(f"load {canonical}", dst.name, requests, after=after, basis=basis))
    return tasks


def plan_pair(store: MigrationStore, pair: Any, scope: Mapping[str, Any], env: Mapping[str, str]) -> Plan:
    unknown: list[str] = []
    budgets = {pair.source.name: _budget(pair.source, env, unknown),
               pair.destination.name: _budget(pair.destination, env, unknown)}
    tasks = build_tasks(store, pair, scope, unknown)
    seconds = simulate(tasks, budgets)
    ends: dict[str, float] = {}
    for t in tasks:
        if t.requests:
            ends[t.platform] = max(ends.get(t.platform, 0.0), t.end)
    bottleneck = max(ends, key=lambda p: ends[p]) if ends else None
    plan = Plan(pair.source.name, pair.destination.name, budgets, tasks, seconds + RUN_OVERHEAD_SECONDS,
                bottleneck, unknown=unknown)
    for platform, budget in budgets.items():
        for name, per_minute in budget.plans.items():
            if budget.per_minute and per_minute > budget.per_minute:
                other = {**budgets, platform: replace(budget, per_minute=per_minute, plan=name)}
                trial = [replace(t) for t in tasks]
                plan.alternatives.append({"platform": platform, "plan": name, "per_minute": per_minute,
                                          "seconds": round(simulate(trial, other) + RUN_OVERHEAD_SECONDS, 1)})
    return plan


# --------------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def plan_markdown(plan: Mapping[str, Any]) -> str:
    """The plan's section of the scope report (``plan`` as ``Plan.as_dict()``)."""
    budgets = [{"platform": p, "plan": b["plan"], "requests a minute": b["per_minute"] or "n/a (daily allowance)",
                "requests": plan["requests"].get(p, 0), "basis": b["basis"]} for p, b in plan["budgets"].items()]
    phases = [{"phase": p["task"], "platform": p["platform"], "requests": p["requests"],
               "from": human_duration(p["starts_s"]), "to": human_duration(p["ends_s"]), "basis": p["basis"]}
              for p in plan["phases"] if p["requests"] or p["task"] == "gates"]
    parts = ["## Throughput plan", "",
             markdown.text(f"Expected duration of the full run: {plan['duration']} on the current plans "
                           f"(including about {plan['overhead_seconds']:.0f} s of start-up and tail). "
                           f"Bottleneck: {plan['bottleneck'] or 'none measured'}."), "",
             markdown.table(budgets), "", markdown.table(phases)]
    if plan["alternatives"]:
        parts += ["", "With a higher plan:", "", markdown.table([
            {"platform": a["platform"], "plan": a["plan"], "requests a minute": a["per_minute"],
             "expected duration": human_duration(a["seconds"]),
             "saves": f"{max(0.0, 1 - a['seconds'] / plan['seconds']):.0%}" if plan["seconds"] else "n/a"}
            for a in plan["alternatives"]])]
    if plan["unknown"]:
        parts += ["", "Not in the plan: " + markdown.text("; ".join(plan["unknown"]))]
    return "\n".join(parts)


def measured_beside_plan(planned_seconds: float | None, measured_seconds: float) -> str:
    if not planned_seconds:
        return f"The run took {human_duration(measured_seconds)}; discovery made no plan to compare with."
    ratio = measured_seconds / planned_seconds
    return (f"The run took {human_duration(measured_seconds)}; the plan said {human_duration(planned_seconds)} "
            f"({ratio:.2f} x the plan).")


__all__ = ["RUN_OVERHEAD_SECONDS", "Plan", "Task", "human_duration", "measured_beside_plan",
           "measured_requests", "plan_markdown", "plan_pair", "record_extract", "simulate"]
