"""Fresh-login signals for host apps (auth.py) and identity-change notices (replies.py)."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from django_whatsapp_login import identities
from django_whatsapp_login.auth import whatsapp_login_age, whatsapp_login_time

from .conftest import incoming, start

pytestmark = pytest.mark.django_db

PHONE_CHAT = "996700123456@c.us"


def log_in(client: Client, deliver) -> None:
    data = start(client)
    assert deliver(incoming(data["message"], sender=PHONE_CHAT))["status"] == "confirmed"
    assert client.post("/whatsapp/complete/").status_code == 200


def request_of(client: Client, user):
    request = RequestFactory().get("/")
    request.session = client.session
    request.user = user
    return request


def test_login_age_after_a_whatsapp_login(client, deliver, make_user):
    user = make_user(phone="+996700123456")
    log_in(client, deliver)
    request = request_of(client, user)
    at = whatsapp_login_time(request)
    assert at is not None
    age = whatsapp_login_age(request)
    assert age is not None and 0 <= age < 5
    # Another user in the same request (the marker is not theirs): no answer.
    assert whatsapp_login_age(request_of(client, make_user(phone="+996700123457"))) is None


def test_no_login_age_for_a_password_login(client, make_user):
    user = make_user(phone="+996700123456")
    user.set_password("pw-for-tests")
    user.save()
    assert client.login(username=user.username, password="pw-for-tests")
    assert whatsapp_login_age(request_of(client, user)) is None


def test_the_decorator_lets_a_fresh_login_through(client, deliver, make_user):
    make_user(phone="+996700123456", username="tenant")
    log_in(client, deliver)
    response = client.get("/sensitive/")
    assert response.status_code == 200 and response.content == b"Sensitive action for tenant"


def test_the_decorator_asks_again_after_max_age(client, deliver, make_user, monkeypatch):
    import time

    make_user(phone="+996700123456", username="tenant")
    log_in(client, deliver)
    later = time.time() + 301
    monkeypatch.setattr("django_whatsapp_login.auth.time.time", lambda: later)
    response = client.get("/sensitive/?x=1")
    assert response.status_code == 302
    assert response["Location"] == "/whatsapp/?next=/sensitive/%3Fx%3D1"
    monkeypatch.undo()
    # The same login page and code machinery: a new code, sent again, renews the login.
    assert client.get(response["Location"]).status_code == 200
    log_in(client, deliver)
    assert client.get("/sensitive/").status_code == 200


def test_the_decorator_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get("/sensitive/")
    assert response.status_code == 302 and response["Location"].startswith("/whatsapp/?next=")


def test_linking_a_new_phone_tells_the_old_one(
    fake_greenapi, make_user, django_capture_on_commit_callbacks
):
    user = make_user(phone="+996700123456")
    with django_capture_on_commit_callbacks(execute=True):
        identities.link(user, "+996700123456", source="enrollment")
    assert fake_greenapi.sent == []  # the first phone: nobody to tell
    with django_capture_on_commit_callbacks(execute=True):
        identities.link(user, "+996700555444", source="enrollment")
    assert len(fake_greenapi.sent) == 1
    sent = fake_greenapi.sent[0]
    assert sent["chatId"] == PHONE_CHAT
    assert "new WhatsApp number" in sent["message"] and "+996•••444" in sent["message"]
    # Ids learned from the user's own login traffic are not news.
    with django_capture_on_commit_callbacks(execute=True):
        identities.link(user, "120650379300963@lid", source="traffic")
        identities.link(user, "+996700555333", source="traffic")
    assert len(fake_greenapi.sent) == 1


def test_unlinking_a_phone_tells_that_phone(
    fake_greenapi, make_user, django_capture_on_commit_callbacks
):
    user = make_user(phone="+996700123456")
    identities.link(user, "+996700123456", source="enrollment")
    with django_capture_on_commit_callbacks(execute=True):
        assert identities.unlink(user, "+996700123456")
    assert len(fake_greenapi.sent) == 1
    assert fake_greenapi.sent[0]["chatId"] == PHONE_CHAT
    assert "removed from your account" in fake_greenapi.sent[0]["message"]


def test_no_identity_notices_when_notices_are_off(
    fake_greenapi, make_user, settings, django_capture_on_commit_callbacks
):
    settings.WHATSAPP_LOGIN_LOGIN_NOTICE = False
    user = make_user(phone="+996700123456")
    with django_capture_on_commit_callbacks(execute=True):
        identities.link(user, "+996700123456", source="admin")
        identities.link(user, "+996700555444", source="admin")
        identities.unlink(user, "+996700123456")
    assert fake_greenapi.sent == []
