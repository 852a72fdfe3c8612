"""A second, independent test for each guard that an outside mutation audit found resting on
one test (issue 16), and the test of the promise that had none: the processed-message row
and the state change commit together. ``tools/mutation_check.py`` removes each of these
guards in turn and expects this module (among others) to fail.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

from django_whatsapp_login import attempts, ratelimit
from django_whatsapp_login.models import LoginAttempt, ProcessedMessage, Reason, Status

from .conftest import WebhookClient, incoming, start

PHONE = "+996700123456"
CHAT = "996700123456@c.us"
COMPLETE = "/whatsapp/complete/"


def logged_in(client: Client) -> str | None:
    return client.session.get(AUTH_SESSION_KEY)


@pytest.fixture
def logins():
    """The user pk of every user_logged_in signal."""
    seen: list[int] = []

    def receiver(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        seen.append(user.pk)

    user_logged_in.connect(receiver)
    yield seen
    user_logged_in.disconnect(receiver)


# --- SR-7: the processed-message row and the state change commit together --------------


class FailOnce:
    """Raise the first time it is called, then behave like ``real``."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("database went away in the middle of the delivery")
        return self.real(*args, **kwargs)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("where", ["resolver", "confirm_update"])
def test_a_failure_after_the_insert_lets_the_retry_log_in_exactly_once(
    where, make_user, logins, django_capture_on_commit_callbacks
):
    """The delivery fails after its processed-message row was inserted (a resolver that hits
    a database error, the confirming UPDATE itself failing). Green API gets a 500 and
    re-sends the same delivery: that retry must not look like a duplicate, and the user
    must end up logged in once. Real commits (transaction=True), not savepoints of a test
    transaction."""
    user = make_user(phone=PHONE)
    browser = Client()
    payload = incoming(start(browser)["message"], sender=CHAT)
    webhook = WebhookClient(Client(enforce_csrf_checks=True, raise_request_exception=False))

    if where == "resolver":
        from django_whatsapp_login import resolvers

        # The sender is resolved in identities.resolve_sender (issue 9).
        target, real = "django_whatsapp_login.identities.resolve", resolvers.resolve
    else:
        target, real = "django_whatsapp_login.attempts._transition", attempts._transition
    failing = FailOnce(real)
    with mock.patch(target, failing):
        response = webhook.post(payload)
    assert response.status_code == 500  # Green API re-sends non-200 answers
    assert failing.calls == 1
    attempt = LoginAttempt.objects.get()
    assert attempt.status == Status.PENDING
    assert ProcessedMessage.objects.count() == 0  # rolled back with the state change

    response = webhook.post(payload)  # the retry of the very same delivery
    assert response.status_code == 200
    assert response.json() == {"status": "confirmed"}
    assert ProcessedMessage.objects.count() == 1
    assert browser.post(COMPLETE).status_code == 200
    assert logged_in(browser) == str(user.pk)
    # Later retries are duplicates and change nothing.
    assert webhook.post(payload).json() == {"status": "duplicate"}
    assert logins == [user.pk]
    attempt.refresh_from_db()
    assert (attempt.status, attempt.user_id) == (Status.CONSUMED, user.pk)


@pytest.mark.django_db(transaction=True)
def test_a_failure_after_the_insert_of_a_rejection_keeps_the_retry_meaningful(make_user):
    """The same guarantee for a rejection (unknown number): the retry still rejects, and is
    not swallowed as a duplicate of a delivery that never took effect."""
    browser = Client()
    payload = incoming(start(browser)["message"], sender=CHAT)
    webhook = WebhookClient(Client(raise_request_exception=False))
    with mock.patch("django_whatsapp_login.attempts._transition", FailOnce(attempts._transition)):
        assert webhook.post(payload).status_code == 500
    assert LoginAttempt.objects.get().status == Status.PENDING
    assert webhook.post(payload).json() == {"status": "rejected", "reason": "unknown_number"}


# --- SR-26: Sec-Fetch-Site, independently of Django's CSRF check ------------------------


@pytest.mark.django_db
def test_cross_site_complete_is_refused_even_with_a_valid_csrf_token(webhook, make_user, logins):
    """A page on another site that somehow holds the CSRF token (a leaked cookie, a
    subdomain) still cannot complete the login: the header check stands on its own."""
    user = make_user(phone=PHONE)
    client = Client(enforce_csrf_checks=True)
    assert client.get("/whatsapp/").status_code == 200
    token = client.cookies["csrftoken"].value
    data = client.post("/whatsapp/start/", HTTP_X_CSRFTOKEN=token).json()
    assert webhook.post(incoming(data["message"], sender=CHAT)).json()["status"] == "confirmed"
    for value in ("cross-site", "CROSS-SITE"):
        response = client.post(COMPLETE, HTTP_X_CSRFTOKEN=token, HTTP_SEC_FETCH_SITE=value)
        assert response.status_code == 403
        assert response.json() == {"error": "cross_site"}
    assert logged_in(client) is None and logins == []
    assert LoginAttempt.objects.get().status == Status.CONFIRMED
    # The same browser, same-site, still completes: the refusal consumed nothing.
    response = client.post(COMPLETE, HTTP_X_CSRFTOKEN=token, HTTP_SEC_FETCH_SITE="same-site")
    assert response.status_code == 200
    assert logged_in(client) == str(user.pk)


