"""Paths the main suites do not reach: a custom resolver reporting a shared number, a
rate-limit counter expiring between add and incr."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from django_whatsapp_login import ratelimit
from django_whatsapp_login.exceptions import AmbiguousPhone
from django_whatsapp_login.models import LoginAttempt, Reason, Status
from django_whatsapp_login.resolvers import resolve

from .conftest import incoming, start


def shared_number_resolver(phone: str, **context: Any) -> Any:
    raise AmbiguousPhone(phone)


def test_a_custom_resolver_reports_a_shared_number(settings):
    settings.WHATSAPP_LOGIN_USER_RESOLVER = "tests.test_edge_cases.shared_number_resolver"
    assert resolve("+996700123456", attempt=None, request=None) == (None, "several_users")


@pytest.mark.django_db
def test_a_shared_number_from_a_custom_resolver_rejects_the_attempt(settings, browser, webhook):
    settings.WHATSAPP_LOGIN_USER_RESOLVER = "tests.test_edge_cases.shared_number_resolver"
    code = start(browser)["code"]
    assert webhook.post(incoming(f"AMT LOGIN {code}")).json() == {
        "status": "rejected",
        "reason": "several_users",
    }
    attempt = LoginAttempt.objects.get()
    assert (attempt.status, attempt.reason, attempt.user_id) == (
        Status.REJECTED,
        Reason.SEVERAL_USERS,
        None,
    )
    body = browser.get("/whatsapp/status/").json()
    assert body["reason"] == "several_users"
    assert "several accounts" in body["status_message"]


@pytest.mark.skipif(
    ratelimit.redis_client() is not None,
    reason="Django's Redis cache counts with one INCR + EXPIRE transaction: no such gap",
)
def test_rate_limit_counter_expiring_between_add_and_incr(monkeypatch):
    """The counter's key expires between ``cache.add`` and ``cache.incr`` (the window just
    ended): the event is counted as the first of a fresh window, allowed, never an error,
    and the fresh counter holds it, so the limit still applies to the next event."""
    keys = {"ip": "203.0.113.5"}
    failures = []

    def expired(key: str, delta: int = 1) -> int:
        failures.append(key)
        cache.delete(key)  # what the cache saw: the key is gone
        raise ValueError(key)

    with monkeypatch.context() as patch:  # (the suite's frozen clock stays)
        patch.setattr(cache, "incr", expired)
        assert ratelimit.hit("start", "1/m/ip", keys) is None
    [key] = failures
    assert cache.get(key) == 1  # recorded as the first event of the window
    assert ratelimit.peek("start", "1/m/ip", keys) is not None  # the limit is reached
    assert ratelimit.hit("start", "1/m/ip", keys) == 55  # refused until the window ends


def test_reply_cap_counter_expiring_between_add_and_incr(monkeypatch, settings):
    from django_whatsapp_login import replies

    settings.WHATSAPP_LOGIN_REPLIES_PER_HOUR = 1
    failures = []

    def expired(key: str, delta: int = 1) -> int:
        failures.append(key)
        cache.delete(key)
        raise ValueError(key)

    with monkeypatch.context() as patch:
        patch.setattr(cache, "incr", expired)
        assert replies._under_cap("+996700123456") is True
    [key] = failures
    assert cache.get(key) == 1
    assert replies._under_cap("+996700123456") is False  # the one reply of the hour is used


def test_rate_limit_rules_describe_themselves():
    assert [str(rule) for rule in ratelimit.parse("20/m/ip,5/h/session")] == [
        "20/60s/ip",
        "5/3600s/session",
    ]


# --- the doctor's URL and header helpers -----------------------------------------------


@pytest.mark.parametrize(
    ("token", "header"),
    [
        ("abc", "Bearer abc"),
        (" Bearer abc ", "Bearer abc"),  # a token entered with its scheme is sent as is
        ("Basic dXNlcjpwdw==", "Basic dXNlcjpwdw=="),
    ],
)
def test_authorization_header(token, header):
    from django_whatsapp_login.gateways.greenapi.checks import authorization_header

    assert authorization_header(token) == header


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://testserver/whatsapp/webhook/", "is not an http(s) URL"),
        ("http://testserver/whatsapp/webhook/", "plain http"),
        ("https://testserver/whatsapp/webhook/?a=1", "query or fragment"),
        ("https://testserver/whatsapp/webhook/#top", "query or fragment"),
        ("https://evil.example/whatsapp/webhook/", "not in ALLOWED_HOSTS"),
        ("https://testserver/whatsapp/", "not this site's webhook view"),
        ("https://testserver/whatsapp/webhook/", ""),
        ("http://127.0.0.1/whatsapp/webhook/", ""),  # plain http only for loopback
    ],
)
def test_webhook_url_problem(url, problem):
    from django_whatsapp_login.gateways.greenapi.checks import webhook_url_problem

    found = webhook_url_problem(url)
    assert (problem in found) if problem else found == ""


def test_webhook_url_in_debug_without_allowed_hosts(settings):
    from django_whatsapp_login.gateways.greenapi.checks import webhook_url_problem

    settings.DEBUG, settings.ALLOWED_HOSTS = True, []
    assert webhook_url_problem("http://localhost/whatsapp/webhook/") == ""
    assert "ALLOWED_HOSTS" in webhook_url_problem("https://example.com/whatsapp/webhook/")


@pytest.mark.django_db
@pytest.mark.parametrize("phone", ["", "call us", "0555 000 001"])
def test_unusable_business_phone_is_a_clear_503_not_a_500(client, settings, caplog, phone):
    from django.template import Context, Template
    from django.test import RequestFactory

    settings.WHATSAPP_LOGIN_BUSINESS_PHONE = phone
    page = client.get("/login")
    assert page.status_code == 503
    assert b"not available" in page.content
    started = client.post("/whatsapp/start/")
    assert started.status_code == 503 and started.json()["error"] == "unavailable"
    assert "WHATSAPP_LOGIN_BUSINESS_PHONE" in caplog.text
    from django.contrib.sessions.backends.db import SessionStore

    request = RequestFactory().get("/")
    request.session = SessionStore()
    html = Template("{% load whatsapp_login %}{% whatsapp_login_widget %}").render(
        Context({"request": request})
    )
    assert "not available" in html
    from django_whatsapp_login.models import LoginAttempt

    assert LoginAttempt.objects.count() == 0
