"""The emulator's own promises: determinism, scale, verbatim shapes, faults, the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from helpdesk_migrate.plugins.trengo.emulator.workspace import DIRT_CASES, Workspace

ROOT = Path(__file__).resolve().parents[2]


def test_the_same_seed_gives_the_same_workspace():
    a, b, c = Workspace(3, 120), Workspace(3, 120), Workspace(4, 120)
    assert a.snapshot() == b.snapshot() != c.snapshot()


def test_sizes_scale_the_objects():
    ws = Workspace(1, 10_000)  # fast enough to build in a test; 100,000 is the benchmark's business
    assert ws.n_tickets == 10_000 and ws.n_contacts == 6_000 and len(ws.users) == 500
    assert {c["type"] for c in ws.channels} >= {"EMAIL", "CHAT", "WA_BUSINESS", "WHATSAPP", "VOIP", "SMS", "FACEBOOK",
                                                "INSTAGRAM", "TELEGRAM", "TWITTER", "WECHAT", "GBM", "CUSTOM"}
    counts = ws.t_nmsg
    assert sum(1 for n in counts if n <= 25) / len(counts) > 0.95 and max(counts) > 100
    assert any(u["status"] == "INACTIVE" for u in ws.users)


def test_every_named_dirt_case_is_placed_and_described():
    manifest = Workspace(5, 200).dirt_manifest()
    assert {d["case"] for d in manifest} == {n for n, c in DIRT_CASES.items() if not c.gated}
    assert all(d["expected"] and d["description"] and d["source_id"] for d in manifest)
    assert Workspace(5, 200, dirt=False).dirt_manifest() == []


def test_verbatim_paginator_shapes(emulator):
    em = emulator(size=30)
    headers = {"Authorization": f"Bearer {em.token}", "Accept": "application/json"}
    simple = requests.get(f"{em.url}/tickets?page=2&per_page=100", headers=headers, timeout=5).json()
    assert set(simple["meta"]) == {"current_page", "from", "path", "per_page", "to"}
    assert simple["links"]["last"] is None and simple["links"]["next"] is None and len(simple["data"]) == 5
    empty = requests.get(f"{em.url}/contacts?page=9", headers=headers, timeout=5).json()
    assert empty["data"] == [] and empty["meta"]["from"] is None and empty["meta"]["to"] is None
    aware = requests.get(f"{em.url}/webhooks", headers=headers, timeout=5).json()
    assert aware["meta"]["per_page"] == 999 and aware["meta"]["last_page"] == 1
    labels = [link["label"] for link in aware["meta"]["links"]]
    assert labels == ["pagination.previous", "1", "pagination.next"]


def test_collapsed_emails_and_their_full_bodies(emulator):
    em = emulator(size=60)
    headers = {"Authorization": f"Bearer {em.token}"}
    ticket = next(d["source_id"] for d in em.workspace.dirt_manifest() if d["case"] == "message_body_over_32k")
    messages = requests.get(f"{em.url}/tickets/{ticket}/messages", headers=headers, timeout=5).json()["data"]
    collapsed = next(m for m in messages if m["email_message"] and m["email_message"]["collapsed"])
    assert len(collapsed["message"]) < 1000
    full = requests.get(f"{em.url}/tickets/{ticket}/email_messages/{collapsed['id']}", headers=headers,
                        timeout=5).json()
    assert len(full["html"]) > 32_768


def test_writes_are_logged_and_change_the_snapshot(emulator):
    em = emulator(size=10)
    before = em.snapshot()
    headers = {"Authorization": f"Bearer {em.token}"}
    ticket = em.workspace.ticket_order()[0] + 2_500_000_000
    assert requests.post(f"{em.url}/tickets/{ticket}/close", headers=headers, timeout=5).status_code == 200
    assert em.snapshot()["digest"] != before["digest"] and em.snapshot()["writes"] == 1
    assert ("POST", f"/api/v2/tickets/{ticket}/close") in {(r["method"], r["path"]) for r in em.request_log()}


def test_latency_fault_is_applied(emulator):
    em = emulator(size=2, faults={"latency_ms": 30})
    r = requests.get(f"{em.url}/labels", headers={"Authorization": f"Bearer {em.token}"}, timeout=5)
    assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.03 and em.faults.get("latency_ms") == 30


def test_the_command_line_prints_the_environment_then_serves():
    proc = subprocess.Popen([sys.executable, "-m", "helpdesk_migrate.plugins.trengo.emulator.server", "--port", "0", "--size", "5",
                             "--seed", "3", "--rate-limit", "90"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        env = {}
        for line in iter(proc.stdout.readline, ""):
            if line.startswith("#"):  # the ready line follows the environment
                break
            key, _, value = line.strip().partition("=")
            env[key] = value
        assert env["TRENGO_RATE_LIMIT_PER_MINUTE"] == "90"
        r = requests.get(f"{env['TRENGO_BASE_URL']}/channels",
                         headers={"Authorization": f"Bearer {env['TRENGO_API_TOKEN']}"}, timeout=5)
        assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "90"
    finally:
        proc.terminate()
        proc.wait(timeout=60)  # SIGTERM stops it (a loaded machine may take a while to get there)


def test_the_plugin_registers_through_its_entry_point_module():
    import helpdesk_migrate.plugins.trengo.plugin as module
    from migration_assets.registry import build_registry, get_plugin_manager

    registry = build_registry(get_plugin_manager([module], load_entry_points=False))
    source = registry.source("trengo")
    assert source.title == "Trengo" and any(s.secret for s in source.settings())
