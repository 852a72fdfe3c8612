"""The push channel in a real Chromium (issue 11): the example project under uvicorn with
WHATSAPP_LOGIN_LIVE on, and the fallbacks: under gunicorn (WSGI: the events view answers
204) and when the broker goes away in the middle of the wait.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.live_servers import free_port

from .conftest import ARTIFACTS, TENANTS, Site, _env, _site
from .server import UvicornServer
from .test_login_in_browser import DESKTOP, assert_logged_in, page_message, send

EVENTS = "/whatsapp/events/"
STATUS = "/whatsapp/status/"


def _uvicorn_site(database_url: str, name: str, **extra: str) -> Iterator[Site]:
    import secrets

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    server = UvicornServer(
        env=_env(database_url, token, **extra),
        workers=1,
        log_path=ARTIFACTS / f"e2e-uvicorn-{name}.log",
        python=sys.executable,
    )
    server.start()
    try:
        yield Site(server, token)
    finally:
        server.stop()


@pytest.fixture(scope="package")
def asgi_site(site: Site, e2e_database: str) -> Iterator[Site]:
    """The example project under uvicorn, push in process (one worker)."""
    yield from _uvicorn_site(e2e_database, "push", WHATSAPP_LOGIN_LIVE="inprocess")


@pytest.fixture(scope="package")
def wsgi_push_site(site: Site, e2e_database: str) -> Iterator[Site]:
    """gunicorn with push switched on: the page must find out that it cannot push."""
    yield from _site(e2e_database, "wsgi-push", WHATSAPP_LOGIN_LIVE="inprocess")


def record(page: Any) -> list[tuple[str, int]]:
    """(path, status) of each answer the page gets from the widget's endpoints."""
    seen: list[tuple[str, int]] = []

    def on_response(response: Any) -> None:
        path = "/" + response.url.split("/", 3)[-1].split("?")[0]
        if path in (EVENTS, STATUS):
            seen.append((path, response.status))

    page.on("response", on_response)
    return seen


def open_recorded(context: Any, site: Site) -> tuple[Any, list[tuple[str, int]]]:
    page = context.new_page()
    seen = record(page)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.wl_errors = errors
    page.goto(site.url + "/login")
    page.wait_for_selector(".wl-widget.wl-js")
    return page, seen


def test_push_logs_the_page_in_without_polling(chromium, asgi_site, timings):
    context = chromium.new_context(viewport=DESKTOP)
    try:
        page, seen = open_recorded(context, asgi_site)
        assert page.get_attribute("[data-whatsapp-login]", "data-events-url") == EVENTS
        page.wait_for_function(
            "() => document.querySelector('[data-wl-status]').textContent.includes('Waiting')"
        )
        page.wait_for_timeout(2000)  # three poll intervals: a polling page would have asked
        polls = [item for item in seen if item[0] == STATUS]
        assert len(polls) <= 1, seen  # at most the check when the page is shown
        sent = time.perf_counter()
        assert send(asgi_site, page_message(page), TENANTS["push"][1])["status"] == "confirmed"
        page.wait_for_url(asgi_site.url + "/", wait_until="commit", timeout=10_000)
        timings["push_delivery_to_arrival_s"] = round(time.perf_counter() - sent, 3)
        assert_logged_in(page, asgi_site, "push")
        assert [item for item in seen if item[0] == STATUS] == polls  # still no polling
    finally:
        context.close()


def test_under_wsgi_the_page_falls_back_to_polling(chromium, wsgi_push_site):
    context = chromium.new_context(viewport=DESKTOP)
    try:
        page, seen = open_recorded(context, wsgi_push_site)
        page.wait_for_timeout(1500)
        assert (EVENTS, 204) in seen
        assert len([item for item in seen if item[0] == STATUS]) >= 2  # polling by itself
        message = page_message(page)
        assert send(wsgi_push_site, message, TENANTS["wsgi"][1])["status"] == "confirmed"
        assert_logged_in(page, wsgi_push_site, "wsgi")
    finally:
        context.close()


@pytest.fixture
def private_redis() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    if subprocess.run(["which", "redis-server"], capture_output=True).returncode:  # noqa: S607
        pytest.skip("needs redis-server")
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],  # noqa: S607
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    yield process, f"redis://127.0.0.1:{port}/0"
    if process.poll() is None:
        process.kill()


def test_a_broker_outage_sends_the_page_to_polling(chromium, site, e2e_database, private_redis):
    broker, url = private_redis
    site_iter = _uvicorn_site(
        e2e_database,
        "outage",
        WHATSAPP_LOGIN_LIVE="redis",
        WHATSAPP_LOGIN_LIVE_REDIS_URL=url,
        REDIS_URL=os.environ.get("REDIS_URL", ""),
    )
    outage_site = next(site_iter)
    context = chromium.new_context(viewport=DESKTOP)
    try:
        page, seen = open_recorded(context, outage_site)
        page.wait_for_timeout(1000)
        assert (EVENTS, 200) in seen
        before = len([item for item in seen if item[0] == STATUS])
        broker.kill()
        broker.wait()
        page.wait_for_timeout(2000)
        assert len([item for item in seen if item[0] == STATUS]) >= before + 2  # polling now
        assert send(outage_site, page_message(page), TENANTS["outage"][1])["status"] == (
            "confirmed"
        )
        assert_logged_in(page, outage_site, "outage")
    finally:
        context.close()
        next(site_iter, None)
