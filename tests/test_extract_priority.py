"""Which source requests go first: what the go-ahead waits for, then what is loaded, then what is only listed."""

from __future__ import annotations

import pytest

from migration_assets.factory import Pair, build_definitions
from migration_assets.hookspecs import DestinationObject
from migration_assets.pairs import (
    extract_key,
    extract_priority,
    field_map_key,
    gate_extract_keys,
    preflight_key,
)
from migration_assets.ratelimit import Priority
from migration_assets.registry import default_registry


@pytest.fixture(scope="module")
def pairs() -> dict[str, Pair]:
    registry = default_registry()
    trengo = registry.source("trengo")
    return {d: Pair(trengo, registry.destination(d)) for d in ("salesforce", "tidio")}


def test_the_gates_wait_only_for_the_root_objects_the_pair_writes(pairs):
    tidio, salesforce = pairs["tidio"], pairs["salesforce"]
    tidio_gate = {k.path[-1] for k in gate_extract_keys(tidio)}
    assert {"contacts", "conversations", "agents", "custom_fields"} <= tidio_gate
    # Tidio lists these for a person to rebuild; Salesforce does not take reports at all
    assert not tidio_gate & {"reports", "articles", "workflows", "quick_replies", "channels", "contact_groups"}
    assert "reports" not in {k.path[-1] for k in gate_extract_keys(salesforce)}
    assert "articles" in {k.path[-1] for k in gate_extract_keys(salesforce)}  # Knowledge articles are written
    # children are never gated on: parents load while messages are still read
    assert "messages" not in tidio_gate


def test_inventory_only_objects_are_declared_by_the_destination(pairs):
    tidio = {o.canonical: o for o in pairs["tidio"].destination.objects()}
    assert tidio["reports"].inventory_only and not tidio["contacts"].inventory_only
    assert pairs["tidio"].written() == [c for c in pairs["tidio"].loadable() if not tidio[c].inventory_only]
    assert DestinationObject("x").inventory_only is False  # a destination writes what it declares, by default


@pytest.mark.parametrize(("destination", "canonical", "expected"), [
    ("tidio", "contacts", Priority.URGENT),
    ("tidio", "messages", Priority.NORMAL),
    ("tidio", "articles", Priority.BACKGROUND),
    ("tidio", "reports", Priority.BACKGROUND),
    ("salesforce", "articles", Priority.URGENT),
    ("salesforce", "messages", Priority.NORMAL),
    ("salesforce", "reports", Priority.BACKGROUND),
])
def test_an_extracts_priority_follows_what_its_pair_does_with_the_object(pairs, destination, canonical, expected):
    pair = pairs[destination]
    assert extract_priority(pair.source, canonical, [pair]) is expected


def test_a_run_for_no_pair_serves_the_most_urgent_need_of_every_pair(pairs):
    both = list(pairs.values())
    source = pairs["tidio"].source
    assert extract_priority(source, "articles", both) is Priority.URGENT  # Salesforce's gate waits for them
    assert extract_priority(source, "reports", both) is Priority.BACKGROUND
    assert extract_priority(source, "contacts", []) is Priority.NORMAL  # no pair: nothing to rank against


def test_the_built_gate_assets_depend_on_exactly_those_extracts(pairs):
    pair = pairs["tidio"]
    graph = build_definitions(pairs=[pair]).resolve_asset_graph()
    wanted = set(gate_extract_keys(pair))
    for gate in (field_map_key(pair), preflight_key(pair)):
        upstream = {k for k in graph.get(gate).parent_keys if k.path[0] == pair.source.name}
        assert upstream == wanted, gate
    assert extract_key("trengo", "reports") not in wanted


def test_a_step_that_waits_for_leftover_budget_starts_last_and_holds_one_slot_at_most(pairs):
    """Such a step mostly sleeps in the limiter: holding the executor's slots, it would keep the gates and the loads
    waiting (they need those slots), so Dagster starts it after any other ready step, one at a time."""
    from migration_assets.asset_metadata import REQUESTS_TAG
    from migration_assets.factory import multiprocess_config

    pair = pairs["tidio"]
    job = build_definitions(pairs=[pair]).resolve_job_def(f"{pair.name}_full")
    tags = {name: node.definition.tags for name, node in job.graph.node_dict.items()}
    assert tags["trengo__reports"].get(REQUESTS_TAG) == "background"
    assert tags["trengo__reports"].get("dagster/priority") == "-1"
    assert "dagster/priority" not in tags["trengo__contacts"] and REQUESTS_TAG not in tags["trengo__messages"]
    # Tidio's inventory loads make room for the loads of what it writes
    assert tags["tidio__from_trengo__reports"].get("dagster/priority") == "-1"
    assert "dagster/priority" not in tags["tidio__from_trengo__contacts"]
    limits = multiprocess_config()["tag_concurrency_limits"]
    assert {"key": REQUESTS_TAG, "value": "background", "limit": 1} in limits
