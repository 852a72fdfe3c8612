"""Issue 12: the whole login flow through the Cloud API gateway, over real HTTP to the fake
Graph API (tests/fake_cloudapi.py): signed deliveries in, Graph API messages out.

WHATSAPP_LOGIN_GATEWAY = "cloudapi" is the only switch; the login page, the webhook URL,
attempts, the question, the notice and "NO" are the same code as for Green API.
"""

from __future__ import annotations

import json
import time
from typing import Any
from unittest import mock

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from django_whatsapp_login.gateways.cloudapi import gateway as cloudapi_gateway
from django_whatsapp_login.models import LoginAttempt, ProcessedMessage, Reason, Status

from . import fake_cloudapi as fake
from .conftest import start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_qr_rendering")]

URL = "/whatsapp/webhook/"
PHONE = "+" + fake.USER_DIGITS


@pytest.fixture
def cloud(fake_cloudapi, settings):
    settings.WHATSAPP_LOGIN_GATEWAY = "cloudapi"
    settings.WHATSAPP_LOGIN_BUSINESS_PHONE = "+" + fake.BUSINESS_DIGITS
    settings.WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE = None
    return fake_cloudapi


@pytest.fixture
def meta(django_capture_on_commit_callbacks):
    """Meta's side of the webhook: POST signed deliveries (running the on-commit sends)."""
    client = Client(enforce_csrf_checks=True)

    def post(payload: Any, headers: dict[str, str] | None = None) -> Any:
        body, signature = fake.signed(payload)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                URL,
                body,
                content_type="application/json",
                **(signature if headers is None else headers),
            )

    post.client = client  # type: ignore[attr-defined]
    return post


def button_reply(
    button_id: str, title: str, *, quoted: str = "", wa_id: str = fake.USER_DIGITS
) -> Any:
    message: dict[str, Any] = {
        "from": wa_id,
        "from_user_id": fake.USER_BSUID,
        "id": f"wamid.BUTTON{time.monotonic_ns()}",
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": button_id, "title": title}},
    }
    if quoted:
        message["context"] = {"from": fake.BUSINESS_DIGITS, "id": quoted}
    contact = {"profile": {"name": "Tenant"}, "wa_id": wa_id, "user_id": fake.USER_BSUID}
    return fake.envelope({"contacts": [contact], "messages": [message]})


def status_of(browser: Client) -> str:
    response = browser.get("/whatsapp/status/")
    assert response.status_code == 200, response.content
    return response.json()["status"]


def test_the_whole_flow_login_question_yes_notice_no(cloud, meta, make_user):
    user = make_user(phone=PHONE)
    browser = Client()
    assert browser.get("/login").status_code == 200
    data = start(browser)

    # The login text, signed like Meta signs it: a question with two buttons goes back.
    response = meta(fake.text_delivery(data["message"]))
    assert response.status_code == 200
    assert response.json() == {"status": "awaiting_confirmation"}
    assert status_of(browser) == "awaiting_confirmation"
    [question] = cloud.sent
    assert question["to"] == fake.USER_DIGITS and question["type"] == "interactive"
    buttons = question["interactive"]["action"]["buttons"]
    assert [b["reply"]["id"] for b in buttons] == ["whatsapp_login:yes", "whatsapp_login:no"]
    assert [b["reply"]["title"] for b in buttons] == ["YES", "NO"]
    attempt = LoginAttempt.objects.get()
    assert attempt.question_message_id == "wamid.FAKESENT000000000001"
    assert browser.post("/whatsapp/complete/").status_code == 409  # not before YES

    # The YES button, quoting the question.
    response = meta(button_reply("whatsapp_login:yes", "YES", quoted=attempt.question_message_id))
    assert response.json()["status"] == "confirmed"
    assert status_of(browser) == "confirmed"
    assert browser.post("/whatsapp/complete/").status_code == 200
    assert browser.session["_auth_user_id"] == str(user.pk)

    # The login notice went to the same wa_id as text.
    assert len(cloud.sent) == 2
    notice = cloud.sent[1]
    assert notice["to"] == fake.USER_DIGITS and notice["type"] == "text"
    assert "Reply NO" in notice["text"]["body"]
    attempt.refresh_from_db()
    assert attempt.notice_message_id == "wamid.FAKESENT000000000002"
    key = browser.session.session_key

    # "NO" signs exactly that session out and says so.
    response = meta(fake.text_delivery("NO"))
    assert response.json()["status"] == "signed_out"
    attempt.refresh_from_db()
    assert attempt.reason == Reason.SIGNED_OUT
    assert not SessionStore().exists(key)
    assert len(cloud.sent) == 3 and "signed out" in cloud.sent[2]["text"]["body"]
    # Every Graph API call carried the access token, and only in the header.
    assert {auth for auth in cloud.authorizations} == {f"Bearer {fake.ACCESS_TOKEN}"}


