"""The status poll served from the cached public state (issue 11, state.py / poll.py).

Counts data statements with CaptureQueriesContext and cache operations with a counting
wrapper (LocMem) or the Redis connection's writes (REDIS_URL): each is a round trip.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_whatsapp_login import ratelimit, state
from django_whatsapp_login.models import LoginAttempt, Status

from .conftest import incoming, start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_qr_rendering")]

PHONE = "+996700123456"


class CountingCache:
    """The default cache, counting each operation the app makes on it."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        target = getattr(cache, name)
        if not callable(target):
            return target

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return target(*args, **kwargs)

        return counted

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@pytest.fixture
def cached(settings):
    settings.WHATSAPP_LOGIN_STATE_CACHE = True


@pytest.fixture
def counting(monkeypatch):
    counter = CountingCache()
    monkeypatch.setattr(state, "cache", counter)
    monkeypatch.setattr(ratelimit, "cache", counter)
    return counter


@pytest.fixture
def begin(django_capture_on_commit_callbacks):
    def make() -> Client:
        browser = Client()
        with django_capture_on_commit_callbacks(execute=True):
            start(browser)
        return browser

    return make


@pytest.fixture
def send(webhook, django_capture_on_commit_callbacks):
    """Send the browser's code from ``sender`` (the webhook's commits publish)."""

    def post(browser: Client, sender: str = "996700123456@c.us") -> dict[str, Any]:
        code = browser.session["_whatsapp_login"]["code"]
        with django_capture_on_commit_callbacks(execute=True):
            response = webhook.post(incoming(f"AMT LOGIN {code}", sender=sender))
        assert response.status_code == 200
        return response.json()

    return post


def poll(browser: Client) -> tuple[int, dict[str, Any], list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = browser.get("/whatsapp/status/")
    return response.status_code, response.json(), [q["sql"] for q in queries.captured_queries]


def only_the_session(sql: list[str]) -> bool:
    return len(sql) == 1 and "django_session" in sql[0]


def test_a_pending_poll_reads_only_the_session(cached, begin):
    browser = begin()
    code, body, sql = poll(browser)
    assert (code, body["status"]) == (200, "pending")
    assert only_the_session(sql), sql


def test_a_confirmation_reaches_the_poll_without_reading_the_row(cached, begin, send, make_user):
    make_user(PHONE)
    browser = begin()
    assert poll(browser)[1]["status"] == "pending"
    assert send(browser)["status"] == "confirmed"
    code, body, sql = poll(browser)
    assert (code, body["status"]) == (200, "confirmed")
    assert only_the_session(sql), sql


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="Redis: counted on the wire below")
def test_the_poll_costs_three_cache_operations_without_redis(cached, begin, counting):
    browser = begin()
    poll(browser)  # starts both rate-limit windows (an add each)
    counting.calls.clear()
    poll(browser)
    # Without Redis one incr a rule (2/s/attempt, 120/m/session), and the state read.
    assert dict(counting.calls) == {"incr": 2, "get": 1}


def test_without_the_cache_the_poll_reads_the_row(settings, begin, counting):
    settings.WHATSAPP_LOGIN_STATE_CACHE = False
    browser = begin()
    _code, body, sql = poll(browser)
    assert body["status"] == "pending"
    assert len(sql) == 2 and "whatsapp_login_loginattempt" in sql[1]
    assert counting.calls["get"] == 0


def test_a_per_process_cache_is_not_used_unless_forced(settings):
    settings.WHATSAPP_LOGIN_STATE_CACHE = None
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert not state.enabled()
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    assert not state.enabled()
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "t"}
    }
    assert state.enabled()
    settings.WHATSAPP_LOGIN_STATE_CACHE = False
    assert not state.enabled()


def test_expiry_without_a_transition_shows_as_expired(cached, begin):
    browser = begin()
    later = timezone.now() + timedelta(seconds=181)
    with mock.patch("django_whatsapp_login.models.timezone.now", return_value=later):
        code, body, sql = poll(browser)
    assert (code, body["status"]) == (200, "expired")
    assert only_the_session(sql), sql
    assert LoginAttempt.objects.get().status == Status.PENDING  # nothing was written


def test_a_missing_entry_reads_the_row_once_and_fills_the_cache(cached, begin):
    browser = begin()
    cache.clear()
    _code, body, sql = poll(browser)
    assert body["status"] == "pending" and len(sql) == 2
    _code, body, sql = poll(browser)
    assert body["status"] == "pending" and only_the_session(sql)


def test_filling_never_replaces_a_newer_entry(cached, begin, send, make_user):
    make_user(PHONE)
    browser = begin()
    stale = LoginAttempt.objects.get()  # read while pending, as a slow poll would
    send(browser)
    state.fill(stale)
    assert poll(browser)[1]["status"] == "confirmed"


def test_the_cached_path_keeps_the_browser_binding(cached, begin):
    browser = begin()
    assert poll(browser)[0] == 200
    # The same session without the binding cookie (a stolen session id alone).
    thief = Client()
    thief.cookies[browser.cookies["sessionid"].key] = browser.cookies["sessionid"].value
    code, body, sql = poll(thief)
    assert (code, body) == (404, {"error": "no_attempt"})
    assert only_the_session(sql)  # refused from the cache, no row read


def test_a_cached_entry_with_another_binding_is_refused(cached, begin):
    browser = begin()
    pk = browser.session["_whatsapp_login"]["id"]
    value = list(cache.get(state.cache_key(pk)))
    value[5] = "0" * 64
    cache.set(state.cache_key(pk), tuple(value))
    assert poll(browser)[:2] == (404, {"error": "no_attempt"})


