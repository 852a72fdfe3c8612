"""With Redis as the cache, two server processes share one rate limit (SR-25).

Skipped unless REDIS_URL is set (.ci/run sets it in its second pass).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(port: int, client_ip: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/whatsapp/webhook/",
        data=b"{}",
        headers={
            "Authorization": "Bearer forged",
            "X-Forwarded-For": client_ip,
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def wait_until_up(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(process.stdout.read() if process.stdout else "server died")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


@pytest.fixture
def two_servers():
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=str(ROOT),
        WHATSAPP_LOGIN_TEST_PROXIES="1",
    )
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(  # noqa: S603  (this interpreter, our arguments)
            [
                sys.executable,
                "-m",
                "django",
                "runserver",
                f"127.0.0.1:{port}",
                "--noreload",
                "--skip-checks",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for port in ports
    ]
    try:
        for port, process in zip(ports, processes, strict=True):
            wait_until_up(port, process)
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


def test_two_processes_share_one_limit(two_servers):
    a, b = two_servers
    # A fresh client address per run, so earlier runs' counters cannot interfere.
    client = f"203.0.113.{random.randint(1, 254)}"
    other = f"198.51.100.{random.randint(1, 254)}"
    # Wait for the start of a fresh one-minute window so all hits land in one window.
    time.sleep(max(0.0, 60 - time.time() % 60 + 0.05) if time.time() % 60 > 45 else 0)
    answers = [post(a if i % 2 else b, client) for i in range(10)]
    assert answers == [401] * 10  # 10/m/ip, counted across both processes
    assert post(a, client) == 429
    assert post(b, client) == 429
    # Another client is not affected, on either process.
    assert post(a, other) == 401 and post(b, other) == 401
