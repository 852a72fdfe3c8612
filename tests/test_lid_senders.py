"""Issue 9: every documented Green API sender shape settles, through the real webhook view.

Each case posts a payload, then checks the webhook's answer, the attempt row and what the
login page's status endpoint says; learning is checked by a later LID-only login.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from django_whatsapp_login import identities
from django_whatsapp_login.models import LoginAttempt, Status, WhatsAppIdentity

from .conftest import incoming, start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_qr_rendering")]

PHONE = "+996700123456"
PHONE_ID = "996700123456@c.us"
OTHER_PHONE_ID = "996700654321@c.us"
LID = "120650379300963@lid"
OTHER_LID = "120650379300777@lid"


def shaped(text: str, chat_id: str, sender: Any = ..., **overrides: Any) -> dict[str, Any]:
    body = incoming(text, **overrides)
    body["senderData"]["chatId"] = chat_id
    if sender is ...:
        del body["senderData"]["sender"]
    else:
        body["senderData"]["sender"] = sender
    return body


def status_of(browser: Client) -> dict[str, Any]:
    response = browser.get("/whatsapp/status/")
    assert response.status_code == 200, response.content
    return response.json()


def login_with(webhook, chat_id: str, sender: Any = ...) -> tuple[Client, dict, LoginAttempt]:
    browser = Client()
    data = start(browser)
    response = webhook.post(shaped(data["message"], chat_id, sender))
    assert response.status_code == 200
    return (
        browser,
        response.json(),
        LoginAttempt.objects.get(pk=browser.session["_whatsapp_login"]["id"]),
    )


def complete(browser: Client, user) -> None:
    response = browser.post("/whatsapp/complete/")
    assert response.status_code == 200, response.content
    assert browser.session["_auth_user_id"] == str(user.pk)


# (chatId, sender, webhook answer, reason)
SHAPES = [
    (PHONE_ID, PHONE_ID, "confirmed", ""),
    (PHONE_ID, LID, "confirmed", ""),
    (LID, PHONE_ID, "confirmed", ""),
    ("120650379300963:4@lid", "996700123456:2@c.us", "confirmed", ""),
    (PHONE_ID, "", "confirmed", ""),
    (PHONE_ID, None, "confirmed", ""),
    (PHONE_ID, ..., "confirmed", ""),
    ("996700123456:7@c.us", ..., "confirmed", ""),
    (LID, LID, "rejected", "lid_sender"),
    (LID, "", "rejected", "lid_sender"),
    (LID, ..., "rejected", "lid_sender"),
    ("120650379300963:3@lid", "120650379300963@lid", "rejected", "lid_sender"),
]


@pytest.mark.parametrize("chat_id, sender, action, reason", SHAPES)
def test_every_shape_settles(webhook, make_user, chat_id, sender, action, reason):
    user = make_user(PHONE)
    browser, answer, attempt = login_with(webhook, chat_id, sender)
    status = status_of(browser)
    if action == "confirmed":
        assert answer == {"status": "confirmed"}
        assert (attempt.status, attempt.user_id) == (Status.CONFIRMED, user.pk)
        assert status["status"] == "confirmed"
        complete(browser, user)
    else:
        assert answer == {"status": "rejected", "reason": reason}
        assert (attempt.status, attempt.reason, attempt.user_id) == (Status.REJECTED, reason, None)
        assert attempt.sender_lid == LID
        assert status["status"] == "rejected" and status["reason"] == reason
        assert browser.post("/whatsapp/complete/").status_code == 409


@pytest.mark.parametrize(
    "chat_id, sender",
    [(PHONE_ID, LID), (LID, PHONE_ID), ("120650379300963:2@lid", "996700123456:1@c.us")],
)
def test_a_lid_seen_with_the_phone_is_learned_after_the_login(webhook, make_user, chat_id, sender):
    user = make_user(PHONE)
    browser, answer, attempt = login_with(webhook, chat_id, sender)
    assert answer == {"status": "confirmed"}
    assert attempt.sender_lid == LID
    # Not before the login it belongs to has succeeded.
    assert not WhatsAppIdentity.objects.exists()
    complete(browser, user)
    identity = WhatsAppIdentity.objects.get()
    assert (identity.user_id, identity.kind, identity.value, identity.source) == (
        user.pk,
        "lid",
        LID,
        "traffic",
    )
    assert identity.last_seen_at is not None
    # A phone is never learned from traffic: the resolver stays the authority for phones.
    assert not WhatsAppIdentity.objects.filter(kind="phone").exists()
    # Now the LID alone logs the same user in.
    browser, answer, attempt = login_with(webhook, LID, LID)
    assert answer == {"status": "confirmed"}
    assert attempt.user_id == user.pk
    complete(browser, user)


def test_a_confirmed_login_that_is_never_completed_teaches_nothing(webhook, make_user):
    make_user(PHONE)
    login_with(webhook, PHONE_ID, LID)
    assert not WhatsAppIdentity.objects.exists()
    _, answer, _ = login_with(webhook, LID, LID)
    assert answer == {"status": "rejected", "reason": "lid_sender"}


def test_a_lid_linked_beforehand_logs_in_without_a_phone(webhook, django_user_model):
    # A site without phone numbers: the user linked WhatsApp (or an admin did).
    user = django_user_model.objects.create_user(username="nophone", phone="")
    identities.link(user, LID, source="enrollment")
    browser, answer, attempt = login_with(webhook, LID, ...)
    assert answer == {"status": "confirmed"}
    assert attempt.user_id == user.pk and attempt.sender_masked == "•••0963@lid"
    assert WhatsAppIdentity.objects.get().last_seen_at is not None
    complete(browser, user)


def test_a_linked_phone_identity_names_its_user(webhook, django_user_model):
    user = django_user_model.objects.create_user(username="nophone", phone="")
    identities.link(user, PHONE, source="enrollment")
    browser, answer, _ = login_with(webhook, PHONE_ID, PHONE_ID)
    assert answer == {"status": "confirmed"}
    complete(browser, user)


# --- conflicts -----------------------------------------------------------------------------


def test_lid_of_another_user_beside_a_phone_is_refused(webhook, make_user):
    alice = make_user(PHONE)
    bob = make_user("+996700654321")
    identities.link(bob, LID)
    for chat_id, sender in [(PHONE_ID, LID), (LID, PHONE_ID)]:
        browser, answer, attempt = login_with(webhook, chat_id, sender)
        assert answer == {"status": "rejected", "reason": "conflicting_ids"}
        assert (attempt.status, attempt.user_id) == (Status.REJECTED, None)
        assert status_of(browser)["reason"] == "conflicting_ids"
    assert alice.pk not in set(WhatsAppIdentity.objects.values_list("user_id", flat=True))


def test_identities_of_two_users_in_one_delivery_are_refused(webhook, make_user, django_user_model):
    alice = django_user_model.objects.create_user(username="a", phone="")
    bob = django_user_model.objects.create_user(username="b", phone="")
    identities.link(alice, PHONE)
    identities.link(bob, LID)
    _, answer, attempt = login_with(webhook, PHONE_ID, LID)
    assert answer == {"status": "rejected", "reason": "conflicting_ids"}
    assert attempt.user_id is None


@pytest.mark.parametrize(
    "chat_id, sender",
    [(PHONE_ID, OTHER_PHONE_ID), (LID, OTHER_LID), ("996700123456:3@c.us", "996700123457:3@c.us")],
)
def test_two_different_ids_of_one_kind_are_refused(webhook, make_user, chat_id, sender):
    make_user(PHONE)
    make_user("+996700654321")
    _, answer, attempt = login_with(webhook, chat_id, sender)
    assert answer == {"status": "rejected", "reason": "conflicting_ids"}
    assert attempt.user_id is None


def test_learning_a_lid_that_became_another_users_does_not_fail_the_login(
    webhook, make_user, caplog
):
    alice = make_user(PHONE)
    bob = make_user("+996700654321")
    browser, answer, _ = login_with(webhook, PHONE_ID, LID)
    assert answer == {"status": "confirmed"}
    identities.link(bob, LID)  # between confirmation and completion
    complete(browser, alice)
    assert WhatsAppIdentity.objects.get().user_id == bob.pk
    assert "already belongs to another user" in caplog.text


@pytest.mark.parametrize(
    "sender",
    [
        "120363043968066561@g.us",
        "status@broadcast",
        "garbage",
        "1" * 200 + "@lid",
        "996700123456@c.us\x00",
        "\ud800@c.us",
        12345,
        ["996700123456@c.us"],
        {"id": "996700123456@c.us"},
        True,
    ],
)
def test_unreadable_sender_in_a_personal_chat_is_refused_never_guessed(webhook, make_user, sender):
    make_user(PHONE)
    browser, answer, attempt = login_with(webhook, PHONE_ID, sender)
    assert answer == {"status": "rejected", "reason": "unreadable_sender"}
    assert (attempt.status, attempt.user_id) == (Status.REJECTED, None)
    assert status_of(browser)["status"] == "rejected"


@pytest.mark.parametrize(
    "chat_id",
    [
        "120363043968066561@g.us",
        "status@broadcast",
        "120363225678901234@newsletter",
        "x@lid",
        "1" * 30 + "@lid",
    ],
)
def test_non_personal_or_malformed_chat_ids_are_ignored(webhook, make_user, chat_id):
    make_user(PHONE)
    _, answer, attempt = login_with(webhook, chat_id, PHONE_ID)
    assert answer == {"status": "ignored", "reason": "not_personal_chat"}
    assert attempt.status == Status.PENDING


def test_a_second_delivery_of_the_same_person_in_another_shape_is_harmless(webhook, make_user):
    user = make_user(PHONE)
    browser = Client()
    data = start(browser)
    assert webhook.post(shaped(data["message"], PHONE_ID, LID)).json() == {"status": "confirmed"}
    # The same person's next message carries only the LID (not learned yet: no login yet).
    again = webhook.post(shaped(data["message"], LID, LID)).json()
    assert again == {"status": "duplicate", "reason": "already_confirmed"}
    complete(browser, user)


def test_rate_limit_counts_a_lid_only_sender_by_its_lid(webhook, make_user, settings):
    settings.WHATSAPP_LOGIN_RATE_LIMIT_FAILED = "2/5m/phone"
    make_user(PHONE)
    for _ in range(2):
        login_with(webhook, LID, LID)
    _, answer, attempt = login_with(webhook, LID, LID)
    assert answer == {"status": "rejected", "reason": "rate_limited"}
    assert attempt.reason == "rate_limited"
    # Another LID is not affected.
    _, answer, _ = login_with(webhook, OTHER_LID, OTHER_LID)
    assert answer["reason"] == "lid_sender"


# --- query counts --------------------------------------------------------------------------


def _data_statements(queries) -> int:
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")
    return sum(1 for q in queries if not q["sql"].upper().startswith(control))


@pytest.mark.parametrize(
    "chat_id, sender, linked, budget",
    [
        (PHONE_ID, PHONE_ID, None, 5),  # the benchmark's confirming webhook
        (PHONE_ID, LID, None, 5),
        (LID, LID, LID, 5),
        (PHONE_ID, LID, LID, 6),  # identity + resolver + last_seen (at most once an hour)
    ],
)
def test_confirming_webhook_query_budget(
    webhook, make_user, django_assert_max_num_queries, chat_id, sender, linked, budget
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user = make_user(PHONE)
    if linked:
        identities.link(user, linked)
    data = start(Client())
    body = shaped(data["message"], chat_id, sender)
    # Data statements within the budget; transaction control (savepoints) comes on top.
    with django_assert_max_num_queries(budget + 4):
        with CaptureQueriesContext(connection) as ctx:
            assert webhook.post(body).json() == {"status": "confirmed"}
    assert _data_statements(ctx.captured_queries) <= budget, [
        q["sql"] for q in ctx.captured_queries
    ]
    # Seen within the hour: no write the second time.
    if linked:
        data = start(Client())
        with CaptureQueriesContext(connection) as ctx:
            body = shaped(data["message"], chat_id, sender)
            assert webhook.post(body).json() == {"status": "confirmed"}
        assert _data_statements(ctx.captured_queries) <= budget - 1
