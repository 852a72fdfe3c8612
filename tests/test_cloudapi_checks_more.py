"""The Cloud API doctor lines (gateways/cloudapi/checks.py) the command tests do not reach:
secrets of the wrong type, a Graph API error that is not about the token, and the business
number compared with a setting that is missing, different or RED."""

from __future__ import annotations

import pytest

from django_whatsapp_login.doctor import FAIL, PASS, SKIP, WARN
from django_whatsapp_login.gateways.cloudapi import checks
from django_whatsapp_login.gateways.cloudapi.client import CloudAPIClient, PhoneNumberInfo

from . import fake_cloudapi as fake

pytestmark = pytest.mark.django_db


def number(digits: str = fake.BUSINESS_DIGITS, quality: str = "GREEN") -> PhoneNumberInfo:
    return PhoneNumberInfo(
        id=fake.PHONE_NUMBER_ID,
        display_phone_number="+" + digits,
        verified_name="Test Business",
        quality_rating=quality,
    )


@pytest.mark.parametrize("name", ["CLOUD_API_APP_SECRET", "CLOUD_API_VERIFY_TOKEN"])
def test_a_secret_of_the_wrong_type_fails_with_the_setting_named(cloudapi_settings, name):
    setattr(cloudapi_settings, f"WHATSAPP_LOGIN_{name}", 12345)
    line = checks.check_secrets()
    assert (line.id, line.status, line.fix) == ("cloudapi_secrets", FAIL, "use a string or a list")
    assert f"WHATSAPP_LOGIN_{name}" in line.detail


def test_both_missing_secrets_are_named_with_what_each_breaks(cloudapi_settings):
    cloudapi_settings.WHATSAPP_LOGIN_CLOUD_API_APP_SECRET = ""
    cloudapi_settings.WHATSAPP_LOGIN_CLOUD_API_VERIFY_TOKEN = []
    line = checks.check_secrets()
    assert line.status == FAIL
    assert "APP_SECRET (without it every delivery gets 401)" in line.detail
    assert "VERIFY_TOKEN (without it Meta cannot verify the webhook URL: 403)" in line.detail


def test_rotated_secrets_are_counted(cloudapi_settings):
    cloudapi_settings.WHATSAPP_LOGIN_CLOUD_API_APP_SECRET = ["new-secret-0123", "old-secret-4567"]
    line = checks.check_secrets()
    assert (line.status, line.detail) == (PASS, "2 app secret(s), 1 verify token(s)")


def test_a_graph_api_error_that_is_not_the_token_s_points_at_the_number_id(fake_cloudapi):
    fake_cloudapi.fail(
        "phone_number", 400, body=fake.meta_error("Unsupported get request.", 100, 33)
    )
    with CloudAPIClient.from_settings() as client:
        line, info = checks.check_token(client)
    assert info is None
    assert (line.id, line.status) == ("cloudapi_token", FAIL)
    assert "Unsupported get request" in line.detail
    assert "WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID" in line.fix
    assert fake.ACCESS_TOKEN not in line.detail + line.fix
    # Without the number, its comparison is skipped rather than guessed.
    assert checks.check_phone_number(info).status == SKIP


def test_a_working_token_names_the_number_and_the_business(fake_cloudapi):
    with CloudAPIClient.from_settings() as client:
        line, info = checks.check_token(client)
    assert line.status == PASS and info is not None
    assert line.detail.startswith(f"valid for +{info.digits} (")


def test_without_the_business_phone_setting_the_fix_gives_the_number(settings):
    settings.WHATSAPP_LOGIN_BUSINESS_PHONE = ""
    line = checks.check_phone_number(number())
    assert (line.status, line.detail) == (FAIL, "WHATSAPP_LOGIN_BUSINESS_PHONE is not set")
    assert line.fix == f'set WHATSAPP_LOGIN_BUSINESS_PHONE = "+{fake.BUSINESS_DIGITS}"'


def test_another_number_behind_the_id_fails_masked(settings):
    settings.WHATSAPP_LOGIN_BUSINESS_PHONE = "+" + fake.BUSINESS_DIGITS
    line = checks.check_phone_number(number("996555777888"))
    assert line.status == FAIL and "never receives" in line.detail
    assert "777888" not in line.detail  # masked in the detail ...
    assert line.fix.startswith('set WHATSAPP_LOGIN_BUSINESS_PHONE = "+996555777888"')


@pytest.mark.parametrize(("quality", "status"), [("RED", WARN), ("red", WARN), ("YELLOW", PASS)])
def test_a_red_quality_rating_is_a_warning(settings, quality, status):
    settings.WHATSAPP_LOGIN_BUSINESS_PHONE = "+" + fake.BUSINESS_DIGITS
    line = checks.check_phone_number(number(quality=quality))
    assert line.status == status
    if status == WARN:
        assert "quality rating RED" in line.detail and "WhatsApp Manager" in line.fix
