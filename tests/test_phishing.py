"""Cross-device phishing (issue 10, part A) against the fake Green API on 127.0.0.1.

The relay: an attacker shows the login page's code to a victim, the victim sends it, the
attacker's browser is logged in. These tests prove what stops or undoes it: a notice that
cannot be silenced, a "NO" that ends exactly the login it answers (after a key rotation
and with signed-cookie sessions), a binding a planted session cookie does not carry, and
a rate limit on ``complete``.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.test import Client

from django_whatsapp_login import attempts
from django_whatsapp_login.models import LoginAttempt, Reason, Status

from .conftest import BUSINESS_WID, incoming, session_attempt_id, start

# The YES/NO question is tests/test_confirmation.py's subject; here logins confirm at once.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_confirmation")]

VICTIM = "996700123456@c.us"
STRANGER = "996700999999@c.us"
MIDDLEWARE = "django_whatsapp_login.middleware.RevocationMiddleware"
ATTACKER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"


@pytest.fixture
def notices(settings, fake_greenapi):
    """Notices on (a Green API token is configured) and the revocation middleware on."""
    settings.WHATSAPP_LOGIN_SITE_NAME = "Example Shop"
    settings.MIDDLEWARE = [*django_settings.MIDDLEWARE, MIDDLEWARE]
    return fake_greenapi


@pytest.fixture
def victim(make_user):
    return make_user(phone="+996700123456", username="victim")


def attacker_browser() -> Client:
    return Client(HTTP_USER_AGENT=ATTACKER_UA, REMOTE_ADDR="203.0.113.77")


def log_in(client: Client, deliver, sender: str = VICTIM) -> LoginAttempt:
    data = start(client)
    assert deliver(incoming(data["message"], sender=sender))["status"] == "confirmed"
    pk = session_attempt_id(client)
    assert client.post("/whatsapp/complete/").status_code == 200
    return LoginAttempt.objects.get(pk=pk)


def logged_in(client: Client) -> bool:
    return client.get("/").status_code == 200


def no(sender: str = VICTIM, quoting: str | None = None, **overrides):
    payload = incoming("NO", sender=sender, **overrides)
    if quoting is not None:
        payload["messageData"]["quotedMessage"] = {
            "stanzaId": quoting,
            "participant": BUSINESS_WID,
            "typeMessage": "extendedTextMessage",
            "textMessage": "Login to Example Shop ...",
        }
    return payload


# --- the notice: one per login, never silenced -------------------------------------------


def test_the_relayed_login_notice_names_the_attackers_browser_and_place(
    notices, deliver, victim, settings
):
    settings.WHATSAPP_LOGIN_COUNTRY_HEADER = "HTTP_CF_IPCOUNTRY"
    attacker = Client(HTTP_USER_AGENT=ATTACKER_UA, REMOTE_ADDR="203.0.113.77")
    attacker.defaults["HTTP_CF_IPCOUNTRY"] = "NL"
    attempt = log_in(attacker, deliver)
    assert len(notices.sent) == 1
    text = notices.sent[0]["message"]
    assert notices.sent[0]["chatId"] == VICTIM
    assert "Example Shop" in text and "Firefox on Linux" in text
    assert "near NL (203.0.113.x)" in text
    assert "Not you? Reply NO" in text
    attempt.refresh_from_db()
    assert attempt.notice_message_id == "BAE5000000000001"  # the fake's idMessage


def test_junk_codes_sent_first_do_not_silence_the_notice(
    notices, client, deliver, victim, settings
):
    settings.WHATSAPP_LOGIN_REPLIES = True  # informational replies too, capped at 3 an hour
    junk = "AMT LOGIN " + "A" * attempts.CODE_LENGTH
    for _ in range(4):
        assert deliver(incoming(junk, sender=VICTIM))["reason"] == "unknown_code"
    # The informational cap is used up: the fourth junk code got no answer ...
    assert len(notices.sent) == 3 and all("expired" in s["message"] for s in notices.sent)
    # ... and still the real login is announced.
    log_in(client, deliver)
    assert len(notices.sent) == 4
    assert "Not you? Reply NO" in notices.sent[-1]["message"]


def test_the_notice_does_not_use_up_the_informational_cap(notices, deliver, victim, settings):
    settings.WHATSAPP_LOGIN_REPLIES = True
    settings.WHATSAPP_LOGIN_REPLIES_PER_HOUR = 1
    log_in(Client(), deliver)
    log_in(Client(), deliver)
    deliver(incoming("AMT LOGIN " + "B" * attempts.CODE_LENGTH, sender=VICTIM))
    kinds = ["Not you?" in s["message"] for s in notices.sent]
    assert kinds == [True, True, False]  # two notices, then the one informational reply


# --- "NO" ends exactly the login it answers -----------------------------------------------


def test_no_after_the_key_was_rotated_logs_the_attacker_out(notices, deliver, victim):
    attacker = attacker_browser()
    log_in(attacker, deliver)
    old_key = attacker.session.session_key
    assert attacker.get("/rotate/").content == b"rotated"  # update_session_auth_hash()
    assert attacker.session.session_key != old_key and logged_in(attacker)

    outcome = deliver(no())
    assert outcome["status"] == "signed_out"
    assert not logged_in(attacker)  # the attacker's next request is anonymous
    assert AUTH_SESSION_KEY not in attacker.session
    assert notices.sent[-1]["message"].startswith("Done: the login to Example Shop")
    # A second "NO" finds nothing more to end and says nothing.
    sent = len(notices.sent)
    assert deliver(no())["status"] == "ignored"
    assert len(notices.sent) == sent


def test_without_the_middleware_a_rotated_session_is_not_reported_as_ended(
    notices, deliver, victim, settings
):
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if name != MIDDLEWARE]
    attacker = attacker_browser()
    attempt = log_in(attacker, deliver)
    attacker.get("/rotate/")
    assert deliver(no())["status"] == "ignored"  # no false "signed out"
    attempt.refresh_from_db()
    assert attempt.reason == Reason.LOGGED_IN
    assert not any(s["message"].startswith("Done:") for s in notices.sent)


def test_no_with_signed_cookie_sessions(notices, deliver, victim, settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    attacker = attacker_browser()
    attempt = log_in(attacker, deliver)
    stolen_cookie = attacker.cookies[settings.SESSION_COOKIE_NAME].value
    assert logged_in(attacker)
    assert deliver(no())["status"] == "signed_out"
    assert not logged_in(attacker)
    # Even the cookie as it was before (the server cannot delete a signed cookie) is refused.
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = stolen_cookie
    assert not logged_in(replay)
    attempt.refresh_from_db()
    assert attempt.reason == Reason.SIGNED_OUT


def test_a_quoted_no_ends_the_quoted_login_not_the_newest(notices, deliver, victim):
    first, second = attacker_browser(), Client()
    one = log_in(first, deliver)
    two = log_in(second, deliver)
    one.refresh_from_db(), two.refresh_from_db()
    assert one.notice_message_id and two.notice_message_id != one.notice_message_id

    assert deliver(no(quoting=one.notice_message_id))["status"] == "signed_out"
    assert not logged_in(first)
    assert logged_in(second)
    # Quoting the same notice again ends nothing else (not the newest either).
    assert deliver(no(quoting=one.notice_message_id))["status"] == "ignored"
    assert logged_in(second)
    # An unquoted "NO" answers the latest login.
    assert deliver(no())["status"] == "signed_out"
    assert not logged_in(second)


def test_the_deprecated_quoted_message_type_is_understood(notices, deliver, victim):
    first, second = Client(), Client()
    one = log_in(first, deliver)
    log_in(second, deliver)
    one.refresh_from_db()
    payload = incoming("NO", sender=VICTIM)
    payload["messageData"] = {
        "typeMessage": "quotedMessage",
        "extendedTextMessageData": {
            "text": "NO",
            "stanzaId": one.notice_message_id,
            "participant": BUSINESS_WID,
        },
    }
    assert deliver(payload)["status"] == "signed_out"
    assert not logged_in(first) and logged_in(second)


def test_no_before_the_browser_completes_cancels_it(notices, deliver, victim):
    attacker = attacker_browser()
    deliver(incoming(start(attacker)["message"], sender=VICTIM))
    assert deliver(no())["status"] == "signed_out"
    assert attacker.post("/whatsapp/complete/").status_code == 409
    assert not logged_in(attacker)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(lambda: incoming("maybe", sender=VICTIM), id="not-yes-or-no"),
        pytest.param(lambda: incoming("NO thanks", sender=VICTIM), id="no-with-words"),
        pytest.param(lambda: no(sender=STRANGER), id="no-from-another-chat"),
        pytest.param(
            lambda: no(
                senderData={
                    "chatId": "120363043968066561@g.us",
                    "sender": VICTIM,
                    "chatName": "Group",
                    "senderName": "Victim",
                }
            ),
            id="no-in-a-group",
        ),
        pytest.param(lambda: no(timestamp=int(time.time()) - 3600), id="no-written-before-login"),
        pytest.param(lambda: no(quoting="NOT-OUR-NOTICE", sender=STRANGER), id="stranger-quotes"),
    ],
)
def test_answers_that_change_nothing(notices, deliver, victim, payload):
    attacker = attacker_browser()
    attempt = log_in(attacker, deliver)
    sent = len(notices.sent)
    assert deliver(payload())["status"] in ("ignored", "duplicate")
    assert logged_in(attacker)
    attempt.refresh_from_db()
    assert attempt.reason == Reason.LOGGED_IN
    assert len(notices.sent) == sent


def test_a_late_no_changes_nothing(notices, deliver, victim, settings):
    attacker = attacker_browser()
    attempt = log_in(attacker, deliver)
    settings.WHATSAPP_LOGIN_SIGN_OUT_WINDOW = 0  # the window is over
    assert deliver(no())["status"] == "ignored"
    assert logged_in(attacker)
    attempt.refresh_from_db()
    assert attempt.reason == Reason.LOGGED_IN


def test_a_duplicate_delivery_of_no_signs_out_once(notices, deliver, victim):
    attacker = attacker_browser()
    log_in(attacker, deliver)
    payload = no()
    assert deliver(payload)["status"] == "signed_out"
    sent = len(notices.sent)
    assert deliver(payload)["status"] == "duplicate"
    assert len(notices.sent) == sent


def test_no_for_a_login_that_was_already_declined_changes_nothing(notices, deliver, victim):
    attacker = attacker_browser()
    deliver(incoming(start(attacker)["message"], sender=VICTIM))
    assert deliver(no())["status"] == "signed_out"
    assert deliver(no())["status"] == "ignored"
    assert LoginAttempt.objects.get().status == Status.REJECTED


# --- planted sessions do not help -----------------------------------------------------------


def test_a_session_cookie_planted_before_login_cannot_complete(deliver, victim):
    """Cookie tossing: the attacker's session cookie is put into the victim's browser."""
    attacker = Client()
    attacker.get("/whatsapp/")  # the attacker gets a session of their own
    planted = attacker.cookies[django_settings.SESSION_COOKIE_NAME].value
    victim_browser = Client()
    victim_browser.cookies[django_settings.SESSION_COOKIE_NAME] = planted

    data = start(victim_browser)  # the victim starts a login in the planted session ...
    assert victim_browser.cookies[django_settings.SESSION_COOKIE_NAME].value != planted
    assert deliver(incoming(data["message"], sender=VICTIM))["status"] == "confirmed"

    # ... the attacker, who knows that session, cannot poll or complete it.
    spy = Client()
    spy.cookies[django_settings.SESSION_COOKIE_NAME] = planted
    assert spy.get("/whatsapp/status/").status_code == 404
    assert spy.post("/whatsapp/complete/").status_code == 404
    assert not logged_in(spy)
    # The victim's own browser completes.
    assert victim_browser.post("/whatsapp/complete/").status_code == 200
    assert logged_in(victim_browser)


def test_a_planted_session_without_the_binding_cookie_cannot_complete(deliver, victim, settings):
    """The session data alone (here a signed cookie, which cannot be rotated away) is
    not enough: the HttpOnly binding cookie never left the attacker's browser."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    attacker = Client()
    data = start(attacker)
    session_cookie = attacker.cookies[settings.SESSION_COOKIE_NAME].value
    assert deliver(incoming(data["message"], sender=VICTIM))["status"] == "confirmed"
    copy = Client()
    copy.cookies[settings.SESSION_COOKIE_NAME] = session_cookie  # tossed into a browser
    assert copy.get("/whatsapp/status/").status_code == 404
    assert copy.post("/whatsapp/complete/").status_code == 404
    assert not logged_in(copy)
    # That browser's login page does not show the attacker's code: it makes its own
    # attempt, and the attacker's one is closed as superseded.
    assert start(copy)["code"] != data["code"]
    assert LoginAttempt.objects.get(code_hash=attempts.hash_secret(data["code"])).reason == (
        Reason.SUPERSEDED
    )


