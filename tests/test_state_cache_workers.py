"""No stale "pending" after a confirmation, across worker processes (issue 11).

Two real server processes share a Redis cache and one database: the webhook confirms on
one, the browser polls the other, and the very next poll must say "confirmed". Skipped
unless REDIS_URL is set (the second pass of .ci/run sets it).
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis

from .conftest import TOKEN, incoming
from .test_redis_limits import free_port, wait_until_up

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 8

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")


def run_django(env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603  (this interpreter, our arguments)
        [sys.executable, "-m", "django", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def two_workers():
    tmp = tempfile.mkdtemp(prefix="wl_workers_")
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=str(ROOT),
        DATABASE_URL="sqlite:///" + os.path.join(tmp, "db.sqlite3"),
        WHATSAPP_LOGIN_TEST_STATE_CACHE="1",
    )
    run_django(env, "migrate", "--run-syncdb", "-v0")
    phones = [f"+99670010{i:04d}" for i in range(ROUNDS)]
    run_django(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model as g\n"
        + "".join(f"g().objects.create_user(username='u{p[1:]}', phone='{p}')\n" for p in phones),
    )
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(  # noqa: S603
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
        yield ports, phones
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


def call(opener: Any, url: str, data: bytes | None = None, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_a_confirmation_on_one_worker_is_seen_by_the_next_poll_on_the_other(two_workers):
    (a, b), phones = two_workers
    plain = urllib.request.build_opener()
    for phone in phones:
        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        status, page = call(browser, f"http://127.0.0.1:{a}/login")
        assert status == 200
        message = re.search(r"data-wl-message>([^<]+)<", page).group(1)
        status, body = call(browser, f"http://127.0.0.1:{b}/whatsapp/status/")
        assert (status, json.loads(body)["status"]) == (200, "pending")
        payload = incoming(message, sender=phone[1:] + "@c.us")
        status, body = call(
            plain,
            f"http://127.0.0.1:{a}/whatsapp/webhook/",
            json.dumps(payload).encode(),
            {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        assert (status, json.loads(body)["status"]) == (200, "confirmed")
        status, body = call(browser, f"http://127.0.0.1:{b}/whatsapp/status/")
        assert (status, json.loads(body)["status"]) == (200, "confirmed"), body
    # And worker b answered from the cache: every attempt's entry is there, confirmed.
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    entries = [pickle.loads(client.get(key)) for key in client.scan_iter("*whatsapp_login:st:*")]  # noqa: S301
    assert len(entries) == ROUNDS
    assert {entry[1] for entry in entries} == {"confirmed"}
