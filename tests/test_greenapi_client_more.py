"""The Green API client (gateways/greenapi/client.py) against answers tests/test_client.py
does not give: 200 answers of the wrong shape, a sendMessage whose connection fails or
times out (never repeated: it may have been sent), and a 466 whose record in the cache
fails."""

from __future__ import annotations

import socket

import pytest
import requests

from django_whatsapp_login.gateways.greenapi import client as client_module
from django_whatsapp_login.gateways.greenapi.client import (
    GreenAPIClient,
    GreenAPIError,
    QuotaExceeded,
)

pytestmark = pytest.mark.django_db

CHAT = "996700123456@c.us"


@pytest.fixture
def api(fake_greenapi):
    with GreenAPIClient.from_settings(max_retries=2) as api:
        yield api


@pytest.mark.parametrize("answer", [{}, {"idMessage": ""}, {"idMessage": 42}])
def test_a_sent_message_without_an_id_is_an_error(api, fake_greenapi, answer):
    fake_greenapi.fail("sendMessage", 200, body=answer)
    with pytest.raises(GreenAPIError) as info:
        api.send_message(CHAT, "hello")
    assert str(info.value) == "Green API sendMessage failed: the answer has no idMessage"
    assert len(fake_greenapi.calls("sendMessage")) == 1


@pytest.mark.parametrize("receipt", ["7", True, None, 1.5])
def test_a_notification_without_an_integer_receipt_is_an_error(api, fake_greenapi, receipt):
    fake_greenapi.fail("receiveNotification", 200, body={"receiptId": receipt, "body": {}})
    with pytest.raises(GreenAPIError) as info:
        api.receive_notification()
    assert "the answer has no integer receiptId" in str(info.value)


def test_an_answer_that_is_not_an_object_is_an_error(api, fake_greenapi):
    fake_greenapi.fail("getSettings", 200, body=["webhookUrl", ""])
    with pytest.raises(GreenAPIError) as info:
        api.get_settings()
    assert str(info.value) == "Green API getSettings failed: unexpected answer of type list"


def test_a_method_without_a_published_limit_is_never_spaced(api, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(client_module, "_sleep", waits.append)
    for _ in range(3):
        api._throttle("lastIncomingMessages")
    assert waits == []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_send_whose_connection_fails_is_not_repeated_but_a_read_is(settings, caplog):
    settings.WHATSAPP_LOGIN_GREEN_API_URL = f"http://127.0.0.1:{closed_port()}"
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = "fake-api-token-for-a-closed-port"

    def retries() -> list[str]:
        return [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]

    with GreenAPIClient.from_settings(max_retries=2, backoff=0.5) as api:
        with pytest.raises(GreenAPIError) as sent:
            api.send_message(CHAT, "hello")
        # Not retried: only a connect timeout proves the message never left.
        assert retries() == []
        with pytest.raises(GreenAPIError) as read:
            api.get_wa_settings()
    assert "cannot connect to" in str(sent.value) and "cannot connect to" in str(read.value)
    waits = retries()
    assert len(waits) == 2 and all("getWaSettings" in w for w in waits)
    assert waits[0].endswith("retrying in 0.5 s") and waits[1].endswith("retrying in 1.0 s")
    assert "fake-api-token-for-a-closed-port" not in caplog.text + str(sent.value)


def test_a_send_that_times_out_is_not_repeated(settings, fake_greenapi):
    fake_greenapi.delay("sendMessage", 0.5)
    with GreenAPIClient.from_settings(timeout=0.1, max_retries=3) as api:
        with pytest.raises(GreenAPIError) as info:
            api.send_message(CHAT, "hello")
    assert "no answer within 0.1 s" in str(info.value)
    assert len(fake_greenapi.calls("sendMessage")) == 1  # it may have been sent: once only


class BrokenCache:
    def set(self, *args, **kwargs):
        raise ConnectionError("the cache is down")


def test_a_466_is_raised_even_when_it_cannot_be_remembered(api, fake_greenapi, monkeypatch):
    monkeypatch.setattr("django.core.cache.cache", BrokenCache())
    fake_greenapi.fail("sendMessage", 466, body={"message": "quota"})
    with pytest.raises(QuotaExceeded) as info:
        api.send_message(CHAT, "hello")
    assert info.value.status == 466 and "quota" in info.value.detail


# --- answers the fake cannot give, from a stand-in session ---------------------------------


def answer(status: int, content: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = content
    return response


class Session:
    """A stand-in requests.Session: each request takes the next scripted outcome."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.requests: list[tuple[str, str]] = []

    def request(self, method, url, **kwargs):
        self.requests.append((method, url))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def close(self):
        pass


def scripted_client(session: Session) -> GreenAPIClient:
    return GreenAPIClient(
        "https://api.green-api.example",
        "1101000001",
        "fake-api-token-scripted-0123",
        max_retries=2,
        session=session,
    )


def test_an_empty_answer_is_an_empty_queue():
    session = Session(answer(200, b"  \n"))
    assert scripted_client(session).receive_notification() is None
    assert len(session.requests) == 1


def test_an_answer_that_is_not_json_is_an_error():
    session = Session(answer(200, b"<html>gateway page</html>"))
    with pytest.raises(GreenAPIError) as info:
        scripted_client(session).get_state_instance()
    assert str(info.value) == "Green API getStateInstance failed (HTTP 200): the answer is not JSON"


def test_another_request_error_is_named_and_not_retried():
    session = Session(requests.TooManyRedirects("Exceeded 30 redirects."))
    with pytest.raises(GreenAPIError) as info:
        scripted_client(session).get_settings()
    assert info.value.reason == "TooManyRedirects"
    assert "Exceeded 30 redirects" in info.value.detail
    assert len(session.requests) == 1