def test_an_entry_of_another_version_reads_as_missing(cached, begin):
    browser = begin()
    pk = browser.session["_whatsapp_login"]["id"]
    cache.set(state.cache_key(pk), ("old", "confirmed"))
    _code, body, sql = poll(browser)
    assert body["status"] == "pending" and len(sql) == 2


def _answers(browser: Client) -> tuple[int, dict[str, Any]]:
    response = browser.get("/whatsapp/status/")
    return response.status_code, response.json()


@pytest.mark.parametrize(
    "sender, expected",
    [
        ("996700123456@c.us", "confirmed"),  # a user has this number
        ("996700999999@c.us", "rejected"),  # nobody has it
        ("120650379300963@lid", "rejected"),  # a LID alone: offers the phone fallback
    ],
)
def test_the_cached_answer_is_the_rows_answer(settings, begin, send, make_user, sender, expected):
    make_user(PHONE)
    settings.WHATSAPP_LOGIN_STATE_CACHE = True
    browser = begin()
    send(browser, sender)
    from_cache = _answers(browser)
    settings.WHATSAPP_LOGIN_STATE_CACHE = False
    from_row = _answers(browser)
    assert from_cache == from_row and from_cache[1]["status"] == expected


def test_a_completed_login_answers_404(
    cached, begin, send, make_user, django_capture_on_commit_callbacks
):
    make_user(PHONE)
    browser = begin()
    send(browser)
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post("/whatsapp/complete/").status_code == 200
    # A second tab of the same browser, still polling: the login is used.
    assert _answers(browser)[0] == 404


def test_a_cache_that_is_down_never_fails_the_webhook(cached, begin, send, make_user, caplog):
    make_user(PHONE)
    browser = begin()
    with mock.patch.object(state.cache, "set", side_effect=ConnectionError("down")):
        assert send(browser)["status"] == "confirmed"
    # The entry was dropped rather than left saying "pending": the poll reads the row.
    assert _answers(browser)[1]["status"] == "confirmed"


# --- with Redis: count the round trips on the wire -----------------------------------


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")
def test_with_redis_the_poll_is_one_round_trip(cached, begin):
    import redis.connection

    browser = begin()
    poll(browser)
    sent: list[Any] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counted(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(command)
        return original(self, command, *args, **kwargs)

    with mock.patch.object(redis.connection.AbstractConnection, "send_packed_command", counted):
        code, body, sql = poll(browser)
    assert (code, body["status"]) == (200, "pending")
    assert only_the_session(sql)
    # One EVALSHA: both rate-limit rules counted and the state read by one Lua script.
    assert len(sent) == 1, sent
    assert b"EVALSHA" in b"".join(sent[0]), sent


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")
def test_with_redis_an_unknown_script_is_sent_again(cached, begin, settings, monkeypatch):
    from django_whatsapp_login import ratelimit

    settings.WHATSAPP_LOGIN_RATE_LIMIT_STATUS = "2/m/session"
    browser = begin()
    assert _answers(browser)[0] == 200
    # As if the server forgot the script (a restart, SCRIPT FLUSH; not run here: it would
    # flush every database's scripts): a SHA1 it does not know gets NOSCRIPT, and the call
    # is sent again as EVAL, same answers.
    monkeypatch.setattr(ratelimit._HIT_THEN_GET_SCRIPT, "sha", "0" * 40)
    assert _answers(browser)[0] == 200
    assert _answers(browser)[0] == 429


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")
def test_with_redis_the_limit_still_holds(cached, begin, settings):
    settings.WHATSAPP_LOGIN_RATE_LIMIT_STATUS = "3/m/session"
    browser = begin()
    assert [_answers(browser)[0] for _ in range(4)] == [200, 200, 200, 429]


def test_the_cached_pending_answer_is_the_rows_answer_byte_for_byte(settings, begin):
    settings.WHATSAPP_LOGIN_STATE_CACHE = True
    settings.WHATSAPP_LOGIN_RATE_LIMIT_STATUS = ""
    browser = begin()
    first = browser.get("/whatsapp/status/")
    again = browser.get("/whatsapp/status/")  # from the bodies kept per state
    settings.WHATSAPP_LOGIN_STATE_CACHE = False
    from_row = browser.get("/whatsapp/status/")
    assert first.content == again.content == from_row.content
    assert again["Content-Type"] == from_row["Content-Type"] == "application/json"
    assert again.json()["status"] == "pending"


def test_a_cached_state_builds_its_answer_once(cached, settings, begin, monkeypatch):
    from django_whatsapp_login import views

    settings.WHATSAPP_LOGIN_RATE_LIMIT_STATUS = ""
    browser = begin()
    calls = []
    real = views.status_answer
    monkeypatch.setattr(views, "status_answer", lambda *a: calls.append(1) or real(*a))
    views._BODIES.clear()
    for _ in range(3):
        assert browser.get("/whatsapp/status/").json()["status"] == "pending"
    assert len(calls) == 1


def test_the_kept_answer_follows_the_language(cached, begin):
    from django.utils import translation

    browser = begin()
    english = browser.get("/whatsapp/status/").json()["status_message"]
    with translation.override("ru"):
        russian = browser.get("/whatsapp/status/").json()["status_message"]
    assert english.startswith("Waiting") and russian != english


def test_the_kept_answer_turns_expired_at_the_expiry(cached, begin):
    browser = begin()
    assert browser.get("/whatsapp/status/").json()["status"] == "pending"
    attempt = LoginAttempt.objects.get()
    later = attempt.expires_at.timestamp() + 1
    with mock.patch("django_whatsapp_login.views.time.time", return_value=later):
        with mock.patch("django.utils.timezone.now", return_value=attempt.expires_at):
            body = browser.get("/whatsapp/status/").json()
    assert body["status"] == "expired"
