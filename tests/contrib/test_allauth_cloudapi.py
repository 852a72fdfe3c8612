"""allauth's phone codes through the Cloud API gateway (WHATSAPP_LOGIN_GATEWAY = "cloudapi"),
over real HTTP to the fake Graph API (tests/fake_cloudapi.py): the adapter never talks to
Green API when another gateway is configured (issue 12)."""

from __future__ import annotations

import logging
import re

import pytest
from django.contrib.auth import SESSION_KEY

from django_whatsapp_login.contrib.allauth import checks as allauth_checks
from tests import fake_cloudapi as fake
from tests.allauthapp.models import PhoneNumber

pytestmark = pytest.mark.django_db

PHONE = "+" + fake.USER_DIGITS


@pytest.fixture
def cloud(fake_cloudapi, settings):
    settings.WHATSAPP_LOGIN_GATEWAY = "cloudapi"
    settings.WHATSAPP_LOGIN_BUSINESS_PHONE = "+" + fake.BUSINESS_DIGITS
    # Green API is not configured at all: nothing may reach for it.
    settings.WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE = None
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = None
    return fake_cloudapi


def sent_code(cloud) -> str:
    [message] = cloud.sent
    assert message["type"] == "text" and message["to"] == fake.USER_DIGITS
    body = message["text"]["body"]
    match = re.match(r"(\S+) is your verification code for testserver\. ", body)
    assert match, body
    return match.group(1)


def test_login_by_code_arrives_through_the_cloud_api(client, cloud, make_user):
    user = make_user(phone=PHONE)
    PhoneNumber.objects.create(user=user, phone=PHONE, verified=True)
    response = client.post("/accounts/login/code/", {"phone": PHONE})
    assert response.status_code == 302
    code = sent_code(cloud)
    assert cloud.authorizations == ["Bearer " + fake.ACCESS_TOKEN]
    response = client.post("/accounts/login/code/confirm/", {"code": code})
    assert response.status_code == 302
    assert client.session.get(SESSION_KEY) == str(user.pk)


def test_unknown_number_gets_the_notice_through_the_cloud_api(client, cloud):
    response = client.post("/accounts/login/code/", {"phone": PHONE})
    assert response.status_code == 302
    [message] = cloud.sent
    assert "no account uses it" in message["text"]["body"]


def test_a_graph_api_failure_is_a_clear_503_without_the_token(client, cloud, make_user, caplog):
    cloud.server_error("messages", times=5)
    user = make_user(phone=PHONE)
    PhoneNumber.objects.create(user=user, phone=PHONE, verified=True)
    with caplog.at_level(logging.ERROR, logger="django_whatsapp_login"):
        response = client.post("/accounts/login/code/", {"phone": PHONE})
    assert response.status_code == 503
    assert "We could not send the code by WhatsApp right now" in response.content.decode()
    assert fake.ACCESS_TOKEN not in response.content.decode()
    assert fake.ACCESS_TOKEN not in caplog.text
    # One retry, not the gateway's default: the user is waiting on the page.
    assert len(cloud.calls("messages")) == 2


def test_a_graph_api_timeout_is_bounded(client, cloud, settings, make_user):
    settings.WHATSAPP_LOGIN_ALLAUTH_SEND_TIMEOUT = 0.2
    cloud.delay("messages", 1.0)
    user = make_user(phone=PHONE)
    PhoneNumber.objects.create(user=user, phone=PHONE, verified=True)
    response = client.post("/accounts/login/code/", {"phone": PHONE})
    assert response.status_code == 503


def test_e045_checks_the_configured_gateway(cloud, settings):
    # Green API's settings are missing, but the Cloud API can send: nothing to report.
    assert [m.id for m in allauth_checks.check_allauth()] == []
    settings.WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN = ""
    [error] = allauth_checks.check_allauth()
    assert error.id == "whatsapp_login.E045"
    assert "WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN" in error.msg
    assert "cloudapi" in error.msg and "GREEN_API" not in error.msg


def test_e045_is_left_to_e033_for_a_gateway_that_cannot_be_loaded(settings):
    settings.WHATSAPP_LOGIN_GATEWAY = "no.such.Gateway"
    assert "whatsapp_login.E045" not in [m.id for m in allauth_checks.check_allauth()]
