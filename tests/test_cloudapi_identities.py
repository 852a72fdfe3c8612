"""Issue 12: Cloud API sender ids as identities. A business-scoped user id (BSUID) resolves
through identities like a LID; a username never logs anyone in on its own."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from django_whatsapp_login import identities
from django_whatsapp_login.models import (
    IdentityKind,
    LoginAttempt,
    ProcessedMessage,
    Reason,
    Status,
    WhatsAppIdentity,
)
from django_whatsapp_login.senders import BSUID, USERNAME, SenderIds, WhatsAppId

from . import fake_cloudapi as fake
from .conftest import start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_qr_rendering")]

URL = "/whatsapp/webhook/"
LONG_BSUID = "US." + "A1" * 64  # 131 characters, the longest Meta documents


@pytest.fixture
def cloud(fake_cloudapi, settings):
    settings.WHATSAPP_LOGIN_GATEWAY = "cloudapi"
    settings.WHATSAPP_LOGIN_BUSINESS_PHONE = "+" + fake.BUSINESS_DIGITS
    settings.WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE = None
    return fake_cloudapi


@pytest.fixture
def meta(django_capture_on_commit_callbacks):
    client = Client(enforce_csrf_checks=True)

    def post(payload: Any) -> dict[str, Any]:
        body, headers = fake.signed(payload)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(URL, body, content_type="application/json", **headers)
        assert response.status_code == 200, response.content
        return response.json()

    return post


def test_parse_id_reads_a_bsuid():
    assert identities.parse_id(fake.USER_BSUID) == WhatsAppId(BSUID, fake.USER_BSUID)
    assert identities.parse_id(LONG_BSUID).kind == IdentityKind.BSUID


def test_a_long_bsuid_fits_the_identity_and_the_processed_message(make_user):
    user = make_user(phone="+996555000999")
    identity = identities.link(user, LONG_BSUID)
    identity.full_clean()  # the 160-character column (migration 0005)
    row = ProcessedMessage(chat_id=LONG_BSUID, message_id="wamid.X")
    row.full_clean()


def test_a_linked_bsuid_logs_in_without_a_phone(cloud, meta, make_user, settings):
    settings.WHATSAPP_LOGIN_CONFIRM = "never"
    user = make_user(phone="+996555000999")  # not the number behind the BSUID
    identities.link(user, fake.USER_BSUID)
    browser = Client()
    delivery = fake.text_delivery(start(browser)["message"], wa_id=None, username="tenant.one")
    assert meta(delivery)["status"] == "confirmed"
    assert browser.post("/whatsapp/complete/").status_code == 200
    assert browser.session["_auth_user_id"] == str(user.pk)
    assert ProcessedMessage.objects.get().chat_id == fake.USER_BSUID
    # No phone in the delivery: no notice to guess a number for.
    assert cloud.sent == []


def test_a_linked_bsuid_is_asked_in_its_own_chat(cloud, meta, make_user):
    user = make_user(phone="+996555000999")
    identities.link(user, fake.USER_BSUID)
    browser = Client()
    meta(fake.text_delivery(start(browser)["message"], wa_id=None))
    [question] = cloud.sent
    assert question.get("recipient") == fake.USER_BSUID and "to" not in question
    assert LoginAttempt.objects.get().status == Status.AWAITING_CONFIRMATION


def test_an_unlinked_bsuid_is_refused_like_a_lid(cloud, meta, make_user, settings):
    settings.WHATSAPP_LOGIN_CONFIRM = "never"
    make_user(phone="+" + fake.USER_DIGITS)
    browser = Client()
    delivery = fake.text_delivery(start(browser)["message"], wa_id=None)
    assert meta(delivery) == {"status": "rejected", "reason": Reason.LID_SENDER}
    assert "_auth_user_id" not in browser.session


def test_a_bsuid_of_one_user_and_the_phone_of_another_log_nobody_in(
    cloud, meta, make_user, settings
):
    settings.WHATSAPP_LOGIN_CONFIRM = "never"
    make_user(phone="+" + fake.USER_DIGITS)
    other = make_user(phone="+996555000999")
    identities.link(other, fake.USER_BSUID)
    browser = Client()
    delivery = fake.text_delivery(start(browser)["message"])
    assert meta(delivery) == {"status": "rejected", "reason": Reason.CONFLICTING_IDS}


def test_a_username_never_logs_in_on_its_own(make_user):
    user = make_user(phone="+996555000999")
    identities.link(user, WhatsAppId(USERNAME, "@tenant.one"))
    assert WhatsAppIdentity.objects.get().kind == IdentityKind.USERNAME
    only_username = SenderIds.of([WhatsAppId(USERNAME, "@tenant.one")])
    assert identities.resolve_sender(only_username).user is None
    assert identities.resolve_sender(only_username).reason == "unreadable_sender"
    # Next to an unknown BSUID it still names nobody.
    with_bsuid = SenderIds.of(
        [WhatsAppId(BSUID, fake.USER_BSUID), WhatsAppId(USERNAME, "@tenant.one")]
    )
    assert identities.resolve_sender(with_bsuid).reason == "lid_sender"


def test_a_username_linked_to_another_user_does_not_block_the_real_one(
    cloud, meta, make_user, settings
):
    settings.WHATSAPP_LOGIN_CONFIRM = "never"
    owner = make_user(phone="+" + fake.USER_DIGITS)
    stale = make_user(phone="+996555000999")
    identities.link(stale, WhatsAppId(USERNAME, "@tenant.one"))  # a username since given up
    browser = Client()
    delivery = fake.text_delivery(start(browser)["message"], username="tenant.one")
    assert meta(delivery)["status"] == "confirmed"
    assert browser.post("/whatsapp/complete/").status_code == 200
    assert browser.session["_auth_user_id"] == str(owner.pk)


# --- BSUIDs are learned from traffic, like LIDs ------------------------------------------


def test_a_login_with_phone_and_bsuid_learns_the_bsuid(cloud, meta, make_user, settings):
    settings.WHATSAPP_LOGIN_CONFIRM = "never"
    user = make_user(phone="+" + fake.USER_DIGITS)
    browser = Client()
    assert meta(fake.text_delivery(start(browser)["message"]))["status"] == "confirmed"
    assert LoginAttempt.objects.get().sender_bsuid == fake.USER_BSUID
    # Not before the login succeeds: a confirmed attempt may still be cancelled.
    assert not WhatsAppIdentity.objects.filter(kind=IdentityKind.BSUID).exists()
    assert browser.post("/whatsapp/complete/").status_code == 200
    learned = WhatsAppIdentity.objects.get(kind=IdentityKind.BSUID)
    assert (learned.value, learned.user_id, learned.source) == (fake.USER_BSUID, user.pk, "traffic")
    assert learned.verified_at is None and learned.last_seen_at is not None
    # The phone is never stored as an identity (the resolver stays the authority).
    assert not WhatsAppIdentity.objects.filter(kind=IdentityKind.PHONE).exists()

    # Later the user hides the number (a username): the learned BSUID alone logs them in.
    again = Client()
    delivery = fake.text_delivery(start(again)["message"], wa_id=None, username="tenant.one")
    assert meta(delivery)["status"] == "confirmed"
    assert again.post("/whatsapp/complete/").status_code == 200
    assert again.session["_auth_user_id"] == str(user.pk)
    assert not WhatsAppIdentity.objects.filter(kind=IdentityKind.USERNAME).exists()


def test_a_yes_from_the_bsuid_alone_answers_the_question(cloud, meta, make_user):
    make_user(phone="+" + fake.USER_DIGITS)
    browser = Client()
    meta(fake.text_delivery(start(browser)["message"]))  # phone and BSUID: asked
    row = LoginAttempt.objects.get()
    assert row.status == Status.AWAITING_CONFIRMATION and row.sender_bsuid == fake.USER_BSUID
    message = {
        "from_user_id": fake.USER_BSUID,
        "id": "wamid.BSUIDYES1",
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "interactive": {
            "type": "button_reply",
            "button_reply": {"id": "whatsapp_login:yes", "title": "YES"},
        },
        "context": {"from": fake.BUSINESS_DIGITS, "id": row.question_message_id},
    }
    contact = {"profile": {"name": "Tenant"}, "user_id": fake.USER_BSUID}
    answer = meta(fake.envelope({"contacts": [contact], "messages": [message]}))
    assert answer == {"status": "confirmed", "reason": "approved"}


def test_learn_stores_only_learnable_kinds(make_user):
    user = make_user(phone="+996555000999")
    other = make_user(phone="+996555000998")
    assert identities.LEARNABLE == {IdentityKind.LID, IdentityKind.BSUID}
    assert identities.learn(user, fake.USER_BSUID) is True
    assert identities.learn(user, "120650379300963@lid") is True
    assert identities.learn(user, "+996555000999") is False  # a phone: never
    assert identities.learn(user, "@tenant.one") is False  # not even an id
    # Another user's BSUID is not moved, and does not raise.
    assert identities.learn(other, fake.USER_BSUID) is False
    kinds = sorted(WhatsAppIdentity.objects.filter(user=user).values_list("kind", flat=True))
    assert kinds == ["bsuid", "lid"]
    assert WhatsAppIdentity.objects.get(kind="bsuid").user_id == user.pk
