"""Confirmation in WhatsApp (issue 10, part B), against the fake Green API on 127.0.0.1.

The relay: an attacker opens the login page, shows its code to a victim, the victim sends it.
With WHATSAPP_LOGIN_CONFIRM (default "new_device") the message alone no longer logs the
attacker in: the victim is asked in the same chat, with the attacker's browser and place,
and only a YES from that chat confirms.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from django_whatsapp_login import devices
from django_whatsapp_login.models import KnownDevice, LoginAttempt, Reason, Status

from .conftest import BUSINESS_WID, incoming, session_attempt_id, start

pytestmark = pytest.mark.django_db

VICTIM = "996700123456@c.us"
STRANGER = "996700999999@c.us"
ATTACKER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"


@pytest.fixture
def gateway(settings, fake_greenapi):
    """Questions and notices can be sent (a Green API token is configured)."""
    settings.WHATSAPP_LOGIN_SITE_NAME = "Example Shop"
    settings.WHATSAPP_LOGIN_COUNTRY_HEADER = "HTTP_CF_IPCOUNTRY"
    settings.MIDDLEWARE = [
        *django_settings.MIDDLEWARE,
        "django_whatsapp_login.middleware.RevocationMiddleware",
    ]
    return fake_greenapi


@pytest.fixture
def victim(make_user):
    return make_user(phone="+996700123456", username="victim")


def attacker_browser() -> Client:
    client = Client(HTTP_USER_AGENT=ATTACKER_UA, REMOTE_ADDR="203.0.113.77")
    client.defaults["HTTP_CF_IPCOUNTRY"] = "NL"
    return client


def answer(word: str, sender: str = VICTIM, quoting: str | None = None, **overrides):
    payload = incoming(word, sender=sender, **overrides)
    if quoting is not None:
        payload["messageData"] = {
            "typeMessage": "extendedTextMessage",
            "extendedTextMessageData": {"text": word, "stanzaId": quoting},
            "quotedMessage": {
                "stanzaId": quoting,
                "participant": BUSINESS_WID,
                "typeMessage": "textMessage",
                "textMessage": "Someone is logging in ...",
            },
        }
    return payload


def status(client: Client) -> dict:
    response = client.get("/whatsapp/status/")
    assert response.status_code == 200
    return response.json()


def sign_out_here(client: Client) -> None:
    """Log out as a user would: the session goes, the browser's other cookies stay
    (``Client.logout()`` would drop every cookie, the device id too)."""
    client.cookies.pop(django_settings.SESSION_COOKIE_NAME, None)


def attempt_of(client: Client) -> LoginAttempt:
    return LoginAttempt.objects.get(pk=session_attempt_id(client))


def ask(client: Client, deliver, sender: str = VICTIM) -> LoginAttempt:
    """Send the client's code from ``sender`` and check that a question was asked."""
    data = start(client)
    assert deliver(incoming(data["message"], sender=sender))["status"] == "awaiting_confirmation"
    return attempt_of(client)


def log_in_with_yes(client: Client, deliver, gateway) -> LoginAttempt:
    attempt = ask(client, deliver)
    assert deliver(answer("YES"))["status"] == "confirmed"
    assert client.post("/whatsapp/complete/").status_code == 200
    return attempt


# --- the relay is stopped -----------------------------------------------------------------


def test_the_relay_asks_the_victim_naming_the_attackers_browser_and_place(gateway, deliver, victim):
    attacker = attacker_browser()
    attempt = ask(attacker, deliver)
    # The message alone logged nobody in ...
    assert status(attacker)["status"] == "awaiting_confirmation"
    assert status(attacker)["status_message"].startswith("Check WhatsApp and answer YES")
    complete = attacker.post("/whatsapp/complete/")
    assert complete.status_code == 409
    assert complete.json()["status"] == "awaiting_confirmation"
    assert AUTH_SESSION_KEY not in attacker.session
    # ... the victim was asked, in the chat the code came from, with the attacker's context.
    [question] = gateway.sent
    assert question["chatId"] == VICTIM
    text = question["message"]
    assert "Example Shop" in text and "Firefox on Linux" in text and "near NL (203.0.113.x)" in text
    assert "*YES*" in text and "*NO*" in text  # both answers equally prominent
    attempt.refresh_from_db()
    assert attempt.status == Status.AWAITING_CONFIRMATION
    assert attempt.question_message_id == "BAE5000000000001"
    assert attempt.user_id == victim.pk and attempt.confirmed_at is None