def test_no_button_declines_the_login(cloud, meta, make_user):
    make_user(phone=PHONE)
    browser = Client()
    meta(fake.text_delivery(start(browser)["message"]))
    assert status_of(browser) == "awaiting_confirmation"
    response = meta(button_reply("whatsapp_login:no", "NO"))
    assert response.json() == {"status": "rejected", "reason": Reason.DECLINED}
    assert LoginAttempt.objects.get().status == Status.REJECTED
    assert status_of(browser) == "rejected"
    assert "_auth_user_id" not in browser.session


def test_a_button_that_is_not_ours_answers_nothing(cloud, meta, make_user):
    make_user(phone=PHONE)
    browser = Client()
    meta(fake.text_delivery(start(browser)["message"]))
    # A title that reads "YES" does not make another button an answer.
    response = meta(button_reply("someone_else:yes", "YES"))
    assert response.json()["status"] == "ignored"
    assert status_of(browser) == "awaiting_confirmation"


def test_a_forwarded_yes_is_refused(cloud, meta, make_user):
    make_user(phone=PHONE)
    browser = Client()
    meta(fake.text_delivery(start(browser)["message"]))
    forwarded = fake.text_delivery("YES", context={"forwarded": True})
    assert meta(forwarded).json() == {"status": "ignored", "reason": "forwarded"}
    assert status_of(browser) == "awaiting_confirmation"


def test_a_forwarded_login_code_is_refused(cloud, meta, make_user, settings):
    settings.WHATSAPP_LOGIN_CONFIRM = "never"
    make_user(phone=PHONE)
    browser = Client()
    delivery = fake.text_delivery(start(browser)["message"], context={"frequently_forwarded": True})
    assert meta(delivery).json() == {"status": "rejected", "reason": "forwarded"}
    answer = browser.get("/whatsapp/status/").json()
    assert answer["status"] == "rejected" and answer["reason"] == "forwarded"
    assert answer["status_message"].startswith("This code was forwarded")
    assert LoginAttempt.objects.get().reason == Reason.FORWARDED
    assert browser.post("/whatsapp/complete/").status_code != 200
    assert "_auth_user_id" not in browser.session
    # The sender is told why in WhatsApp (replies/forwarded.txt), once.
    [reply] = cloud.sent
    assert reply["type"] == "text" and reply["to"] == fake.USER_DIGITS
    assert "was forwarded" in reply["text"]["body"]
    assert meta(delivery).json() == {"status": "duplicate"}
    assert len(cloud.sent) == 1


@pytest.mark.parametrize("context", [{"forwarded": True}, {"frequently_forwarded": True}])
def test_a_forwarded_code_asked_about_is_refused_before_the_question(
    cloud, meta, make_user, context
):
    make_user(phone=PHONE)
    browser = Client()
    delivery = fake.text_delivery(start(browser)["message"], context=context)
    assert meta(delivery).json()["reason"] == "forwarded"
    assert status_of(browser) == "rejected"
    assert all(message["type"] == "text" for message in cloud.sent)  # no question asked


