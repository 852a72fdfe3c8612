"""Layered rate limits (SR-20..SR-25): browser endpoints answer 429 + Retry-After, the
webhook drops over-limit messages with 200, forged X-Forwarded-For changes nothing."""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import Client, override_settings

from django_whatsapp_login import ratelimit
from django_whatsapp_login.models import LoginAttempt, ProcessedMessage, Status

from .conftest import TOKEN, incoming, start

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("20/m/ip,5/m/session", [(20, 60, "ip"), (5, 60, "session")]),
        ("5/5m/phone", [(5, 300, "phone")]),
        (" 1 / s / attempt ", [(1, 1, "attempt")]),
        ("10/h/phone,3/d/phone", [(10, 3600, "phone"), (3, 86400, "phone")]),
        ("", []),
    ],
)
def test_parse(spec, expected):
    assert [(r.amount, r.period, r.key) for r in ratelimit.parse(spec)] == expected


@pytest.mark.parametrize("spec", ["5/m", "5/m/user", "0/m/ip", "a/m/ip", "5/y/ip", "5//ip"])
def test_parse_refuses_bad_rules(spec):
    with pytest.raises(ratelimit.InvalidRateLimit):
        ratelimit.parse(spec)


def test_hit_counts_per_key_and_reports_retry_after():
    keys = {"ip": "203.0.113.5"}
    assert [ratelimit.hit("t", "3/m/ip", keys) for _ in range(3)] == [None, None, None]
    retry = ratelimit.hit("t", "3/m/ip", keys)
    assert retry is not None and 1 <= retry <= 60
    # Another key and another action have their own counters.
    assert ratelimit.hit("t", "3/m/ip", {"ip": "203.0.113.6"}) is None
    assert ratelimit.hit("other", "3/m/ip", keys) is None
    # A rule whose key has no value is skipped.
    assert ratelimit.hit("t", "3/m/session", {"session": None}) is None


def test_cache_keys_do_not_contain_the_raw_value():
    key = ratelimit._cache_key("confirm", ratelimit.parse("3/m/phone")[0], "+996700123456", 1)
    assert "996700123456" not in key


# --- attempt creation: 20/m/ip, 5/m/session -------------------------------------------


def test_start_per_session_limit_gives_429_with_retry_after():
    browser = Client()
    for _ in range(5):
        response = browser.post("/whatsapp/start/")
        assert response.status_code == 200
        LoginAttempt.objects.update(status=Status.EXPIRED)  # force a new attempt each time
    response = browser.post("/whatsapp/start/")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["error"] == "rate_limited"
    assert LoginAttempt.objects.count() == 5


def test_reusing_the_live_attempt_is_not_counted():
    browser = Client()
    codes = {browser.post("/whatsapp/start/").json()["code"] for _ in range(12)}
    assert len(codes) == 1
    assert browser.get("/login").status_code == 200


def test_start_per_ip_limit_across_sessions():
    for _ in range(20):
        assert Client().post("/whatsapp/start/").status_code == 200
    response = Client().post("/whatsapp/start/")
    assert response.status_code == 429
    assert LoginAttempt.objects.count() == 20
    # Another address is not affected.
    assert Client(REMOTE_ADDR="198.51.100.7").post("/whatsapp/start/").status_code == 200


def test_login_page_over_the_limit_is_a_429_page():
    for _ in range(20):
        Client().get("/login")
    response = Client().get("/login")
    assert response.status_code == 429
    assert "Retry-After" in response
    assert b"Too many login attempts" in response.content
    assert LoginAttempt.objects.count() == 20