def test_no_from_the_victim_declines_and_the_attacker_stays_out(gateway, deliver, victim):
    attacker = attacker_browser()
    attempt = ask(attacker, deliver)
    assert deliver(answer("NO")) == {"status": "rejected", "reason": "declined"}
    attempt.refresh_from_db()
    assert (attempt.status, attempt.reason) == (Status.REJECTED, Reason.DECLINED)
    body = status(attacker)
    assert body["status"] == "rejected" and body["reason"] == "declined"
    assert "answered NO" in body["status_message"]
    assert attacker.post("/whatsapp/complete/").status_code == 409
    assert AUTH_SESSION_KEY not in attacker.session
    assert "Refused" in gateway.sent[-1]["message"]  # the victim is told
    assert KnownDevice.objects.count() == 0


def test_yes_from_the_same_chat_logs_in_and_sends_one_notice(gateway, deliver, victim):
    browser = Client()
    attempt = ask(browser, deliver)
    assert deliver(answer("yes.")) == {"status": "confirmed", "reason": "approved"}
    attempt.refresh_from_db()
    assert (attempt.status, attempt.reason) == (Status.CONFIRMED, Reason.APPROVED)
    assert status(browser)["status"] == "confirmed"
    assert browser.post("/whatsapp/complete/").status_code == 200
    assert browser.session[AUTH_SESSION_KEY] == str(victim.pk)
    # The question, then exactly one login notice.
    assert ["Not you?" in m["message"] for m in gateway.sent] == [False, True]
    assert KnownDevice.objects.filter(user=victim, device_hash=attempt.device_hash).count() == 1


def test_a_known_device_is_not_asked_again_and_another_browser_is(gateway, deliver, victim):
    browser = Client()
    log_in_with_yes(browser, deliver, gateway)
    sign_out_here(browser)
    # The device cookie survives the logout (it is not the session).
    data = start(browser)
    assert deliver(incoming(data["message"], sender=VICTIM))["status"] == "confirmed"
    # A different browser (no device cookie) is asked.
    ask(attacker_browser(), deliver)


def test_always_asks_even_a_known_device(gateway, deliver, victim, settings):
    browser = Client()
    log_in_with_yes(browser, deliver, gateway)
    sign_out_here(browser)
    settings.WHATSAPP_LOGIN_CONFIRM = "always"
    ask(browser, deliver)


def test_never_confirms_with_the_message_alone(gateway, deliver, victim, settings):
    settings.WHATSAPP_LOGIN_CONFIRM = "never"
    data = start(Client())
    assert deliver(incoming(data["message"], sender=VICTIM))["status"] == "confirmed"
    assert all("Reply *YES*" not in m["message"] for m in gateway.sent)


def test_new_device_is_the_default(gateway, deliver, victim, settings):
    assert not hasattr(settings, "WHATSAPP_LOGIN_CONFIRM")
    ask(Client(), deliver)


def test_without_a_token_nothing_can_be_asked_so_nothing_is(deliver, victim, settings):
    # No Green API token (W014 in check --deploy): logins confirm as before.
    assert not getattr(settings, "WHATSAPP_LOGIN_GREEN_API_TOKEN", None)
    data = start(Client())
    assert deliver(incoming(data["message"], sender=VICTIM))["status"] == "confirmed"


# --- forgetting devices, and their lifetime ------------------------------------------------


def test_forgotten_devices_are_asked_again(gateway, deliver, victim):
    browser = Client()
    log_in_with_yes(browser, deliver, gateway)
    sign_out_here(browser)
    assert devices.forget(victim) == 1
    ask(browser, deliver)


def test_a_device_unused_for_longer_than_the_ttl_is_asked_again(gateway, deliver, victim, settings):
    settings.WHATSAPP_LOGIN_KNOWN_DEVICE_TTL = timedelta(days=30)
    browser = Client()
    log_in_with_yes(browser, deliver, gateway)
    sign_out_here(browser)
    KnownDevice.objects.update(last_used_at=timezone.now() - timedelta(days=31))
    ask(browser, deliver)


