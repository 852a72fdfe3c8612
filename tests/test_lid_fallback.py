"""The login page's phone fallback for a code sent from an unknown LID (issue 9), against
the fake Green API over real HTTP."""

from __future__ import annotations

import pytest
from django.test import Client

from django_whatsapp_login.models import LoginAttempt, Status, WhatsAppIdentity

from .conftest import incoming, start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_qr_rendering")]

PHONE = "+996700123456"
LID = "120650379300963@lid"
URL = "/whatsapp/lid-fallback/"
NEUTRAL = "We could not confirm this number"


def rejected_by_lid(webhook) -> tuple[Client, LoginAttempt]:
    browser = Client()
    answer = webhook.post(incoming(start(browser)["message"], LID)).json()
    assert answer == {"status": "rejected", "reason": "lid_sender"}
    return browser, LoginAttempt.objects.get(pk=browser.session["_whatsapp_login"]["id"])


def attempt_of(browser: Client) -> LoginAttempt:
    return LoginAttempt.objects.get(pk=browser.session["_whatsapp_login"]["id"])


def test_status_points_at_the_fallback(webhook, make_user):
    browser, _ = rejected_by_lid(webhook)
    data = browser.get("/whatsapp/status/").json()
    assert data["reason"] == "lid_sender"
    assert data["fallback_url"] == URL