def test_on_https_the_binding_cookie_is_host_prefixed(client):
    response = client.post("/whatsapp/start/", secure=True)
    assert response.status_code == 200
    cookie = response.cookies["__Host-whatsapp_login"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"
    assert cookie["path"] == "/" and not cookie["domain"]
    assert "whatsapp_login" not in response.cookies  # no unprefixed twin on https
    # Over https the unprefixed name (which a sibling subdomain could set) is not read.
    client.cookies["whatsapp_login"] = cookie.value
    del client.cookies["__Host-whatsapp_login"]
    assert client.get("/whatsapp/status/", secure=True).status_code == 404
    client.cookies["__Host-whatsapp_login"] = cookie.value
    assert client.get("/whatsapp/status/", secure=True).status_code == 200


def test_creating_an_attempt_rotates_the_session_key(client):
    client.get("/admin/login/")  # any page that starts a session
    client.session.save()
    before = client.session.session_key
    start(client)
    assert client.session.session_key != before


# --- complete is rate limited --------------------------------------------------------------


def test_hammering_complete_gives_429_with_retry_after(client):
    start(client)
    codes = [client.post("/whatsapp/complete/").status_code for _ in range(12)]
    assert codes[:10] == [409] * 10  # pending: "not yet"
    assert codes[10:] == [429, 429]
    response = client.post("/whatsapp/complete/")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["error"] == "rate_limited"


def test_hammering_complete_without_a_session_is_limited_per_ip():
    codes = [Client().post("/whatsapp/complete/").status_code for _ in range(61)]
    assert codes[:60] == [404] * 60 and codes[60] == 429
