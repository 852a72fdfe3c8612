"""manage.py whatsapp_login_poll: the HTTP-API transport, against the fake Green API."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from django_whatsapp_login import ratelimit, webhooks
from django_whatsapp_login.gateways.greenapi.gateway import GreenAPIGateway
from django_whatsapp_login.management.commands import whatsapp_login_poll
from django_whatsapp_login.models import LoginAttempt, ProcessedMessage, Status

from .conftest import incoming, start
from .greenapi_helpers import WEBHOOK_URL, run_command

# The YES/NO question is tests/test_confirmation.py's subject; here logins confirm at once.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_confirmation")]


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(whatsapp_login_poll.Command, "BACKOFF_BASE", 0.001)
    monkeypatch.setattr(whatsapp_login_poll.Command, "BACKOFF_MAX", 0.01)


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """The command closes stale connections between notifications, as a long-running worker
    must; inside a test's transaction that would close the test's own connection (on
    PostgreSQL; SQLite's in-memory one survives). Django's TestCase disconnects
    close_old_connections from the request signals for the same reason. Its own
    MonkeyPatch, so a test's monkeypatch.undo() keeps it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(whatsapp_login_poll, "close_old_connections", lambda: None)
        yield


def poll(*args: str) -> tuple[int, str, str]:
    return run_command("whatsapp_login_poll", *args)


def test_logs_a_user_in_from_a_queued_notification(fake_greenapi, browser, make_user):
    user = make_user(phone="+996700123456")
    data = start(browser)
    receipt = fake_greenapi.queue(incoming(data["message"]))
    code, out, err = poll("--once")
    assert code == 0, err
    assert "Handled 1 notification(s)." in out
    assert LoginAttempt.objects.get().status == Status.CONFIRMED
    assert ("deleteNotification", receipt) in fake_greenapi.events
    assert not fake_greenapi.notifications
    response = browser.post("/whatsapp/complete/")
    assert response.status_code == 200
    assert int(browser.session["_auth_user_id"]) == user.pk


def test_deletes_only_after_handling(fake_greenapi, browser, make_user, monkeypatch):
    make_user(phone="+996700123456")
    receipt = fake_greenapi.queue(incoming(start(browser)["message"]))
    seen = []
    real = webhooks.handle_payload

    def spy(data, request=None):
        seen.append([event for event in fake_greenapi.events if event[0] == "deleteNotification"])
        return real(data, request=request)

    monkeypatch.setattr(webhooks, "handle_payload", spy)
    poll("--once")
    assert seen == [[]]  # nothing deleted while handling
    assert fake_greenapi.events[-1] == ("deleteNotification", receipt)


def test_a_failed_handling_keeps_the_notification(fake_greenapi, browser, make_user, monkeypatch):
    make_user(phone="+996700123456")
    fake_greenapi.queue(incoming(start(browser)["message"]))

    def broken(data, request=None):
        raise RuntimeError("database down")

    monkeypatch.setattr(webhooks, "handle_payload", broken)
    code, _, _ = poll("--max-iterations", "2")
    assert code == 0
    assert len(fake_greenapi.notifications) == 1
    assert fake_greenapi.calls("deleteNotification") == []
    monkeypatch.undo()
    monkeypatch.setattr(whatsapp_login_poll.Command, "BACKOFF_BASE", 0.001)
    poll("--until-empty")  # handled on the next run
    assert not fake_greenapi.notifications
    assert LoginAttempt.objects.get().status == Status.CONFIRMED


def test_survives_500_and_429_for_a_while(fake_greenapi, browser, make_user):
    make_user(phone="+996700123456")
    fake_greenapi.queue(incoming(start(browser)["message"]))
    fake_greenapi.fail("receiveNotification", 500, times=6)
    fake_greenapi.fail("receiveNotification", 429, times=5)
    fake_greenapi.fail("deleteNotification", 500, times=5)
    code, _out, err = poll("--max-iterations", "10", "--until-empty")
    assert code == 0, err
    assert "polling again" in err
    assert LoginAttempt.objects.get().status == Status.CONFIRMED
    assert not fake_greenapi.notifications
    assert len(fake_greenapi.calls("receiveNotification")) > 11


def test_duplicates_are_harmless(fake_greenapi, browser, make_user, monkeypatch):
    """Green API hands the same notification over twice (its delete was lost), and the user
    has logged in in between. The second copy is recognised as a duplicate by its message
    id: it is not judged again (that would call it a used code, count a failure against the
    sender and, with replies on, answer "expired")."""
    user = make_user(phone="+996700123456")
    payload = incoming(start(browser)["message"])
    fake_greenapi.queue(payload)
    fake_greenapi.queue(payload)  # Green API delivered it twice
    outcomes = []
    real = webhooks.handle_payload

    def handle_then_log_in(data, request=None):
        outcome = real(data, request=request)
        outcomes.append((outcome.action, outcome.reason))
        if len(outcomes) == 1:
            assert browser.post("/whatsapp/complete/").status_code == 200
        return outcome

    monkeypatch.setattr(webhooks, "handle_payload", handle_then_log_in)
    assert poll("--until-empty")[0] == 0
    assert outcomes == [("confirmed", ""), ("duplicate", "")]
    assert not fake_greenapi.notifications
    attempt = LoginAttempt.objects.get()
    assert (attempt.status, attempt.user_id) == (Status.CONSUMED, user.pk)
    assert ProcessedMessage.objects.count() == 1
    # No failure was counted against the sender: one failure would exhaust "1/5m/phone".
    assert ratelimit.peek("failed", "1/5m/phone", {"phone": "+996700123456"}) is None


def test_empty_bodies_and_garbage_are_deleted(fake_greenapi):
    fake_greenapi.queue({"typeWebhook": "stateInstanceChanged", "stateInstance": "authorized"})
    fake_greenapi.queue(None)
    fake_greenapi.queue("garbage")
    assert poll("--until-empty")[0] == 0
    assert not fake_greenapi.notifications


def test_refuses_while_a_webhook_url_is_set(fake_greenapi):
    fake_greenapi.settings["webhookUrl"] = WEBHOOK_URL
    receipt = fake_greenapi.queue({"typeWebhook": "x"})
    code, _, err = poll("--once")
    assert code == 1
    assert "webhook URL" in err and "whatsapp_login_setup --poll" in err
    assert fake_greenapi.calls("receiveNotification") == []
    assert fake_greenapi.notifications[0][0] == receipt


def test_stops_cleanly_on_sigterm(fake_greenapi):
    previous = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        code, out, err = poll()  # runs until stopped
    finally:
        timer.cancel()
    assert code == 0
    assert "Received SIGTERM" in err and "Stopped." in out
    assert signal.getsignal(signal.SIGTERM) == previous


@pytest.mark.parametrize("url", ["http://api.green-api.com", "http://203.0.113.7:8080"])
def test_refuses_a_plain_http_api_url_to_another_host(fake_greenapi, settings, url):
    settings.WHATSAPP_LOGIN_GREEN_API_URL = url
    code, _out, err = poll("--once")
    assert code == 1
    assert "Refusing to poll" in err and "plain http" in err and "token" in err
    assert settings.WHATSAPP_LOGIN_GREEN_API_TOKEN not in err


@pytest.mark.parametrize("gateway", ["cloudapi", "tests.test_poll_command.NotAGateway"])
def test_refuses_a_gateway_that_is_not_green_api(fake_greenapi, settings, gateway):
    settings.WHATSAPP_LOGIN_GATEWAY = gateway
    receipt = fake_greenapi.queue({"typeWebhook": "x"})
    code, _out, err = poll("--once")
    assert code == 1
    if gateway == "cloudapi":
        assert "Green API only" in err and "'cloudapi'" in err and "webhook" in err
    else:
        assert "is not a subclass" in err
    # Nothing was asked of Green API, and the queued notification is still there.
    assert fake_greenapi.calls("getSettings") == []
    assert fake_greenapi.calls("receiveNotification") == []
    assert fake_greenapi.notifications[0][0] == receipt


class NotAGateway:
    pass


def test_a_green_api_subclass_may_poll(fake_greenapi, settings):
    settings.WHATSAPP_LOGIN_GATEWAY = "tests.test_poll_command.MyGreenAPI"
    assert poll("--until-empty")[0] == 0


class MyGreenAPI(GreenAPIGateway):
    pass
