"""HTTP on the wire, with clients other than requests: curl, and http.client for what curl cannot time.

First the serving layer every emulator shares (helpdesk_migrate/sdk/emulator.py): chunked request bodies,
Expect: 100-continue, keep-alive, concurrent clients, streamed bodies and the deliberate resets the fault
switches need. Then a smoke per emulator with curl: a chunked write and a read on the same connection.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time

import pytest

from helpdesk_migrate.sdk.emulator import EmulatorServer, Response

from .peer_support import require_curl

SEP = "\n--curl-write-out--"


def curl(*args: str, data: bytes | None = None) -> list[tuple[int, int, bytes]]:
    """Runs curl once (one or more URLs); per URL: (HTTP status, connections opened for it, body)."""
    exe = require_curl()
    common = ["-sS", "--max-time", "20", "-w", SEP + "%{http_code} %{num_connects}\n"]
    argv = [exe, *common]
    for arg in args:  # options reset at each --next: repeat the common ones
        argv += [arg, *common] if arg == "--next" else [arg]
    proc = subprocess.run(argv, input=data, capture_output=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    chunks = proc.stdout.split(SEP.encode())
    results, body = [], chunks[0]
    for chunk in chunks[1:]:
        line, _, rest = chunk.partition(b"\n")
        status, connects = (int(x) for x in line.split())
        results.append((status, connects, body))
        body = rest
    return results


def chunked(*extra: str) -> tuple[str, ...]:
    """curl options that upload stdin with Transfer-Encoding: chunked (no Content-Length)."""
    return ("-H", "Transfer-Encoding: chunked", "--data-binary", "@-", *extra)


@pytest.fixture
def echo():
    """A server whose handler says what it received; /slow/<ms> waits first; /stream sends three slow chunks;
    /reset and /cut reset the connection before and in the middle of the answer."""
    seen: list[str] = []

    def handle(request):
        seen.append(request.path)
        if request.path.startswith("/slow/"):
            time.sleep(int(request.path.rsplit("/", 1)[1]) / 1000)
        if request.path == "/reset":
            return Response.connection_reset()
        if request.path == "/cut":
            return Response(200, {"Content-Length": "10"}, b"0123456789", cut_after=5)
        if request.path == "/stream":
            def slowly():
                for part in (b"one,", b"two,", b"three"):
                    time.sleep(0.15)
                    yield part
            return Response(200, {"Content-Type": "text/plain"}, slowly())
        body = json.dumps({"method": request.method, "path": request.path, "query": request.query,
                           "length": len(request.body), "body": request.body.decode("utf-8", "replace"),
                           "transfer_encoding": request.headers.get("transfer-encoding"),
                           "content_length": request.headers.get("Content-Length")}).encode()
        return Response(200, {"Content-Type": "application/json", "Content-Length": str(len(body))}, body)

    server = EmulatorServer(handle, name="echo")
    server.seen = seen
    yield server
    server.stop()


def test_a_chunked_body_arrives_whole(echo):
    payload = b"Name\n" + b"".join(b"row %d\n" % i for i in range(5000))
    [(status, _, body)] = curl(*chunked(), f"{echo.url}/upload?x=1", data=payload)
    got = json.loads(body)
    assert status == 200 and got["transfer_encoding"] == "chunked" and got["content_length"] is None
    assert got["length"] == len(payload) and got["body"] == payload.decode()
    assert got["method"] == "POST" and got["query"] == "x=1"


def test_expect_100_continue_is_answered(echo):
    payload = b"x" * 200_000
    [(status, _, body)] = curl("-H", "Expect: 100-continue", "--data-binary", "@-", f"{echo.url}/big", data=payload)
    assert status == 200 and json.loads(body)["length"] == len(payload)


def test_keep_alive_serves_several_requests_on_one_connection(echo):
    results = curl(f"{echo.url}/a", f"{echo.url}/b", f"{echo.url}/c")
    assert [s for s, _, _ in results] == [200, 200, 200]
    assert [c for _, c, _ in results] == [1, 0, 0]  # one connection opened, then reused


def test_clients_are_served_concurrently(echo):
    started = time.monotonic()
    slow_done: list[float] = []

    def slow():
        conn = http.client.HTTPConnection(echo.host, echo.port, timeout=10)
        conn.request("GET", "/slow/800")
        conn.getresponse().read()
        slow_done.append(time.monotonic() - started)

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.1)
    conn = http.client.HTTPConnection(echo.host, echo.port, timeout=10)
    conn.request("GET", "/fast")
    assert conn.getresponse().status == 200
    fast = time.monotonic() - started
    t.join()
    assert fast < 0.6 < slow_done[0]  # the fast client did not wait for the slow one


def test_a_streamed_body_arrives_as_it_is_produced(echo):
    conn = http.client.HTTPConnection(echo.host, echo.port, timeout=10)
    started = time.monotonic()
    conn.request("GET", "/stream")
    resp = conn.getresponse()
    assert resp.getheader("Transfer-Encoding") == "chunked"
    first = resp.read1(64)
    first_at = time.monotonic() - started
    rest = resp.read()
    assert first == b"one," and first + rest == b"one,two,three"
    assert first_at < 0.35 < time.monotonic() - started


def test_resets_before_and_during_the_answer(echo):
    conn = http.client.HTTPConnection(echo.host, echo.port, timeout=10)
    conn.request("GET", "/reset")
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        conn.getresponse()
    conn = http.client.HTTPConnection(echo.host, echo.port, timeout=10)
    conn.request("GET", "/cut")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Length") == "10"
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead)):
        resp.read()


def test_hooks_see_arrivals_and_answers(echo):
    arrived, answered = [], []
    echo.arrived.append(lambda request: arrived.append((request.method, request.target, request.body)))
    echo.answering.append(lambda request, response: answered.append((request.target, response.status)))
    curl("--data-binary", "@-", f"{echo.url}/hooked?q=1", data=b"abc")
    conn = http.client.HTTPConnection(echo.host, echo.port, timeout=10)
    conn.request("GET", "/reset")
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        conn.getresponse()
    assert arrived == [("POST", "/hooked?q=1", b"abc"), ("GET", "/reset", b"")]
    assert answered == [("/hooked?q=1", 200)]  # a reset before any answer is not an answer


def test_stop_refuses_new_connections(echo):
    echo.stop()
    conn = http.client.HTTPConnection(echo.host, echo.port, timeout=2)
    with pytest.raises(ConnectionRefusedError):
        conn.request("GET", "/after")


# -- each emulator, driven by curl ---------------------------------------------------------------------


def test_trengo_chunked_write_then_read_on_one_connection():
    from helpdesk_migrate.plugins.trengo.emulator.server import start_emulator

    em = start_emulator(seed=4, size=5)
    try:
        ticket = em.workspace.ticket_order()[0] + 2_500_000_000
        auth = ("-H", f"Authorization: Bearer {em.token}")
        post, read = curl(*auth, "-H", "Content-Type: application/json", *chunked(),
                          f"{em.url}/tickets/{ticket}/messages", "--next", *auth, f"{em.url}/tickets/{ticket}/messages",
                          data=json.dumps({"message": "sent with a chunked body", "internal_note": True}).encode())
        assert post[0] == 200 and json.loads(post[2])["message"]["type"] == "NOTE"
        assert read[0] == 200 and read[1] == 0  # the read reused the write's connection
        texts = [m.get("message") for m in json.loads(read[2])["data"]]
        assert "sent with a chunked body" in texts
        assert [r["status"] for r in em.request_log()] == [200, 200]
    finally:
        em.stop()


def test_tidio_chunked_create_then_read_on_one_connection():
    from helpdesk_migrate.plugins.tidio.emulator.server import start_emulator

    em = start_emulator(seed=4, size=3)
    try:
        headers = ("-H", f"X-Tidio-Openapi-Client-Id: {em.client_id}", "-H",
                   f"X-Tidio-Openapi-Client-Secret: {em.client_secret}", "-H", "Accept: application/json; version=1",
                   "-H", "Content-Type: application/json")
        [(status, _, body)] = curl(*headers, *chunked(), f"{em.url}/contacts",
                                   data=json.dumps({"distinct_id": "peer-1", "email": "peer@example.com",
                                                    "first_name": "Chunked"}).encode())
        assert status == 201, body
        contact = json.loads(body)["id"]
        first, second = curl(*headers, f"{em.url}/contacts/{contact}", f"{em.url}/contacts/{contact}")
        assert first[0] == second[0] == 200 and second[1] == 0
        got = json.loads(second[2])
        assert got["email"] == "peer@example.com" and got["first_name"] == "Chunked"
    finally:
        em.stop()


def test_salesforce_bulk_upload_sent_chunked_is_processed():
    """The issue: a Bulk 2.0 CSV sent with chunked transfer encoding was answered 201 and processed 0 records."""
    from helpdesk_migrate.plugins.salesforce.emulator.server import start_emulator

    emu = start_emulator(seed=4, size=5)
    try:
        auth = ("-H", f"Authorization: Bearer {emu.session_id}", "-H", "Content-Type: application/json")
        base = f"{emu.url}/services/data/v62.0/jobs/ingest"
        [(_, _, body)] = curl(*auth, "--data-binary", '{"object": "Account", "operation": "insert"}', base)
        job = json.loads(body)["id"]
        [(status, _, _)] = curl(*auth[:2], "-H", "Content-Type: text/csv", "-X", "PUT", *chunked(),
                                f"{base}/{job}/batches", data=b"Name\nChunked One\nChunked Two\n")
        assert status == 201
        curl(*auth, "-X", "PATCH", "--data-binary", '{"state": "UploadComplete"}', f"{base}/{job}")
        [(_, _, body)] = curl(*auth[:2], f"{base}/{job}")
        info = json.loads(body)
        assert info["state"] == "JobComplete" and info["numberRecordsProcessed"] == 2
        assert {"Chunked One", "Chunked Two"} <= {a["Name"] for a in emu.dump("Account")}
    finally:
        emu.stop()
