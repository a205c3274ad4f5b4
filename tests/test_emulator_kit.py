"""The SDK's emulator kit: one fault vocabulary, a request log, control routes, a token bucket and profiles,
observed by a real HTTP client against a small emulator built the way a plugin's emulator is."""

from __future__ import annotations

import json
import time

import pytest
import requests

from helpdesk_migrate.sdk import emulator as kit


class TinyEmulator:
    """A platform of one endpoint, answering through the kit the way the built-in emulators do."""

    def __init__(self, **faults):
        self.faults = kit.Faults(faults, extra=("platform_switch",), seed=3)
        self.log = kit.RequestLog()
        self.saved: list[bytes] = []
        self.server = kit.EmulatorServer(self.handle, name="tiny-kit")
        self.server.answering.append(lambda rq, rs: self.log.record(rq.method, rq.path, rq.query, rs.status,
                                                                    bytes_in=len(rq.body)))
        self.url = self.server.url

    def handle(self, request: kit.Request) -> kit.Response:
        control = kit.control_response(request, self.faults, self.log)
        if control is not None:
            return control
        method, path = request.method, request.path
        self.faults.wait_latency()
        if self.faults.due("reset", method, path):
            return kit.Response.connection_reset()
        if self.faults.due("rate_limit", method, path):
            return kit.Response(429, {"Retry-After": "1"}, b'{"error": "slow down"}')
        if self.faults.due("expired_auth", method, path):
            return kit.Response(401, {}, b'{"error": "expired"}')
        if self.faults.due("server_error", method, path):
            return kit.Response(self.faults.server_error_status(503), {}, b"{}")
        if method == "POST":
            self.saved.append(request.body)
        if method == "POST" and self.faults.due("lose_response", method, path):
            return kit.Response(502, {}, b"{}")
        body = json.dumps({"items": list(range(200))}).encode()
        if self.faults.due("reset_mid_body", method, path):
            return kit.Response(200, {"Content-Length": str(len(body))}, body, cut_after=len(body) // 2)
        if self.faults.due("slow_body", method, path):
            time.sleep(self.faults.slow_seconds())
        return kit.Response(200, {"Content-Type": "application/json"}, body)

    def stop(self):
        self.server.stop()


@pytest.fixture
def tiny():
    emu = TinyEmulator()
    yield emu
    emu.stop()


def test_each_fault_of_the_vocabulary_is_seen_by_a_real_client(tiny):
    get = lambda path="/items": requests.get(tiny.url + path, timeout=2)  # noqa: E731
    tiny.faults.arm(reset_next=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        get()
    tiny.faults.arm(rate_limit_next=1)
    assert get().status_code == 429 and get().status_code == 200
    tiny.faults.arm(expired_auth_next=1)
    assert get().status_code == 401
    tiny.faults.arm(server_error_next=1, server_error_status=502)
    assert get().status_code == 502 and get().status_code == 200
    tiny.faults.arm(lose_response_next=1)
    assert requests.post(tiny.url + "/items", data=b"x", timeout=2).status_code == 502 and tiny.saved == [b"x"]
    tiny.faults.arm(reset_mid_body_next=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get()
    tiny.faults.arm(slow_body_next=1, slow_ms=400)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(tiny.url + "/items", timeout=0.1)
    assert dict(tiny.faults.fired) == {f: 1 for f in kit.FAULTS}


def test_every_and_rate_arms_and_the_path_filter(tiny):
    tiny.faults.arm(server_error_every=3, fault_path="/items")
    statuses = [requests.get(tiny.url + "/items", timeout=2).status_code for _ in range(6)]
    assert statuses == [200, 200, 503, 200, 200, 503]
    assert requests.get(tiny.url + "/other", timeout=2).status_code == 200  # outside the filter
    tiny.faults.clear()
    tiny.faults.arm(server_error_rate=0.5)
    hits = sum(requests.get(tiny.url + "/items", timeout=2).status_code == 503 for _ in range(40))
    assert 8 <= hits <= 32  # seeded: the same run gives the same share


def test_a_storm_answers_429_for_its_whole_length(tiny):
    tiny.faults.arm(rate_limit_next=1, storm_seconds=0.3)
    assert [requests.get(tiny.url + "/items", timeout=2).status_code for _ in range(3)] == [429, 429, 429]
    time.sleep(0.35)
    assert requests.get(tiny.url + "/items", timeout=2).status_code == 200


def test_latency_delays_every_request(tiny):
    tiny.faults.arm(latency_ms=60)
    assert requests.get(tiny.url + "/items", timeout=2).elapsed.total_seconds() >= 0.06


def test_control_routes_arm_list_and_clear_and_refuse_unknown_switches(tiny):
    armed = requests.post(tiny.url + "/_emulator/faults", json={"server_error_next": 2, "platform_switch": 1},
                          timeout=2).json()
    assert armed["switches"] == {"server_error_next": 2, "platform_switch": 1}
    assert "slow_body_rate" in armed["vocabulary"] and "platform_switch" in armed["vocabulary"]
    refused = requests.post(tiny.url + "/_emulator/faults", json={"error_rate": 1}, timeout=2)
    assert refused.status_code == 400 and "unknown fault switch" in refused.json()["error"]
    assert tiny.faults.take("platform_switch") and not tiny.faults.take("platform_switch")
    requests.delete(tiny.url + "/_emulator/faults", timeout=2)
    assert tiny.faults.values == {}
    requests.get(tiny.url + "/items?page=2", timeout=2)
    log = requests.get(tiny.url + "/_emulator/requests", timeout=2).json()
    assert {"method": "GET", "path": "/items", "query": "page=2", "status": 200} == {
        k: log[-1][k] for k in ("method", "path", "query", "status")}


def test_the_request_log_is_bounded():
    log = kit.RequestLog(limit=3)
    for i in range(5):
        log.record("GET", f"/{i}", "", 200)
    assert [e["path"] for e in log.all()] == ["/2", "/3", "/4"] and log.by_status() == {200: 3}


def test_the_token_bucket_admits_its_budget_then_refills():
    bucket = kit.TokenBucket(per_minute=600, burst=5)
    assert [bucket.take()[0] for _ in range(6)] == [True] * 5 + [False]
    time.sleep(0.12)  # 600/min = 10/s: one token back
    assert bucket.take()[0] and not bucket.take()[0]
    assert 0 < bucket.seconds_to_next() <= 0.1


def test_profiles_parse_combined_and_refuse_unknown_names():
    known = {"default": "as it is", "a": "variant a", "b": "variant b"}
    assert kit.parse_profiles("a, b", known) == {"a", "b"} and kit.parse_profiles("default", known) == set()
    with pytest.raises(ValueError, match="the acme emulator has no profile 'c'; its profiles: default, a, b"):
        kit.parse_profiles("a,c", known, platform="acme")


def test_the_built_in_emulators_share_the_vocabulary():
    """One vocabulary: a switch name means the same to every emulator, and a wrong one is refused by each."""
    from migration_assets.registry import default_registry

    for name in ("trengo", "salesforce", "tidio"):
        emu = default_registry().emulator(name).start(seed=1, size=2)
        try:
            emu.faults.arm(server_error_next=1)
            with pytest.raises(ValueError, match="unknown fault switch"):
                emu.faults.arm(error_5xx_next=1)
            root = getattr(emu, "root", emu.url)  # Trengo's url is its API root (/api/v2)
            state = requests.get(root + "/_emulator/faults", timeout=2).json()
            assert state["switches"] == {"server_error_next": 1}, name
        finally:
            emu.stop()
