"""WHATSAPP_LOGIN_GATEWAY and get_gateway(): which gateway the webhook and replies use."""

from __future__ import annotations

import pytest

from django_whatsapp_login.conf import app_settings
from django_whatsapp_login.exceptions import WhatsAppLoginImproperlyConfigured
from django_whatsapp_login.gateways import Gateway, get_gateway
from django_whatsapp_login.gateways.cloudapi.gateway import CloudAPIGateway
from django_whatsapp_login.gateways.greenapi.gateway import GreenAPIGateway


class CustomGateway(GreenAPIGateway):
    name = "custom"


def test_default_is_green_api(settings):
    assert isinstance(get_gateway(), GreenAPIGateway)
    settings.WHATSAPP_LOGIN_GATEWAY = ""
    assert isinstance(get_gateway(), GreenAPIGateway)


def test_cloudapi_by_name(settings):
    settings.WHATSAPP_LOGIN_GATEWAY = "cloudapi"
    gateway = get_gateway()
    assert isinstance(gateway, CloudAPIGateway) and gateway.name == "cloudapi"


def test_dotted_path_to_own_gateway(settings):
    settings.WHATSAPP_LOGIN_GATEWAY = "tests.test_gateway_setting.CustomGateway"
    gateway = get_gateway()
    assert isinstance(gateway, CustomGateway) and isinstance(gateway, Gateway)


@pytest.mark.parametrize("value", ["meta", "tests.test_gateway_setting.pytest"])
def test_bad_value_raises_improperly_configured(settings, value):
    settings.WHATSAPP_LOGIN_GATEWAY = value
    with pytest.raises(WhatsAppLoginImproperlyConfigured, match="WHATSAPP_LOGIN_GATEWAY"):
        get_gateway()


def test_green_api_chat_for_phone_and_cloud_api_wa_id():
    assert GreenAPIGateway().chat_for_phone("+996555000123") == "996555000123@c.us"
    assert CloudAPIGateway().chat_for_phone("+996555000123") == "996555000123"


def test_can_send_follows_the_configured_gateway(settings):
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = "fake-api-token-5f3c9a1e7b2d4c6e8a0b"
    settings.WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE = "1101000001"
    assert app_settings.CAN_SEND
    settings.WHATSAPP_LOGIN_GATEWAY = "cloudapi"
    assert not app_settings.CAN_SEND  # the Green API credentials do not send Cloud API messages
    settings.WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN = "EAAFAKEtoken"
    settings.WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID = "100000000000001"
    assert app_settings.CAN_SEND


def test_a_changed_setting_applies_at_once_after_the_class_is_cached(settings):
    """The imported class is kept per dotted path, never per process: switching the
    setting back and forth gives each gateway, and a bad path raises on every call."""
    for _ in range(2):
        settings.WHATSAPP_LOGIN_GATEWAY = "cloudapi"
        assert type(get_gateway()) is CloudAPIGateway
        settings.WHATSAPP_LOGIN_GATEWAY = "tests.test_gateway_setting.CustomGateway"
        assert type(get_gateway()) is CustomGateway
        settings.WHATSAPP_LOGIN_GATEWAY = "greenapi"
        assert type(get_gateway()) is GreenAPIGateway
        settings.WHATSAPP_LOGIN_GATEWAY = "tests.test_gateway_setting.Missing"
        with pytest.raises(WhatsAppLoginImproperlyConfigured):
            get_gateway()
