"""WhatsApp logins handed to allauth's pipeline; the widget on allauth's pages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time

import pytest
from allauth.account.signals import user_logged_in as allauth_user_logged_in
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import encrypt
from django.contrib.auth import SESSION_KEY
from django.contrib.messages import get_messages
from django.test import Client

from django_whatsapp_login.models import LoginAttempt, Reason, Status
from tests.allauthapp.models import PhoneNumber

from ..conftest import incoming, start

# Logins here confirm with the message alone; the YES/NO step with allauth: the last test.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_confirmation")]

PHONE = "+996555000123"
SENDER = "996555000123@c.us"
MFA_URL = "/accounts/2fa/authenticate/"


def totp(secret: str, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 TOTP (HMAC-SHA1), written here so the test does not trust allauth's own."""
    key = base64.b32decode(secret)
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = (struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return str(value).zfill(digits)


@pytest.fixture
def account(make_user):
    def make(phone: str = PHONE, verified: bool = True, **kw):
        user = make_user(phone=phone, **kw)
        PhoneNumber.objects.create(user=user, phone=phone, verified=verified)
        return user

    return make


@pytest.fixture
def totp_user(account):
    user = account()
    secret = base64.b32encode(os.urandom(20)).decode()
    Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": encrypt(secret)}
    )
    return user, secret


def confirm(browser: Client, webhook, sender: str = SENDER) -> None:
    data = start(browser)
    response = webhook.post(incoming(data["message"], sender=sender))
    assert response.status_code == 200, response.content


def logged_in_user_id(client: Client) -> str | None:
    return client.session.get(SESSION_KEY)


def test_totp_user_lands_on_mfa_form_and_is_logged_in_only_with_the_right_code(
    browser, webhook, totp_user
):
    user, secret = totp_user
    confirm(browser, webhook)

    response = browser.post("/whatsapp/complete/")
    assert response.status_code == 200
    assert response.json() == {"redirect": MFA_URL}
    assert logged_in_user_id(browser) is None
    assert browser.get("/").status_code == 302  # @login_required: still anonymous
    assert LoginAttempt.objects.get().status == Status.CONSUMED

    page = browser.get(MFA_URL)
    assert page.status_code == 200
    assert b'name="code"' in page.content

    right = totp(secret)
    wrong = str((int(right) + 1) % 10**6).zfill(6)
    response = browser.post(MFA_URL, {"code": wrong})
    assert response.status_code == 200  # the form again, with an error
    assert logged_in_user_id(browser) is None

    response = browser.post(MFA_URL, {"code": right})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert logged_in_user_id(browser) == str(user.pk)
    assert browser.get("/").content == f"Hello {user.username}".encode()


def test_totp_user_without_javascript_is_sent_to_the_mfa_form(browser, webhook, totp_user):
    confirm(browser, webhook)
    response = browser.post("/whatsapp/complete/", HTTP_ACCEPT="text/html")
    assert response.status_code == 303
    assert response["Location"] == MFA_URL
    assert logged_in_user_id(browser) is None


def test_user_without_mfa_is_logged_in_by_allauth(browser, webhook, account):
    user = account()
    received = []

    def receiver(sender, request, user, **kwargs):
        received.append(user.pk)

    allauth_user_logged_in.connect(receiver)
    try:
        confirm(browser, webhook)
        response = browser.post("/whatsapp/complete/")
    finally:
        allauth_user_logged_in.disconnect(receiver)
    assert response.json() == {"redirect": "/"}
    assert logged_in_user_id(browser) == str(user.pk)
    assert received == [user.pk]  # allauth's signal, not only Django's
    # allauth's "Successfully signed in" message waits for the next page.
    request = browser.get("/accounts/login/").wsgi_request
    assert any(str(user.username) in str(m) for m in get_messages(request))


def test_next_url_of_allauths_login_page_is_kept(browser, webhook, account):
    user = account()
    page = browser.get("/accounts/login/?next=/accounts/phone/change/")
    assert page.status_code == 200
    data = browser.post("/whatsapp/start/").json()
    webhook.post(incoming(data["message"], sender=SENDER))
    response = browser.post("/whatsapp/complete/")
    assert response.json() == {"redirect": "/accounts/phone/change/"}
    assert logged_in_user_id(browser) == str(user.pk)


