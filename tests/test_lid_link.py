"""Link attempts (purpose "link"): the code, sent from WhatsApp, links the sender's ids to
the logged-in user who asked. The link page itself is built elsewhere; these tests create
the attempt the way it does (attempts.start_attempt with purpose="link")."""

from __future__ import annotations

from importlib import import_module
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, RequestFactory

from django_whatsapp_login import attempts, identities
from django_whatsapp_login.models import LoginAttempt, Status, WhatsAppIdentity

from .conftest import incoming

pytestmark = pytest.mark.django_db

PHONE = "+996700123456"
PHONE_ID = "996700123456@c.us"
LID = "120650379300963@lid"


def link_attempt(client: Client, user) -> tuple[LoginAttempt, str]:
    """Create a link attempt in ``client``'s session, as the link page does."""
    client.force_login(user)
    request = RequestFactory().get("/")
    store = import_module(settings.SESSION_ENGINE).SessionStore(client.session.session_key)
    request.session = store
    attempt, code = attempts.start_attempt(request, purpose="link", user=user)
    store.save()
    # The browser half of the binding, and the (rotated) session key, as a view sends them.
    response = attempts.attach_binding_cookie(request, HttpResponse())
    client.cookies.update(response.cookies)
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return attempt, attempts.login_message(code)


def sent(text: str, chat_id: str, sender: Any) -> dict[str, Any]:
    body = incoming(text)
    body["senderData"].update(chatId=chat_id, sender=sender)
    return body


@pytest.mark.parametrize(
    "chat_id, sender, linked",
    [
        (PHONE_ID, LID, {("phone", PHONE), ("lid", LID)}),
        (LID, PHONE_ID, {("phone", PHONE), ("lid", LID)}),
        (LID, LID, {("lid", LID)}),
        (PHONE_ID, "", {("phone", PHONE)}),
    ],
)
def test_link_records_every_sender_id(webhook, django_user_model, chat_id, sender, linked):
    user = django_user_model.objects.create_user(username="me", phone="")
    browser = Client()
    attempt, message = link_attempt(browser, user)
    assert webhook.post(sent(message, chat_id, sender)).json() == {"status": "linked"}
    attempt.refresh_from_db()
    assert (attempt.status, attempt.reason, attempt.user_id) == (Status.CONSUMED, "linked", user.pk)
    rows = WhatsAppIdentity.objects.filter(user=user)
    assert {(r.kind, r.value) for r in rows} == linked
    assert {r.source for r in rows} == {"enrollment"}
    # The page polling status/ is told it is done.
    status = browser.get("/whatsapp/status/").json()
    assert status["status"] == "linked" and status["status_message"]
    # A link attempt never logs anybody in.
    assert browser.post("/whatsapp/complete/").status_code == 404
    # And the linked LID now logs this user in.
    login_browser = Client()
    data = login_browser.post("/whatsapp/start/").json()
    if ("lid", LID) in linked:
        assert webhook.post(sent(data["message"], LID, LID)).json() == {"status": "confirmed"}


def test_link_refuses_an_id_of_another_user_and_links_nothing(webhook, make_user):
    me = make_user("+996700999000")
    other = make_user("+996700888000")
    identities.link(other, LID)
    attempt, message = link_attempt(Client(), me)
    answer = webhook.post(sent(message, PHONE_ID, LID)).json()
    assert answer == {"status": "rejected", "reason": "conflicting_ids"}
    attempt.refresh_from_db()
    assert (attempt.status, attempt.reason) == (Status.REJECTED, "conflicting_ids")
    assert not WhatsAppIdentity.objects.filter(user=me).exists()


def test_link_refuses_a_phone_the_resolver_gives_to_another_user(webhook, make_user):
    me = make_user("+996700999000")
    make_user(PHONE)  # the phone is someone else's in the site's data
    _, message = link_attempt(Client(), me)
    answer = webhook.post(sent(message, PHONE_ID, LID)).json()
    assert answer == {"status": "rejected", "reason": "conflicting_ids"}
    assert not WhatsAppIdentity.objects.exists()


def test_link_twice_is_idempotent_and_a_redelivery_is_a_duplicate(webhook, make_user):
    me = make_user(PHONE)
    identities.link(me, LID)
    _, message = link_attempt(Client(), me)
    body = sent(message, PHONE_ID, LID)
    assert webhook.post(body).json() == {"status": "linked"}
    assert webhook.post(body).json() == {"status": "duplicate"}
    assert WhatsAppIdentity.objects.filter(user=me).count() == 2
