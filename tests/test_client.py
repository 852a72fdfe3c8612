"""The Green API client against the fake Green API (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import logging
import socket

import pytest

from django_whatsapp_login.gateways.greenapi import client as client_module
from django_whatsapp_login.gateways.greenapi.client import (
    AuthorizationFailed,
    GreenAPIClient,
    GreenAPIError,
    QuotaExceeded,
    RateLimited,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(fake_greenapi):
    with GreenAPIClient.from_settings() as api:
        yield api


def test_base_url_comes_from_the_setting(api, fake_greenapi):
    assert api.get_state_instance().state == "authorized"
    assert fake_greenapi.calls("getStateInstance")


def test_typed_results(api, fake_greenapi):
    fake_greenapi.settings.update(
        incomingWebhook="yes", enableLidMode=True, webhookUrl="https://x/"
    )
    settings = api.get_settings()
    assert settings.incoming_webhook is True
    assert settings.outgoing_webhook is True
    assert settings.enable_lid_mode is True
    assert settings.webhook_url == "https://x/"
    assert settings.wid == "996555000001@c.us"
    wa = api.get_wa_settings()
    assert wa.phone == "996555000001"
    assert api.set_settings({"incomingWebhook": "no"}) is True
    assert fake_greenapi.settings["incomingWebhook"] == "no"
    sent = api.send_message("996700123456@c.us", "hello")
    assert sent.id_message and fake_greenapi.sent[0]["message"] == "hello"


def test_state_null_while_the_instance_is_created(api, fake_greenapi):
    fake_greenapi.state = None
    assert api.get_state_instance().state is None


def test_notification_queue(api, fake_greenapi):
    assert api.receive_notification() is None
    receipt = fake_greenapi.queue({"typeWebhook": "x"})
    notification = api.receive_notification()
    assert notification.receipt_id == receipt and notification.body == {"typeWebhook": "x"}
    assert api.delete_notification(receipt) is True
    assert api.delete_notification(receipt) is False
    assert fake_greenapi.calls("deleteNotification")[0][0] == "DELETE"


def test_retries_5xx_and_429_with_backoff(api, fake_greenapi, caplog):
    fake_greenapi.fail("getSettings", 500, times=2)
    fake_greenapi.fail("getSettings", 429, headers={"Retry-After": "3"})
    assert api.get_settings().wid
    assert len(fake_greenapi.calls("getSettings")) == 4
    # 1 s, 2 s exponential backoff, then the server's Retry-After.
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert [m.rsplit("retrying in ", 1)[1] for m in retries] == ["1.0 s", "2.0 s", "3.0 s"]
    assert "HTTP 500" in retries[0] and "HTTP 429" in retries[2]


def test_gives_up_after_max_retries(api, fake_greenapi):
    fake_greenapi.fail("getStateInstance", 500, times=10)
    with pytest.raises(GreenAPIError) as info:
        api.get_state_instance()
    assert info.value.status == 500
    assert "getStateInstance" in str(info.value)
    assert len(fake_greenapi.calls("getStateInstance")) == 4  # 1 + 3 retries


def test_429_after_all_retries(api, fake_greenapi):
    fake_greenapi.fail("getSettings", 429, times=10)
    with pytest.raises(RateLimited):
        api.get_settings()


def test_send_message_is_not_retried_on_5xx(api, fake_greenapi):
    fake_greenapi.fail("sendMessage", 500)
    with pytest.raises(GreenAPIError):
        api.send_message("996700123456@c.us", "hi")
    assert len(fake_greenapi.calls("sendMessage")) == 1


def test_466_quota_is_not_retried_and_is_remembered(api, fake_greenapi):
    from django.core.cache import cache

    fake_greenapi.fail("sendMessage", 466, body={"invokeStatus": {"status": "QUOTE_EXCEEDED"}})
    with pytest.raises(QuotaExceeded) as info:
        api.send_message("996700123456@c.us", "hi")
    assert "quota" in str(info.value)
    assert cache.get(client_module.QUOTA_CACHE_KEY)["method"] == "sendMessage"


def test_wrong_token_is_an_authorization_error(settings, fake_greenapi):
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = "another-token-0000"
    with GreenAPIClient.from_settings() as api, pytest.raises(AuthorizationFailed) as info:
        api.get_state_instance()
    assert "WHATSAPP_LOGIN_GREEN_API_TOKEN" in str(info.value)
    assert "another-token-0000" not in str(info.value)


def test_timeout_on_every_call(settings, fake_greenapi):
    fake_greenapi.delay("getStateInstance", 0.5)
    with GreenAPIClient.from_settings(timeout=0.1, max_retries=0) as api:
        with pytest.raises(GreenAPIError) as info:
            api.get_state_instance()
    assert "no answer within" in str(info.value)


def test_per_method_rate_limit_spacing(api, monkeypatch):
    waits = []
    monkeypatch.setattr(client_module, "_sleep", waits.append)
    api.get_settings()
    api.get_settings()
    assert waits and 0.5 < waits[0] <= 1.0  # getSettings: 1 request per second
    waits.clear()
    api.receive_notification()
    api.receive_notification()
    assert all(w <= 0.01 for w in waits)  # receiveNotification: 100 per second


def test_missing_settings(settings):
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = ""
    from django_whatsapp_login.exceptions import WhatsAppLoginImproperlyConfigured

    with pytest.raises(WhatsAppLoginImproperlyConfigured):
        GreenAPIClient.from_settings()


# --- the token never leaks -------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_token_never_in_errors_reprs_or_logs(settings, fake_greenapi, caplog):
    token = fake_greenapi.token
    caplog.set_level(logging.DEBUG)  # urllib3 logs every request line (URL included) at DEBUG
    texts = []
    with GreenAPIClient.from_settings() as api:
        texts.append(repr(api))
        api.get_state_instance()
        fake_greenapi.fail("getSettings", 500, times=10)
        with pytest.raises(GreenAPIError) as info:
            api.get_settings()
        texts += [str(info.value), repr(info.value), info.value.detail]
        assert info.value.__cause__ is None and (
            info.value.__context__ is None or info.value.__suppress_context__
        )
    settings.WHATSAPP_LOGIN_GREEN_API_URL = f"http://127.0.0.1:{_closed_port()}"
    with GreenAPIClient.from_settings(max_retries=1) as api:
        texts.append(repr(api))
        with pytest.raises(GreenAPIError) as info:
            api.get_wa_settings()
        texts += [str(info.value), repr(info.value), info.value.detail]
        assert info.value.__cause__ is None
    assert any("waInstance" in r.getMessage() for r in caplog.records), "urllib3 did not log"
    for text in texts + [r.getMessage() for r in caplog.records] + [caplog.text]:
        assert token not in text


def test_check_whatsapp_uses_the_chat_id_form_and_returns_the_lid(api, fake_greenapi):
    fake_greenapi.lids["996555000123"] = "120650379300963:2@lid"
    found = api.check_whatsapp("+996 555 000 123")
    assert found.exists is True and found.lid == "120650379300963@lid"
    # the chatId form, never the deprecated phoneNumber
    assert fake_greenapi.calls("checkWhatsapp")[-1][2] == {"chatId": "996555000123@c.us"}
    missing = api.check_whatsapp("+996555000999")
    assert missing.exists is False and missing.lid is None


def test_check_whatsapp_errors_are_typed(api, fake_greenapi):
    fake_greenapi.fail("checkWhatsapp", 466)
    with pytest.raises(QuotaExceeded):
        api.check_whatsapp("+996555000123")
    fake_greenapi.fail("checkWhatsapp", 200, body={"chatId": "120650379300963@lid"})
    with pytest.raises(GreenAPIError, match="existsWhatsapp"):
        api.check_whatsapp("+996555000123")
    fake_greenapi.fail("checkWhatsapp", 429, times=4)
    with pytest.raises(RateLimited):
        api.check_whatsapp("+996555000123", max_retries=1)
