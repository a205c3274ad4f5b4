"""The SDK's emulator kit, the serving layer every platform emulator shares: uvicorn (a production HTTP/1.1 server) in a daemon thread.

Why uvicorn: it is already installed (dagster-webserver serves the UI with it), its httptools parser decodes
chunked request bodies, answers ``Expect: 100-continue``, keeps HTTP/1.1 connections alive and serves many
clients at once; ``http.server`` did none of the first two (a chunked Bulk 2.0 upload arrived empty).

A plugin writes one synchronous function ``handle(Request) -> Response`` and starts it with
``EmulatorServer(handle, name=...)``. Handlers run in a thread pool, so one that sleeps (latency and slow
faults) or takes a lock never holds up the other clients. The price is a hand-off between the event loop and
a worker per request: one sequential client gets ~0.5-0.8x http.server's request rate (a few tenths of a
millisecond more per request on a loaded 2-core machine); with four clients the two are close.

Fault switches need more than a well-behaved server gives, so a Response can also:

- ``Response.connection_reset()``: reset the connection (TCP RST) before any answer;
- ``cut_after=N``: send the status line, headers and N bytes of the body, then reset;
- ``body`` as an iterable of byte chunks: streamed as they are produced (a slow body), chunked unless the
  headers carry a Content-Length.

``EmulatorServer.arrived`` / ``.answering`` are hook lists for test harnesses: called (in the worker thread)
when a request has arrived in full, and when its answer is about to go out (not for a reset before any answer).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from requests.structures import CaseInsensitiveDict

from .emulator_faults import (  # noqa: F401 - the kit's shared parts, one import for an emulator
    AFTER,
    BEFORE,
    FAULTS,
    PARAMS,
    VOCABULARY,
    Faults,
    RegisteredEmulator,
    RequestLog,
    TokenBucket,
    parse_profiles,
)

try:  # the C parser (httptools) when present; h11 is uvicorn's pure-Python fallback
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _BaseProtocol
except ImportError:  # pragma: no cover - httptools ships with uvicorn[standard], which dagster-webserver pulls
    from uvicorn.protocols.http.h11_impl import H11Protocol as _BaseProtocol

# Idle keep-alive connections stay open this long (nginx's default is 75 s). uvicorn's own default (5 s) is
# shorter than the idle gaps of a migration's pooled connections, which would then race the server's close.
KEEP_ALIVE_SECONDS = 75
_TRANSPORT = "emulator_kit.transport"


@dataclass
class Request:
    """One request, its body read in full (chunked or not). ``path`` is as sent (percent-encoded)."""

    method: str
    path: str
    query: str
    headers: CaseInsensitiveDict
    body: bytes
    client: tuple[str, int]

    @property
    def target(self) -> str:
        """Path and query as on the request line (what ``BaseHTTPRequestHandler.path`` held)."""
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass
class Response:
    status: int
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()
    body: bytes | Iterable[bytes] = b""
    cut_after: int | None = None  # send this many body bytes, then reset the connection
    reset: bool = False  # reset the connection instead of answering

    @classmethod
    def connection_reset(cls) -> Response:
        return cls(0, reset=True)

    def header_pairs(self) -> list[tuple[str, str]]:
        items = self.headers.items() if isinstance(self.headers, Mapping) else self.headers
        return [(str(k), str(v)) for k, v in items]


Handler = Callable[[Request], Response]


class RequestHandler:
    """Base of an emulator's per-request handler: one object per request, with the request's target, headers
    and client where handlers written for ``http.server`` look for them; a subclass implements
    ``_handle(method)`` and leaves its answer in ``response``."""

    def __init__(self, emulator: Any, request: Request):
        self.emulator, self.request = emulator, request
        self.path, self.headers, self.client_address = request.target, request.headers, request.client
        self.response = Response(500)

    def _handle(self, method: str) -> None:
        raise NotImplementedError

    @classmethod
    def serve(cls, emulator: Any, request: Request) -> Response:
        handler = cls(emulator, request)
        handler._handle(request.method)
        return handler.response


class _Protocol(_BaseProtocol):
    """uvicorn's HTTP protocol, with the connection's transport put in each request's scope: resetting a
    connection on purpose is not something ASGI can express."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        app = self.app

        async def with_transport(scope: dict[str, Any], receive: Any, send: Any) -> None:
            scope[_TRANSPORT] = transport
            await app(scope, receive, send)

        self.app = with_transport