def test_without_confirmation_the_code_logs_in_and_a_notice_is_sent(
    cloud, meta, make_user, settings
):
    settings.WHATSAPP_LOGIN_CONFIRM = "never"
    user = make_user(phone=PHONE)
    browser = Client()
    assert meta(fake.text_delivery(start(browser)["message"])).json()["status"] == "confirmed"
    assert browser.post("/whatsapp/complete/").status_code == 200
    assert browser.session["_auth_user_id"] == str(user.pk)
    [notice] = cloud.sent
    assert notice["type"] == "text" and notice["to"] == fake.USER_DIGITS


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_X_HUB_SIGNATURE_256": "sha256=" + "0" * 64},
        {"HTTP_X_HUB_SIGNATURE_256": fake.sign(b"{}", fake.APP_SECRET)},  # another body's
        {"HTTP_X_HUB_SIGNATURE_256": "garbage"},
    ],
    ids=["missing", "zeros", "other_body", "garbage"],
)
def test_bad_or_missing_signature_is_401_before_parsing(cloud, meta, make_user, headers):
    make_user(phone=PHONE)
    browser = Client()
    delivery = fake.text_delivery(start(browser)["message"])
    with mock.patch.object(
        cloudapi_gateway, "parse_delivery", wraps=cloudapi_gateway.parse_delivery
    ) as spy:
        response = meta(delivery, headers=headers)
    assert response.status_code == 401
    assert not spy.called
    assert ProcessedMessage.objects.count() == 0
    assert status_of(browser) == "pending" and cloud.sent == []


def test_failed_signatures_are_rate_limited_per_ip(cloud, meta, settings):
    settings.WHATSAPP_LOGIN_RATE_LIMIT_WEBHOOK_UNAUTHORIZED = "2/m/ip"
    codes = [meta(fake.text_delivery("hello"), headers={}).status_code for _ in range(3)]
    assert codes == [401, 401, 429]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"object": "page"}',
        b'{"object": "whatsapp_business_account"}',
        b"NaN",
    ],
)
def test_valid_signature_over_a_malformed_body_is_200_ignored(cloud, meta, body):
    response = meta(body)
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert ProcessedMessage.objects.count() == 0


def test_statuses_are_200_ignored(cloud, meta):
    response = meta(fake.load("statuses.json"))
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert ProcessedMessage.objects.count() == 0 and cloud.sent == []


def test_a_delivery_for_another_phone_number_id_is_ignored(cloud, meta, make_user):
    make_user(phone=PHONE)
    browser = Client()
    delivery = fake.text_delivery(start(browser)["message"])
    delivery["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "100000000000002"
    assert meta(delivery).json() == {"status": "ignored", "reason": "wrong_phone_number_id"}
    assert status_of(browser) == "pending"


def test_the_same_wamid_twice_is_handled_once(cloud, meta, make_user, settings):
    settings.WHATSAPP_LOGIN_CONFIRM = "never"
    make_user(phone=PHONE)
    browser = Client()
    delivery = fake.text_delivery(start(browser)["message"])
    assert meta(delivery).json()["status"] == "confirmed"
    assert meta(delivery).json() == {"status": "duplicate"}
    assert ProcessedMessage.objects.count() == 1
    assert len(cloud.sent) == 1  # one notice, not two


def test_several_messages_in_one_delivery_each_get_an_outcome(cloud, meta, make_user, settings):
    settings.WHATSAPP_LOGIN_CONFIRM = "never"
    make_user(phone=PHONE)
    browser = Client()
    delivery = fake.text_delivery(start(browser)["message"])
    other = fake.text_delivery("hello")["entry"][0]["changes"][0]["value"]["messages"][0]
    delivery["entry"][0]["changes"][0]["value"]["messages"].insert(0, other)
    answer = meta(delivery).json()
    assert answer["status"] == "processed"
    assert [r["status"] for r in answer["results"]] == ["ignored", "confirmed"]
    assert status_of(browser) == "confirmed"


# --- the GET handshake ------------------------------------------------------------------


def handshake(client: Client, token: str) -> Any:
    return client.get(
        URL, {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
    )


def test_handshake_with_the_right_token_echoes_the_challenge(cloud, meta):
    response = handshake(meta.client, fake.VERIFY_TOKEN)
    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


def test_handshake_with_a_wrong_token_is_403(cloud, meta):
    response = handshake(meta.client, fake.VERIFY_TOKEN + "x")
    assert response.status_code == 403
    assert b"1158201444" not in response.content


def test_green_api_still_answers_get_with_405(client):
    response = handshake(client, "anything")
    assert response.status_code == 405 and response["Allow"] == "POST"


def test_put_is_405_for_the_cloud_api(cloud, meta):
    assert meta.client.put(URL, json.dumps({})).status_code == 405
