"""The emulators' fault switches the campaigns rely on, and the harness's own machinery: quick, no migration."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from helpdesk_migrate.plugins.salesforce.emulator.server import start_emulator as start_salesforce
from helpdesk_migrate.plugins.tidio.client import TidioAmbiguousWrite, TidioClient
from helpdesk_migrate.plugins.tidio.config import TidioConfig
from helpdesk_migrate.plugins.tidio.emulator.server import TidioEmulator
from helpdesk_migrate.plugins.trengo.emulator.server import TrengoEmulator

from .harness import FaultSchedule, RequestTap, Tripwire, any_request


@pytest.fixture
def trengo():
    emu = TrengoEmulator(1, 3, rate_limit=100_000)
    yield emu, {"Authorization": f"Bearer {emu.token}"}
    emu.stop()


@pytest.fixture
def tidio():
    emu = TidioEmulator(seed=1, size=3, rate_limit=100_000)
    RequestTap(emu)  # quiet about answers written to clients that gave up
    yield emu, {"X-Tidio-Openapi-Client-Id": emu.client_id, "X-Tidio-Openapi-Client-Secret": emu.client_secret,
                "Accept": "application/json; version=1"}
    emu.stop()


@pytest.fixture
def salesforce():
    emu = start_salesforce(seed=1, size=3)
    RequestTap(emu)
    yield emu, {"Authorization": f"Bearer {emu.session_id}"}
    emu.stop()


def test_trengo_cuts_answers_mid_body_storms_and_answers_late(trengo):
    emu, auth = trengo
    RequestTap(emu)
    emu.set_faults(reset_mid_body_rate=1.0)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(emu.url + "/tickets", headers=auth, timeout=5)
    emu.set_faults(reset_mid_body_rate=0, rate_limit_rate=1.0, storm_seconds=0.3)
    first = requests.get(emu.url + "/tickets", headers=auth, timeout=5)
    assert first.status_code == 429 and first.headers["Retry-After"] == "1" and first.json() == {
        "message": "Too Many Attempts."}
    emu.set_faults(rate_limit_rate=0)
    assert requests.get(emu.url + "/tickets", headers=auth, timeout=5).status_code == 429  # the storm goes on
    time.sleep(0.35)
    assert requests.get(emu.url + "/tickets", headers=auth, timeout=5).status_code == 200
    emu.set_faults(slow_body_rate=1.0, slow_ms=400)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(emu.url + "/tickets", headers=auth, timeout=0.1)
    assert emu.faults.fired["reset_mid_body"] == 1 and emu.faults.fired["rate_limit"] == 1


def test_tidio_cuts_answers_mid_body_and_answers_late(tidio):
    emu, headers = tidio
    emu.set_faults(reset_mid_body_next=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(emu.url + "/contacts", headers=headers, timeout=5)
    assert requests.get(emu.url + "/contacts", headers=headers, timeout=5).status_code == 200
    emu.set_faults(slow_body_next=1, slow_ms=400)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(emu.url + "/contacts", headers=headers, timeout=0.1)
    with pytest.raises(ValueError, match="unknown fault"):
        emu.set_faults(reset_everything=1)


def test_salesforce_cuts_answers_mid_body_and_answers_late(salesforce):
    emu, auth = salesforce
    url = emu.url + "/services/data/v62.0/sobjects"
    emu.faults.update(reset_mid_body_next=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(url, headers=auth, timeout=5)
    assert requests.get(url, headers=auth, timeout=5).status_code == 200
    emu.faults.update(slow_body_next=1, slow_ms=400)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(url, headers=auth, timeout=0.1)


def test_tidio_client_survives_a_429_burst_and_failures_on_one_request_and_never_resends_a_lost_create(
        tidio, tmp_path, monkeypatch):
    emu, _ = tidio
    monkeypatch.setenv("MIGRATION_HOME", str(tmp_path))
    client = TidioClient(TidioConfig.from_env({**emu.env(), "TIDIO_RETRY_BACKOFF_SECONDS": "0.01"}))
    try:
        # 5 429s then 3 503s on one request: each kind has its own TIDIO_MAX_RETRIES (6) attempts.
        emu.set_faults(rate_limit_next=5, server_error_next=3)
        assert client.project()["status"] == "active"
        emu.set_faults(reset_mid_body_next=2)
        assert client.operators()
        emu.set_faults(reset_mid_body_next=1)
        with pytest.raises(TidioAmbiguousWrite):
            client.post("/contacts", {"distinct_id": "x:1", "email": "x@example.org"})
        assert emu.counts()["contacts"] >= 1  # processed: the caller must look before sending it again
    finally:
        client.close()


def test_tripwire_kills_the_process_group_at_the_nth_answer_and_the_server_lives_on(trengo):
    emu, auth = trengo
    tap = RequestTap(emu)
    script = ("import requests, sys\n"
              f"for i in range(50): requests.get({emu.url + '/tickets'!r}, headers={auth!r}, timeout=5)\n"
              "sys.exit(0)\n")
    wire = Tripwire(tap, any_request, at=7)
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    wire.arm(proc.pid)
    assert proc.wait(timeout=60) == -9
    assert wire.fired_on and wire.fired_on.startswith("GET /api/v2/tickets")
    assert requests.get(emu.url + "/tickets", headers=auth, timeout=5).status_code == 200


def test_fault_schedule_is_seeded_and_meets_every_kind_early(trengo):
    emu, auth = trengo
    fired = []
    for _ in range(2):
        tap = RequestTap(emu)
        log: list[str] = []
        menu = {"a": (0.1, lambda log=log: log.append("a"), any_request),
                "b": (0.0, lambda log=log: log.append("b"), any_request)}
        schedule = FaultSchedule(tap, menu, seed=5, early=10)
        for _ in range(30):
            requests.get(emu.url + "/tickets", headers=auth, timeout=5)
        schedule.active = False
        tap.arrived.clear()
        fired.append(list(log))
    assert fired[0] == fired[1] and "b" in fired[0] and "a" in fired[0]
