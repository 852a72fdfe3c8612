"""The default resolver and the WHATSAPP_LOGIN_USER_RESOLVER hook."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from django_whatsapp_login.gateways.greenapi.payloads import IncomingText
from django_whatsapp_login.models import LoginAttempt, RejectReason, Status
from django_whatsapp_login.resolvers import default_resolver, get_resolver

from .conftest import incoming, session_attempt_id, start

pytestmark = pytest.mark.django_db

CALLS: list[tuple[str, dict[str, Any]]] = []
RETURN: dict[str, Any] = {"user": None}


def recording_resolver(phone: str, **context: Any) -> Any:
    """A project resolver: records its arguments and returns RETURN["user"]."""
    CALLS.append((phone, context))
    return RETURN["user"]


@pytest.fixture
def recorder():
    CALLS.clear()
    RETURN["user"] = None
    with override_settings(WHATSAPP_LOGIN_USER_RESOLVER="tests.test_resolvers.recording_resolver"):
        yield CALLS
    CALLS.clear()
    RETURN["user"] = None


# --- default resolver -----------------------------------------------------------------


def test_one_match_returns_the_user(make_user):
    user = make_user("+996700123456")
    make_user("+996700123457")
    assert default_resolver("+996700123456") == user


def test_no_match_returns_none(make_user):
    make_user("+996700123457")
    assert default_resolver("+996700123456") is None


def test_two_matches_return_none(make_user):
    make_user("+996700123456")
    make_user("+996700123456")
    assert default_resolver("+996700123456") is None


def test_exact_match_only(make_user):
    """No suffix, prefix or format-insensitive matching (SR-18)."""
    make_user("+996700123456")
    for phone in ("+700123456", "+99670012345", "+9967001234567", "996700123456"):
        assert default_resolver(phone) is None


def test_inactive_user_is_still_returned_for_the_backend_to_refuse(make_user):
    # The resolver identifies; user_can_authenticate() decides (tested in test_browser).
    user = make_user("+996700123456", is_active=False)
    assert default_resolver("+996700123456") == user


def test_uses_phone_field_setting(make_user):
    user = make_user("", first_name="+996700123456")
    other = make_user("+996700123456")
    with override_settings(WHATSAPP_LOGIN_PHONE_FIELD="first_name"):
        assert default_resolver("+996700123456") == user
    assert default_resolver("+996700123456") == other


def test_exactly_one_query(make_user, django_assert_num_queries):
    make_user("+996700123456")
    make_user("+996700999999")
    make_user("+996700999999")
    with django_assert_num_queries(1):
        assert default_resolver("+996700123456") is not None
    with django_assert_num_queries(1):
        assert default_resolver("+996700999999") is None
    with django_assert_num_queries(1):
        assert default_resolver("+996700000000") is None


def test_default_resolver_accepts_context(make_user):
    user = make_user("+996700123456")
    assert default_resolver("+996700123456", attempt=None, request=None, message=None, x=1) == user


def test_get_resolver_default_and_custom(recorder):
    assert get_resolver() is recording_resolver
    with override_settings(WHATSAPP_LOGIN_USER_RESOLVER=None):
        assert get_resolver() is default_resolver


# --- a project resolver ---------------------------------------------------------------


def test_custom_resolver_gets_e164_and_context(browser, webhook, make_user, recorder):
    user = make_user("+996700000001")  # a phone the default resolver would not match
    RETURN["user"] = user
    data = start(browser)
    response = webhook.post(incoming(data["message"], sender="996700123456@c.us"))
    assert response.status_code == 200
    assert response.json() == {"status": "confirmed"}
    assert len(recorder) == 1
    phone, context = recorder[0]
    assert phone == "+996700123456"
    assert {"attempt", "request", "message"} <= set(context)
    assert isinstance(context["attempt"], LoginAttempt)
    assert context["attempt"].pk == session_attempt_id(browser)
    assert context["request"] is not None
    assert context["request"].path == "/whatsapp/webhook/"
    assert isinstance(context["message"], IncomingText)
    assert context["message"].text == data["message"]
    attempt = LoginAttempt.objects.get()
    assert attempt.status == Status.CONFIRMED
    assert attempt.user == user
    assert browser.post("/whatsapp/complete/").status_code == 200
    assert browser.session["_auth_user_id"] == str(user.pk)


def test_custom_resolver_device_suffix_is_stripped(browser, webhook, recorder):
    data = start(browser)
    webhook.post(incoming(data["message"], sender="996700123456:7@c.us"))
    assert [phone for phone, _ in recorder] == ["+996700123456"]


def test_custom_resolver_none_rejects(browser, webhook, make_user, recorder):
    make_user("+996700123456")  # the default resolver would find this one
    data = start(browser)
    response = webhook.post(incoming(data["message"]))
    assert response.status_code == 200
    attempt = LoginAttempt.objects.get()
    assert attempt.status == Status.REJECTED
    assert attempt.reason == RejectReason.UNKNOWN_NUMBER
    assert len(recorder) == 1


def test_custom_resolver_not_called_for_lid_or_group(browser, webhook, recorder):
    data = start(browser)
    webhook.post(incoming(data["message"], sender="123456789012345@lid"))
    webhook.post(
        incoming(
            data["message"],
            senderData={
                "chatId": "120363000000000000@g.us",
                "sender": "996700123456@c.us",
                "senderName": "x",
            },
        )
    )
    assert recorder == []


def test_custom_resolver_inactive_user_rejects(browser, webhook, make_user, recorder):
    RETURN["user"] = make_user("+996700123456", is_active=False)
    data = start(browser)
    webhook.post(incoming(data["message"]))
    attempt = LoginAttempt.objects.get()
    assert attempt.status == Status.REJECTED
    assert attempt.reason == RejectReason.INACTIVE_USER
    assert attempt.user is None
    assert get_user_model().objects.count() == 1