@dataclass
class EmulatorServer:
    """Serves ``handler`` on ``host:port`` (port 0: a free one) from a daemon thread until ``stop()``."""

    handler: Handler
    host: str = "127.0.0.1"
    port: int = 0
    name: str = "emulator"
    max_workers: int = 64
    arrived: list[Callable[[Request], None]] = field(default_factory=list)
    answering: list[Callable[[Request, Response], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Bound here, before the thread starts, so the port is known (and taken) when the constructor returns.
        self._socket = socket.create_server((self.host, self.port), reuse_port=False)
        self.host, self.port = self._socket.getsockname()[:2]
        self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix=f"{self.name}-{self.port}")
        config = uvicorn.Config(self._asgi, http=_Protocol, lifespan="off", ws="none", interface="asgi3",
                                log_config=None, access_log=False, proxy_headers=False, server_header=False,
                                timeout_keep_alive=KEEP_ALIVE_SECONDS, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: the HTTP server on port {self.port} did not start")
            time.sleep(0.002)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        # What uvicorn.Server.run does, keeping a handle on the loop for stop().
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await self._server.serve(sockets=[self._socket])

        with asyncio.Runner(loop_factory=self._server.config.get_loop_factory()) as runner:
            runner.run(serve())

    def stop(self) -> None:
        """Stop listening and close every connection now; in-flight handlers finish in the background.
        (uvicorn's own shutdown waits 0.1 s at least, too long for tests that start emulators by the dozen.)"""
        loop = self._loop
        if loop is None or loop.is_closed() or not self._thread.is_alive():
            return
        closed = threading.Event()

        def close_now() -> None:
            for listener in self._server.servers:
                listener.close()
            for connection in list(self._server.server_state.connections):
                connection.shutdown()  # idle: closed; busy: closed once its answer is out
            self._server.should_exit = self._server.force_exit = True
            closed.set()

        try:
            loop.call_soon_threadsafe(close_now)
        except RuntimeError:  # the loop closed meanwhile
            return
        closed.wait(5)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- the ASGI application ----------------------------------------------------------------------

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = CaseInsensitiveDict()
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        client = scope.get("client") or ("", 0)
        request = Request(scope["method"], scope["raw_path"].decode("latin-1"),
                          scope["query_string"].decode("latin-1"), headers, bytes(body), (client[0], client[1]))
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(self._executor, self._respond, request)
        transport: asyncio.Transport = scope[_TRANSPORT]
        if response.reset:
            await _reset(transport)
            return
        await send({"type": "http.response.start", "status": response.status,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.header_pairs()]})
        if isinstance(response.body, bytes | bytearray):
            if response.cut_after is not None:
                await send({"type": "http.response.body", "body": bytes(response.body[:response.cut_after]),
                            "more_body": True})
                await _reset(transport)
                return
            await send({"type": "http.response.body", "body": bytes(response.body)})
            return
        chunks: Iterator[bytes] = iter(response.body)
        while True:  # each chunk is produced in a worker: a slow body must not hold the event loop
            chunk = await loop.run_in_executor(self._executor, next, chunks, None)
            if chunk is None:
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    def _respond(self, request: Request) -> Response:
        for hook in list(self.arrived):
            hook(request)
        response = self.handler(request)
        if not response.reset:
            for hook in list(self.answering):
                hook(request, response)
        return response


CONTROL_PREFIX = "/_emulator/"
JSON = {"Content-Type": "application/json"}


def control_response(request: Request, faults: Faults, log: RequestLog | None = None) -> Response | None:
    """The control routes every emulator serves under ``/_emulator/`` (no authentication: an emulator only
    listens on 127.0.0.1): ``GET|POST /_emulator/faults`` (arm switches with a JSON object; 400 naming the
    vocabulary for an unknown one), ``DELETE /_emulator/faults`` (clear them all) and ``GET /_emulator/requests``
    (the request log). None for any other path, which the platform's emulator handles (its own state routes)."""
    import json

    path = request.path.split("?", 1)[0]
    if path == CONTROL_PREFIX + "faults":
        if request.method == "POST":
            try:
                faults.update(json.loads(request.body or b"{}"))
            except (ValueError, TypeError) as exc:
                return Response(400, JSON, json.dumps({"error": str(exc)}).encode())
        elif request.method == "DELETE":
            faults.clear()
        return Response(200, JSON, json.dumps(faults.as_dict(), default=str).encode())
    if path == CONTROL_PREFIX + "requests" and log is not None:
        return Response(200, JSON, json.dumps(log.all()).encode())
    return None


async def _reset(transport: asyncio.Transport) -> None:
    """SO_LINGER 0, then close: the kernel sends RST, which the client sees as "connection reset by peer"."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()
    await asyncio.sleep(0)  # let connection_lost run: uvicorn then knows the answer was abandoned on purpose


def stop_on_sigterm() -> None:
    """Make SIGTERM stop an emulator's command line the way Ctrl-C does (KeyboardInterrupt in the main thread),
    whatever disposition the process inherited: a parent that ignores SIGTERM (a CI runner's background job)
    passes that on through exec, and the emulator would then outlive every terminate()."""
    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)
