"""Real servers for the push-channel tests: uvicorn (ASGI) or runserver (WSGI) processes
of the test project, on 127.0.0.1, sharing one throw-away database; and a small
server-sent-events reader. Nothing here imports Django: the servers are other processes."""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-webhook-token-0123456789abcdefghijklmnop"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Project:
    """One database (a SQLite file) and the servers started on it."""

    def __init__(self, database_url: str = "", **base: Any) -> None:
        self.tmp = tempfile.mkdtemp(prefix="wl_live_")
        self.base = base
        self.env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="tests.asgi_settings",
            PYTHONPATH=str(ROOT),
            DATABASE_URL=database_url or "sqlite:///" + os.path.join(self.tmp, "db.sqlite3"),
            WHATSAPP_LOGIN_TEST_STATE_CACHE="1",
        )
        self.processes: list[subprocess.Popen[str]] = []
        self.django("migrate", "--run-syncdb", "-v0")

    def django(self, *args: str) -> str:
        result = subprocess.run(  # noqa: S603  (this interpreter, our arguments)
            [sys.executable, "-m", "django", *args],
            cwd=ROOT,
            env=self._env(self.base),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(result.stdout + result.stderr)
        return result.stdout

    def users(self, *phones: str) -> None:
        self.django(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model as g\n"
            + "".join(
                f"g().objects.create_user(username='u{p[1:]}', phone='{p}')\n" for p in phones
            ),
        )

    def _env(self, overrides: dict[str, Any]) -> dict[str, str]:
        return dict(self.env, WHATSAPP_LOGIN_TEST_OVERRIDES=json.dumps({**self.base, **overrides}))

    def uvicorn(
        self, workers: int = 1, app: str = "tests.asgi:application", **overrides: Any
    ) -> str:
        """A uvicorn server; ``app="tests.asgi_lean:application"`` for the lean wrapper."""
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        if workers > 1:
            command += ["--workers", str(workers)]
        return self._start(command, port, overrides)

    def runserver(self, **overrides: Any) -> str:
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "django",
            "runserver",
            f"127.0.0.1:{port}",
            "--noreload",
            "--skip-checks",
        ]
        return self._start(command, port, overrides)

    def _start(self, command: list[str], port: int, overrides: dict[str, Any]) -> str:
        log = open(os.path.join(self.tmp, f"server-{port}.log"), "w")
        process = subprocess.Popen(  # noqa: S603
            command,
            cwd=ROOT,
            env=self._env(overrides),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(Path(log.name).read_text())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []


class Browser:
    """A cookie jar and the requests the login page makes."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, url: str) -> tuple[int, str, dict[str, str]]:
        try:
            with self.opener.open(url, timeout=10) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(), dict(err.headers)

    def login_page(self, server: str) -> str:
        """Open the login page; return the message to send."""
        status, page, _headers = self.get(server + "/login")
        assert status == 200, page
        found = re.search(r"data-wl-message>([^<]+)<", page)
        assert found is not None
        return found.group(1)

    def status(self, server: str) -> tuple[int, dict[str, Any]]:
        status, body, _headers = self.get(server + "/whatsapp/status/")
        return status, json.loads(body)

    def cookie_header(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.jar)

    def events(self, server: str, timeout: float = 10) -> EventStream:
        return EventStream(server, self.cookie_header(), timeout)


class EventStream:
    """GET whatsapp_login:events and read it event by event."""

    def __init__(self, server: str, cookies: str, timeout: float) -> None:
        host, port = server.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        self.conn.request(
            "GET", "/whatsapp/events/", headers={"Cookie": cookies, "Accept": "text/event-stream"}
        )
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = dict(self.response.getheaders())

    def next(self) -> tuple[str, str] | None:
        """(event name, data) of the next event or comment; None at the end of the stream."""
        name, data, comment = "message", [], None
        while True:
            line = self.response.readline()
            if not line:
                return None
            text = line.decode().rstrip("\n")
            if text == "":
                if data or name != "message":
                    return name, "\n".join(data)
                if comment is not None:
                    return "comment", comment
                continue
            field, _, value = text.partition(":")
            value = value.removeprefix(" ")
            if field == "":
                comment = value
            elif field == "event":
                name = value
            elif field == "data":
                data.append(value)

    def next_data(self) -> dict[str, Any]:
        """The next status event's JSON, skipping comments and the retry line."""
        while True:
            item = self.next()
            assert item is not None, "the stream ended"
            if item[0] == "message":
                return json.loads(item[1])

    def body(self) -> str:
        return self.response.read().decode()

    def close(self) -> None:
        self.conn.close()


def webhook(server: str, message: str, phone: str) -> dict[str, Any]:
    """Deliver ``message`` from ``phone`` as Green API would."""
    sender = phone.lstrip("+") + "@c.us"
    payload = {
        "typeWebhook": "incomingMessageReceived",
        "instanceData": {
            "idInstance": 1101000001,
            "wid": "996555000001@c.us",
            "typeInstance": "whatsapp",
        },
        "timestamp": int(time.time()),
        "idMessage": "3EB0" + os.urandom(8).hex().upper(),
        "senderData": {"chatId": sender, "chatName": "T", "sender": sender, "senderName": "T"},
        "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": message}},
    }
    request = urllib.request.Request(  # noqa: S310
        server + "/whatsapp/webhook/",
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())