@pytest.mark.django_db
@override_settings(SECURE_REFERRER_POLICY="unsafe-url")
def test_the_login_page_keeps_its_referrer_policy_on_a_permissive_site(browser):
    """The page sets its own Referrer-Policy: a project-wide weaker policy (which
    SecurityMiddleware applies only where a view set none) does not leak the page's URL."""
    for response in (browser.get("/whatsapp/"), browser.post("/whatsapp/start/")):
        assert response["Referrer-Policy"] == "same-origin"
        assert "no-store" in response["Cache-Control"]


# --- SR-11/SR-12: the live filter inside each transition's UPDATE ------------------------


@pytest.mark.django_db
def test_an_attempt_that_expires_after_the_check_is_not_consumed(browser, webhook, make_user):
    """The backend judged a copy of the attempt that still looked live; by the time the
    consuming UPDATE runs, the row has expired. The UPDATE's own ``expires_at > now`` is
    what refuses the login (a check-then-act gap closed in SQL)."""
    make_user(phone=PHONE)
    data = start(browser)
    assert webhook.post(incoming(data["message"], sender=CHAT)).json()["status"] == "confirmed"
    request = RequestFactory().post(COMPLETE)
    request.session = SessionStore(browser.session.session_key)
    attempt = LoginAttempt.objects.get()
    assert not attempt.is_expired()
    LoginAttempt.objects.filter(pk=attempt.pk).update(
        expires_at=timezone.now() - timedelta(milliseconds=1)
    )
    assert authenticate(request, whatsapp_login_attempt=attempt) is None
    row = LoginAttempt.objects.get()
    assert row.status == Status.CONFIRMED and row.closed_at is None
    assert row.public_status == Status.EXPIRED


@pytest.mark.django_db
def test_the_backend_refuses_an_expired_attempt_without_touching_the_database(
    browser, webhook, make_user, django_assert_num_queries
):
    """The backend's own expiry check: an expired attempt is refused before any query (the
    consuming UPDATE's filter is the second line of defence, tested above)."""
    make_user(phone=PHONE)
    data = start(browser)
    assert webhook.post(incoming(data["message"], sender=CHAT)).json()["status"] == "confirmed"
    request = RequestFactory().post(COMPLETE)
    request.session = SessionStore(browser.session.session_key)
    assert attempts.SESSION_KEY in request.session  # loaded now, not inside the count
    attempt = LoginAttempt.objects.get()
    attempt.expires_at = timezone.now() - timedelta(seconds=1)
    from django_whatsapp_login.backends import WhatsAppLoginBackend

    with django_assert_num_queries(0):
        assert WhatsAppLoginBackend().authenticate(request, whatsapp_login_attempt=attempt) is None
    assert LoginAttempt.objects.get().status == Status.CONFIRMED


@pytest.mark.django_db
def test_a_stale_pending_copy_is_not_confirmed_after_expiry(browser, make_user):
    """The same for confirmation: ``_apply`` judged a pending copy, the row expired since."""
    user = make_user(phone=PHONE)
    start(browser)
    attempt = LoginAttempt.objects.get()
    LoginAttempt.objects.filter(pk=attempt.pk).update(
        expires_at=timezone.now() - timedelta(milliseconds=1)
    )
    assert not attempts._transition(
        attempt, [Status.PENDING], now=timezone.now(), status=Status.CONFIRMED, user=user
    )
    assert LoginAttempt.objects.get().status == Status.PENDING
    # Only the deliberate exceptions (expiring, signing out) skip the filter.
    assert attempts._transition(
        attempt,
        [Status.PENDING],
        now=timezone.now(),
        require_live=False,
        status=Status.EXPIRED,
        reason=Reason.EXPIRED,
    )


# --- SR-14: the clock skew, at its exact edges ------------------------------------------


@pytest.fixture
def whole_second_attempt(browser, make_user):
    """An attempt created at a whole second, so a message timestamp (whole seconds) can sit
    exactly on the edge of the accepted window."""
    make_user(phone=PHONE)
    created = timezone.now().replace(microsecond=0)
    with mock.patch("django.utils.timezone.now", return_value=created):
        data = start(browser)
    return data, int(created.timestamp())


@pytest.mark.django_db
@pytest.mark.parametrize(("offset", "answer"), [(-5, "confirmed"), (-6, "ignored")])
def test_clock_skew_is_exactly_five_seconds(webhook, whole_second_attempt, offset, answer):
    data, created = whole_second_attempt
    response = webhook.post(incoming(data["message"], sender=CHAT, timestamp=created + offset))
    body = response.json()
    assert body["status"] == answer
    if answer == "ignored":
        assert body["reason"] == "stale_message"
        # It cannot confirm; the attempt is expired so the page is not left waiting (issue 9).
        assert LoginAttempt.objects.get().status == Status.EXPIRED


# --- SR-22: valid login messages per phone ---------------------------------------------