def test_a_known_device_of_another_user_does_not_count(gateway, deliver, victim, make_user):
    make_user(phone="+996700999999", username="other")
    browser = Client()
    attempt = ask(browser, deliver, sender=STRANGER)
    assert deliver(answer("YES", sender=STRANGER))["status"] == "confirmed"
    assert browser.post("/whatsapp/complete/").status_code == 200
    sign_out_here(browser)
    # Known for "other", not for the victim: the victim is asked.
    assert attempt.device_hash
    ask(browser, deliver)


def test_the_device_cookie_is_signed_httponly_and_host_prefixed_on_https(gateway):
    plain = Client()
    response = plain.post("/whatsapp/start/")
    cookie = response.cookies[devices.INSECURE_DEVICE_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 180 * 24 * 3600
    secure = Client()
    response = secure.post("/whatsapp/start/", secure=True)
    cookie = response.cookies[devices.DEVICE_COOKIE]
    assert cookie["secure"] and cookie["path"] == "/" and not cookie["domain"]


def test_a_forged_device_cookie_is_replaced(gateway, deliver, victim):
    browser = Client()
    log_in_with_yes(browser, deliver, gateway)
    sign_out_here(browser)
    value = browser.cookies[devices.INSECURE_DEVICE_COOKIE].value
    device_id, _, signature = value.rpartition(":")
    # Someone else's device hash is useless without its signature, and a made-up id too.
    forged = Client()
    forged.cookies[devices.INSECURE_DEVICE_COOKIE] = device_id + "x:" + signature
    response = forged.post("/whatsapp/start/")
    assert response.cookies[devices.INSECURE_DEVICE_COOKIE].value != value
    attempt = attempt_of(forged)
    assert not KnownDevice.objects.filter(device_hash=attempt.device_hash).exists()


# --- the question cannot be sent -----------------------------------------------------------


def test_a_failed_question_rejects_the_attempt_with_its_own_reason(gateway, deliver, victim):
    gateway.fail("sendMessage", 500, times=5)
    browser = Client()
    data = start(browser)
    assert deliver(incoming(data["message"], sender=VICTIM))["status"] == "awaiting_confirmation"
    attempt = attempt_of(browser)
    assert (attempt.status, attempt.reason) == (Status.REJECTED, Reason.CONFIRMATION_UNSENT)
    body = status(browser)
    assert body["status"] == "rejected" and body["reason"] == "confirmation_unsent"
    assert "could not send the confirmation question" in body["status_message"]
    # A YES cannot revive it.
    assert deliver(answer("YES"))["status"] == "ignored"


def test_a_slow_gateway_times_out_and_rejects(gateway, deliver, victim, settings):
    settings.WHATSAPP_LOGIN_REPLY_TIMEOUT = 0.2
    gateway.delay("sendMessage", 1.0)
    browser = Client()
    data = start(browser)
    started = time.monotonic()
    deliver(incoming(data["message"], sender=VICTIM))
    assert time.monotonic() - started < 1.0
    assert attempt_of(browser).reason == Reason.CONFIRMATION_UNSENT


# --- answers that change nothing (all 200) -------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: answer("yes please"), id="not-just-yes"),
        pytest.param(lambda: answer("maybe"), id="not-yes-or-no"),
        pytest.param(lambda: answer("YES", sender=STRANGER), id="yes-from-another-chat"),
        pytest.param(lambda: answer("NO", sender=STRANGER), id="no-from-another-chat"),
        pytest.param(
            lambda: answer(
                "YES",
                senderData={"chatId": "120363000000000001@g.us", "sender": VICTIM},
            ),
            id="yes-in-a-group",
        ),
        pytest.param(
            lambda: answer("YES", timestamp=int(time.time()) - 120), id="written-before-asked"
        ),
    ],
)
def test_answers_that_change_nothing(gateway, deliver, victim, make):
    browser = Client()
    attempt = ask(browser, deliver)
    body = deliver(make())
    assert body["status"] in ("ignored", "duplicate")
    attempt.refresh_from_db()
    assert attempt.status == Status.AWAITING_CONFIRMATION


