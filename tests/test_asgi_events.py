"""The lean ASGI wrapper (``django_whatsapp_login.asgi.live_events``) answers as the view.

Every case runs against two uvicorn servers on one throw-away database: ``tests.asgi``
(Django's handler, the ``events`` view) and ``tests.asgi_lean`` (the wrapper), and checks
that both give the same answer: status, headers that matter, body or events. No test
measures time; reads have socket timeouts so a missing event fails instead of hanging.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import time
from typing import Any

import django
import pytest

from .live_servers import Browser, EventStream, Project, webhook

PHONE = "+996700123457"
VIEW = "tests.asgi:application"
LEAN = "tests.asgi_lean:application"


@pytest.fixture(scope="module")
def project():
    made = Project(WHATSAPP_LOGIN_LIVE="inprocess")
    made.users(PHONE)
    yield made
    made.stop()


def both(project: Project, **overrides: Any) -> list[str]:
    """The view's server and the wrapper's, with the same settings."""
    return [project.uvicorn(app=VIEW, **overrides), project.uvicorn(app=LEAN, **overrides)]


@pytest.fixture(scope="module")
def servers(project):
    return both(project)


def plain(stream: EventStream) -> tuple[int, str, str | None, str]:
    """What a refused stream answers: status, Content-Type, Retry-After, body."""
    headers = {name.lower(): value for name, value in stream.headers.items()}
    return (
        stream.status,
        headers.get("content-type", ""),
        headers.get("retry-after"),
        stream.body(),
    )


def same(answers: list[Any]) -> Any:
    view, lean = answers
    assert lean == view
    return view


def test_everything_else_goes_to_django(servers):
    view, lean = (Browser().get(server + "/login") for server in servers)
    assert view[0] == lean[0] == 200
    assert "data-wl-message" in lean[1]


def test_no_session_is_404(servers):
    answer = same([plain(Browser().events(server)) for server in servers])
    assert answer == (404, "application/json", None, '{"error": "no_attempt"}')


def test_a_session_cookie_without_the_binding_cookie_is_404(servers):
    answers = []
    for server in servers:
        owner = Browser()
        owner.login_page(server)
        session = next(c for c in owner.jar if c.name == "sessionid")
        answers.append(plain(EventStream(server, f"sessionid={session.value}", 10)))
    assert same(answers)[0] == 404


def test_a_binding_cookie_of_another_browser_is_404(servers):
    answers = []
    for server in servers:
        one, two = Browser(), Browser()
        one.login_page(server)
        two.login_page(server)
        session = next(c for c in one.jar if c.name == "sessionid")
        binding = next(c for c in two.jar if c.name != "sessionid" and "csrf" not in c.name)
        cookies = f"sessionid={session.value}; {binding.name}={binding.value}"
        answers.append(plain(EventStream(server, cookies, 10)))
    assert same(answers)[0] == 404


def test_the_stream_sends_the_state_then_the_confirmation(servers):
    seen = []
    for server in servers:
        browser = Browser()
        message = browser.login_page(server)
        stream = browser.events(server)
        headers = {name.lower(): value for name, value in stream.headers.items()}
        first = stream.next_data()
        assert first == browser.status(server)[1]
        assert webhook(server, message, PHONE)["status"] == "confirmed"
        confirmed = stream.next_data()
        assert confirmed == browser.status(server)[1]
        seen.append(
            (
                stream.status,
                headers["content-type"],
                headers["cache-control"],
                headers["x-accel-buffering"],
                first["status"],
                confirmed["status"],
                sorted(confirmed),
            )
        )
        stream.close()
    assert same(seen)[:6] == (
        200,
        "text/event-stream; charset=utf-8",
        "no-store",
        "no",
        "pending",
        "confirmed",
    )


def test_a_rejection_is_sent_and_ends_the_stream(servers):
    seen = []
    for server in servers:
        browser = Browser()
        message = browser.login_page(server)
        stream = browser.events(server)
        assert stream.next_data()["status"] == "pending"
        webhook(server, message, "+996700999998")
        rejected = stream.next_data()
        assert rejected == browser.status(server)[1]
        assert stream.next() is None
        seen.append((rejected["status"], rejected["reason"]))
    assert same(seen) == ("rejected", "unknown_number")


def test_an_attempt_already_final_gets_one_event(servers):
    seen = []
    for server in servers:
        browser = Browser()
        message = browser.login_page(server)
        webhook(server, message, "+996700999998")
        stream = browser.events(server)
        item = stream.next_data()
        assert stream.next() is None
        seen.append(item["status"])
    assert same(seen) == "rejected"


def test_an_attempt_that_expires_while_waiting(project):
    # The shortest lifetime there is (10 s); the heartbeat re-read sees it end.
    servers = both(project, WHATSAPP_LOGIN_ATTEMPT_TTL=10, WHATSAPP_LOGIN_LIVE_HEARTBEAT=0.5)
    browsers = [Browser() for _ in servers]
    streams = []
    for browser, server in zip(browsers, servers, strict=True):
        browser.login_page(server)
        streams.append(browser.events(server, timeout=30))
        assert streams[-1].next_data()["status"] == "pending"
    ends = []
    for browser, server, stream in zip(browsers, servers, streams, strict=True):
        expired = stream.next_data()
        assert expired == browser.status(server)[1]
        assert stream.next() is None
        ends.append(expired["status"])
    assert same(ends) == "expired"


def events_until(browser: Browser, server: str, status: int, seconds: float) -> EventStream:
    """Open the browser's stream again and again until it answers ``status`` (or
    ``seconds`` pass); the last stream, still open."""
    deadline = time.monotonic() + seconds
    while True:
        stream = browser.events(server)
        if stream.status == status or time.monotonic() > deadline:
            return stream
        stream.close()
        time.sleep(0.05)


def test_a_session_holds_a_bounded_number_of_streams(project):
    answers = []
    for server in both(project, WHATSAPP_LOGIN_LIVE_MAX_PER_SESSION=1):
        browser = Browser()
        browser.login_page(server)
        first = browser.events(server)
        assert first.next_data()["status"] == "pending"
        answers.append(plain(browser.events(server))[:3])
        first.close()
    assert same(answers) == (429, "text/html; charset=utf-8", "2")


def test_a_worker_holds_a_bounded_number_of_streams(project):
    answers = []
    for server in both(project, WHATSAPP_LOGIN_LIVE_MAX_CONNECTIONS=1):
        one, two = Browser(), Browser()
        one.login_page(server)
        two.login_page(server)
        held = one.events(server)
        assert held.next_data()["status"] == "pending"
        answers.append(plain(two.events(server))[:3])
        assert two.status(server)[1]["status"] == "pending"  # the poll still works
        held.close()
    assert same(answers) == (503, "text/html; charset=utf-8", "5")


def test_a_client_that_leaves_frees_its_place(project):
    # One place per worker: after the first client hangs up, the next one gets it. The
    # wrapper reads the hang-up (http.disconnect) itself on every Django version; Django's
    # own ASGI handler passes it to a streaming view only since Django 5.0, so on 4.2 the
    # view's place stays taken until WHATSAPP_LOGIN_LIVE_TIMEOUT (docs/live.md).
    servers = both(project, WHATSAPP_LOGIN_LIVE_MAX_CONNECTIONS=1)
    if django.VERSION < (5, 0):
        servers = servers[1:]
    for server in servers:
        one, two = Browser(), Browser()
        one.login_page(server)
        two.login_page(server)
        held = one.events(server)
        assert held.next_data()["status"] == "pending"
        held.close()
        stream = events_until(two, server, 200, seconds=5)
        assert stream.status == 200, f"{server}: the place was never freed"
        assert stream.next_data()["status"] == "pending"
        stream.close()


def test_a_client_that_never_reads_holds_its_place_only_until_the_timeout(project):
    # A client that sends the request and then never reads a byte (nor hangs up): its
    # stream still ends at WHATSAPP_LOGIN_LIVE_TIMEOUT (the heartbeats and the last event are
    # a few bytes, which the socket buffers take), so the one place of the worker is free
    # again for the next page, which meanwhile is refused with 503 and polls.
    for server in both(
        project,
        WHATSAPP_LOGIN_LIVE_MAX_CONNECTIONS=1,
        WHATSAPP_LOGIN_LIVE_HEARTBEAT=0.2,
        WHATSAPP_LOGIN_LIVE_TIMEOUT=1,
    ):
        mute, other = Browser(), Browser()
        mute.login_page(server)
        other.login_page(server)
        host, port = server.removeprefix("http://").split(":")
        silent = socket.create_connection((host, int(port)), timeout=10)
        try:
            silent.sendall(
                b"GET /whatsapp/events/ HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
                b"Accept: text/event-stream\r\nCookie: "
                + mute.cookie_header().encode()
                + b"\r\n\r\n"
            )
            time.sleep(0.2)  # let the server take the silent request first
            # Taken: refused while the silent one holds it.
            refused = events_until(other, server, 503, seconds=1)
            assert refused.status == 503, f"{server}: the silent client never took the place"
            refused.close()
            stream = events_until(other, server, 200, seconds=6)
            assert stream.status == 200, f"{server}: the silent client kept its place"
            assert stream.next_data()["status"] == "pending"
            stream.close()
        finally:
            silent.close()


def test_reconnect_loops_are_rate_limited(project):
    answers = []
    for server in both(project, WHATSAPP_LOGIN_RATE_LIMIT_EVENTS="3/m/session"):
        browser = Browser()
        browser.login_page(server)
        statuses = []
        for _ in range(4):
            stream = browser.events(server)
            statuses.append(stream.status)
            retry_after = {k.lower(): v for k, v in stream.headers.items()}.get("retry-after")
            stream.close()
        answers.append((statuses, retry_after is not None))
    assert same(answers) == ([200, 200, 200, 429], True)


def test_an_idle_stream_sends_heartbeats_then_asks_to_reconnect(project):
    seen = []
    for server in both(project, WHATSAPP_LOGIN_LIVE_HEARTBEAT=0.2, WHATSAPP_LOGIN_LIVE_TIMEOUT=1):
        browser = Browser()
        browser.login_page(server)
        stream = browser.events(server)
        assert stream.next_data()["status"] == "pending"
        kinds = []
        while (item := stream.next()) is not None:
            kinds.append(item[0])
        seen.append(("comment" in kinds, kinds[-1]))
    assert same(seen) == (True, "reconnect")


def test_with_push_off_both_answer_204(project):
    answers = []
    for server in both(project, WHATSAPP_LOGIN_LIVE=""):
        browser = Browser()
        browser.login_page(server)
        answers.append(plain(browser.events(server))[0])
    assert same(answers) == 204


def test_the_wrapper_refuses_other_methods_with_405(servers):
    host, port = servers[1].removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", "/whatsapp/events/")
    response = conn.getresponse()
    # The view's answer is CSRF's 403 first; the wrapper never reads a body: 405.
    assert (response.status, response.getheader("Allow")) == (405, "GET")


@pytest.mark.skipif(
    subprocess.run(["which", "redis-server"], capture_output=True).returncode != 0,  # noqa: S607
    reason="needs redis-server",
)
def test_a_broker_outage_sends_the_page_to_polling(project):
    from .test_events import _private_redis

    seen = []
    for app in (VIEW, LEAN):
        broker, url = _private_redis()
        try:
            server = project.uvicorn(
                app=app, WHATSAPP_LOGIN_LIVE="redis", WHATSAPP_LOGIN_LIVE_REDIS_URL=url
            )
            browser = Browser()
            message = browser.login_page(server)
            stream = browser.events(server)
            assert stream.next_data()["status"] == "pending"
            broker.kill()
            broker.wait()
            fell_back = stream.next()[0]
            ended = stream.next() is None
            refused = plain(browser.events(server))[:3]
            assert webhook(server, message, PHONE)["status"] == "confirmed"
            seen.append((fell_back, ended, refused, browser.status(server)[1]["status"]))
        finally:
            if broker.poll() is None:
                broker.kill()
    assert same(seen) == ("poll", True, (503, "text/html; charset=utf-8", "5"), "confirmed")


# --- the parts, without a server --------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_of_re_reads_costs_one_query(django_assert_num_queries, settings):
    from datetime import timedelta

    from django.http import HttpRequest
    from django.utils import timezone

    from django_whatsapp_login import events
    from django_whatsapp_login.models import LoginAttempt, Status

    settings.WHATSAPP_LOGIN_STATE_CACHE = False  # every attempt from the rows
    soon = timezone.now() + timedelta(minutes=2)
    made = [
        LoginAttempt.objects.create(
            code_hash=str(i) * 64, binding_hash="b" * 64, expires_at=soon, status=status
        )
        for i, status in enumerate([Status.PENDING, Status.CONFIRMED, Status.PENDING])
    ]
    request = HttpRequest()
    items = [(request, attempt.pk) for attempt in made] + [(request, made[0].pk), (request, 0)]
    with django_assert_num_queries(1):
        answers = events.read_many(items)
    assert [(code, data.get("status")) for code, data in answers] == [
        (200, "pending"),
        (200, "confirmed"),
        (200, "pending"),
        (200, "pending"),
        (404, None),  # gone: the stream sends the page to polling
    ]


def test_the_reader_batches_streams_woken_together(monkeypatch):
    import asyncio

    from django.http import HttpRequest

    from django_whatsapp_login import events

    batches: list[list[int]] = []

    def fake_read_many(items):
        batches.append([attempt_id for _request, attempt_id in items])
        return [(200, {"status": str(attempt_id)}) for _request, attempt_id in items]

    monkeypatch.setattr(events, "read_many", fake_read_many)

    async def main():
        reader = events.Reader(asyncio.get_running_loop())
        request = HttpRequest()
        return await asyncio.gather(*(reader.read(request, i) for i in range(1, 7)))

    answers = asyncio.run(main())
    assert [data["status"] for _code, data in answers] == ["1", "2", "3", "4", "5", "6"]
    assert batches == [[1, 2, 3, 4, 5, 6]]


def test_a_waiter_woken_before_it_waits_returns_at_once_and_times_out_otherwise():
    import asyncio

    from django_whatsapp_login import live

    async def main():
        waiter = live.Waiter(1, "client")
        waiter.wake()
        await asyncio.sleep(0)  # the thread-safe wake lands on the next turn
        first = await waiter.wait(30)
        second = await waiter.wait(0.01)
        waiter.close()
        third = await waiter.wait(30)
        return first, second, third, waiter.closed

    assert asyncio.run(main()) == (True, False, True, True)


def test_a_failed_re_read_sends_the_page_to_polling(monkeypatch, settings):
    import asyncio

    from django.http import HttpRequest

    from django_whatsapp_login import events, live

    settings.WHATSAPP_LOGIN_LIVE = "inprocess"

    def broken(items):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(events, "read_many", broken)

    async def main():
        opened = events.Opened(7, "client-7", {"status": "pending"}, wait=True)
        chunks = events.stream(HttpRequest(), opened)
        first = await chunks.__anext__()
        live.HUB.wake(7)
        rest = [chunk async for chunk in chunks]
        return first, rest, live.HUB.client_count("client-7")

    first, rest, left = asyncio.run(main())
    assert first.startswith("retry: 1000") and '"pending"' in first
    assert rest == ["event: poll\ndata: {}\n\n"]
    assert left == 0  # the stream left the hub
