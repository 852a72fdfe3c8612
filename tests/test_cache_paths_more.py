"""The rate limits and the cached state on a cache that is not Redis, whatever REDIS_URL the
suite runs with (CI measures with Redis, where these paths are otherwise never taken): one
``incr`` a rule, ``add`` when a window starts, another process starting it first; and
poll.session_attempt, which the push channel's stream reads (tests/test_events.py runs it
only in server processes), from the row, the cache and a cache miss."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory

from django_whatsapp_login import poll, ratelimit, state
from django_whatsapp_login.models import LoginAttempt

from .conftest import session_attempt_id, start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_qr_rendering")]

IP = {"ip": "203.0.113.50"}


@pytest.fixture
def local_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "whatsapp-login-cache-paths",
        }
    }
    cache.clear()
    assert ratelimit.redis_client() is None
    yield
    cache.clear()


# --- rate limits, counted with incr/add ------------------------------------------------


def test_each_rule_is_counted_in_the_cache_and_refuses_past_its_amount(local_cache):
    spec = "2/m/ip,3/h/session"
    keys = {**IP, "session": "s1"}
    assert [ratelimit.hit("start", spec, keys) for _ in range(2)] == [None, None]
    refused = ratelimit.hit("start", spec, keys)
    assert refused is not None and 1 <= refused <= 60
    # The per-session hour rule counted the same three events: the next session-only
    # event is its fourth, past 3/h.
    over_hour = ratelimit.hit("start", spec, {"session": "s1"})
    assert over_hour is not None and 60 < over_hour <= 3600
    assert ratelimit.hit("start", spec, {"session": "s2"}) is None


class StartedElsewhere:
    """The cache as seen when another process starts the window between our ``incr``
    (no key yet) and our ``add``: the add fails and the second ``incr`` counts both."""

    def __init__(self):
        self.raced = False

    def incr(self, key):
        if not self.raced:
            self.raced = True
            cache.add(key, 1)  # the other process's event
            raise ValueError("Key not found")
        return cache.incr(key)

    def add(self, key, value, timeout=None):
        return cache.add(key, value, timeout=timeout)


def test_a_window_another_process_started_counts_its_event_too(local_cache, monkeypatch):
    monkeypatch.setattr(ratelimit, "cache", StartedElsewhere())
    # 1/m: the other process used the only event of the window.
    assert ratelimit.hit("confirm", "1/m/ip", IP) is not None


def test_hit_then_get_counts_then_reads_and_a_refused_event_reads_nothing(local_cache):
    cache.set("some:key", ("what", "the", "poll", "wants"))
    spec = "2/m/attempt"
    keys = {"attempt": "7"}
    assert ratelimit.hit_then_get("status", spec, keys, "some:key") == (
        None,
        ("what", "the", "poll", "wants"),
    )
    assert ratelimit.hit_then_get("status", spec, keys, None) == (None, None)
    retry_after, value = ratelimit.hit_then_get("status", spec, keys, "some:key")
    assert retry_after is not None and value is None
    # No rule applies (no attempt id): only the read.
    assert ratelimit.hit_then_get("status", spec, {"attempt": None}, "some:key")[1] == (
        "what",
        "the",
        "poll",
        "wants",
    )
    assert ratelimit.hit_then_get("status", spec, {"attempt": None}, "missing:key") == (
        None,
        None,
    )


def test_an_address_that_is_not_an_ip_is_counted_as_it_is(local_cache):
    assert ratelimit.ip_key("unix-socket") == "unix-socket"
    keys = {"ip": "unix-socket"}
    assert ratelimit.hit("t", "1/m/ip", keys) is None
    assert ratelimit.hit("t", "1/m/ip", keys) is not None
    assert ratelimit.hit("t", "1/m/ip", {"ip": "203.0.113.51"}) is None


# --- poll.session_attempt ---------------------------------------------------------------


def request_of(browser: Client, *, cookies: bool = True):
    """A request carrying ``browser``'s session and (unless told not to) its cookies."""
    request = RequestFactory().get("/whatsapp/events/")
    request.session = browser.session
    request.COOKIES = (
        {name: morsel.value for name, morsel in browser.cookies.items()} if cookies else {}
    )
    return request


def test_without_the_cached_state_the_row_is_read(settings):
    settings.WHATSAPP_LOGIN_STATE_CACHE = False
    browser = Client()
    start(browser)
    attempt = poll.session_attempt(request_of(browser))
    assert isinstance(attempt, LoginAttempt) and attempt.pk == session_attempt_id(browser)
    assert attempt.code_hash  # the row itself, not the cached subset
    assert cache.get(state.cache_key(attempt.pk)) is None  # nothing written to the cache
    # The session alone, without the binding cookie, is not this browser.
    assert poll.session_attempt(request_of(browser, cookies=False)) is None


@pytest.mark.parametrize("backend", ["local", "configured"])
def test_a_cache_miss_reads_the_row_and_fills_the_cache(settings, backend, request):
    if backend == "local":
        request.getfixturevalue("local_cache")
    settings.WHATSAPP_LOGIN_STATE_CACHE = True
    browser = Client()
    start(browser)
    attempt_id = session_attempt_id(browser)
    state.forget(attempt_id)  # whatever start() left there
    row = poll.session_attempt(request_of(browser))
    assert row is not None and row.pk == attempt_id and row.code_hash
    assert state.load(attempt_id) is not None  # filled
    cached = poll.session_attempt(request_of(browser))
    assert cached is not None and cached.pk == attempt_id
    assert cached.code_hash == ""  # the cached subset: no code hash, never saved
    assert (cached.status, cached.binding_hash) == (row.status, row.binding_hash)
    # A cached state is bound to the browser as the row is.
    assert poll.session_attempt(request_of(browser, cookies=False)) is None


def test_a_session_without_an_attempt_reads_nothing(settings, django_assert_num_queries):
    settings.WHATSAPP_LOGIN_STATE_CACHE = True
    request = RequestFactory().get("/whatsapp/events/")
    request.session = Client().session
    request.COOKIES = {}
    with django_assert_num_queries(0):
        assert poll.session_attempt(request) is None


def test_the_row_of_another_browser_is_not_cached_for_this_one(settings):
    settings.WHATSAPP_LOGIN_STATE_CACHE = True
    browser = Client()
    start(browser)
    attempt_id = session_attempt_id(browser)
    state.forget(attempt_id)
    assert poll.session_attempt(request_of(browser, cookies=False)) is None
    assert state.load(attempt_id) is None  # a refused read fills nothing