def test_a_late_answer_changes_nothing(gateway, deliver, victim, settings):
    browser = Client()
    attempt = ask(browser, deliver)
    LoginAttempt.objects.filter(pk=attempt.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert deliver(answer("YES"))["status"] == "ignored"
    assert status(browser)["status"] == "expired"
    assert browser.post("/whatsapp/complete/").status_code == 409


def test_a_duplicate_delivery_of_yes_confirms_once(gateway, deliver, victim):
    browser = Client()
    attempt = ask(browser, deliver)
    yes = answer("YES")
    assert deliver(yes)["status"] == "confirmed"
    assert deliver(yes) == {"status": "ignored", "reason": "nothing_awaiting"}
    attempt.refresh_from_db()
    assert attempt.reason == Reason.APPROVED
    assert sum("Not you?" in m["message"] for m in gateway.sent) == 1


def test_answers_to_a_completed_or_declined_login_change_nothing(gateway, deliver, victim):
    browser = Client()
    done = log_in_with_yes(browser, deliver, gateway)
    done.refresh_from_db()
    question = done.question_message_id
    assert deliver(answer("YES", quoting=question))["status"] == "ignored"
    declined = ask(attacker_browser(), deliver)
    assert deliver(answer("NO"))["reason"] == "declined"
    declined.refresh_from_db()
    for word in ("YES", "NO"):
        body = deliver(answer(word, quoting=declined.question_message_id))
        assert body["status"] == "ignored"
    declined.refresh_from_db()
    assert declined.reason == Reason.DECLINED
    assert browser.get("/").status_code == 200  # the completed login is untouched


def test_a_code_sent_again_by_the_same_chat_is_harmless(gateway, deliver, victim):
    browser = Client()
    data = start(browser)
    first = incoming(data["message"], sender=VICTIM)
    assert deliver(first)["status"] == "awaiting_confirmation"
    again = incoming(data["message"], sender=VICTIM)
    assert deliver(again) == {"status": "duplicate", "reason": "already_confirmed"}
    assert len(gateway.sent) == 1  # one question


def test_the_same_code_from_a_second_chat_cancels_the_attempt(gateway, deliver, victim, make_user):
    make_user(phone="+996700999999", username="other")
    browser = Client()
    data = start(browser)
    assert deliver(incoming(data["message"], sender=VICTIM))["status"] == "awaiting_confirmation"
    body = deliver(incoming(data["message"], sender=STRANGER))
    assert body == {"status": "rejected", "reason": "conflicting_sender"}
    assert deliver(answer("YES"))["status"] == "ignored"


# --- several logins waiting ----------------------------------------------------------------


def test_a_quoted_answer_names_exactly_its_login(gateway, deliver, victim):
    first, second = Client(), attacker_browser()
    one = ask(first, deliver)
    two = ask(second, deliver)
    one.refresh_from_db()
    two.refresh_from_db()
    assert one.question_message_id != two.question_message_id
    # An unquoted YES is ambiguous: nothing is confirmed, the user is told how to answer.
    assert deliver(answer("YES")) == {"status": "ignored", "reason": "ambiguous_answer"}
    assert "Several logins" in gateway.sent[-1]["message"]
    assert deliver(answer("YES", quoting=one.question_message_id))["status"] == "confirmed"
    one.refresh_from_db()
    two.refresh_from_db()
    assert one.status == Status.CONFIRMED
    assert two.status == Status.AWAITING_CONFIRMATION


def test_an_unquoted_no_refuses_every_waiting_login(gateway, deliver, victim):
    one = ask(Client(), deliver)
    two = ask(attacker_browser(), deliver)
    assert deliver(answer("NO"))["reason"] == "declined"
    for attempt in (one, two):
        attempt.refresh_from_db()
        assert attempt.reason == Reason.DECLINED


def test_no_without_a_waiting_question_still_signs_the_last_login_out(gateway, deliver, victim):
    browser = Client()
    log_in_with_yes(browser, deliver, gateway)
    assert deliver(answer("NO"))["status"] == "signed_out"
    assert browser.get("/").status_code != 200


# --- translations --------------------------------------------------------------------------


def test_russian_question_and_answers(gateway, deliver, victim, settings):
    settings.WHATSAPP_LOGIN_REPLY_LANGUAGE = "ru"
    browser = Client()
    ask(browser, deliver)
    text = gateway.sent[0]["message"]
    assert "*ДА*" in text and "*НЕТ*" in text  # noqa: RUF001
    assert deliver(answer("да"))["status"] == "confirmed"


# --- the phone fallback asks too ----------------------------------------------------------


def test_the_lid_fallback_asks_the_lid_chat(
    gateway, deliver, victim, django_capture_on_commit_callbacks
):
    lid = "120650379300963@lid"
    gateway.lids["996700123456"] = lid
    browser = Client()
    data = start(browser)
    body = deliver(incoming(data["message"], sender=lid))
    assert body == {"status": "rejected", "reason": "lid_sender"}
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            "/whatsapp/lid-fallback/",
            {"phone": "+996 700 123 456"},
            HTTP_ACCEPT="application/json",
        )
    assert response.status_code == 200
    assert response.json()["status"] == "awaiting_confirmation"
    [question] = gateway.sent
    assert question["chatId"] == lid
    assert status(browser)["status"] == "awaiting_confirmation"
    assert deliver(answer("YES", sender=lid))["status"] == "confirmed"
    assert browser.post("/whatsapp/complete/").status_code == 200