@pytest.mark.django_db
@override_settings(WHATSAPP_LOGIN_RATE_LIMIT_CONFIRM="2/m/phone")
def test_the_confirm_limit_counts_per_phone_and_per_window(webhook, make_user):
    make_user(phone=PHONE)
    make_user(phone="+996700999111")

    def send(sender: str) -> dict[str, Any]:
        browser = Client()
        body = webhook.post(incoming(start(browser)["message"], sender=sender)).json()
        return {"body": body, "browser": browser}

    assert [send(CHAT)["body"]["status"] for _ in range(2)] == ["confirmed", "confirmed"]
    third = send(CHAT)
    assert third["body"] == {"status": "rejected", "reason": "rate_limited"}
    refused = LoginAttempt.objects.order_by("-pk").first()
    assert (refused.status, refused.reason, refused.user_id) == (
        Status.REJECTED,
        Reason.RATE_LIMITED,
        None,
    )
    assert third["browser"].post(COMPLETE).status_code == 409
    assert logged_in(third["browser"]) is None
    # Another phone is counted on its own.
    assert send("996700999111@c.us")["body"] == {"status": "confirmed"}
    # The next window lets the first phone in again.
    ratelimit.time.now += 60
    assert send(CHAT)["body"] == {"status": "confirmed"}


# --- SR-24: the sign-out window, by the clock ------------------------------------------


@pytest.fixture
def signed_in(settings, fake_greenapi, make_user, django_capture_on_commit_callbacks):
    """A consumed login with replies on; ``deliver(payload, at)`` posts a webhook at a time."""
    settings.WHATSAPP_LOGIN_CONFIRM = "never"  # the YES/NO question: test_confirmation.py
    settings.WHATSAPP_LOGIN_REPLIES = True
    settings.WHATSAPP_LOGIN_SITE_NAME = "Example Shop"
    settings.WHATSAPP_LOGIN_SIGN_OUT_WINDOW = timedelta(hours=1)
    make_user(phone=PHONE)
    browser = Client()
    webhook = WebhookClient(Client())

    def deliver(payload: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
        with django_capture_on_commit_callbacks(execute=True):
            if at is None:
                response = webhook.post(payload)
            else:
                payload["timestamp"] = int(at.timestamp())
                with mock.patch("django.utils.timezone.now", return_value=at):
                    response = webhook.post(payload)
        assert response.status_code == 200
        return response.json()

    assert deliver(incoming(start(browser)["message"], sender=CHAT))["status"] == "confirmed"
    assert browser.post(COMPLETE).status_code == 200
    attempt = LoginAttempt.objects.get()
    assert attempt.session_key
    return {"attempt": attempt, "deliver": deliver, "browser": browser}


@pytest.mark.django_db
@pytest.mark.parametrize(("minutes", "answer"), [(59, "signed_out"), (61, "ignored")])
def test_a_no_signs_out_only_inside_the_window(signed_in, minutes, answer):
    attempt = signed_in["attempt"]
    at = attempt.confirmed_at + timedelta(minutes=minutes)
    assert signed_in["deliver"](incoming("NO", sender=CHAT), at=at)["status"] == answer
    assert SessionStore().exists(attempt.session_key) == (answer == "ignored")


@pytest.mark.django_db
def test_a_no_written_before_the_login_does_not_sign_it_out(signed_in):
    """A "NO" that was typed before this login (delivered late) is about an earlier one."""
    attempt = signed_in["attempt"]
    payload = incoming("NO", sender=CHAT)
    payload["timestamp"] = int((attempt.confirmed_at - timedelta(minutes=2)).timestamp())
    assert signed_in["deliver"](payload)["status"] == "ignored"
    assert SessionStore().exists(attempt.session_key)


# --- SR-7/SR-24: one reply per incoming message, even when handled twice ---------------


@pytest.mark.django_db
def test_the_reply_claim_holds_when_the_processed_row_is_gone(
    settings, fake_greenapi, django_capture_on_commit_callbacks
):
    """If a message is handled twice anyway (its processed-message row purged by a too
    eager cleanup, two sites sharing one instance), the reply is still sent once."""
    settings.WHATSAPP_LOGIN_REPLIES = True
    settings.WHATSAPP_LOGIN_RATE_LIMIT_FAILED = ""
    webhook = WebhookClient(Client())
    payload = incoming("AMT LOGIN " + "A" * 16, sender=CHAT)  # an unknown code: "expired" reply
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert webhook.post(payload).json() == {"status": "ignored", "reason": "unknown_code"}
        ProcessedMessage.objects.all().delete()
    assert len(fake_greenapi.sent) == 1


@pytest.mark.django_db
def test_sending_the_same_reply_twice_sends_it_once(settings, fake_greenapi):
    from django_whatsapp_login import replies

    settings.WHATSAPP_LOGIN_REPLIES = True
    assert replies.send(replies.EXPIRED, PHONE, CHAT, "3EB0AAAA") is True
    assert replies.send(replies.EXPIRED, PHONE, CHAT, "3EB0AAAA") is False
    assert replies.send(replies.EXPIRED, PHONE, CHAT, "3EB0BBBB") is True  # another message
    assert len(fake_greenapi.sent) == 2
