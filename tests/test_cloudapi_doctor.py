"""whatsapp_login_check with WHATSAPP_LOGIN_GATEWAY = "cloudapi": the Cloud API gateway's own
checks against the fake Graph API, and none of Green API's."""

from __future__ import annotations

import json

import pytest

from . import fake_cloudapi as fake
from .greenapi_helpers import run_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def cloud(fake_cloudapi, settings):
    settings.WHATSAPP_LOGIN_GATEWAY = "cloudapi"
    settings.WHATSAPP_LOGIN_BUSINESS_PHONE = "+" + fake.BUSINESS_DIGITS
    return fake_cloudapi


def ids(out: str) -> dict[str, str]:
    return {result["id"]: result["status"] for result in json.loads(out)["checks"]}


def test_a_healthy_cloud_api_setup_passes(cloud, make_user):
    make_user(phone="+" + fake.USER_DIGITS)
    code, out, _ = run_command("whatsapp_login_check", "--json")
    results = ids(out)
    assert code == 0, out
    for check in ("cloudapi_settings", "cloudapi_secrets", "cloudapi_token", "cloudapi_phone"):
        assert results[check] == "pass"
    assert "instance_state" not in results  # no Green API check with another gateway


def test_an_expired_token_fails_the_check_with_a_fix(cloud):
    cloud.expire_token()
    code, out, _ = run_command("whatsapp_login_check")
    assert code == 1
    assert "Cloud API access token" in out and "Fix:" in out
    assert fake.ACCESS_TOKEN not in out


def test_a_bad_gateway_value_is_one_failed_line(settings):
    settings.WHATSAPP_LOGIN_GATEWAY = "nonexistent"
    code, out, _ = run_command("whatsapp_login_check", "--json")
    assert code == 1 and ids(out)["gateway"] == "fail"
