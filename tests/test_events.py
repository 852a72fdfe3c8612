"""The push channel (issue 11): whatsapp_login:events under a real ASGI server (uvicorn).

Each test starts uvicorn (and, for the cross-process tests, a second server) on
127.0.0.1 on a throw-away SQLite database; the test process only speaks HTTP. Reads have a
socket timeout so a missing event fails the test instead of hanging it; no test measures
time.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import time

import pytest
from django.test import Client

from .live_servers import Browser, EventStream, Project, free_port, webhook

PHONE = "+996700123456"
needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")


@pytest.fixture
def project():
    made = Project(WHATSAPP_LOGIN_LIVE="inprocess")
    made.users(PHONE)
    yield made
    made.stop()


@pytest.fixture
def server(project):
    return project.uvicorn()


def test_the_stream_sends_the_state_at_once_then_the_confirmation(server):
    browser = Browser()
    message = browser.login_page(server)
    stream = browser.events(server)
    assert stream.status == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    assert stream.headers["X-Accel-Buffering"] == "no"
    first = stream.next_data()
    assert first == browser.status(server)[1] and first["status"] == "pending"
    assert webhook(server, message, PHONE)["status"] == "confirmed"
    confirmed = stream.next_data()
    assert confirmed["status"] == "confirmed"
    assert confirmed == browser.status(server)[1]
    stream.close()


@pytest.mark.parametrize(
    "phone, reason", [("+996700999999", "unknown_number")], ids=["nobody has the number"]
)
def test_a_final_state_is_sent_and_ends_the_stream(server, phone, reason):
    browser = Browser()
    message = browser.login_page(server)
    stream = browser.events(server)
    assert stream.next_data()["status"] == "pending"
    webhook(server, message, phone)
    rejected = stream.next_data()
    assert (rejected["status"], rejected["reason"]) == ("rejected", reason)
    assert rejected == browser.status(server)[1]
    assert stream.next() is None  # the server ended it


def test_an_attempt_already_final_gets_one_event(server):
    browser = Browser()
    message = browser.login_page(server)
    webhook(server, message, "+996700999999")
    stream = browser.events(server)
    assert stream.next_data()["status"] == "rejected"
    assert stream.next() is None


def test_no_attempt_is_404_and_the_page_polls(server):
    stream = Browser().events(server)
    assert stream.status == 404
    assert stream.body() == '{"error": "no_attempt"}'


def test_a_stolen_session_cookie_alone_gets_no_stream(server):
    owner = Browser()
    owner.login_page(server)
    session = next(c for c in owner.jar if c.name == "sessionid")
    # The session id without the binding cookie (the other half of the binding).
    stream = EventStream(server, f"sessionid={session.value}", 10)
    assert stream.status == 404


def test_a_session_holds_a_bounded_number_of_streams(project):
    server = project.uvicorn(WHATSAPP_LOGIN_LIVE_MAX_PER_SESSION=1)
    browser = Browser()
    browser.login_page(server)
    first = browser.events(server)
    assert first.next_data()["status"] == "pending"
    second = browser.events(server)
    assert second.status == 429 and int(second.headers["Retry-After"]) >= 1
    first.close()


def test_a_worker_holds_a_bounded_number_of_streams(project):
    server = project.uvicorn(WHATSAPP_LOGIN_LIVE_MAX_CONNECTIONS=1)
    one, two = Browser(), Browser()
    one.login_page(server)
    two.login_page(server)
    held = one.events(server)
    assert held.next_data()["status"] == "pending"
    refused = two.events(server)
    assert refused.status == 503 and int(refused.headers["Retry-After"]) >= 1
    # The page polls instead, and that still works.
    code, body = two.status(server)
    assert (code, body["status"]) == (200, "pending")
    held.close()


def test_reconnect_loops_are_rate_limited(project):
    server = project.uvicorn(WHATSAPP_LOGIN_RATE_LIMIT_EVENTS="3/m/session")
    browser = Browser()
    browser.login_page(server)
    answers = []
    for _ in range(4):
        stream = browser.events(server)
        answers.append(stream.status)
        stream.close()
    assert answers == [200, 200, 200, 429]


def test_an_idle_stream_sends_heartbeats_then_asks_to_reconnect(project):
    server = project.uvicorn(WHATSAPP_LOGIN_LIVE_HEARTBEAT=0.2, WHATSAPP_LOGIN_LIVE_TIMEOUT=1)
    browser = Browser()
    browser.login_page(server)
    stream = browser.events(server)
    assert stream.next_data()["status"] == "pending"
    seen = []
    while (item := stream.next()) is not None:
        seen.append(item[0])
    assert "comment" in seen and seen[-1] == "reconnect"


def test_under_wsgi_the_view_answers_204_at_once(settings):
    settings.WHATSAPP_LOGIN_LIVE = "inprocess"
    response = Client().get("/whatsapp/events/")
    assert response.status_code == 204 and not response.streaming


def test_with_push_off_the_view_answers_204(project):
    server = project.uvicorn(WHATSAPP_LOGIN_LIVE="")
    browser = Browser()
    browser.login_page(server)
    assert browser.events(server).status == 204


def test_the_page_names_the_channel_only_when_push_is_on(project):
    on = project.uvicorn()
    off = project.uvicorn(WHATSAPP_LOGIN_LIVE="")
    assert 'data-events-url="/whatsapp/events/"' in Browser().get(on + "/login")[1]
    assert "data-events-url" not in Browser().get(off + "/login")[1]


def test_post_never_opens_a_stream(server):
    host, port = server.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", "/whatsapp/events/")
    assert conn.getresponse().status in (403, 405)  # CSRF refuses it first


# --- across processes: Redis pub/sub and PostgreSQL LISTEN/NOTIFY ----------------------


@needs_redis
def test_redis_wakes_a_stream_held_by_another_process(project):
    redis_url = os.environ["REDIS_URL"]
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    holder = project.uvicorn(WHATSAPP_LOGIN_LIVE="redis", CACHES=caches)
    receiver = project.runserver(WHATSAPP_LOGIN_LIVE="redis", CACHES=caches)  # WSGI
    browser = Browser()
    message = browser.login_page(holder)
    stream = browser.events(holder)
    assert stream.next_data()["status"] == "pending"
    assert webhook(receiver, message, PHONE)["status"] == "confirmed"
    assert stream.next_data()["status"] == "confirmed"


@needs_redis
def test_a_lost_notification_is_caught_by_the_next_heartbeat(project):
    redis_url = os.environ["REDIS_URL"]
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    holder = project.uvicorn(
        WHATSAPP_LOGIN_LIVE="redis", CACHES=caches, WHATSAPP_LOGIN_LIVE_HEARTBEAT=0.3
    )
    # This worker notifies nobody (push off there): the wake-up is lost.
    silent = project.runserver(WHATSAPP_LOGIN_LIVE="", CACHES=caches)
    browser = Browser()
    message = browser.login_page(holder)
    stream = browser.events(holder)
    assert stream.next_data()["status"] == "pending"
    webhook(silent, message, PHONE)
    assert stream.next_data()["status"] == "confirmed"


def _private_redis() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],  # noqa: S607
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


@pytest.mark.skipif(
    subprocess.run(["which", "redis-server"], capture_output=True).returncode != 0,  # noqa: S607
    reason="needs redis-server",
)
def test_a_broker_outage_sends_the_page_to_polling_never_a_500(project):
    broker, url = _private_redis()
    try:
        server = project.uvicorn(WHATSAPP_LOGIN_LIVE="redis", WHATSAPP_LOGIN_LIVE_REDIS_URL=url)
        browser = Browser()
        message = browser.login_page(server)
        stream = browser.events(server)
        assert stream.next_data()["status"] == "pending"
        broker.kill()
        broker.wait()
        assert stream.next()[0] == "poll"  # the listener lost Redis: poll from now on
        assert stream.next() is None
        # While Redis is down: new streams are refused with 503, and the webhook and the
        # poll still work (publishing fails quietly after the commit).
        refused = browser.events(server)
        assert refused.status == 503 and refused.headers["Retry-After"]
        assert webhook(server, message, PHONE)["status"] == "confirmed"
        code, body = browser.status(server)
        assert (code, body["status"]) == (200, "confirmed")
    finally:
        if broker.poll() is None:
            broker.kill()


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="needs PostgreSQL"
)
def test_postgres_notify_wakes_a_stream_held_by_another_process():
    from .e2e.server import Database

    database = Database(prefix="wl_live")
    url = database.create()
    made = None
    try:
        made = Project(url, WHATSAPP_LOGIN_LIVE="postgres")
        made.users(PHONE)
        holder = made.uvicorn()
        receiver = made.runserver()
        browser = Browser()
        message = browser.login_page(holder)
        stream = browser.events(holder)
        assert stream.next_data()["status"] == "pending"
        assert webhook(receiver, message, PHONE)["status"] == "confirmed"
        assert stream.next_data()["status"] == "confirmed"
        stream.close()
        # Open streams do not hold database connections (one each would exhaust
        # max_connections with a few hundred waiting pages).
        waiting = []
        for _ in range(6):
            other = Browser()
            other.login_page(holder)
            waiting.append(other.events(holder))
            assert waiting[-1].next_data()["status"] == "pending"
        assert _connections(url) <= 4, "the open streams hold database connections"
        for item in waiting:
            item.close()
    finally:
        if made is not None:
            made.stop()
        database.drop()


def _connections(url: str) -> int:
    """Client connections to the database of ``url``, other than this one."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchone()
    return int(row[0]) if row else 0


