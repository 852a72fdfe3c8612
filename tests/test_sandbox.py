"""The sandbox: a "simulate sending from WhatsApp" form, only with SANDBOX and DEBUG on."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.test import Client, override_settings

from django_whatsapp_login.attempts import SESSION_KEY
from django_whatsapp_login.models import LoginAttempt, ProcessedMessage, RejectReason, Status

from .conftest import start

# The YES/NO question is tests/test_confirmation.py's subject; here logins confirm at once.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_confirmation")]

PAGE = "/whatsapp/"
SANDBOX = "/whatsapp/sandbox/"
SANDBOX_FORM = 'action="/whatsapp/sandbox/"'

sandbox_on = override_settings(WHATSAPP_LOGIN_SANDBOX=True, DEBUG=True)


def human(body: dict) -> str:
    assert "message" not in body, body
    return body["status_message"]


@sandbox_on
def test_page_shows_the_sandbox_form(browser):
    html = browser.get(PAGE).content.decode()
    assert SANDBOX_FORM in html
    assert 'name="phone"' in html
    assert "Simulate sending from WhatsApp" in html


@sandbox_on
def test_sandbox_confirms_and_complete_logs_in(browser, make_user):
    user = make_user("+996700123456")
    make_user("+996700222222")
    browser.get(PAGE)
    response = browser.post(SANDBOX, {"phone": "+996 700 123 456"})
    assert response.status_code == 200
    assert response.json()["status"] == "confirmed"
    attempt = LoginAttempt.objects.get()
    assert attempt.status == Status.CONFIRMED
    assert attempt.user == user
    # It went through the real message path (idempotency row written).
    assert ProcessedMessage.objects.filter(chat_id="996700123456@c.us").count() == 1
    assert browser.get("/whatsapp/status/").json()["status"] == "confirmed"
    response = browser.post("/whatsapp/complete/")
    assert response.status_code == 200
    assert browser.session[AUTH_SESSION_KEY] == str(user.pk)
    assert LoginAttempt.objects.get().status == Status.CONSUMED


@sandbox_on
def test_sandbox_form_post_without_javascript(browser, make_user):
    make_user("+996700123456")
    browser.get(PAGE)
    response = browser.post(SANDBOX, {"phone": "+996700123456"}, HTTP_ACCEPT="text/html")
    assert response.status_code == 303
    assert response["Location"] == PAGE
    assert LoginAttempt.objects.get().status == Status.CONFIRMED


@sandbox_on
@pytest.mark.parametrize("phone", ["", "abc", "0700 123 456", "+12", "+996 700 123 456 789 000"])
def test_sandbox_invalid_phone_is_400(browser, phone):
    browser.get(PAGE)
    response = browser.post(SANDBOX, {"phone": phone})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_phone"
    assert "international format" in body["message"]
    assert LoginAttempt.objects.get().status == Status.PENDING
    assert ProcessedMessage.objects.count() == 0


@sandbox_on
def test_sandbox_invalid_phone_without_javascript_flashes(browser):
    browser.get(PAGE)
    response = browser.post(SANDBOX, {"phone": "nope"}, HTTP_ACCEPT="text/html")
    assert response.status_code == 303
    assert "international format" in browser.get(PAGE).content.decode()


@sandbox_on
def test_sandbox_unknown_phone_rejects(browser, make_user):
    make_user("+996700123456")
    browser.get(PAGE)
    response = browser.post(SANDBOX, {"phone": "+996 700 999 999"})
    assert response.status_code == 200
    assert response.json() == {"status": "rejected", "reason": "unknown_number"}
    attempt = LoginAttempt.objects.get()
    assert attempt.status == Status.REJECTED
    assert attempt.reason == RejectReason.UNKNOWN_NUMBER
    assert attempt.user is None
    body = browser.get("/whatsapp/status/").json()
    assert body["status"] == "rejected"
    assert human(body) == "This number is not registered."
    assert browser.post("/whatsapp/complete/").status_code == 409
    assert AUTH_SESSION_KEY not in browser.session


@sandbox_on
def test_sandbox_without_attempt_is_404(browser, make_user):
    make_user("+996700123456")
    response = browser.post(SANDBOX, {"phone": "+996700123456"})
    assert response.status_code == 404
    assert response.json() == {"error": "no_attempt"}
    assert LoginAttempt.objects.count() == 0
    assert ProcessedMessage.objects.count() == 0


@sandbox_on
def test_sandbox_only_confirms_this_sessions_attempt(browser, make_user):
    make_user("+996700123456")
    victim = Client()
    start(victim)
    start(browser)
    assert browser.post(SANDBOX, {"phone": "+996700123456"}).json()["status"] == "confirmed"
    victim_id = victim.session[SESSION_KEY]["id"]
    assert LoginAttempt.objects.get(pk=victim_id).status == Status.PENDING


@sandbox_on
def test_sandbox_requires_csrf(make_user):
    make_user("+996700123456")
    client = Client(enforce_csrf_checks=True)
    client.get(PAGE)
    assert client.post(SANDBOX, {"phone": "+996700123456"}).status_code == 403
    assert LoginAttempt.objects.get().status == Status.PENDING
    token = client.cookies["csrftoken"].value
    response = client.post(SANDBOX, {"phone": "+996700123456"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    assert LoginAttempt.objects.get().status == Status.CONFIRMED


@sandbox_on
def test_sandbox_is_post_only(browser):
    browser.get(PAGE)
    assert browser.get(SANDBOX).status_code == 405


@pytest.mark.parametrize(
    "overrides",
    [
        {"WHATSAPP_LOGIN_SANDBOX": False, "DEBUG": True},
        {"WHATSAPP_LOGIN_SANDBOX": True, "DEBUG": False},
        {"WHATSAPP_LOGIN_SANDBOX": False, "DEBUG": False},
    ],
)
def test_sandbox_disabled(browser, make_user, overrides):
    make_user("+996700123456")
    with override_settings(**overrides):
        html = browser.get(PAGE).content.decode()
        assert SANDBOX_FORM not in html
        assert 'name="phone"' not in html
        response = browser.post(SANDBOX, {"phone": "+996700123456"})
    assert response.status_code == 404
    assert LoginAttempt.objects.get().status == Status.PENDING
    assert ProcessedMessage.objects.count() == 0


@sandbox_on
@pytest.mark.django_db
def test_sandbox_placeholder_is_a_hint_not_a_number(browser):
    import re

    html = browser.get("/login").content.decode()
    [placeholder] = re.findall(r'name="phone"[^>]*placeholder="([^"]*)"', html)
    assert placeholder and not re.search(r"\d", placeholder)  # never looks filled in
    # The sandbox comes before the QR code: a demo's main action, visible without scrolling.
    assert html.index("data-wl-sandbox") < html.index("data-wl-qr")


@pytest.mark.django_db
def test_login_page_has_an_icon(browser):
    from django.contrib.staticfiles import finders

    html = browser.get("/login").content.decode()
    assert '<link rel="icon" href="/static/whatsapp_login/icon.svg"' in html
    assert finders.find("whatsapp_login/icon.svg")
