"""What the fake gateways (``fake_greenapi.py``, ``fake_cloudapi.py``) share: a real HTTP
server on 127.0.0.1 (ephemeral port) in a daemon thread, JSON in and out, and scripted
failures and delays per API call. Each fake says only what its provider's API answers
(:meth:`FakeServer.respond`)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit

#: ``(status, JSON body, extra headers)`` of one answer.
Answer = tuple[int, Any, dict[str, str]]
_Fake = TypeVar("_Fake", bound="FakeServer")


class FakeServer:
    #: The ``http.server`` methods routed to :meth:`respond`.
    http_methods: tuple[str, ...] = ("GET", "POST")

    def __init__(self) -> None:
        #: Every request received as ``(http_method, call, json_body)`` (filled by the fakes).
        self.requests: list[tuple[str, str, Any]] = []
        self._failures: dict[str, deque[Answer]] = {}
        self._delays: dict[str, float] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- control -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self: _Fake) -> _Fake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def default_error(self, status: int) -> Any:
        """The body of a scripted failure when the test gives none."""
        return {"error": f"fake {status}"}

    def fail(
        self,
        call: str,
        status: int,
        times: int = 1,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``call`` with ``status`` (and ``body``)."""
        if body is None:
            body = self.default_error(status)
        for _ in range(times):
            self._failures.setdefault(call, deque()).append((status, body, headers or {}))

    def delay(self, call: str, seconds: float) -> None:
        """Every later call of ``call`` waits ``seconds`` first (the timeout tests)."""
        self._delays[call] = seconds

    def calls(self, call: str) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[1] == call]

    def scripted(self, call: str) -> Answer | None:
        """Wait out the delay of ``call``, then pop its next scripted failure, if any."""
        if call in self._delays:
            time.sleep(self._delays[call])
        with self._lock:
            failures = self._failures.get(call)
            return failures.popleft() if failures else None

    # --- HTTP plumbing -----------------------------------------------------------------

    def respond(self, http_method: str, url: SplitResult, headers: Any, body: Any) -> Answer:
        """The answer to one request; ``body`` is the decoded JSON (or the raw bytes)."""
        raise NotImplementedError

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                status, data, headers = fake.respond(
                    self.command, urlsplit(self.path), self.headers, body
                )
                payload = json.dumps(data).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting (the timeout tests)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        for method in fake.http_methods:
            setattr(Handler, f"do_{method}", Handler._handle)
        return Handler
