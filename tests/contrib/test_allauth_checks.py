"""System checks of the allauth integration (docs/checks.md)."""

from __future__ import annotations

import pytest

from django_whatsapp_login import checks as core_checks
from django_whatsapp_login.contrib.allauth import _require
from django_whatsapp_login.contrib.allauth import checks as allauth_checks


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_wired_up_project_passes():
    assert ids(allauth_checks.check_allauth()) == []
    assert ids(core_checks.check_complete_login()) == []


def test_allauth_missing(monkeypatch):
    monkeypatch.setattr(allauth_checks, "find_spec", lambda name: None)
    [error] = allauth_checks.check_allauth()
    assert error.id == "whatsapp_login.E041"
    assert "django-allauth >= 65.8.0" in error.hint


def test_allauth_too_old(monkeypatch):
    monkeypatch.setattr(_require.allauth, "__version__", "65.4.1")
    [error] = allauth_checks.check_allauth()
    assert error.id == "whatsapp_login.E042"
    assert "65.4.1" in error.msg and ">= 65.8.0" in error.msg


def test_account_middleware_missing(settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "allauth" not in m]
    assert ids(allauth_checks.check_allauth()) == ["whatsapp_login.E043"]


def test_mixin_after_default_adapter(settings):
    settings.ACCOUNT_ADAPTER = "tests.allauthapp.adapter.WrongOrderAdapter"
    assert "whatsapp_login.E044" in ids(allauth_checks.check_allauth())


def test_phone_numbers_without_a_way_to_send_codes(settings):
    settings.ACCOUNT_ADAPTER = "allauth.account.adapter.DefaultAccountAdapter"
    found = ids(allauth_checks.check_allauth())
    assert "whatsapp_login.E044" in found
    assert "whatsapp_login.E047" in found  # nor get_user_by_phone for the resolver


def test_mixin_without_green_api_credentials(settings):
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = ""
    [error] = allauth_checks.check_allauth()
    assert error.id == "whatsapp_login.E045"
    assert "WHATSAPP_LOGIN_GREEN_API_TOKEN is not set" in error.msg
    assert "ID_INSTANCE" not in error.msg


def test_resolver_without_allauth_phone_numbers(settings):
    settings.ACCOUNT_LOGIN_METHODS = {"username"}
    settings.ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
    assert ids(allauth_checks.check_allauth()) == ["whatsapp_login.E046"]


def test_allauth_installed_but_logins_skip_its_stages(settings):
    settings.WHATSAPP_LOGIN_COMPLETE_LOGIN = None
    [warning] = core_checks.check_complete_login()
    assert warning.id == "whatsapp_login.W040"
    assert core_checks.ALLAUTH_COMPLETE_LOGIN in warning.hint


def test_link_page_missing_is_a_warning(settings):
    assert ids(allauth_checks.check_link_page()) == []
    settings.ROOT_URLCONF = "tests.allauthapp.urls_without_link"
    assert ids(allauth_checks.check_link_page()) == ["whatsapp_login.W041"]


@pytest.mark.parametrize("value", [0, -1, "10", True])
def test_send_timeout_must_be_positive(settings, value):
    from django_whatsapp_login.contrib.allauth.conf import allauth_settings
    from django_whatsapp_login.exceptions import WhatsAppLoginImproperlyConfigured

    settings.WHATSAPP_LOGIN_ALLAUTH_SEND_TIMEOUT = value
    with pytest.raises(WhatsAppLoginImproperlyConfigured):
        allauth_settings.SEND_TIMEOUT  # noqa: B018
