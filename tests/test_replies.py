"""Replies in WhatsApp (WHATSAPP_LOGIN_REPLIES) against the fake Green API."""

from __future__ import annotations

import logging
import time

import pytest
from django.contrib.sessions.backends.db import SessionStore

from django_whatsapp_login import replies
from django_whatsapp_login.models import LoginAttempt, Reason, Status

from .conftest import incoming, start

# The YES/NO question is tests/test_confirmation.py's subject; here logins confirm at once.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_confirmation")]

PHONE_CHAT = "996700123456@c.us"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


@pytest.fixture
def replies_on(settings, fake_greenapi):
    settings.WHATSAPP_LOGIN_REPLIES = True
    settings.WHATSAPP_LOGIN_SITE_NAME = "Example Shop"
    return fake_greenapi


@pytest.fixture
def chrome(client):
    client.defaults["HTTP_USER_AGENT"] = CHROME_WINDOWS
    return client


def log_in(client, deliver):
    data = start(client)
    assert deliver(incoming(data["message"]))["status"] == "confirmed"
    assert client.post("/whatsapp/complete/").status_code == 200
    return LoginAttempt.objects.get()


def test_a_login_sends_exactly_one_reply(replies_on, chrome, deliver, make_user):
    make_user(phone="+996700123456")
    payload = incoming(start(chrome)["message"])
    deliver(payload)
    deliver(payload)  # Green API re-delivers: still one reply
    assert len(replies_on.sent) == 1
    sent = replies_on.sent[0]
    assert sent["chatId"] == PHONE_CHAT
    text = sent["message"]
    assert "Example Shop" in text and "Chrome" in text and "Windows" in text
    assert "near 127.0.0.x" in text  # the masked IP when no GeoIP or country header
    assert "Not you? Reply NO" in text
    assert str(time.gmtime().tm_year) in text


def test_no_signs_that_session_out(replies_on, chrome, deliver, make_user):
    make_user(phone="+996700123456")
    attempt = log_in(chrome, deliver)
    key = attempt.session_key
    assert key and key == chrome.session.session_key
    assert chrome.get("/").status_code == 200
    other = SessionStore()
    other["keep"] = True
    other.create()  # another session of the same site must survive

    outcome = deliver(incoming("no", sender=PHONE_CHAT))
    assert outcome["status"] == "signed_out"
    attempt.refresh_from_db()
    assert attempt.session_key == "" and attempt.reason == Reason.SIGNED_OUT
    assert attempt.status == Status.CONSUMED
    assert not SessionStore().exists(key)
    assert SessionStore().exists(other.session_key)
    assert chrome.get("/").status_code == 302  # logged out
    assert len(replies_on.sent) == 2 and "signed out" in replies_on.sent[1]["message"]
    # A second "NO" finds nothing to sign out, and is not answered.
    assert deliver(incoming("NO", sender=PHONE_CHAT))["status"] == "ignored"
    assert len(replies_on.sent) == 2


def test_no_before_the_browser_completes_cancels_the_login(replies_on, chrome, deliver, make_user):
    make_user(phone="+996700123456")
    deliver(incoming(start(chrome)["message"]))
    assert deliver(incoming("NO", sender=PHONE_CHAT))["status"] == "signed_out"
    attempt = LoginAttempt.objects.get()
    assert attempt.status == Status.REJECTED and attempt.reason == Reason.SIGNED_OUT
    assert chrome.post("/whatsapp/complete/").status_code == 409
    assert "_auth_user_id" not in chrome.session


def test_no_from_another_number_does_nothing(replies_on, chrome, deliver, make_user):
    make_user(phone="+996700123456")
    attempt = log_in(chrome, deliver)
    assert deliver(incoming("NO", sender="996700999999@c.us"))["status"] == "ignored"
    attempt.refresh_from_db()
    assert attempt.session_key and SessionStore().exists(attempt.session_key)


def test_no_outside_the_window_does_nothing(replies_on, chrome, deliver, make_user, settings):
    settings.WHATSAPP_LOGIN_SIGN_OUT_WINDOW = 0
    make_user(phone="+996700123456")
    attempt = log_in(chrome, deliver)
    assert deliver(incoming("NO", sender=PHONE_CHAT))["status"] == "ignored"
    assert SessionStore().exists(attempt.session_key)


def test_a_failing_send_leaves_the_login_intact(replies_on, chrome, deliver, make_user, caplog):
    make_user(phone="+996700123456")
    replies_on.fail("sendMessage", 500, times=5)
    caplog.set_level(logging.DEBUG)
    attempt = log_in(chrome, deliver)
    assert attempt.status == Status.CONSUMED
    assert chrome.get("/").status_code == 200
    assert len(replies_on.calls("sendMessage")) == 1  # no retry for replies
    assert "WhatsApp reply (logged_in)" in caplog.text and "failed" in caplog.text
    assert replies_on.token not in caplog.text


def test_a_slow_send_times_out_quickly(replies_on, chrome, deliver, make_user, settings):
    settings.WHATSAPP_LOGIN_REPLY_TIMEOUT = 0.2
    replies_on.delay("sendMessage", 1.0)
    make_user(phone="+996700123456")
    began = time.monotonic()
    attempt = log_in(chrome, deliver)
    assert time.monotonic() - began < 1.0
    assert attempt.status == Status.CONSUMED


