"""The throughput plan (migration_assets/planner.py): the simulation of shared budgets, the plan of a pair from
measured and estimated requests, and its words in the scope report."""

from __future__ import annotations

import pytest

from migration_assets import planner
from migration_assets.factory import Pair
from migration_assets.hookspecs import RequestBudget, RequestEstimate
from migration_assets.planner import Task, plan_pair, simulate
from migration_assets.ratelimit import DEFAULT_HEADROOM
from migration_assets.store import MigrationStore
from tests.tiny_pair import TinyDestination, TinySource

PER_SECOND = 60 / 60 / (1 + DEFAULT_HEADROOM)  # 60 a minute, less the limiter's headroom


def budgets(**per_minute):
    return {name: RequestBudget(per_minute=v, plan="test") for name, v in per_minute.items()}


def test_tasks_on_one_platform_share_its_budget_and_the_whole_takes_their_sum():
    tasks = [Task("a", "src", 60), Task("b", "src", 120)]
    end = simulate(tasks, budgets(src=60))
    assert end == pytest.approx(180 / PER_SECOND)
    # Shared equally while both run: a finishes at 120 requests spent, b goes on alone.
    assert tasks[0].end == pytest.approx(120 / PER_SECOND)


def test_a_task_waits_for_what_it_needs_and_two_platforms_overlap():
    tasks = [Task("extract", "src", 60), Task("other extract", "src", 60),
             Task("load", "dst", 30, after=("extract",))]
    end = simulate(tasks, budgets(src=60, dst=60))
    assert tasks[2].start == pytest.approx(120 / PER_SECOND)  # both extracts end together, sharing the source
    assert end == pytest.approx(150 / PER_SECOND)
    # A destination counted per request rather than per minute takes seconds_per_request each, side by side.
    timed = [Task("x", "src", 0), Task("load", "dst", 10, after=("x",))]
    assert simulate(timed, {"src": RequestBudget(60, "t"), "dst": RequestBudget(None, "t", seconds_per_request=0.5)}) \
        == pytest.approx(5.0)


def test_a_less_urgent_task_waits_while_a_more_urgent_one_spends_the_budget():
    """The shared limiter's priorities: the extract a gate waits for first, an inventory's last."""
    from migration_assets.ratelimit import Priority

    tasks = [Task("contacts", "src", 60, priority=int(Priority.URGENT)),
             Task("messages", "src", 60, priority=int(Priority.NORMAL)),
             Task("reports", "src", 30, priority=int(Priority.BACKGROUND)),
             Task("load contacts", "dst", 30, after=("contacts",))]
    end = simulate(tasks, budgets(src=60, dst=60))
    assert tasks[0].end == pytest.approx(60 / PER_SECOND)  # alone on the budget: not slowed by the others
    assert tasks[3].start == pytest.approx(60 / PER_SECOND)  # so its load starts that much sooner
    assert tasks[1].end == pytest.approx(120 / PER_SECOND)
    assert tasks[2].end == pytest.approx(150 / PER_SECOND) == end  # the budget's leftovers, at the end


def test_tasks_that_wait_on_each_other_are_refused():
    with pytest.raises(ValueError, match="wait on each other"):
        simulate([Task("a", "src", 1, after=("b",)), Task("b", "src", 1, after=("a",))], budgets(src=60))


class PlannedSource(TinySource):
    def request_budget(self, env):
        return RequestBudget(per_minute=120, plan="token")

    def estimate_requests(self, scope):
        return [RequestEstimate("conversations", 600, "test")]


class PlannedDestination(TinyDestination):
    def request_budget(self, env):
        return RequestBudget(per_minute=60, plan="Plus", plans={"Plus": 60, "Premium": 120})

    def estimate_requests(self, scope):
        return [RequestEstimate("conversations", 600, "test"), RequestEstimate("contacts", 6, "test")]


def test_the_plan_uses_measured_requests_first_names_the_bottleneck_and_what_a_higher_plan_buys(tmp_path):
    store = MigrationStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    pair = Pair(PlannedSource(), PlannedDestination())
    planner.record_extract(store, "tinysrc", "contacts", None, requests=240, seconds=1.0, run_id="discover")
    plan = plan_pair(store, pair, {"counts": {}}, {})
    phases = {t.name: t for t in plan.tasks}
    assert phases["extract contacts"].requests == 240 and phases["extract contacts"].basis == "measured by discovery"
    assert phases["extract conversations"].requests == 600  # not measured: the source's estimate
    assert plan.bottleneck == "tinydst"
    # The destination's 600 conversations at 60 a minute outlast the source's 840 requests at 120.
    assert plan.seconds == pytest.approx(phases["load conversations"].end + planner.RUN_OVERHEAD_SECONDS)
    (premium,) = plan.alternatives
    assert premium["plan"] == "Premium" and premium["seconds"] < plan.seconds
    words = planner.plan_markdown(plan.as_dict())
    assert "Bottleneck: tinydst" in words and "Premium" in words
    # A shard's extract adds up with the other shards of the same run; a later run replaces them.
    planner.record_extract(store, "tinysrc", "messages", "0", requests=10, seconds=1, run_id="r1")
    planner.record_extract(store, "tinysrc", "messages", "1", requests=15, seconds=1, run_id="r1")
    assert planner.measured_requests(store, "tinysrc")["messages"] == 25
    planner.record_extract(store, "tinysrc", "messages", "0", requests=7, seconds=1, run_id="r2")
    assert planner.measured_requests(store, "tinysrc")["messages"] == 7


def test_a_plugin_without_the_capability_is_named_not_guessed(tmp_path):
    store = MigrationStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    plan = plan_pair(store, Pair(TinySource(), TinyDestination()), {"counts": {}}, {})
    assert any("states no request budget" in u for u in plan.unknown)
    assert "Not in the plan" in planner.plan_markdown(plan.as_dict())
