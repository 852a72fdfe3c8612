"""The sandbox under the Cloud API (issue 12): the gateway builds the simulated message
(``Gateway.sandbox_messages``), the webhook's own handling (``webhooks.handle``) takes it, and
the YES/NO answer is a press of the question's reply button."""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import Client

from django_whatsapp_login import attempts, webhooks
from django_whatsapp_login.gateways.base import IncomingMessage
from django_whatsapp_login.models import LoginAttempt, ProcessedMessage, Reason, Status

from . import fake_cloudapi as fake
from .conftest import start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_qr_rendering")]

PHONE = "+" + fake.USER_DIGITS
SANDBOX = "/whatsapp/sandbox/"


@pytest.fixture
def sandbox(settings):
    settings.DEBUG = True
    settings.WHATSAPP_LOGIN_SANDBOX = True
    settings.WHATSAPP_LOGIN_GATEWAY = "cloudapi"
    settings.WHATSAPP_LOGIN_BUSINESS_PHONE = "+" + fake.BUSINESS_DIGITS
    # No Cloud API credentials and no Green API either: the sandbox needs neither.
    settings.WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE = None
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = None
    return settings


@pytest.fixture
def handled():
    """The messages the sandbox hands to the webhook's handling."""
    seen: list[IncomingMessage] = []
    real = webhooks.handle

    def spy(message, request=None):
        seen.append(message)
        return real(message, request=request)

    with mock.patch.object(webhooks, "handle", spy):
        yield seen


def test_the_sandbox_logs_in_through_the_cloud_api_parser(sandbox, handled, make_user):
    sandbox.WHATSAPP_LOGIN_CONFIRM = "never"
    user = make_user(phone=PHONE)
    browser = Client()
    start(browser)
    body = browser.post(SANDBOX, {"phone": PHONE}).json()
    assert body["status"] == "confirmed"
    [message] = handled
    assert message.gateway == "cloudapi"
    assert message.chat_id == fake.USER_DIGITS  # a wa_id, not Green API's "...@c.us"
    assert message.senders is not None and message.senders.phones == [PHONE]
    assert message.message_id.startswith("wamid.SANDBOX")
    assert ProcessedMessage.objects.get().chat_id == fake.USER_DIGITS
    assert browser.post("/whatsapp/complete/").status_code == 200
    assert browser.session["_auth_user_id"] == str(user.pk)


@pytest.mark.parametrize(
    ("answer", "button", "status", "reason"),
    [
        ("yes", attempts.BUTTON_YES, Status.CONFIRMED, Reason.APPROVED),
        ("no", attempts.BUTTON_NO, Status.REJECTED, Reason.DECLINED),
    ],
)
def test_the_sandbox_answers_with_the_question_buttons(
    sandbox, handled, make_user, django_capture_on_commit_callbacks, answer, button, status, reason
):
    sandbox.WHATSAPP_LOGIN_CONFIRM = "always"
    make_user(phone=PHONE)
    browser = Client()
    start(browser)
    with django_capture_on_commit_callbacks(execute=True):
        body = browser.post(SANDBOX, {"phone": PHONE}).json()
    assert body["status"] == "awaiting_confirmation"
    assert "Reply *YES*" in body["sandbox_question"]
    question_id = LoginAttempt.objects.get().question_message_id
    assert question_id
    with django_capture_on_commit_callbacks(execute=True):
        body = browser.post(SANDBOX, {"answer": answer}).json()
    pressed = handled[-1]
    assert pressed.button_id == button
    assert pressed.text == answer.upper()  # the button's title
    assert pressed.quoted_id == question_id
    row = LoginAttempt.objects.get()
    assert (row.status, row.reason) == (status, reason)


def test_the_sandbox_from_an_unknown_number_is_refused(sandbox, make_user):
    sandbox.WHATSAPP_LOGIN_CONFIRM = "never"
    make_user(phone=PHONE)
    browser = Client()
    start(browser)
    body = browser.post(SANDBOX, {"phone": "+996555000999"}).json()
    assert body["status"] == "rejected" and body["reason"] == "unknown_number"


def test_the_default_sandbox_message_of_a_custom_gateway():
    from django_whatsapp_login.gateways.base import Gateway

    class Custom(Gateway):
        name = "custom"
        authenticate = parse = send_text = checks = None  # type: ignore[assignment]

    Custom.__abstractmethods__ = frozenset()
    [message] = Custom().sandbox_messages(PHONE, "YES", quoted_id="Q1", button_id="b")
    assert (message.gateway, message.chat_id, message.text) == ("custom", fake.USER_DIGITS, "YES")
    assert (message.quoted_id, message.button_id, message.forwarded) == ("Q1", "b", False)
    assert message.senders is not None and message.senders.phones == [PHONE]


def test_the_green_api_sandbox_still_sends_green_api_notifications(settings, handled, make_user):
    settings.DEBUG = True
    settings.WHATSAPP_LOGIN_SANDBOX = True
    settings.WHATSAPP_LOGIN_CONFIRM = "never"
    make_user(phone="+996700123456")
    browser = Client()
    start(browser)
    assert browser.post(SANDBOX, {"phone": "+996700123456"}).json()["status"] == "confirmed"
    [message] = handled
    assert message.chat_id == "996700123456@c.us"
    assert message.message_id.startswith("SANDBOX")