def test_unknown_number_reply_and_hourly_cap(replies_on, client, deliver, settings):
    settings.WHATSAPP_LOGIN_RATE_LIMIT_FAILED = ""  # the failure limit would stop us first
    settings.WHATSAPP_LOGIN_RATE_LIMIT_CONFIRM = ""
    for _ in range(5):
        client.cookies.clear()
        deliver(incoming(start(client)["message"]))
    assert len(replies_on.sent) == 3  # WHATSAPP_LOGIN_REPLIES_PER_HOUR
    assert all("not registered" in s["message"] for s in replies_on.sent)


def test_expired_code_reply(replies_on, client, deliver, make_user):
    make_user(phone="+996700123456")
    message = start(client)["message"]
    LoginAttempt.objects.update(expires_at=LoginAttempt.objects.get().created_at)
    deliver(incoming(message))
    assert len(replies_on.sent) == 1
    assert "expired" in replies_on.sent[0]["message"]
    assert "Refresh the login page" in replies_on.sent[0]["message"]


@pytest.mark.parametrize("text", ["hello", "AMT LOGIN", "no thanks"])
def test_no_reply_to_messages_that_are_not_login_attempts(replies_on, deliver, text):
    deliver(incoming(text))
    assert replies_on.sent == []


def test_no_reply_to_a_lid_sender(replies_on, client, deliver, make_user):
    make_user(phone="+996700123456")
    message = start(client)["message"]
    outcome = deliver(incoming(message, sender="120650379300963@lid"))
    assert outcome["status"] == "rejected" and outcome["reason"] == Reason.LID_SENDER
    assert replies_on.sent == []


def test_informational_replies_are_off_by_default_the_notice_is_on(
    fake_greenapi, client, deliver, make_user
):
    deliver(incoming(start(client)["message"]))  # unknown number: no reply by default
    assert fake_greenapi.sent == []
    make_user(phone="+996700123456")
    client.cookies.clear()
    deliver(incoming(start(client)["message"]))
    assert len(fake_greenapi.sent) == 1 and "Not you?" in fake_greenapi.sent[0]["message"]


def test_login_notice_opt_out(fake_greenapi, client, deliver, make_user, settings):
    settings.WHATSAPP_LOGIN_LOGIN_NOTICE = False
    make_user(phone="+996700123456")
    deliver(incoming(start(client)["message"]))
    assert deliver(incoming("NO", sender=PHONE_CHAT))["status"] == "ignored"
    assert fake_greenapi.sent == []


def test_no_notice_without_a_green_api_token(client, deliver, make_user, settings):
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = ""
    make_user(phone="+996700123456")
    assert deliver(incoming(start(client)["message"]))["status"] == "confirmed"
    assert deliver(incoming("NO", sender=PHONE_CHAT))["status"] == "ignored"


def test_session_key_is_stored_even_with_replies_off(client, deliver, make_user):
    make_user(phone="+996700123456")
    attempt = log_in(client, deliver)
    assert attempt.session_key == client.session.session_key


def test_russian_replies(replies_on, chrome, deliver, make_user, settings):
    settings.WHATSAPP_LOGIN_REPLY_LANGUAGE = "ru"
    make_user(phone="+996700123456")
    attempt = log_in(chrome, deliver)
    text = replies_on.sent[0]["message"]
    assert "Вход в Example Shop" in text and "НЕТ" in text  # noqa: RUF001
    assert "рядом с 127.0.0.x" in text  # noqa: RUF001
    assert deliver(incoming("нет", sender=PHONE_CHAT))["status"] == "signed_out"
    assert not SessionStore().exists(attempt.session_key)
    assert "завершён" in replies_on.sent[1]["message"]


def test_site_name_fallbacks(settings):
    settings.WHATSAPP_LOGIN_SITE_NAME = ""
    settings.ALLOWED_HOSTS = ["*", ".example.org", "shop.example.org"]
    assert replies.site_name() == "shop.example.org"
    settings.ALLOWED_HOSTS = ["*"]
    assert replies.site_name() == "the site"


def _forwarded(text: str) -> dict:
    payload = incoming(text)
    payload["messageData"]["textMessageData"].update(isForwarded=True, forwardingScore=1)
    return payload


def test_a_forwarded_code_is_refused_and_the_sender_told(fake_greenapi, client, deliver, make_user):
    make_user(phone="+996700123456")
    payload = _forwarded(start(client)["message"])
    assert deliver(payload) == {"status": "rejected", "reason": "forwarded"}
    deliver(payload)  # a re-delivery: still one reply
    [sent] = fake_greenapi.sent
    assert sent["chatId"] == PHONE_CHAT
    assert "was forwarded" in sent["message"] and "your own WhatsApp" in sent["message"]
    assert LoginAttempt.objects.get().status == Status.REJECTED


def test_the_forwarded_reply_in_russian(fake_greenapi, client, deliver, make_user, settings):
    settings.WHATSAPP_LOGIN_REPLY_LANGUAGE = "ru"
    make_user(phone="+996700123456")
    deliver(_forwarded(start(client)["message"]))
    [sent] = fake_greenapi.sent
    assert "был переслан" in sent["message"]


def test_no_forwarded_reply_with_notices_off(fake_greenapi, client, deliver, make_user, settings):
    settings.WHATSAPP_LOGIN_LOGIN_NOTICE = False
    make_user(phone="+996700123456")
    assert deliver(_forwarded(start(client)["message"]))["reason"] == "forwarded"
    assert fake_greenapi.sent == []
