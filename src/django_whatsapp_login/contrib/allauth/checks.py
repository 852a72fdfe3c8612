"""System checks of the django-allauth integration (ids whatsapp_login.E041 ... E047, W041).

Registered when ``django_whatsapp_login.contrib.allauth`` is in INSTALLED_APPS. This module
imports allauth only inside the checks, after finding out that it is there.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.urls import NoReverseMatch, reverse

from ...conf import app_settings
from ...exceptions import WhatsAppLoginImproperlyConfigured
from . import MIN_ALLAUTH_VERSION_STR

INSTALL_HINT = (
    f'pip install "django-whatsapp-login[allauth]" (django-allauth >= {MIN_ALLAUTH_VERSION_STR}).'
)
RESOLVER = "django_whatsapp_login.contrib.allauth.resolvers.allauth_phone_resolver"
MIDDLEWARE = "allauth.account.middleware.AccountMiddleware"


def _allauth_usable() -> list[checks.CheckMessage]:
    if find_spec("allauth") is None:
        return [
            checks.Error(
                "django_whatsapp_login.contrib.allauth is installed, but django-allauth is not.",
                hint=INSTALL_HINT,
                id="whatsapp_login.E041",
            )
        ]
    from ._require import allauth_version, is_supported

    if not is_supported():
        found = ".".join(map(str, allauth_version())) or "unknown"
        return [
            checks.Error(
                f"django-allauth {found} is too old for the WhatsApp integration: it needs "
                f"django-allauth >= {MIN_ALLAUTH_VERSION_STR}.",
                hint=INSTALL_HINT,
                id="whatsapp_login.E042",
            )
        ]
    missing = []
    if not apps.is_installed("allauth.account"):
        missing.append('"allauth.account" in INSTALLED_APPS')
    if MIDDLEWARE not in (getattr(settings, "MIDDLEWARE", None) or []):
        missing.append(f'"{MIDDLEWARE}" in MIDDLEWARE')
    if missing:
        return [
            checks.Error(
                "The WhatsApp integration runs inside allauth's account app, which is not set "
                "up: " + " and ".join(missing) + " missing.",
                hint="Follow allauth's installation guide, then docs/allauth.md.",
                id="whatsapp_login.E043",
            )
        ]
    return []


def _missing_send_settings() -> list[str]:
    """What the configured gateway lacks to send (a gateway that cannot be loaded is
    E033's message, not this one's)."""
    from ...gateways import get_gateway

    try:
        return get_gateway().missing_send_settings()
    except WhatsAppLoginImproperlyConfigured:
        return []


def _phone_enabled() -> bool:
    from allauth.account import app_settings as account_settings

    return "phone" in account_settings.LOGIN_METHODS or "phone" in account_settings.SIGNUP_FIELDS


@checks.register()
def check_allauth(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages = _allauth_usable()
    if messages:
        return messages
    from allauth.account.adapter import DefaultAccountAdapter, get_adapter

    from .adapter import WhatsAppAdapterMixin

    adapter_class = type(get_adapter())
    path = getattr(settings, "ACCOUNT_ADAPTER", "allauth.account.adapter.DefaultAccountAdapter")
    has_mixin = issubclass(adapter_class, WhatsAppAdapterMixin)
    unimplemented = (
        adapter_class.send_verification_code_sms is DefaultAccountAdapter.send_verification_code_sms
    )
    if has_mixin and unimplemented:
        messages.append(
            checks.Error(
                f"ACCOUNT_ADAPTER {path} lists DefaultAccountAdapter before "
                "WhatsAppAdapterMixin: allauth's own send_verification_code_sms wins and "
                "raises NotImplementedError.",
                hint="Put the mixin first: class AccountAdapter(WhatsAppAdapterMixin, "
                "DefaultAccountAdapter).",
                id="whatsapp_login.E044",
            )
        )
    elif unimplemented and _phone_enabled():
        messages.append(
            checks.Error(
                f"allauth uses phone numbers, but ACCOUNT_ADAPTER {path} cannot send their "
                "codes (send_verification_code_sms is not implemented).",
                hint="Send them by WhatsApp: class AccountAdapter(WhatsAppAdapterMixin, "
                "DefaultAccountAdapter), from django_whatsapp_login.contrib.allauth.adapter.",
                id="whatsapp_login.E044",
            )
        )
    missing = _missing_send_settings() if has_mixin else []
    if missing:
        messages.append(
            checks.Error(
                "WhatsAppAdapterMixin sends allauth's codes through the configured gateway "
                f"({app_settings.GATEWAY}), but {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set.",
                hint="Set them for your WhatsApp number (docs/settings.md).",
                id="whatsapp_login.E045",
            )
        )
    if app_settings.USER_RESOLVER == RESOLVER:
        if not _phone_enabled():
            messages.append(
                checks.Error(
                    "WHATSAPP_LOGIN_USER_RESOLVER is allauth_phone_resolver, but allauth "
                    "does not use phone numbers: no user can be found.",
                    hint='Add "phone" to ACCOUNT_LOGIN_METHODS (or "phone*" to '
                    "ACCOUNT_SIGNUP_FIELDS), or use another resolver.",
                    id="whatsapp_login.E046",
                )
            )
        lookups = [
            name
            for name in ("get_user_by_phone", "get_phone")
            if getattr(adapter_class, name) is getattr(DefaultAccountAdapter, name)
        ]
        if lookups:
            messages.append(
                checks.Error(
                    f"WHATSAPP_LOGIN_USER_RESOLVER is allauth_phone_resolver, but ACCOUNT_ADAPTER "
                    f"{path} does not implement {' and '.join(lookups)}.",
                    hint="Implement allauth's phone methods on your adapter (allauth's "
                    "phone documentation).",
                    id="whatsapp_login.E047",
                )
            )
    return messages


@checks.register(checks.Tags.urls)
def check_link_page(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        reverse("whatsapp_login:login")
    except NoReverseMatch:
        return []  # the app's URLs are not mounted (or under another namespace)
    try:
        reverse("whatsapp_login:link")
    except NoReverseMatch:
        return [
            checks.Warning(
                'The URLconf mounts "whatsapp_login" without its link page '
                '("whatsapp_login:link"): the link for allauth\'s account pages '
                "(whatsapp_login/allauth/link.html) renders nothing.",
                hint='Mount the whole include("django_whatsapp_login.urls"), or leave the '
                "template out.",
                id="whatsapp_login.W041",
            )
        ]
    return []