def test_mandatory_email_verification_applies(browser, webhook, account, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    account(email="tenant@example.com")
    confirm(browser, webhook)
    response = browser.post("/whatsapp/complete/")
    assert response.json() == {"redirect": "/accounts/confirm-email/"}
    assert logged_in_user_id(browser) is None


def test_default_complete_login_skips_allauth_stages(browser, webhook, totp_user, settings):
    """What the integration is for: Django's login() alone walks past the MFA form."""
    settings.WHATSAPP_LOGIN_COMPLETE_LOGIN = None
    user, _secret = totp_user
    confirm(browser, webhook)
    assert browser.post("/whatsapp/complete/").json() == {"redirect": "/"}
    assert logged_in_user_id(browser) == str(user.pk)


# --- the resolver -------------------------------------------------------------------------


def rejected_reason(browser, webhook, sender: str = SENDER) -> str:
    confirm(browser, webhook, sender)
    attempt = LoginAttempt.objects.get()
    assert attempt.status == Status.REJECTED
    return attempt.reason


def test_resolver_refuses_an_unverified_number(browser, webhook, account):
    account(verified=False)
    assert rejected_reason(browser, webhook) == Reason.UNKNOWN_NUMBER


def test_resolver_accepts_an_unverified_number_without_phone_verification(
    browser, webhook, account, settings
):
    settings.ACCOUNT_PHONE_VERIFICATION_ENABLED = False
    user = account(verified=False)
    confirm(browser, webhook)
    assert browser.post("/whatsapp/complete/").json() == {"redirect": "/"}
    assert logged_in_user_id(browser) == str(user.pk)


def test_resolver_refuses_a_number_of_two_accounts(browser, webhook, account):
    account()
    account()
    assert rejected_reason(browser, webhook) == Reason.SEVERAL_USERS


def test_resolver_refuses_unknown_numbers(browser, webhook, account):
    account(phone="+996555000124")
    assert rejected_reason(browser, webhook) == Reason.UNKNOWN_NUMBER


def test_resolver_finds_the_brazilian_number_stored_with_the_ninth_digit(browser, webhook, account):
    # WhatsApp's id lacks the 9th digit that the stored (dialled) number has.
    user = account(phone="+5511987650000")
    confirm(browser, webhook, sender="551187650000@c.us")
    assert browser.post("/whatsapp/complete/").json() == {"redirect": "/"}
    assert logged_in_user_id(browser) == str(user.pk)


def test_resolver_refuses_two_users_behind_two_forms_of_one_number(browser, webhook, account):
    account(phone="+5511987650000")
    account(phone="+551187650000")
    assert rejected_reason(browser, webhook, "551187650000@c.us") == Reason.SEVERAL_USERS


# --- allauth's pages ------------------------------------------------------------------------


def test_widget_renders_on_allauths_login_page(browser):
    response = browser.get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="login"' in html  # allauth's own form is still there
    assert "Log in with WhatsApp" in html
    assert "https://wa.me/996555000001?text=AMT%20LOGIN%20" in html
    assert "<svg" in html  # the QR code
    assert LoginAttempt.objects.count() == 1


def test_widget_renders_on_allauths_signup_page(browser):
    html = browser.get("/accounts/signup/").content.decode()
    assert 'name="password1"' in html
    assert "https://wa.me/996555000001?text=AMT%20LOGIN%20" in html


def test_link_is_hidden_when_the_link_page_is_not_mounted(browser, account, settings):
    settings.ROOT_URLCONF = "tests.allauthapp.urls_without_link"
    browser.force_login(account())
    html = browser.get("/accounts/phone/change/").content.decode()
    assert "Change Phone" in html
    assert "Link your WhatsApp" not in html


def test_link_appears_on_the_phone_page(browser, account):
    browser.force_login(account())
    html = browser.get("/accounts/phone/change/").content.decode()
    assert '<a href="/whatsapp/link/">Link your WhatsApp to log in with it</a>' in html


@pytest.fixture
def confirming(settings, fake_greenapi):
    """Undo the module's "never": the default, "new_device", with the fake Green API."""
    settings.WHATSAPP_LOGIN_CONFIRM = "new_device"
    return fake_greenapi


def test_the_yes_in_whatsapp_comes_before_allauths_stages(
    browser, webhook, totp_user, confirming, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        data = start(browser)
        answer = webhook.post(incoming(data["message"], sender=SENDER)).json()
    assert answer == {"status": "awaiting_confirmation"}
    assert browser.post("/whatsapp/complete/").status_code == 409  # no YES yet: no MFA form
    assert logged_in_user_id(browser) is None
    with django_capture_on_commit_callbacks(execute=True):
        answer = webhook.post(incoming("YES", sender=SENDER)).json()
    assert answer == {"status": "confirmed", "reason": "approved"}
    response = browser.post("/whatsapp/complete/")
    assert response.json() == {"redirect": MFA_URL}  # then allauth's own stage
    assert logged_in_user_id(browser) is None
    assert [m["chatId"] for m in confirming.sent][:1] == [SENDER]
