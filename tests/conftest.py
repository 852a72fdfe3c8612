from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from django_whatsapp_login.attempts import SESSION_KEY

PAYLOADS = Path(__file__).parent / "payloads"
TOKEN = "test-webhook-token-0123456789abcdefghijklmnop"
BUSINESS_WID = "996555000001@c.us"
INSTANCE = "1101000001"
_ids = itertools.count(1)


def load_payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def incoming(text: str, sender: str = "996700123456@c.us", **overrides: Any) -> dict[str, Any]:
    """A real-shaped incomingMessageReceived textMessage payload."""
    payload: dict[str, Any] = {
        "typeWebhook": "incomingMessageReceived",
        "instanceData": {
            "idInstance": int(INSTANCE),
            "wid": BUSINESS_WID,
            "typeInstance": "whatsapp",
        },
        "timestamp": int(time.time()),
        "idMessage": f"3EB0{next(_ids):016X}",
        "senderData": {
            "chatId": sender,
            "chatName": "Tenant",
            "sender": sender,
            "senderName": "Tenant",
            "senderContactName": "",
        },
        "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}},
    }
    payload.update(overrides)
    return payload


class WebhookClient:
    def __init__(self, client: Client, url: str = "/whatsapp/webhook/") -> None:
        self.client = client
        self.url = url

    def post(self, payload: Any, token: str | None = TOKEN, **extra: Any):
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        headers = {}
        if token is not None:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        headers.update(extra)
        return self.client.post(self.url, data=body, content_type="application/json", **headers)


@pytest.fixture
def webhook() -> WebhookClient:
    return WebhookClient(Client(enforce_csrf_checks=True))


@pytest.fixture
def deliver(webhook, django_capture_on_commit_callbacks):
    """POST a webhook and run its on-commit callbacks (replies are sent there)."""

    def post(payload):
        with django_capture_on_commit_callbacks(execute=True):
            response = webhook.post(payload)
        assert response.status_code == 200
        return response.json()

    return post


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=False)


@pytest.fixture
def make_user(django_user_model):
    def make(phone: str = "+996700123456", username: str | None = None, **kw: Any):
        return django_user_model.objects.create_user(
            username=username or f"user{next(_ids)}", phone=phone, **kw
        )

    return make


def start(client: Client) -> dict[str, Any]:
    response = client.post("/whatsapp/start/")
    assert response.status_code == 200, response.content
    return response.json()


def session_attempt_id(client: Client) -> int:
    return client.session[SESSION_KEY]["id"]


class _FrozenClock:
    """Rate limits count in fixed windows; a test must not straddle a window's end."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0 + 5  # 5 s into a minute, hour and day window

    def time(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _fresh_rate_limits(monkeypatch):
    """Rate-limit counters live in the cache; each test starts from zero, on a still clock."""
    from django.core.cache import cache

    from django_whatsapp_login import ratelimit

    monkeypatch.setattr(ratelimit, "time", _FrozenClock())
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def fake_greenapi(settings, monkeypatch):
    """A fake Green API on 127.0.0.1 (real HTTP), with the settings pointing at it and the
    client's backoff made instantaneous. See tests/fake_greenapi.py."""
    from django_whatsapp_login.gateways.greenapi import client

    from .fake_greenapi import FakeGreenAPI

    fake = FakeGreenAPI(id_instance=str(settings.WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE)).start()
    settings.WHATSAPP_LOGIN_GREEN_API_URL = fake.url
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = fake.token
    monkeypatch.setattr(client, "_sleep", lambda seconds: None)
    yield fake
    fake.stop()


@pytest.fixture
def skip_qr_rendering():
    """For suites with many logins where the QR code is not under test: keeps them fast."""
    from unittest import mock

    with mock.patch("django_whatsapp_login.views.qr_svg", return_value=""):
        yield


@pytest.fixture
def no_confirmation(settings):
    """WHATSAPP_LOGIN_CONFIRM = "never": for suites about what happens after a login is
    confirmed (notices, NO, polling), where the YES/NO question (tests/test_confirmation.py)
    is not under test."""
    settings.WHATSAPP_LOGIN_CONFIRM = "never"


@pytest.fixture
def cloudapi_settings(settings):
    """The Cloud API settings that tests/fake_cloudapi.py expects (no server started)."""
    from . import fake_cloudapi as fake

    settings.WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID = fake.PHONE_NUMBER_ID
    settings.WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN = fake.ACCESS_TOKEN
    settings.WHATSAPP_LOGIN_CLOUD_API_APP_SECRET = fake.APP_SECRET
    settings.WHATSAPP_LOGIN_CLOUD_API_VERIFY_TOKEN = fake.VERIFY_TOKEN
    settings.WHATSAPP_LOGIN_CLOUD_API_APP_ID = fake.APP_ID
    return settings


@pytest.fixture
def fake_cloudapi(cloudapi_settings, monkeypatch):
    """A fake Graph API on 127.0.0.1 (real HTTP) with the settings pointing at it; the
    client's backoff does not sleep but is recorded in ``fake.sleeps``."""
    from django_whatsapp_login.gateways.cloudapi import client

    from .fake_cloudapi import FakeCloudAPI

    fake = FakeCloudAPI().start()
    cloudapi_settings.WHATSAPP_LOGIN_CLOUD_API_URL = fake.url
    fake.sleeps = []
    monkeypatch.setattr(client, "_sleep", fake.sleeps.append)
    yield fake
    fake.stop()
