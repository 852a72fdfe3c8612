"""Typed access to the WHATSAPP_LOGIN_* settings.

Every property reads ``django.conf.settings`` when it is accessed, so
``override_settings`` works and nothing is frozen at import time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings

from .exceptions import WhatsAppLoginImproperlyConfigured

DEFAULT_RESOLVER = "django_whatsapp_login.resolvers.default_resolver"
MAX_ATTEMPT_TTL = 600


def _get(name: str, default: Any = None) -> Any:
    return getattr(settings, "WHATSAPP_LOGIN_" + name, default)


class AppSettings:
    @property
    def BUSINESS_PHONE(self) -> str:
        return str(_get("BUSINESS_PHONE", "") or "")

    @property
    def WEBHOOK_TOKENS(self) -> list[str]:
        """The accepted webhook tokens (current first); empty means none configured."""
        value = _get("WEBHOOK_TOKEN", None)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, (list, tuple)):
            return [item for item in value if isinstance(item, str) and item]
        raise WhatsAppLoginImproperlyConfigured(
            "WHATSAPP_LOGIN_WEBHOOK_TOKEN must be a string or a list of strings."
        )

    @property
    def GREEN_API_ID_INSTANCE(self) -> str:
        value = _get("GREEN_API_ID_INSTANCE", None)
        return "" if value is None else str(value).strip()

    @property
    def GREEN_API_TOKEN(self) -> str:
        return str(_get("GREEN_API_TOKEN", "") or "")

    @property
    def GREEN_API_URL(self) -> str:
        return str(_get("GREEN_API_URL", "") or "https://api.green-api.com").rstrip("/")

    @property
    def MESSAGE_PREFIX(self) -> str:
        return str(_get("MESSAGE_PREFIX", "LOGIN"))

    @property
    def ATTEMPT_TTL(self) -> timedelta:
        value = _get("ATTEMPT_TTL", 180)
        if isinstance(value, timedelta):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WhatsAppLoginImproperlyConfigured(
                "WHATSAPP_LOGIN_ATTEMPT_TTL must be a number of seconds or a timedelta."
            )
        return timedelta(seconds=value)

    @property
    def USER_RESOLVER(self) -> str:
        return str(_get("USER_RESOLVER", None) or DEFAULT_RESOLVER)

    @property
    def PHONE_FIELD(self) -> str:
        return str(_get("PHONE_FIELD", "phone"))

    @property
    def SANDBOX(self) -> bool:
        return bool(_get("SANDBOX", False))

    @property
    def REDIRECT_URL(self) -> str:
        return str(_get("REDIRECT_URL", None) or settings.LOGIN_REDIRECT_URL)

    @property
    def POLL_INTERVAL(self) -> int:
        """Milliseconds between two status requests of the login page."""
        return int(_get("POLL_INTERVAL", 1000))


app_settings = AppSettings()
