"""WhatsAppLoginBackend: only a confirmed attempt bound to the request's session logs in (T13)."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client, RequestFactory
from django.utils import timezone

from django_whatsapp_login.attempts import SESSION_KEY
from django_whatsapp_login.backends import WhatsAppLoginBackend
from django_whatsapp_login.models import LoginAttempt, RejectReason, Status

from .conftest import incoming, start

pytestmark = pytest.mark.django_db

BACKEND_PATH = "django_whatsapp_login.backends.WhatsAppLoginBackend"


def request_for(client: Client | None = None):
    """A request carrying ``client``'s session (or a fresh empty one)."""
    request = RequestFactory().post("/whatsapp/complete/")
    if client is None:
        request.session = SessionStore()
    else:
        request.session = client.session
        # The binding cookie too: the attempt is bound to the session and this cookie.
        request.COOKIES = {name: morsel.value for name, morsel in client.cookies.items()}
    return request


@pytest.fixture
def confirmed(browser, webhook, make_user):
    """(user, attempt) for an attempt of ``browser`` confirmed by the user's number."""
    user = make_user("+996700123456")
    data = start(browser)
    response = webhook.post(incoming(data["message"]))
    assert response.json() == {"status": "confirmed"}
    return user, LoginAttempt.objects.get()


@pytest.fixture
def spy(monkeypatch):
    """Record every call Django makes to our backend, keeping its real signature."""
    calls: list[dict[str, Any]] = []
    original = WhatsAppLoginBackend.authenticate

    @functools.wraps(original)
    def wrapper(self, *args, **kwargs):
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(WhatsAppLoginBackend, "authenticate", wrapper)
    return calls


def test_bare_phone_never_authenticates(browser, confirmed, spy):
    """T13: ``authenticate(request, phone=...)`` cannot log anyone in."""
    user, attempt = confirmed
    request = request_for(browser)
    assert authenticate(request, phone="+996700123456") is None
    assert authenticate(request, phone="+996700123456", username=user.username) is None
    assert authenticate(request, whatsapp_phone="+996700123456") is None
    assert spy == []  # our backend's signature does not even accept these
    with pytest.raises(TypeError):
        WhatsAppLoginBackend().authenticate(request, phone="+996700123456")  # type: ignore[call-arg]
    attempt.refresh_from_db()
    assert attempt.status == Status.CONFIRMED


def test_password_credentials_never_reach_our_backend(make_user, spy):
    user = make_user("+996700123456", username="alice")
    user.set_password("correct horse")
    user.save()
    request = request_for()
    assert authenticate(request, username="alice", password="wrong") is None
    logged = authenticate(request, username="alice", password="correct horse")
    assert logged == user
    assert logged.backend == "django.contrib.auth.backends.ModelBackend"
    assert spy == []


def test_password_does_not_authenticate_through_our_backend(make_user):
    user = make_user("+996700123456", username="bob")
    user.set_password("pw")
    user.save()
    backend = WhatsAppLoginBackend()
    with pytest.raises(TypeError):
        backend.authenticate(request_for(), username="bob", password="pw")  # type: ignore[call-arg]


@pytest.mark.parametrize("value", [None, "1", 1, object()])
def test_non_attempt_values_are_refused(browser, confirmed, value):
    request = request_for(browser)
    assert WhatsAppLoginBackend().authenticate(request, whatsapp_login_attempt=value) is None
    assert authenticate(request, whatsapp_login_attempt=value) is None
    assert LoginAttempt.objects.get().status == Status.CONFIRMED


def test_unsaved_attempt_is_refused(browser, confirmed):
    user, attempt = confirmed
    fake = LoginAttempt(status=Status.CONFIRMED, user=user, expires_at=attempt.expires_at)
    assert authenticate(request_for(browser), whatsapp_login_attempt=fake) is None


def test_request_none_is_refused(confirmed):
    _, attempt = confirmed
    assert WhatsAppLoginBackend().authenticate(None, whatsapp_login_attempt=attempt) is None
    assert authenticate(None, whatsapp_login_attempt=attempt) is None
    attempt.refresh_from_db()
    assert attempt.status == Status.CONFIRMED


def test_attempt_not_bound_to_the_session_is_refused(browser, confirmed):
    _, attempt = confirmed
    # A fresh session.
    assert authenticate(request_for(), whatsapp_login_attempt=attempt) is None
    # Another browser's session with its own attempt.
    other = Client()
    start(other)
    assert authenticate(request_for(other), whatsapp_login_attempt=attempt) is None
    # A session naming this attempt but with the wrong binding secret.
    forged = request_for()
    forged.session[SESSION_KEY] = {
        "id": attempt.pk,
        "binding": "not-the-secret-" + "a" * 30,
        "code": browser.session[SESSION_KEY]["code"],
    }
    assert authenticate(forged, whatsapp_login_attempt=attempt) is None
    # A request without any session.
    bare = RequestFactory().post("/")
    assert authenticate(bare, whatsapp_login_attempt=attempt) is None
    attempt.refresh_from_db()
    assert attempt.status == Status.CONFIRMED


