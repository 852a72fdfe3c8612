"""What the core asks of every gateway besides the webhook: ``send_code`` (django-allauth's
codes, one retry, a bounded wait) and ``missing_send_settings`` (check E045), for both
built-in gateways over real HTTP to their fakes (issue 12)."""

from __future__ import annotations

import pytest

from django_whatsapp_login.gateways import Gateway, get_gateway
from django_whatsapp_login.gateways.cloudapi.client import CloudAPIError
from django_whatsapp_login.gateways.greenapi.client import GreenAPIError
from tests import fake_cloudapi

GREEN_CHAT = "79990000001@c.us"


@pytest.fixture
def green(fake_greenapi, settings):
    settings.WHATSAPP_LOGIN_GATEWAY = "greenapi"
    return fake_greenapi


@pytest.fixture
def cloud(fake_cloudapi, settings):
    settings.WHATSAPP_LOGIN_GATEWAY = "cloudapi"
    return fake_cloudapi


def test_green_api_sends_a_code_and_returns_its_message_id(green):
    message_id = get_gateway().send_code(GREEN_CHAT, "123456 is your code", timeout=2)
    [sent] = green.sent
    assert sent["chatId"] == GREEN_CHAT and sent["message"] == "123456 is your code"
    assert message_id.startswith("BAE5")


def test_green_api_send_code_never_repeats_a_send_after_a_5xx(green):
    # sendMessage is not idempotent: a 5xx may have sent the text already.
    green.fail("sendMessage", 500, times=5)
    with pytest.raises(GreenAPIError):
        get_gateway().send_code(GREEN_CHAT, "123456 is your code", timeout=2)
    assert len(green.calls("sendMessage")) == 1


def test_green_api_send_code_retries_a_429_once_then_raises(green):
    green.fail("sendMessage", 429, times=5, headers={"Retry-After": "0"})
    with pytest.raises(GreenAPIError):
        get_gateway().send_code(GREEN_CHAT, "123456 is your code", timeout=2)
    assert len(green.calls("sendMessage")) == 2
    assert green.sent == []


def test_green_api_names_its_missing_send_settings(settings):
    settings.WHATSAPP_LOGIN_GATEWAY = "greenapi"
    settings.WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE = "1101000001"
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = "fake-token"
    assert get_gateway().missing_send_settings() == []
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = ""
    assert get_gateway().missing_send_settings() == ["WHATSAPP_LOGIN_GREEN_API_TOKEN"]
    settings.WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE = None
    assert get_gateway().missing_send_settings() == [
        "WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE",
        "WHATSAPP_LOGIN_GREEN_API_TOKEN",
    ]


def test_cloud_api_sends_a_code_with_the_access_token(cloud):
    message_id = get_gateway().send_code(
        fake_cloudapi.USER_DIGITS, "123456 is your code", timeout=2
    )
    [sent] = cloud.sent
    assert sent["to"] == fake_cloudapi.USER_DIGITS
    assert sent["text"]["body"] == "123456 is your code"
    assert message_id
    assert cloud.authorizations == ["Bearer " + fake_cloudapi.ACCESS_TOKEN]


def test_cloud_api_send_code_retries_once_then_raises(cloud):
    cloud.server_error("messages", times=5)
    with pytest.raises(CloudAPIError):
        get_gateway().send_code(fake_cloudapi.USER_DIGITS, "123456 is your code", timeout=2)
    assert len(cloud.calls("messages")) == 2


def test_cloud_api_names_its_missing_send_settings(cloudapi_settings):
    cloudapi_settings.WHATSAPP_LOGIN_GATEWAY = "cloudapi"
    assert get_gateway().missing_send_settings() == []
    cloudapi_settings.WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN = ""
    assert get_gateway().missing_send_settings() == ["WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN"]
    cloudapi_settings.WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID = ""
    assert get_gateway().missing_send_settings() == [
        "WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN",
        "WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID",
    ]


def test_a_custom_gateway_sends_codes_through_send_text():
    class Recording(Gateway):
        name = "recording"

        def __init__(self) -> None:
            self.texts: list[tuple[str, str]] = []

        def authenticate(self, request):  # pragma: no cover - not used here
            return False

        def parse(self, body):  # pragma: no cover - not used here
            return []

        def send_text(self, to, text, *, reply_to=""):
            self.texts.append((to, text))
            return "id-1"

        def checks(self, checkup=None):  # pragma: no cover - not used here
            return []

    gateway = Recording()
    assert gateway.send_code("chat-1", "123456 is your code", timeout=1) == "id-1"
    assert gateway.texts == [("chat-1", "123456 is your code")]
    assert gateway.missing_send_settings() == []
