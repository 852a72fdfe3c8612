"""attempt_created / attempt_confirmed / attempt_rejected: sent once each, after commit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import RequestFactory

from django_whatsapp_login import signals
from django_whatsapp_login.attempts import start_attempt
from django_whatsapp_login.models import LoginAttempt, RejectReason

from .conftest import incoming, start

pytestmark = pytest.mark.django_db


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []

    def receiver(self, name: str):
        def receive(sender: Any, signal: Any = None, **kwargs: Any) -> None:
            self.calls.append((name, sender, kwargs))

        return receive

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for n, _, kwargs in self.calls if n == name]


@pytest.fixture
def recorded() -> Iterator[Recorder]:
    recorder = Recorder()
    receivers = {
        "created": recorder.receiver("created"),
        "confirmed": recorder.receiver("confirmed"),
        "rejected": recorder.receiver("rejected"),
    }
    signals.attempt_created.connect(receivers["created"])
    signals.attempt_confirmed.connect(receivers["confirmed"])
    signals.attempt_rejected.connect(receivers["rejected"])
    yield recorder
    signals.attempt_created.disconnect(receivers["created"])
    signals.attempt_confirmed.disconnect(receivers["confirmed"])
    signals.attempt_rejected.disconnect(receivers["rejected"])


def test_attempt_created_after_commit(browser, recorded, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        data = start(browser)
        assert recorded.calls == []  # not before the transaction commits
    assert len(callbacks) == 2  # the signal, and live.publish (the cached state)
    [kwargs] = recorded.named("created")
    assert set(kwargs) == {"attempt", "request"}
    assert kwargs["attempt"] == LoginAttempt.objects.get()
    assert kwargs["request"].path == "/whatsapp/start/"
    assert all(sender is LoginAttempt for _, sender, _ in recorded.calls)
    # Returning the live attempt creates nothing and sends nothing.
    with django_capture_on_commit_callbacks(execute=True):
        assert start(browser)["code"] == data["code"]
    assert len(recorded.named("created")) == 1


def test_attempt_confirmed_after_commit(
    browser, webhook, make_user, recorded, django_capture_on_commit_callbacks
):
    user = make_user("+996700123456")
    data = start(browser)
    payload = incoming(data["message"])
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook.post(payload).json() == {"status": "confirmed"}
        assert recorded.named("confirmed") == []
    [kwargs] = recorded.named("confirmed")
    assert set(kwargs) == {"attempt", "user", "phone", "lid", "message_id"}
    assert kwargs["lid"] is None  # the delivery carried no LID
    assert kwargs["attempt"] == LoginAttempt.objects.get()
    assert kwargs["user"] == user
    assert kwargs["phone"] == "+996700123456"
    assert kwargs["message_id"] == payload["idMessage"]
    assert recorded.named("rejected") == []
    # The same delivery again, and a new message from the same number: no second signal.
    with django_capture_on_commit_callbacks(execute=True):
        webhook.post(payload)
        webhook.post(incoming(data["message"]))
    assert len(recorded.named("confirmed")) == 1
    # Completing the login sends none of ours.
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post("/whatsapp/complete/").status_code == 200
    assert [name for name, _, _ in recorded.calls] == ["confirmed"]


def test_attempt_rejected_unknown_number(
    browser, webhook, recorded, django_capture_on_commit_callbacks
):
    data = start(browser)
    with django_capture_on_commit_callbacks(execute=True):
        webhook.post(incoming(data["message"], sender="996700999999@c.us"))
        assert recorded.named("rejected") == []
    [kwargs] = recorded.named("rejected")
    assert set(kwargs) == {"attempt", "reason", "phone"}
    assert kwargs["attempt"] == LoginAttempt.objects.get()
    assert kwargs["reason"] == RejectReason.UNKNOWN_NUMBER == "unknown_number"
    assert kwargs["phone"] == "+996700999999"
    assert recorded.named("confirmed") == []
    # A second message for the closed attempt sends nothing.
    with django_capture_on_commit_callbacks(execute=True):
        webhook.post(incoming(data["message"], sender="996700999999@c.us"))
    assert len(recorded.named("rejected")) == 1


def test_attempt_rejected_conflicting_sender(
    browser, webhook, make_user, recorded, django_capture_on_commit_callbacks
):
    make_user("+996700123456")
    make_user("+996700222222")
    data = start(browser)
    with django_capture_on_commit_callbacks(execute=True):
        webhook.post(incoming(data["message"]))
        webhook.post(incoming(data["message"], sender="996700222222@c.us"))
    assert len(recorded.named("confirmed")) == 1
    [kwargs] = recorded.named("rejected")
    assert kwargs["reason"] == "conflicting_sender"
    assert kwargs["phone"] == "+996700222222"


def test_attempt_rejected_lid_sender_has_no_phone(
    browser, webhook, recorded, django_capture_on_commit_callbacks
):
    data = start(browser)
    with django_capture_on_commit_callbacks(execute=True):
        webhook.post(incoming(data["message"], sender="123456789012345@lid"))
    [kwargs] = recorded.named("rejected")
    assert kwargs["reason"] == "lid_sender"
    assert kwargs["phone"] is None


def test_attempt_rejected_inactive_at_completion(
    browser, webhook, make_user, recorded, django_capture_on_commit_callbacks
):
    user = make_user("+996700123456")
    data = start(browser)
    with django_capture_on_commit_callbacks(execute=True):
        webhook.post(incoming(data["message"]))
    user.is_active = False
    user.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post("/whatsapp/complete/").status_code == 409
        assert recorded.named("rejected") == []
    [kwargs] = recorded.named("rejected")
    assert kwargs["reason"] == "inactive_user"
    assert kwargs["attempt"].pk == LoginAttempt.objects.get().pk
    # A second complete does not reject (or signal) again.
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post("/whatsapp/complete/").status_code == 409
    assert len(recorded.named("rejected")) == 1


def test_no_signal_when_the_transaction_rolls_back(recorded, django_capture_on_commit_callbacks):
    request = RequestFactory().get("/whatsapp/")
    from django.contrib.sessions.backends.db import SessionStore

    request.session = SessionStore()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            start_attempt(request)
            raise RuntimeError("rolled back")
    assert callbacks == []
    assert recorded.calls == []
    assert LoginAttempt.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_signals_in_real_transactions(browser, webhook, make_user, recorded):
    """Without the test's wrapping transaction: each signal fires once, on commit."""
    make_user("+996700123456")
    data = start(browser)
    assert len(recorded.named("created")) == 1
    webhook.post(incoming(data["message"]))
    assert len(recorded.named("confirmed")) == 1
    assert browser.post("/whatsapp/complete/").status_code == 200
    assert [name for name, _, _ in recorded.calls] == ["created", "confirmed"]