def test_session_bound_to_another_attempt_is_refused(browser, webhook, make_user):
    """The right binding secret for attempt A does not open attempt B."""
    make_user("+996700123456")
    other = Client()
    data_b = start(other)
    webhook.post(incoming(data_b["message"]))
    attempt_b = LoginAttempt.objects.get()
    start(browser)
    request = request_for(browser)
    assert authenticate(request, whatsapp_login_attempt=attempt_b) is None
    attempt_b.refresh_from_db()
    assert attempt_b.status == Status.CONFIRMED


def test_pending_attempt_is_refused(browser, make_user):
    make_user("+996700123456")
    start(browser)
    attempt = LoginAttempt.objects.get()
    assert authenticate(request_for(browser), whatsapp_login_attempt=attempt) is None
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING


def test_stale_in_memory_status_is_not_trusted(browser, make_user):
    """An object claiming "confirmed" while the row is pending cannot be consumed."""
    user = make_user("+996700123456")
    start(browser)
    attempt = LoginAttempt.objects.get()
    attempt.status = Status.CONFIRMED
    attempt.user = user
    assert authenticate(request_for(browser), whatsapp_login_attempt=attempt) is None
    assert LoginAttempt.objects.get().status == Status.PENDING


def test_confirmed_expired_attempt_is_refused(browser, confirmed):
    _, attempt = confirmed
    LoginAttempt.objects.filter(pk=attempt.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    attempt.refresh_from_db()
    assert authenticate(request_for(browser), whatsapp_login_attempt=attempt) is None
    attempt.refresh_from_db()
    assert attempt.status == Status.CONFIRMED


def test_an_expired_attempt_is_refused_before_any_query(
    browser, confirmed, django_assert_num_queries
):
    """The backend's own expiry check: nothing is read or written for an expired code."""
    _, attempt = confirmed
    attempt.expires_at = timezone.now() - timedelta(seconds=1)
    request = request_for(browser)
    assert request.session.get(SESSION_KEY)  # the session is loaded before counting
    with django_assert_num_queries(0):
        assert WhatsAppLoginBackend().authenticate(request, whatsapp_login_attempt=attempt) is None


def test_expired_in_the_database_but_not_in_memory(browser, confirmed):
    """The consuming UPDATE itself requires expires_at > now."""
    _, attempt = confirmed
    LoginAttempt.objects.filter(pk=attempt.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert authenticate(request_for(browser), whatsapp_login_attempt=attempt) is None
    assert LoginAttempt.objects.get().status == Status.CONFIRMED


def test_confirmed_and_bound_logs_in_once(browser, confirmed, spy):
    user, attempt = confirmed
    request = request_for(browser)
    result = authenticate(request, whatsapp_login_attempt=attempt)
    assert result == user
    assert spy == [{"whatsapp_login_attempt": attempt}]  # the spy does see real calls
    assert result.backend == BACKEND_PATH
    row = LoginAttempt.objects.get()
    assert row.status == Status.CONSUMED
    assert row.closed_at is not None
    # Second call, same object: nothing.
    assert authenticate(request, whatsapp_login_attempt=attempt) is None
    # Second call with a fresh copy of the row: nothing either.
    assert authenticate(request, whatsapp_login_attempt=LoginAttempt.objects.get()) is None
    assert LoginAttempt.objects.get().status == Status.CONSUMED


def test_two_copies_of_a_confirmed_attempt_consume_once(browser, confirmed):
    """Two tabs loaded the same confirmed row: only one consumes it (conditional UPDATE)."""
    user, _ = confirmed
    first, second = LoginAttempt.objects.get(), LoginAttempt.objects.get()
    request = request_for(browser)
    results = [
        authenticate(request, whatsapp_login_attempt=first),
        authenticate(request, whatsapp_login_attempt=second),
    ]
    assert results == [user, None]


def test_inactive_user_is_refused_and_attempt_rejected(browser, confirmed):
    """T12: user_can_authenticate() is checked again at consume time."""
    user, attempt = confirmed
    user.is_active = False
    user.save()
    assert authenticate(request_for(browser), whatsapp_login_attempt=attempt) is None
    row = LoginAttempt.objects.get()
    assert row.status == Status.REJECTED
    assert row.reason == RejectReason.INACTIVE_USER