# --- system checks (no server) ---------------------------------------------------------


def _live_check_ids() -> list[str]:
    from django_whatsapp_login.live import check_live

    return [message.id for message in check_live()]


def test_checks_accept_each_mode(settings):
    for mode in ("", "inprocess"):
        settings.WHATSAPP_LOGIN_LIVE = mode
        assert _live_check_ids() == []
    settings.WHATSAPP_LOGIN_LIVE = "redis"
    settings.WHATSAPP_LOGIN_LIVE_REDIS_URL = "redis://127.0.0.1:6379/12"
    assert _live_check_ids() == []


def test_e030_an_unknown_mode(settings):
    settings.WHATSAPP_LOGIN_LIVE = "websocket"
    assert _live_check_ids() == ["whatsapp_login.E030"]


def test_e031_redis_without_a_url(settings):
    settings.WHATSAPP_LOGIN_LIVE = "redis"
    settings.WHATSAPP_LOGIN_LIVE_REDIS_URL = ""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert _live_check_ids() == ["whatsapp_login.E031"]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/12",
        }
    }
    assert _live_check_ids() == []


def test_e032_postgres_without_postgresql(settings):
    settings.WHATSAPP_LOGIN_LIVE = "postgres"
    engine = settings.DATABASES["default"]["ENGINE"]
    expected = [] if "postgresql" in engine else ["whatsapp_login.E032"]
    assert _live_check_ids() == expected