# --- the sandbox simulates the answer ------------------------------------------------------


@pytest.fixture
def sandbox(settings):
    settings.DEBUG = True
    settings.WHATSAPP_LOGIN_SANDBOX = True


@pytest.mark.parametrize(("word", "expected"), [("yes", Status.CONFIRMED), ("no", Status.REJECTED)])
def test_the_sandbox_shows_the_question_and_answers_it(
    sandbox, victim, django_capture_on_commit_callbacks, word, expected
):
    browser = Client()
    start(browser)
    with django_capture_on_commit_callbacks(execute=True):
        body = browser.post("/whatsapp/sandbox/", {"phone": "+996 700 123 456"}).json()
    assert body["status"] == "awaiting_confirmation"
    assert "Reply *YES* to log in" in body["sandbox_question"]
    page = browser.get("/whatsapp/").content.decode()
    assert "Answer YES" in page and "Answer NO" in page and "Reply *YES*" in page
    assert "sandbox_question" in status(browser)
    with django_capture_on_commit_callbacks(execute=True):
        body = browser.post("/whatsapp/sandbox/", {"answer": word}).json()
    assert body["status"] == ("confirmed" if word == "yes" else "rejected")
    assert attempt_of(browser).status == expected


def test_the_sandbox_answer_needs_a_simulated_message_first(sandbox, victim):
    browser = Client()
    start(browser)
    response = browser.post("/whatsapp/sandbox/", {"answer": "yes"})
    assert response.status_code == 400
    assert attempt_of(browser).status == Status.PENDING


# --- housekeeping --------------------------------------------------------------------------


def test_cleanup_expires_unanswered_questions(gateway, deliver, victim):
    attempt = ask(Client(), deliver)
    LoginAttempt.objects.filter(pk=attempt.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    call_command("whatsapp_login_cleanup", verbosity=0)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.reason) == (Status.EXPIRED, Reason.EXPIRED)


def test_reloading_the_page_keeps_the_waiting_attempt(gateway, deliver, victim):
    browser = Client()
    attempt = ask(browser, deliver)
    assert browser.get("/whatsapp/").status_code == 200
    assert session_attempt_id(browser) == attempt.pk


def test_junk_codes_sent_first_do_not_silence_the_question(gateway, deliver, victim, settings):
    settings.WHATSAPP_LOGIN_REPLIES = True  # informational replies too, capped at 3 an hour
    junk = "AMT LOGIN " + "A" * 16
    for _ in range(4):
        assert deliver(incoming(junk, sender=VICTIM))["reason"] == "unknown_code"
    assert len(gateway.sent) == 3  # the cap is used up ...
    ask(Client(), deliver)  # ... and the question still goes out
    assert "Reply *YES*" in gateway.sent[-1]["message"]