def test_forged_x_forwarded_for_does_not_dodge_the_limit():
    for i in range(20):
        Client(HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").post("/whatsapp/start/")
    assert Client(HTTP_X_FORWARDED_FOR="10.9.9.9").post("/whatsapp/start/").status_code == 429


@override_settings(WHATSAPP_LOGIN_TRUSTED_PROXY_COUNT=1)
def test_behind_one_trusted_proxy_the_last_forwarded_address_counts():
    for _ in range(20):
        Client(HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9").post("/whatsapp/start/")
    # The client-written left part is ignored: same real client, still limited.
    blocked = Client(HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9").post("/whatsapp/start/")
    assert blocked.status_code == 429
    assert Client(HTTP_X_FORWARDED_FOR="203.0.113.10").post("/whatsapp/start/").status_code == 200
    assert LoginAttempt.objects.filter(client_ip="203.0.113.9").count() == 20


@pytest.mark.parametrize(
    ("count", "header", "expected"),
    [
        (0, "203.0.113.1", "127.0.0.1"),
        (1, "203.0.113.1", "203.0.113.1"),
        (1, "9.9.9.9, 203.0.113.1", "203.0.113.1"),
        (2, "9.9.9.9, 203.0.113.1, 10.0.0.2", "203.0.113.1"),
        (2, "203.0.113.1", "127.0.0.1"),  # fewer entries than proxies: not trusted
        (1, "not-an-ip", "127.0.0.1"),
    ],
)
def test_client_ip(rf, count, header, expected):
    request = rf.get("/", HTTP_X_FORWARDED_FOR=header, REMOTE_ADDR="127.0.0.1")
    with override_settings(WHATSAPP_LOGIN_TRUSTED_PROXY_COUNT=count):
        assert ratelimit.client_ip(request) == expected


# --- status polling --------------------------------------------------------------------


@override_settings(WHATSAPP_LOGIN_RATE_LIMIT_STATUS="3/m/session")
def test_status_polling_over_the_limit_gets_429():
    browser = Client()
    start(browser)
    assert [browser.get("/whatsapp/status/").status_code for _ in range(4)] == [200, 200, 200, 429]
    response = browser.get("/whatsapp/status/")
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1


def test_default_status_limit_is_two_a_second_per_attempt():
    browser = Client()
    start(browser)
    clock = [1_000_000.25]
    with mock.patch("django_whatsapp_login.ratelimit.time.time", lambda: clock[0]):
        codes = [browser.get("/whatsapp/status/").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        clock[0] += 1  # the next second's window
        assert browser.get("/whatsapp/status/").status_code == 200


# --- webhook: unauthenticated hits per IP, messages per sender phone --------------------


def test_unauthenticated_webhook_hits_are_limited_per_ip(webhook):
    answers = [webhook.post({"x": 1}, token="wrong").status_code for _ in range(11)]
    assert answers == [401] * 10 + [429]
    # Green API (right token) from the same address is never locked out.
    assert webhook.post({"typeWebhook": "stateInstanceChanged"}).status_code == 200


def test_valid_messages_per_phone_limit_drops_with_200(webhook, make_user):
    make_user("+996700123456")
    results = []
    for _ in range(4):
        browser = Client(REMOTE_ADDR="198.51.100.1")
        data = start(browser)
        response = webhook.post(incoming(data["message"]))
        assert response.status_code == 200
        results.append(response.json())
    assert [r["status"] for r in results[:3]] == ["confirmed"] * 3
    assert results[3] == {"status": "rejected", "reason": "rate_limited"}
    last = LoginAttempt.objects.order_by("-pk").first()
    assert (last.status, last.reason, last.user_id) == (Status.REJECTED, "rate_limited", None)


def test_failed_messages_per_phone_limit_drops_silently(webhook):
    for i in range(5):
        body = webhook.post(incoming(f"AMT LOGIN {'A' * 15}{'BCDEF'[i]}")).json()
        assert body == {"status": "ignored", "reason": "unknown_code"}
    # The sixth is dropped before any database work: not even recorded as processed.
    processed = ProcessedMessage.objects.count()
    body = webhook.post(incoming("AMT LOGIN " + "C" * 16)).json()
    assert body == {"status": "ignored", "reason": "rate_limited"}
    assert ProcessedMessage.objects.count() == processed
    # Another sender is unaffected.
    other = webhook.post(incoming("AMT LOGIN " + "D" * 16, sender="996700999111@c.us")).json()
    assert other["reason"] == "unknown_code"


def test_failures_are_not_reset_by_a_new_attempt(webhook, make_user):
    make_user("+996700123456")
    for i in range(5):
        webhook.post(incoming(f"AMT LOGIN {'A' * 15}{'BCDEF'[i]}"))
    data = start(Client())  # a fresh attempt does not wipe the sender's failures
    assert webhook.post(incoming(data["message"])).json() == {
        "status": "rejected",
        "reason": "rate_limited",
    }
    # Not confirmed, and not left waiting either: the page is told why.
    attempt = LoginAttempt.objects.get()
    assert (attempt.status, attempt.reason, attempt.user_id) == (
        Status.REJECTED,
        "rate_limited",
        None,
    )


@override_settings(
    WHATSAPP_LOGIN_RATE_LIMIT_START="",
    WHATSAPP_LOGIN_RATE_LIMIT_STATUS="",
    WHATSAPP_LOGIN_RATE_LIMIT_CONFIRM="",
    WHATSAPP_LOGIN_RATE_LIMIT_FAILED="",
    WHATSAPP_LOGIN_RATE_LIMIT_WEBHOOK_UNAUTHORIZED="",
)
def test_empty_settings_disable_the_limits(webhook):
    browser = Client()
    for _ in range(30):
        assert Client().post("/whatsapp/start/").status_code == 200
    start(browser)
    assert {browser.get("/whatsapp/status/").status_code for _ in range(10)} == {200}
    assert {webhook.post({}, token="bad").status_code for _ in range(15)} == {401}
    assert TOKEN  # the right token still works


# --- IPv6: one subscriber holds a whole /64 ----------------------------------------------


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),  # IPv4-mapped: counted as the IPv4 address
        (None, None),
    ],
)
def test_ip_key_groups_ipv6_by_64(address, key):
    assert ratelimit.ip_key(address) == key


def test_ipv6_addresses_of_one_64_share_the_start_limit():
    for i in range(20):
        response = Client(REMOTE_ADDR=f"2001:db8:1:2::{i + 1:x}").post("/whatsapp/start/")
        assert response.status_code == 200
    # Any other address of the same /64 is the same client ...
    assert (
        Client(REMOTE_ADDR="2001:db8:1:2:dead:beef::1").post("/whatsapp/start/").status_code == 429
    )
    # ... and the next /64 is someone else.
    assert Client(REMOTE_ADDR="2001:db8:1:3::1").post("/whatsapp/start/").status_code == 200
