"""A shared cache that is down (Redis refusing connections on 127.0.0.1) degrades the
status poll to the database, never to a 500 or a stuck page (issue 11, state.py)."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from django_whatsapp_login import state
from django_whatsapp_login.models import LoginAttempt

from .conftest import incoming, start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_qr_rendering")]

PHONE = "+996700123456"
#: Nothing listens on port 1: every cache call is refused at once.
DOWN = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


@pytest.fixture
def attempt(make_user):
    make_user(PHONE)
    browser = Client()
    start(browser)
    return browser, LoginAttempt.objects.get()


@pytest.fixture
def down(settings):
    settings.CACHES = DOWN
    settings.WHATSAPP_LOGIN_STATE_CACHE = True


def test_each_cache_step_logs_and_carries_on(attempt, down, caplog):
    _browser, row = attempt
    with caplog.at_level(logging.ERROR, logger="django_whatsapp_login"):
        state.store(row)  # set fails, then the drop of the old entry fails too
        state.fill(row)
        assert state.load(row.pk) is None
        assert state.load_many({row.pk, row.pk + 1}) == {}
    logged = caplog.text
    assert f"Could not store the state of login attempt {row.pk}" in logged
    assert f"Could not drop the cached state of login attempt {row.pk}" in logged
    assert f"Could not cache the state of login attempt {row.pk}" in logged
    assert f"Could not read the state of login attempt {row.pk}" in logged
    assert "Could not read the states of 2 login attempts" in logged


def test_nothing_to_load_asks_the_cache_nothing(down):
    assert state.load_many(set()) == {}


def test_a_whole_login_works_while_the_cache_is_down(make_user, down, webhook, caplog):
    # Start, poll, the webhook, complete: the limits are not counted (an error each time),
    # the state comes from the database, and nobody gets a 500.
    make_user(PHONE)
    browser = Client()
    start(browser)
    response = browser.get("/whatsapp/status/")
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    code = browser.session["_whatsapp_login"]["code"]
    assert webhook.post(incoming(f"AMT LOGIN {code}")).status_code == 200
    response = browser.get("/whatsapp/status/")
    assert response.status_code == 200
    assert response.json()["status"] == "confirmed"
    response = browser.post("/whatsapp/complete/")
    assert response.status_code in (200, 302), response.content
    assert browser.session.get("_auth_user_id")
    assert "the cache is unreachable" in caplog.text


def test_a_bad_entry_reads_as_missing_in_a_batch(settings, attempt):
    settings.WHATSAPP_LOGIN_STATE_CACHE = True
    _browser, row = attempt
    state.store(row)
    from django.core.cache import cache

    cache.set(state.cache_key(row.pk + 1), ("not", "an", "entry"))
    found = state.load_many({row.pk, row.pk + 1})
    assert set(found) == {row.pk}
    assert found[row.pk].status == row.status