def test_matching_lid_confirms_logs_in_and_stores_the_lid(
    webhook, make_user, fake_greenapi, no_confirmation
):
    user = make_user(PHONE)
    fake_greenapi.lids["996700123456"] = LID
    browser, _ = rejected_by_lid(webhook)
    response = browser.post(URL, {"phone": "+996 700 123 456"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "confirmed"
    assert len(fake_greenapi.calls("checkWhatsapp")) == 1
    attempt = attempt_of(browser)
    assert (attempt.status, attempt.reason, attempt.user_id) == (
        Status.CONFIRMED,
        "lookup_confirmed",
        user.pk,
    )
    assert not WhatsAppIdentity.objects.exists()  # stored only once the login succeeds
    assert browser.post("/whatsapp/complete/").status_code == 200
    assert browser.session["_auth_user_id"] == str(user.pk)
    identity = WhatsAppIdentity.objects.get()
    assert (identity.user_id, identity.kind, identity.value, identity.source) == (
        user.pk,
        "lid",
        LID,
        "lookup",
    )
    # A later LID-only message logs the same user in.
    later = Client()
    assert webhook.post(incoming(start(later)["message"], LID)).json() == {"status": "confirmed"}


@pytest.mark.parametrize(
    "lids, phone",
    [
        ({"996700123456": "120650379300777@lid"}, PHONE),  # another WhatsApp account's LID
        ({}, PHONE),  # the number has no WhatsApp
        ({"996700999999": LID}, "+996700999999"),  # right LID, but nobody's number here
        ({}, "not a number"),
        ({}, "+" + "9" * 40),
    ],
)
def test_every_failure_gives_the_same_neutral_answer(
    webhook, make_user, fake_greenapi, lids, phone
):
    make_user(PHONE)
    fake_greenapi.lids.update(lids)
    browser, _ = rejected_by_lid(webhook)
    response = browser.post(URL, {"phone": phone})
    assert response.status_code == 400
    assert response.json()["error"] == "not_confirmed"
    assert response.json()["status_message"].startswith(NEUTRAL)
    attempt = attempt_of(browser)
    assert (attempt.status, attempt.reason, attempt.user_id) == (
        Status.REJECTED,
        "lid_sender",
        None,
    )
    assert not WhatsAppIdentity.objects.exists()


def test_an_identity_of_another_user_refuses(webhook, make_user, fake_greenapi):
    """The LID became another user's between the rejection and the try: refused, nothing
    moved (the resolver's user and the identity's user differ)."""
    from django_whatsapp_login import identities

    make_user(PHONE)
    other = make_user("+996700654321")
    fake_greenapi.lids["996700123456"] = LID
    browser, _ = rejected_by_lid(webhook)
    identities.link(other, LID)
    response = browser.post(URL, {"phone": PHONE})
    assert response.status_code == 400
    assert response.json()["status_message"].startswith(NEUTRAL)
    assert attempt_of(browser).status == Status.REJECTED
    assert WhatsAppIdentity.objects.get().user_id == other.pk


@pytest.mark.parametrize(
    "status, body",
    [(429, None), (466, {"error": "quota"}), (500, None)],
)
def test_green_api_failures_say_try_again_later(webhook, make_user, fake_greenapi, status, body):
    make_user(PHONE)
    fake_greenapi.lids["996700123456"] = LID
    fake_greenapi.fail("checkWhatsapp", status, body=body)
    browser, _ = rejected_by_lid(webhook)
    response = browser.post(URL, {"phone": PHONE})
    assert response.status_code == 503
    assert response.json()["error"] == "lookup_unavailable"
    assert len(fake_greenapi.calls("checkWhatsapp")) == 1  # no retry inside one try
    assert attempt_of(browser).status == Status.REJECTED
    assert not WhatsAppIdentity.objects.exists()


def test_timeout_says_try_again_later(webhook, make_user, fake_greenapi, settings):
    make_user(PHONE)
    fake_greenapi.lids["996700123456"] = LID
    settings.WHATSAPP_LOGIN_GREEN_API_TIMEOUT = 0.2
    fake_greenapi.delay("checkWhatsapp", 1.0)
    browser, _ = rejected_by_lid(webhook)
    response = browser.post(URL, {"phone": PHONE})
    assert response.status_code == 503
    assert attempt_of(browser).status == Status.REJECTED


def test_not_configured_says_try_again_later(webhook, make_user, settings):
    make_user(PHONE)
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = ""
    browser, _ = rejected_by_lid(webhook)
    assert browser.post(URL, {"phone": PHONE}).status_code == 503


def test_tries_are_rate_limited(webhook, make_user, fake_greenapi, settings):
    settings.WHATSAPP_LOGIN_RATE_LIMIT_LID_FALLBACK = "2/10m/attempt"
    make_user(PHONE)
    browser, _ = rejected_by_lid(webhook)
    assert [browser.post(URL, {"phone": PHONE}).status_code for _ in range(3)] == [400, 400, 429]
    assert len(fake_greenapi.calls("checkWhatsapp")) == 2  # the refused try costs no call


def test_only_the_sessions_live_lid_sender_attempt(webhook, make_user, fake_greenapi):
    make_user(PHONE)
    fake_greenapi.lids["996700123456"] = LID
    browser, attempt = rejected_by_lid(webhook)
    # Another browser (no session binding) gets nothing.
    assert Client().post(URL, {"phone": PHONE}).status_code == 404
    # Another rejection reason: nothing to fall back from.
    other = Client()
    webhook.post(incoming(start(other)["message"], "996700999999@c.us"))
    assert other.post(URL, {"phone": PHONE}).status_code == 404
    # Past the TTL.
    LoginAttempt.objects.filter(pk=attempt.pk).update(expires_at=attempt.created_at)
    assert browser.post(URL, {"phone": PHONE}).status_code == 404
    assert fake_greenapi.calls("checkWhatsapp") == []


def test_works_without_javascript(webhook, make_user, fake_greenapi, no_confirmation):
    user = make_user(PHONE)
    fake_greenapi.lids["996700123456"] = LID
    browser, _ = rejected_by_lid(webhook)
    html = {"HTTP_ACCEPT": "text/html"}
    # "I have sent the message: continue" leads to the phone form.
    response = browser.post("/whatsapp/complete/", **html)
    assert response.status_code == 303 and response["Location"] == URL
    page = browser.get(URL)
    assert page.status_code == 200 and b'name="phone"' in page.content
    assert b"csrfmiddlewaretoken" in page.content
    wrong = browser.post(URL, {"phone": "+996700999999"}, **html)
    assert wrong.status_code == 400 and NEUTRAL.encode() in wrong.content
    right = browser.post(URL, {"phone": PHONE}, **html)
    assert right.status_code == 303 and right["Location"] == "/whatsapp/"
    assert browser.post("/whatsapp/complete/", **html).status_code == 303
    assert browser.session["_auth_user_id"] == str(user.pk)


def test_csrf_is_enforced(webhook, make_user):
    make_user(PHONE)
    browser = Client(enforce_csrf_checks=True)
    answer = webhook.post(incoming(start_csrf(browser), LID)).json()
    assert answer["reason"] == "lid_sender"
    assert browser.post(URL, {"phone": PHONE}).status_code == 403


def start_csrf(browser: Client) -> str:
    browser.get("/whatsapp/")
    return "AMT LOGIN " + browser.session["_whatsapp_login"]["code"]


def test_the_fallback_sentences_are_translated():
    from django.utils import translation

    from django_whatsapp_login.fallback import later_message, neutral_message

    with translation.override("ru"):
        for sentence in (neutral_message(), later_message()):
            assert sum("\u0400" <= char <= "\u04ff" for char in sentence) > 5, sentence
