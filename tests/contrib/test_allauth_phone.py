"""allauth's phone codes delivered as WhatsApp messages through the (fake) Green API."""

from __future__ import annotations

import logging
import re

import pytest
from django.contrib.auth import SESSION_KEY

from tests.allauthapp.models import PhoneNumber
from tests.fake_greenapi import API_TOKEN

pytestmark = pytest.mark.django_db

PHONE = "+996555000123"
CHAT_ID = "996555000123@c.us"


def sent_code(fake) -> str:
    assert len(fake.sent) == 1, fake.sent
    message = fake.sent[0]
    assert message["chatId"] == CHAT_ID
    match = re.match(r"(\S+) is your verification code for testserver\. ", message["message"])
    assert match, message["message"]
    return match.group(1)


def test_signup_phone_verification_code_arrives_by_whatsapp(client, fake_greenapi):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "tenant",
            "phone": PHONE,
            "password1": "a-long-passw0rd!",
            "password2": "a-long-passw0rd!",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/phone/verify/"
    assert client.session.get(SESSION_KEY) is None
    code = sent_code(fake_greenapi)

    response = client.post("/accounts/phone/verify/", {"code": code})
    assert response.status_code == 302
    row = PhoneNumber.objects.get()
    assert (row.phone, row.verified) == (PHONE, True)
    assert client.session.get(SESSION_KEY) == str(row.user_id)


def test_login_by_code_arrives_by_whatsapp(client, fake_greenapi, make_user):
    user = make_user(phone=PHONE)
    PhoneNumber.objects.create(user=user, phone=PHONE, verified=True)
    response = client.post("/accounts/login/code/", {"phone": PHONE})
    assert response.status_code == 302
    code = sent_code(fake_greenapi)
    response = client.post("/accounts/login/code/confirm/", {"code": code})
    assert response.status_code == 302
    assert client.session.get(SESSION_KEY) == str(user.pk)


def test_unknown_number_gets_the_no_account_notice_and_no_code(client, fake_greenapi):
    response = client.post("/accounts/login/code/", {"phone": PHONE})
    assert response.status_code == 302  # the same answer as for a known number
    assert len(fake_greenapi.sent) == 1
    assert fake_greenapi.sent[0]["chatId"] == CHAT_ID
    assert "no account uses it" in fake_greenapi.sent[0]["message"]


def test_signup_with_a_taken_number_gets_the_already_exists_notice(
    client, fake_greenapi, make_user
):
    user = make_user(phone=PHONE)
    PhoneNumber.objects.create(user=user, phone=PHONE, verified=True)
    client.post(
        "/accounts/signup/",
        {
            "username": "someone-else",
            "phone": PHONE,
            "password1": "a-long-passw0rd!",
            "password2": "a-long-passw0rd!",
        },
    )
    texts = [m["message"] for m in fake_greenapi.sent]
    assert any("already has an account" in text for text in texts), texts
    assert not any("verification code" in text for text in texts)


def test_gateway_failure_is_a_clear_503_without_the_token(client, fake_greenapi, caplog):
    fake_greenapi.fail("sendMessage", 500, times=5)
    with caplog.at_level(logging.ERROR, logger="django_whatsapp_login"):
        response = client.post(
            "/accounts/signup/",
            {
                "username": "tenant",
                "phone": PHONE,
                "password1": "a-long-passw0rd!",
                "password2": "a-long-passw0rd!",
            },
        )
    assert response.status_code == 503
    body = response.content.decode()
    assert "We could not send the code by WhatsApp right now" in body
    assert API_TOKEN not in body
    assert API_TOKEN not in caplog.text
    assert "+996•••123" in caplog.text


def test_gateway_timeout_is_bounded(client, fake_greenapi, settings, make_user):
    settings.WHATSAPP_LOGIN_ALLAUTH_SEND_TIMEOUT = 0.2
    fake_greenapi.delay("sendMessage", 1.0)
    user = make_user(phone=PHONE)
    PhoneNumber.objects.create(user=user, phone=PHONE, verified=True)
    response = client.post("/accounts/login/code/", {"phone": PHONE})
    assert response.status_code == 503
